/* depth.c - horus.DepthImage: float32 meters or uint16 millimeters. */
#include <math.h>

#include "horus_py.h"

static int parse_xy(horus_frame *d, PyObject *const *args, uint32_t *x, uint32_t *y) {
  return hpy_parse_index(args[0], "x", horus_depth_width(d), x) ||
         hpy_parse_index(args[1], "y", horus_depth_height(d), y) ? -1 : 0;
}

/* A str is a depth name first ("meters", "mm", "u16"; horus/depth.h), then
 * any dtype spelling hpy_parse_dtype knows (np.float32, torch.uint16...). */
static int parse_depth_dtype(PyObject *obj) {
  if (PyUnicode_Check(obj)) {
    const char *name = hpy_utf8(obj, "dtype", NULL);
    if (!name) return -1;
    int d = horus_depth_dtype_from_name(name);
    if (d >= 0) return d;
    if (horus_dtype_from_name(name) < 0) {
      PyErr_Format(PyExc_ValueError, "unknown depth dtype %R: expected float32 (meters; "
                   "also f32, float, meters, m) or uint16 (millimeters; also u16, mm, "
                   "millimeters)", obj);
      return -1;
    }
  }
  return hpy_parse_dtype(obj);
}

static int Depth_init(FrameObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"height", "width", "dtype", NULL};
  PyObject *h_obj, *w_obj, *dtype_obj = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:DepthImage", kwlist, &h_obj, &w_obj,
                                   &dtype_obj))
    return -1;
  uint32_t h, w;
  if (hpy_parse_dim(h_obj, "height", &h) || hpy_parse_dim(w_obj, "width", &w)) return -1;
  int dtype = HORUS_FLOAT32;
  if (dtype_obj && (dtype = parse_depth_dtype(dtype_obj)) < 0) return -1;
  horus_pool *pool = hpy_global_pool(hpy_state_of_type(Py_TYPE(self)));
  if (!pool) return -1;
  horus_frame f;
  int r = hpy_unlocked_pool_if(hpy_frame_bytes_large(h, w), pool, horus_depth_create(pool, h, w, (horus_dtype)dtype, &f));
  if (r) return hpy_raise_int(r);
  return hpy_frame_replace(self, &f);
}

/* DepthImage(height, width[, dtype]) by position, as a depth camera makes
 * one per frame: Depth_init's checks in its order, without type.__call__'s
 * tuple, dict and two slot calls (as Image's; other calls go that way). */
static PyObject *Depth_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                                  PyObject *kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (kwnames || nargs < 2 || nargs > 3) return hpy_type_call(type, args, nargs, kwnames);
  uint32_t h, w;
  if (hpy_parse_dim(args[0], "height", &h) || hpy_parse_dim(args[1], "width", &w)) return NULL;
  int dtype = HORUS_FLOAT32;
  if (nargs == 3 && (dtype = parse_depth_dtype(args[2])) < 0) return NULL;
  PyTypeObject *tp = (PyTypeObject *)type;
  horus_pool *pool = hpy_global_pool(hpy_state_of_type(tp));
  if (!pool) return NULL;
  horus_frame f;
  int r = hpy_unlocked_pool_if(hpy_frame_bytes_large(h, w), pool, horus_depth_create(pool, h, w, (horus_dtype)dtype, &f));
  if (r) return hpy_raise(r);
  return hpy_frame_new(tp, &f);
}

/* float64 depth becomes float32 meters (DESIGN.md), without the GIL.
 * Consumes t, as hpy_compact does. */
static horus_tensor *to_float32(horus_state *st, horus_tensor *t) {
  horus_pool *pool = hpy_global_pool(st);
  horus_tensor *c = NULL;
  int r = 0;
  if (pool) {
    r = hpy_unlocked_pool_if(true, pool, horus_depth_to_float32(pool, t, &c));
  }
  horus_tensor_free(t);
  if (r) hpy_raise(r);
  return c;
}

static PyObject *Depth_from_array(PyTypeObject *cls, PyObject *arr);

static PyObject *Depth_from_torch(PyTypeObject *cls, PyObject *arg) {
  PyObject *x = hpy_torch_input(arg, "DepthImage");
  if (!x) return NULL;
  PyObject *res = Depth_from_array(cls, x);
  Py_DECREF(x);
  return res;
}

static PyObject *Depth_from_array(PyTypeObject *cls, PyObject *arr) {
  horus_state *st = hpy_state_of_type(cls);
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return NULL;
  horus_tensor *t;
  if (hpy_import(st, arr, pool, &t, NULL) < 0) return NULL;
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  if (d->ndim != 2 || (d->dtype != HORUS_FLOAT32 && d->dtype != HORUS_UINT16 &&
                       d->dtype != HORUS_FLOAT64)) {
    PyObject *e = PyErr_Format(PyExc_ValueError, "a depth image is an (H, W) float32 "
                               "(meters), float64 (converted to float32) or uint16 "
                               "(millimeters) array, got a %d-d %s one", d->ndim,
                               horus_dtype_name((horus_dtype)d->dtype));
    horus_tensor_free(t);
    return e;
  }
  if (!(t = hpy_compact(st, t))) return NULL;
  if (horus_tensor_get_desc(t)->dtype == HORUS_FLOAT64 && !(t = to_float32(st, t))) return NULL;
  horus_frame f;
  int r = horus_depth_wrap(t, &f);
  if (r) {
    horus_tensor_free(t);
    return hpy_raise(r);
  }
  return hpy_frame_new(cls, &f);
}

#define GET_DEPTH(self)                             \
  horus_frame *d = hpy_frame_get((PyObject *)self); \
  if (!d) return NULL

static PyObject *Depth_get_depth(FrameObject *self, PyObject *const *args, Py_ssize_t nargs) {
  GET_DEPTH(self);
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "get_depth(x, y) takes 2 arguments");
  uint32_t x, y;
  if (parse_xy(d, args, &x, &y)) return NULL;
  double m;
  int r = horus_depth_get(d, x, y, &m);
  return r ? hpy_raise(r) : PyFloat_FromDouble(m);
}

static PyObject *Depth_set_depth(FrameObject *self, PyObject *const *args, Py_ssize_t nargs) {
  GET_DEPTH(self);
  if (nargs != 3)
    return PyErr_Format(PyExc_TypeError, "set_depth(x, y, meters) takes 3 arguments");
  if (!hpy_frame_writable((PyObject *)self)) return NULL;
  uint32_t x, y;
  if (parse_xy(d, args, &x, &y)) return NULL;
  if (!PyLong_Check(args[2]) && !PyFloat_Check(args[2]))
    return PyErr_Format(PyExc_TypeError, "depth must be a number of meters, not %.80s",
                        Py_TYPE(args[2])->tp_name);
  double m = PyFloat_AsDouble(args[2]);
  if (m == -1.0 && PyErr_Occurred()) {
    if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return NULL;
    PyErr_Clear();
    return PyErr_Format(PyExc_ValueError, "depth %R m is out of range", args[2]);
  }
  int r = horus_depth_set(d, x, y, m);
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Depth_statistics(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_DEPTH(self);
  double lo, hi, mean;
  uint64_t n;
  int r;
  hpy_busy_enter(&self->busy, "depth_statistics");
  Py_BEGIN_ALLOW_THREADS
  r = horus_depth_statistics(d, &lo, &hi, &mean, &n);
  Py_END_ALLOW_THREADS
  hpy_busy_leave(&self->busy);
  if (r) return hpy_raise(r);
  if (n == 0) Py_RETURN_NONE;
  return Py_BuildValue("(ddd)", lo, hi, mean);
}

static PyObject *Depth_is_meters(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_DEPTH(self);
  return PyBool_FromLong(horus_tensor_get_desc(d->tensor)->dtype == HORUS_FLOAT32);
}
static PyObject *Depth_is_millimeters(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_DEPTH(self);
  return PyBool_FromLong(horus_tensor_get_desc(d->tensor)->dtype == HORUS_UINT16);
}
static PyObject *Depth_get_height(FrameObject *self, void *Py_UNUSED(c)) {
  GET_DEPTH(self);
  return PyLong_FromUnsignedLong(horus_depth_height(d));
}
static PyObject *Depth_get_width(FrameObject *self, void *Py_UNUSED(c)) {
  GET_DEPTH(self);
  return PyLong_FromUnsignedLong(horus_depth_width(d));
}
static PyObject *Depth_get_scale(FrameObject *self, void *Py_UNUSED(c)) {
  GET_DEPTH(self);
  return PyFloat_FromDouble(horus_depth_scale(d));
}

static PyObject *Depth_repr(FrameObject *self) {
  if (!self->f.tensor) return PyUnicode_FromString("<DepthImage (uninitialised)>");
  PyObject *id = PyUnicode_FromString(self->f.meta.frame_id);
  if (!id) return NULL;
  bool mm = horus_tensor_get_desc(self->f.tensor)->dtype == HORUS_UINT16;
  PyObject *res = PyUnicode_FromFormat(
      "<DepthImage height=%u width=%u %s (%s) frame_id=%R timestamp_ns=%lld%s>",
      horus_depth_height(&self->f), horus_depth_width(&self->f), mm ? "uint16" : "float32",
      mm ? "millimeters" : "meters", id, (long long)self->f.meta.timestamp_ns,
      horus_tensor_is_readonly(self->f.tensor) ? " read-only" : "");
  Py_DECREF(id);
  return res;
}

static PyMethodDef Depth_methods[] = {
    {"from_numpy", (PyCFunction)Depth_from_array, METH_O | METH_CLASS,
     "from_numpy($cls, array, /)\n--\n\nA depth image of an (H, W) array: float32 "
     "meters, uint16 millimeters, or float64 (converted to float32 meters).  Shares "
     "the memory when the array already lives in a horus pool."},
    {"from_torch", (PyCFunction)Depth_from_torch, METH_O | METH_CLASS,
     "from_torch($cls, tensor, /)\n--\n\nAs from_numpy, for a torch.Tensor (TypeError "
     "for anything else; one that requires grad is detached)."},
    {"get_depth", (PyCFunction)(void (*)(void))Depth_get_depth, METH_FASTCALL,
     "get_depth($self, x, y, /)\n--\n\nDepth at column x, row y in meters, whatever the "
     "storage; negative counts from the end.  IndexError outside the image."},
    {"set_depth", (PyCFunction)(void (*)(void))Depth_set_depth, METH_FASTCALL,
     "set_depth($self, x, y, meters, /)\n--\n\nStore a depth given in meters (uint16 rounds to "
     "the nearest millimeter).  ValueError for NaN, negative or unrepresentable values."},
    {"depth_statistics", (PyCFunction)Depth_statistics, METH_NOARGS,
     "depth_statistics($self, /)\n--\n\nIn meters over valid pixels "
     "(finite and > 0); None when there is none."},
    {"is_meters", (PyCFunction)Depth_is_meters, METH_NOARGS, "True for float32 (meters)."},
    {"is_millimeters", (PyCFunction)Depth_is_millimeters, METH_NOARGS,
     "True for uint16 (millimeters)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Depth_getset[] = {
    {"height", (getter)Depth_get_height, NULL, "Height in pixels.", NULL},
    {"width", (getter)Depth_get_width, NULL, "Width in pixels.", NULL},
    {"depth_scale", (getter)Depth_get_scale, NULL,
     "Meters per stored unit: 1.0 for float32, 0.001 for uint16.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Depth_slots[] = {
    {Py_tp_doc, "DepthImage(height, width, dtype='float32')\n--\n\nA depth image in "
                "shared memory: float32 meters or uint16 millimeters, shape (H, W).  "
                "copy() (and copy.copy/deepcopy) gives an independent one in a new block; "
                "__init__ while another thread's call uses it (e.g. fill) raises "
                "RuntimeError."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Depth_init},
    {Py_tp_dealloc, hpy_frame_dealloc},
    {Py_tp_alloc, hpy_msg_alloc},
    {Py_tp_free, hpy_msg_free},
    {Py_tp_methods, Depth_methods},
    {Py_tp_getset, Depth_getset},
    {Py_tp_repr, Depth_repr},
    {0, NULL},
};

static PyType_Spec Depth_spec = {
    .name = "horus.DepthImage",
    .basicsize = sizeof(FrameObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Depth_slots,
};

int hpy_depth_init(PyObject *m, horus_state *st) {
  if (hpy_add_subtype(m, &Depth_spec, st->Frame_Type, &st->DepthImage_Type) < 0) return -1;
  st->DepthImage_Type->tp_vectorcall = Depth_vectorcall; /* see image.c */
  return 0;
}
