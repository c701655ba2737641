/* pointcloud.c - horus.PointCloud: an (N, F) point cloud in a pool block. */
#include "horus_py.h"

static int PointCloud_init(FrameObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"num_points", "fields", "dtype", NULL};
  long long n, fields = 3;
  PyObject *dtype_obj = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|LO:PointCloud", kwlist, &n, &fields,
                                   &dtype_obj))
    return -1;
  if (n < 0) {
    PyErr_Format(PyExc_ValueError, "num_points must be >= 0, got %lld", n);
    return -1;
  }
  if (fields < 1 || fields > UINT32_MAX) {
    PyErr_Format(PyExc_ValueError, "fields must be >= 1, got %lld", fields);
    return -1;
  }
  int dtype = HORUS_FLOAT32;
  if (dtype_obj && (dtype = hpy_parse_dtype(dtype_obj)) < 0) return -1;
  horus_pool *pool = hpy_global_pool(hpy_state_of_type(Py_TYPE(self)));
  if (!pool) return -1;
  horus_frame f;
  int r = horus_pointcloud_create(pool, (uint64_t)n, (uint32_t)fields, (horus_dtype)dtype, &f);
  if (r) return hpy_raise_int(r);
  return hpy_frame_replace(self, &f);
}

static PyObject *PointCloud_from_array(PyTypeObject *cls, PyObject *arr) {
  horus_state *st = hpy_state_of_type(cls);
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return NULL;
  horus_tensor *t;
  if (hpy_import(st, arr, pool, &t, NULL) < 0) return NULL;
  if (!(t = hpy_compact(st, t))) return NULL;
  horus_frame f;
  int r = horus_pointcloud_wrap(t, &f);
  if (r) {
    horus_tensor_free(t);
    return hpy_raise(r);
  }
  return hpy_frame_new(cls, &f);
}

#define GET_CLOUD(self)                              \
  horus_frame *pc = hpy_frame_get((PyObject *)self); \
  if (!pc) return NULL

static PyObject *PointCloud_point_at(FrameObject *self, PyObject *arg) {
  GET_CLOUD(self);
  if (!PyLong_Check(arg))
    return PyErr_Format(PyExc_TypeError, "point_at() takes an int, not %.80s",
                        Py_TYPE(arg)->tp_name);
  int overflow;
  long long i = PyLong_AsLongLongAndOverflow(arg, &overflow);
  if (i == -1 && PyErr_Occurred()) return NULL;
  uint64_t n = horus_pointcloud_count(pc);
  if (!overflow && i < 0) i += (long long)n; /* Python-style negative index */
  if (overflow || i < 0)
    return PyErr_Format(PyExc_IndexError, "point %R of a cloud of %llu points", arg,
                        (unsigned long long)n);
  uint32_t fields = horus_pointcloud_fields(pc);
  float stack[16], *v = fields <= 16 ? stack : PyMem_Malloc(fields * sizeof(float));
  if (!v) return PyErr_NoMemory();
  PyObject *list = NULL;
  int r = horus_pointcloud_point(pc, (uint64_t)i, v);
  if (r) {
    hpy_raise(r);
    goto done;
  }
  if (!(list = PyList_New(fields))) goto done;
  for (uint32_t k = 0; k < fields; k++) PyList_SET_ITEM(list, k, PyFloat_FromDouble(v[k]));
done:
  if (v != stack) PyMem_Free(v);
  return list;
}

static PyObject *PointCloud_from_torch(PyTypeObject *cls, PyObject *arg) {
  PyObject *x = hpy_torch_input(arg, "PointCloud");
  if (!x) return NULL;
  PyObject *res = PointCloud_from_array(cls, x);
  Py_DECREF(x);
  return res;
}

/* len(cloud): the number of points, as len() of its (N, F) array. */
static Py_ssize_t PointCloud_len(FrameObject *self) {
  horus_frame *pc = hpy_frame_get((PyObject *)self);
  if (!pc) return -1;
  uint64_t n = horus_pointcloud_count(pc);
  if (n > (uint64_t)PY_SSIZE_T_MAX) {
    PyErr_SetString(PyExc_OverflowError, "point count does not fit in len()");
    return -1;
  }
  return (Py_ssize_t)n;
}

static PyObject *PointCloud_is_xyz(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_CLOUD(self);
  return PyBool_FromLong(horus_pointcloud_fields(pc) == 3);
}
static PyObject *PointCloud_has_intensity(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_CLOUD(self);
  return PyBool_FromLong(horus_pointcloud_fields(pc) >= 4);
}
static PyObject *PointCloud_has_color(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_CLOUD(self);
  return PyBool_FromLong(horus_pointcloud_fields(pc) >= 6);
}
static PyObject *PointCloud_get_count(FrameObject *self, void *Py_UNUSED(c)) {
  GET_CLOUD(self);
  return PyLong_FromUnsignedLongLong(horus_pointcloud_count(pc));
}
static PyObject *PointCloud_get_fields(FrameObject *self, void *Py_UNUSED(c)) {
  GET_CLOUD(self);
  return PyLong_FromUnsignedLong(horus_pointcloud_fields(pc));
}

static PyObject *PointCloud_repr(FrameObject *self) {
  if (!self->f.tensor) return PyUnicode_FromString("<PointCloud (uninitialised)>");
  PyObject *id = PyUnicode_FromString(self->f.meta.frame_id);
  if (!id) return NULL;
  PyObject *res = PyUnicode_FromFormat(
      "<PointCloud %llu points x %u fields %s frame_id=%R timestamp_ns=%lld>",
      (unsigned long long)horus_pointcloud_count(&self->f), horus_pointcloud_fields(&self->f),
      horus_dtype_name((horus_dtype)horus_tensor_get_desc(self->f.tensor)->dtype), id,
      (long long)self->f.meta.timestamp_ns);
  Py_DECREF(id);
  return res;
}

static PyMethodDef PointCloud_methods[] = {
    {"from_numpy", (PyCFunction)PointCloud_from_array, METH_O | METH_CLASS,
     "from_numpy($cls, points, /)\n--\n\nA cloud of an (N, F) array (F values per "
     "point).  Shares the memory when the array already lives in a horus pool; one "
     "copy otherwise."},
    {"from_torch", (PyCFunction)PointCloud_from_torch, METH_O | METH_CLASS,
     "from_torch($cls, tensor, /)\n--\n\nAs from_numpy, for a torch.Tensor (TypeError "
     "for anything else; one that requires grad is detached)."},
    {"point_at", (PyCFunction)PointCloud_point_at, METH_O,
     "point_at($self, i, /)\n--\n\nThe fields of point i as floats (float32 clouds only: "
     "TypeError otherwise; IndexError out of range)."},
    {"is_xyz", (PyCFunction)PointCloud_is_xyz, METH_NOARGS, "True if 3 fields (XYZ)."},
    {"has_intensity", (PyCFunction)PointCloud_has_intensity, METH_NOARGS,
     "True if 4 or more fields (XYZI)."},
    {"has_color", (PyCFunction)PointCloud_has_color, METH_NOARGS,
     "True if 6 or more fields (XYZRGB)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef PointCloud_getset[] = {
    {"point_count", (getter)PointCloud_get_count, NULL, "Number of points.", NULL},
    {"fields_per_point", (getter)PointCloud_get_fields, NULL,
     "Values per point (3 XYZ, 4 XYZI, 6 XYZRGB).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot PointCloud_slots[] = {
    {Py_tp_doc, "PointCloud(num_points, fields=3, dtype='float32')\n--\n\nA point cloud "
                "in shared memory, shape (N, F); zero-copy to NumPy, PyTorch and JAX.  "
                "copy() (and copy.copy/deepcopy) gives an independent one in a new block; "
                "__init__ while another thread's call uses it (e.g. fill) raises "
                "RuntimeError."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, PointCloud_init},
    {Py_tp_dealloc, hpy_frame_dealloc},
    {Py_tp_alloc, hpy_msg_alloc},
    {Py_tp_free, hpy_msg_free},
    {Py_tp_methods, PointCloud_methods},
    {Py_tp_getset, PointCloud_getset},
    {Py_tp_repr, PointCloud_repr},
    {Py_mp_length, PointCloud_len},
    {0, NULL},
};

static PyType_Spec PointCloud_spec = {
    .name = "horus.PointCloud",
    .basicsize = sizeof(FrameObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = PointCloud_slots,
};

int hpy_pointcloud_init(PyObject *m, horus_state *st) {
  return hpy_add_subtype(m, &PointCloud_spec, st->Frame_Type, &st->PointCloud_Type);
}
