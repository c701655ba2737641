/* frame.c - horus._Frame, the base of Image, PointCloud and DepthImage: a
 * pool tensor plus sensor metadata, with the conversions, DLPack, buffer
 * protocol and metadata accessors they all share; and the message bridge
 * the Topic type uses. */
#include "horus_py.h"

#include <structmember.h>

static horus_state *state_of(PyObject *self) { return hpy_state_of_type(Py_TYPE(self)); }

horus_frame *hpy_frame_get(PyObject *self) {
  FrameObject *o = (FrameObject *)self;
  if (!o->f.tensor) {
    PyErr_Format(PyExc_ValueError, "%.80s is not initialised", Py_TYPE(self)->tp_name);
    return NULL;
  }
  return &o->f;
}

horus_frame *hpy_frame_writable(PyObject *self) {
  horus_frame *f = hpy_frame_get(self);
  if (f && horus_tensor_is_readonly(f->tensor)) {
    PyErr_Format(PyExc_ValueError, "this %.80s was received from a topic and is read-only "
                 "(the publisher and every subscriber share its memory): call copy() "
                 "for a writable one", Py_TYPE(self)->tp_name);
    return NULL;
  }
  return f;
}

PyObject *hpy_frame_new(PyTypeObject *type, horus_frame *f) {
  FrameObject *o = (FrameObject *)type->tp_alloc(type, 0);
  if (!o) {
    horus_frame_clear(f);
    return NULL;
  }
  o->f = *f;
  memset(f, 0, sizeof *f);
  return (PyObject *)o;
}

PyObject *hpy_type_call(PyObject *type, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames) {
  PyObject *tuple = PyTuple_New(nargs);
  if (!tuple) return NULL;
  for (Py_ssize_t i = 0; i < nargs; i++) PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
  PyObject *kw = NULL;
  Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nk && !(kw = PyDict_New())) {
    Py_DECREF(tuple);
    return NULL;
  }
  for (Py_ssize_t i = 0; i < nk; i++)
    if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
      Py_DECREF(tuple);
      Py_DECREF(kw);
      return NULL;
    }
  PyObject *res = PyType_Type.tp_call(type, tuple, kw);
  Py_DECREF(tuple);
  Py_XDECREF(kw);
  return res;
}

int hpy_busy_refuse(PyObject *self, const hpy_busy *b, const char *action) {
  if (b->count == 0) return 0;
  const char *name = Py_TYPE(self)->tp_name, *dot = strrchr(name, '.');
  PyErr_Format(PyExc_RuntimeError, "%s is in use by another thread (%s): %s refused; "
               "wait for that call to return, or give each thread its own object",
               dot ? dot + 1 : name, b->what, action);
  return -1;
}

int hpy_frame_replace(FrameObject *self, horus_frame *f) {
  /* Checked here, after the new frame exists: making it may have run Python
   * code (a dtype's __str__, the pool's first open), and so other threads. */
  if (hpy_busy_refuse((PyObject *)self, &self->busy, "__init__()")) {
    horus_frame_clear(f);
    return -1;
  }
  horus_frame_clear(&self->f);
  self->f = *f;
  memset(f, 0, sizeof *f);
  return 0;
}

horus_tensor *hpy_tensor_clone(const horus_tensor *t, hpy_busy *busy, const char *what) {
  horus_tensor *c;
  int r;
  hpy_busy_enter(busy, what);
  Py_BEGIN_ALLOW_THREADS
  r = horus_tensor_clone(NULL, t, &c);
  Py_END_ALLOW_THREADS
  hpy_busy_leave(busy);
  if (r) {
    hpy_raise(r);
    return NULL;
  }
  return c;
}

horus_tensor *hpy_compact(horus_state *st, horus_tensor *t) {
  if (horus_tensor_is_contiguous(t)) return t;
  horus_pool *pool = hpy_global_pool(st);
  int r = 0;
  if (pool) {
    r = hpy_unlocked_pool_if(true, pool, horus_tensor_compact(pool, &t));
  }
  if (!pool || r) {
    horus_tensor_free(t);
    if (r) hpy_raise(r);
    return NULL;
  }
  return t;
}

void hpy_frame_dealloc(FrameObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  if (self->weakreflist) PyObject_ClearWeakRefs((PyObject *)self);
  horus_frame_clear(&self->f);
  Py_CLEAR(self->exported);
  tp->tp_free(self);
  Py_DECREF(tp);
}

#define GET_FRAME(self, fail)               \
  horus_frame *f = hpy_frame_get((PyObject *)(self)); \
  if (!f) return fail

/* ---- conversions ----------------------------------------------------------- */

static PyObject *Frame_to_numpy(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  return hpy_to_numpy(state_of((PyObject *)self), f->tensor);
}

static PyObject *Frame_to_torch(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  return hpy_to_torch(state_of((PyObject *)self), f->tensor);
}

static PyObject *Frame_to_jax(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  return hpy_to_jax(state_of((PyObject *)self), (PyObject *)self, f->tensor);
}

static PyObject *Frame_dlpack(FrameObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
  GET_FRAME(self, NULL);
  return hpy_dlpack(state_of((PyObject *)self), f->tensor, args, nargs, kwnames);
}

static PyObject *Frame_dlpack_device(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  return hpy_dlpack_device();
}

static PyObject *Frame_array(FrameObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames) {
  GET_FRAME(self, NULL);
  return hpy_array(state_of((PyObject *)self), f->tensor, args, nargs, kwnames);
}

static PyObject *Frame_recycle(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  if (hpy_busy_refuse((PyObject *)self, &self->busy, "recycle()")) return NULL;
  return hpy_recycle(f->tensor);
}

static PyObject *Frame_is_cpu(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  Py_RETURN_TRUE;
}

/* HORUS and PyTorch spellings: everything lives in host memory. */
static PyObject *Frame_is_cuda(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  Py_RETURN_FALSE;
}

static PyObject *Frame_get_device(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return PyUnicode_FromString("cpu");
}

static PyObject *Frame_get_is_gpu(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  Py_RETURN_FALSE;
}

static PyObject *Frame_get_readonly(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return PyBool_FromLong(horus_tensor_is_readonly(f->tensor));
}

/* The shape of to_numpy(), as NumPy gives it: a tuple. */
static PyObject *Frame_get_shape(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  const horus_tensor_desc *d = horus_tensor_get_desc(f->tensor);
  PyObject *shape = PyTuple_New(d->ndim);
  if (!shape) return NULL;
  for (int i = 0; i < d->ndim; i++) {
    PyObject *n = PyLong_FromLongLong(d->shape[i]);
    if (!n) {
      Py_DECREF(shape);
      return NULL;
    }
    PyTuple_SET_ITEM(shape, i, n);
  }
  return shape;
}

/* img[y, x], img[10:20, :, 0], depth[y, x], cloud[i]: exactly what the
 * NumPy view gives (row first, negative from the end, slices are views). */
static PyObject *Frame_getitem(FrameObject *self, PyObject *key) {
  GET_FRAME(self, NULL);
  PyObject *arr = hpy_to_numpy(state_of((PyObject *)self), f->tensor);
  if (!arr) return NULL;
  PyObject *res = PyObject_GetItem(arr, key);
  Py_DECREF(arr);
  return res;
}

static int Frame_setitem(FrameObject *self, PyObject *key, PyObject *value) {
  if (!value) {
    PyErr_Format(PyExc_TypeError, "%.80s elements cannot be deleted", Py_TYPE(self)->tp_name);
    return -1;
  }
  GET_FRAME(self, -1);
  if (!hpy_frame_writable((PyObject *)self)) return -1;
  PyObject *arr = hpy_to_numpy(state_of((PyObject *)self), f->tensor);
  if (!arr) return -1;
  int r = PyObject_SetItem(arr, key, value);
  Py_DECREF(arr);
  return r;
}

static PyObject *Frame_set_frame_id(FrameObject *self, PyObject *arg) {
  GET_FRAME(self, NULL);
  Py_ssize_t n;
  const char *s = hpy_utf8(arg, "frame_id", &n);
  if (!s) return NULL;
  int r = horus_frame_set_id(f, s, (size_t)n);
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Frame_set_timestamp_ns(FrameObject *self, PyObject *arg) {
  GET_FRAME(self, NULL);
  if (!PyLong_Check(arg))
    return PyErr_Format(PyExc_TypeError, "timestamp_ns must be an int, not %.80s",
                        Py_TYPE(arg)->tp_name);
  int overflow;
  long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
  if (v == -1 && PyErr_Occurred()) return NULL;
  if (overflow) return PyErr_Format(PyExc_ValueError, "timestamp_ns %R does not fit 64 bits", arg);
  f->meta.timestamp_ns = v;
  Py_RETURN_NONE;
}

/* An independent frame: the same type and metadata (encoding, frame_id,
 * timestamp, depth scale, fields) over a copy of the data in a new block. */
static PyObject *Frame_copy(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  horus_tensor *c = hpy_tensor_clone(f->tensor, &self->busy, "copy");
  if (!c) return NULL;
  horus_msg msg;
  horus_frame_to_msg(f, &msg);
  msg.tensor = *horus_tensor_get_desc(c);
  horus_frame out;
  int r = horus_frame_from_msg(&msg, c, &out);
  if (r) {
    horus_tensor_free(c);
    return hpy_raise(r);
  }
  return hpy_frame_new(Py_TYPE(self), &out);
}

static PyObject *Frame_deepcopy(FrameObject *self, PyObject *Py_UNUSED(memo)) {
  return Frame_copy(self, NULL);
}

static PyObject *Frame_reduce(FrameObject *self, PyObject *Py_UNUSED(a)) {
  GET_FRAME(self, NULL);
  horus_msg msg;
  horus_frame_to_msg(f, &msg);
  PyObject *loader = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "_from_message");
  if (!loader) return NULL;
  /* A received (read-only) frame unpickles read-only. */
  PyObject *res = Py_BuildValue("(O(y#O))", loader, (const char *)&msg, (Py_ssize_t)sizeof msg,
                                horus_tensor_is_readonly(f->tensor) ? Py_True : Py_False);
  Py_DECREF(loader);
  return res;
}

static PyObject *Frame_from_message(PyObject *cls, PyObject *args) {
  PyObject *arg;
  int readonly = 0;
  if (!PyArg_ParseTuple(args, "O|p:_from_message", &arg, &readonly)) return NULL;
  Py_buffer b;
  if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
  horus_msg msg;
  if (b.len != (Py_ssize_t)sizeof msg) {
    PyBuffer_Release(&b);
    return PyErr_Format(PyExc_ValueError, "a message is %zu bytes, got %zd", sizeof msg, b.len);
  }
  memcpy(&msg, b.buf, sizeof msg);
  PyBuffer_Release(&b);
  horus_state *st = hpy_state_of_type((PyTypeObject *)cls);
  horus_tensor *t;
  int r = horus_tensor_open(&msg.tensor, &t);
  if (r) return hpy_raise(r);
  if (readonly) horus_tensor_set_readonly(t);
  return hpy_msg_to_object(st, &msg, t);
}

/* ---- properties ------------------------------------------------------------- */

static PyObject *Frame_get_frame_id(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return PyUnicode_DecodeUTF8(f->meta.frame_id, (Py_ssize_t)strnlen(f->meta.frame_id,
                              sizeof f->meta.frame_id), "strict");
}

static int Frame_put_frame_id(FrameObject *self, PyObject *v, void *Py_UNUSED(c)) {
  if (!v) {
    PyErr_SetString(PyExc_AttributeError, "frame_id cannot be deleted");
    return -1;
  }
  PyObject *r = Frame_set_frame_id(self, v);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

static PyObject *Frame_get_timestamp_ns(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return PyLong_FromLongLong(f->meta.timestamp_ns);
}

static int Frame_put_timestamp_ns(FrameObject *self, PyObject *v, void *Py_UNUSED(c)) {
  if (!v) {
    PyErr_SetString(PyExc_AttributeError, "timestamp_ns cannot be deleted");
    return -1;
  }
  PyObject *r = Frame_set_timestamp_ns(self, v);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

static PyObject *Frame_get_dtype(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return PyUnicode_FromString(horus_dtype_name((horus_dtype)horus_tensor_get_desc(f->tensor)->dtype));
}

static PyObject *Frame_get_nbytes(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return PyLong_FromUnsignedLongLong(horus_tensor_nbytes(f->tensor));
}

static PyObject *Frame_get_tensor(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  horus_tensor *t;
  int r = horus_tensor_ref(f->tensor, &t);
  if (r) return hpy_raise(r);
  return hpy_tensor_wrap(state_of((PyObject *)self), t);
}

static PyObject *Frame_get_array_interface(FrameObject *self, void *Py_UNUSED(c)) {
  GET_FRAME(self, NULL);
  return hpy_array_interface(state_of((PyObject *)self), f->tensor, &self->exported);
}

static int Frame_getbuffer(FrameObject *self, Py_buffer *view, int flags) {
  if (!self->f.tensor) {
    PyErr_SetString(PyExc_BufferError, "object is not initialised");
    return -1;
  }
  return hpy_getbuffer(self->f.tensor, (PyObject *)self, view, flags);
}

static void Frame_releasebuffer(FrameObject *self, Py_buffer *view) {
  hpy_releasebuffer((PyObject *)self, view);
}

#define FASTCALL_KW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef Frame_methods[] = {
    {"to_numpy", (PyCFunction)Frame_to_numpy, METH_NOARGS,
     "to_numpy($self, /)\n--\n\nZero-copy NumPy view of the shared memory; "
     "it holds its own reference and stays valid after this object is gone."},
    {"to_torch", (PyCFunction)Frame_to_torch, METH_NOARGS,
     "to_torch($self, /)\n--\n\nZero-copy PyTorch tensor of the same memory."},
    {"to_jax", (PyCFunction)Frame_to_jax, METH_NOARGS,
     "to_jax($self, /)\n--\n\nZero-copy JAX array via DLPack (JAX without "
     "jax_enable_x64 converts 64-bit data, which copies)."},
    {"recycle", (PyCFunction)Frame_recycle, METH_NOARGS, HPY_RECYCLE_DOC},
    {"is_cpu", (PyCFunction)Frame_is_cpu, METH_NOARGS, "Always True: pools are host memory."},
    {"is_cuda", (PyCFunction)Frame_is_cuda, METH_NOARGS,
     "Always False: pools are host memory (HORUS and PyTorch spelling)."},
    {"as_tensor", (PyCFunction)Frame_get_tensor, METH_NOARGS,
     "as_tensor($self, /)\n--\n\nThe HORUS spelling of .tensor: a TensorHandle sharing "
     "this object's block."},
    {"set_frame_id", (PyCFunction)Frame_set_frame_id, METH_O,
     "set_frame_id($self, frame_id, /)\n--\n\nSensor frame name: a str of at most 63 bytes "
     "of UTF-8 (ValueError beyond, never cut)."},
    {"set_timestamp_ns", (PyCFunction)Frame_set_timestamp_ns, METH_O,
     "set_timestamp_ns($self, timestamp_ns, /)\n--\n\nTimestamp in nanoseconds (an int)."},
    {"__dlpack__", (PyCFunction)(void (*)(void))Frame_dlpack, FASTCALL_KW,
     "__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n"
     "DLPack capsule of the shared memory (versioned when max_version >= (1, 0))."},
    {"__dlpack_device__", (PyCFunction)Frame_dlpack_device, METH_NOARGS, "(kDLCPU, 0)"},
    {"__array__", (PyCFunction)(void (*)(void))Frame_array, FASTCALL_KW,
     "__array__(dtype=None, copy=None) -> numpy.ndarray"},
    {"copy", (PyCFunction)Frame_copy, METH_NOARGS,
     "copy($self, /)\n--\n\nAn independent copy in a new block of the same pool: same "
     "type, shape, dtype and metadata (encoding, frame_id, timestamp_ns, depth scale, "
     "fields); writing to one never changes the other.  copy.copy() and "
     "copy.deepcopy() do the same; pickling, by contrast, shares the block."},
    {"__copy__", (PyCFunction)Frame_copy, METH_NOARGS, "Same as copy()."},
    {"__deepcopy__", (PyCFunction)Frame_deepcopy, METH_O, "Same as copy()."},
    {"__reduce__", (PyCFunction)Frame_reduce, METH_NOARGS,
     "Pickles as a message: another process of the namespace maps the same block."},
    {"_from_message", (PyCFunction)Frame_from_message, METH_VARARGS | METH_CLASS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Frame_getset[] = {
    {"frame_id", (getter)Frame_get_frame_id, (setter)Frame_put_frame_id,
     "Sensor frame identifier (str, at most 63 bytes of UTF-8).", NULL},
    {"timestamp_ns", (getter)Frame_get_timestamp_ns, (setter)Frame_put_timestamp_ns,
     "Timestamp in nanoseconds (int, default 0).", NULL},
    {"dtype", (getter)Frame_get_dtype, NULL, "Element type name, e.g. 'uint8'.", NULL},
    {"nbytes", (getter)Frame_get_nbytes, NULL, "Size of the data in bytes.", NULL},
    {"tensor", (getter)Frame_get_tensor, NULL,
     "A TensorHandle sharing this object's block (a new reference).", NULL},
    {"shape", (getter)Frame_get_shape, NULL,
     "Shape of to_numpy() as a tuple: (H, W) or (H, W, C) for an image, (H, W) for "
     "a depth image, (N, F) for a point cloud.", NULL},
    {"device", (getter)Frame_get_device, NULL, "Always 'cpu'.", NULL},
    {"is_gpu", (getter)Frame_get_is_gpu, NULL, "Always False (HORUS spelling).", NULL},
    {"readonly", (getter)Frame_get_readonly, NULL,
     "True for a frame received from a topic: its memory is shared with the "
     "publisher and every subscriber, so its NumPy views are read-only.", NULL},
    {"__array_interface__", (getter)Frame_get_array_interface, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Frame_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(FrameObject, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Frame_slots[] = {
    {Py_tp_doc, "Base of Image, PointCloud and DepthImage: shared-memory data plus "
                "sensor metadata.\n\nThreads: a call running without the GIL (fill, "
                "copy_from, copy, depth_statistics, wire_encode) marks the object busy; "
                "__init__ on a busy object raises RuntimeError and changes nothing."},
    {Py_tp_dealloc, hpy_frame_dealloc},
    {Py_tp_methods, Frame_methods},
    {Py_tp_getset, Frame_getset},
    {Py_tp_members, Frame_members},
    {Py_bf_getbuffer, Frame_getbuffer},
    {Py_mp_subscript, Frame_getitem},
    {Py_mp_ass_subscript, Frame_setitem},
    {Py_bf_releasebuffer, Frame_releasebuffer},
    {0, NULL},
};

static PyType_Spec Frame_spec = {
    .name = "horus._Frame",
    .basicsize = sizeof(FrameObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Frame_slots,
};

int hpy_frame_init(PyObject *m, horus_state *st) {
  return hpy_add_type(m, &Frame_spec, &st->Frame_Type);
}

/* ---- the message bridge ---------------------------------------------------------- */

horus_msg_type hpy_msg_type_of_class(horus_state *st, PyObject *cls) {
  if (cls == (PyObject *)st->TensorHandle_Type) return HORUS_MSG_TENSOR;
  if (cls == (PyObject *)st->Image_Type) return HORUS_MSG_IMAGE;
  if (cls == (PyObject *)st->PointCloud_Type) return HORUS_MSG_POINTCLOUD;
  if (cls == (PyObject *)st->DepthImage_Type) return HORUS_MSG_DEPTH;
  return HORUS_MSG_NONE;
}

int hpy_msg_from_object(horus_state *st, PyObject *obj, horus_msg *msg,
                        const horus_tensor **tensor_out, hpy_busy **busy_out) {
  /* The three frame types by identity first: PyObject_TypeCheck against
   * their base walks the MRO on every send. */
  PyTypeObject *tp = Py_TYPE(obj);
  if (tp == st->Image_Type || tp == st->DepthImage_Type || tp == st->PointCloud_Type ||
      (st->Frame_Type && PyObject_TypeCheck(obj, st->Frame_Type))) {
    horus_frame *f = hpy_frame_get(obj);
    if (!f) return -1;
    horus_frame_to_msg(f, msg);
    *tensor_out = f->tensor;
    if (busy_out) *busy_out = &((FrameObject *)obj)->busy;
    return 0;
  }
  const horus_tensor *t = hpy_tensor_get(obj, st);
  if (!t) {
    if (!PyErr_Occurred())
      PyErr_Format(PyExc_TypeError, "cannot send %.80s: expected a TensorHandle, "
                   "Image, PointCloud or DepthImage", Py_TYPE(obj)->tp_name);
    return -1;
  }
  memset(msg, 0, sizeof *msg);
  msg->type = HORUS_MSG_TENSOR;
  msg->tensor = *horus_tensor_get_desc(t);
  *tensor_out = t;
  if (busy_out) *busy_out = hpy_tensor_busy(obj);
  return 0;
}

PyObject *hpy_msg_to_object(horus_state *st, const horus_msg *msg, horus_tensor *t) {
  PyTypeObject *type;
  switch (msg->type) {
    case HORUS_MSG_TENSOR: return hpy_tensor_wrap(st, t);
    case HORUS_MSG_IMAGE: type = st->Image_Type; break;
    case HORUS_MSG_POINTCLOUD: type = st->PointCloud_Type; break;
    case HORUS_MSG_DEPTH: type = st->DepthImage_Type; break;
    default:
      horus_tensor_free(t);
      return PyErr_Format(PyExc_TypeError, "message type %u has no Python type", msg->type);
  }
  horus_frame f;
  int r = horus_frame_from_msg(msg, t, &f);
  if (r) {
    horus_tensor_free(t);
    return hpy_raise(r);
  }
  return hpy_frame_new(type, &f);
}
