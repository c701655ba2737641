/* tensor.c - horus.TensorHandle: one reference to a tensor in a pool block. */
#include "horus_py.h"

#include <structmember.h>

typedef struct {
  PyObject_HEAD
  horus_tensor *t; /* NULL after release() */
  PyObject *weakreflist;
  hpy_busy busy; /* see "objects in use without the GIL" in horus_py.h */
  PyObject *exported; /* blocks handed to __array_interface__ consumers */
} TensorObject;

static PyObject *released(void) {
  PyErr_SetString(PyExc_ValueError, "TensorHandle has been released");
  return NULL;
}

#define GET_TENSOR(self, fail)      \
  if (!(self)->t) {                 \
    released();                     \
    return fail;                    \
  }

static horus_state *state_of(TensorObject *self) {
  return hpy_state_of_type(Py_TYPE(self));
}

/* The tensor inside a TensorHandle, NULL (no exception) for other objects
 * and NULL with ValueError for a released handle. */
const horus_tensor *hpy_tensor_get(PyObject *obj, horus_state *st) {
  if (!PyObject_TypeCheck(obj, st->TensorHandle_Type)) return NULL;
  TensorObject *self = (TensorObject *)obj;
  if (!self->t) {
    released();
    return NULL;
  }
  return self->t;
}

hpy_busy *hpy_tensor_busy(PyObject *obj) { return &((TensorObject *)obj)->busy; }

PyObject *hpy_tensor_wrap(horus_state *st, horus_tensor *t) {
  PyTypeObject *type = st->TensorHandle_Type;
  TensorObject *self = (TensorObject *)type->tp_alloc(type, 0); /* zeroed */
  if (!self) {
    horus_tensor_free(t);
    return NULL;
  }
  self->t = t;
  return (PyObject *)self;
}

static void Tensor_dealloc(TensorObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  if (self->weakreflist) PyObject_ClearWeakRefs((PyObject *)self);
  horus_tensor_free(self->t);
  Py_CLEAR(self->exported);
  tp->tp_free(self);
  Py_DECREF(tp);
}

static PyObject *Tensor_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  (void)type, (void)args, (void)kwds;
  PyErr_SetString(PyExc_TypeError, "TensorHandle cannot be created directly: use "
                  "TensorPool.alloc() or TensorHandle.from_dlpack()");
  return NULL;
}

/* ---- conversions ----------------------------------------------------------- */

static PyObject *Tensor_numpy(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return hpy_to_numpy(state_of(self), self->t);
}

static PyObject *Tensor_torch(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return hpy_to_torch(state_of(self), self->t);
}

static PyObject *Tensor_jax(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return hpy_to_jax(state_of(self), (PyObject *)self, self->t);
}

static PyObject *Tensor_dlpack(TensorObject *self, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames) {
  GET_TENSOR(self, NULL);
  return hpy_dlpack(state_of(self), self->t, args, nargs, kwnames);
}

static PyObject *Tensor_dlpack_device(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return hpy_dlpack_device();
}

static PyObject *Tensor_array(TensorObject *self, PyObject *const *args,
                              Py_ssize_t nargs, PyObject *kwnames) {
  GET_TENSOR(self, NULL);
  return hpy_array(state_of(self), self->t, args, nargs, kwnames);
}

static PyObject *Tensor_from_dlpack(PyObject *cls, PyObject *obj) {
  horus_state *st = hpy_state_of_type((PyTypeObject *)cls);
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return NULL;
  horus_tensor *t;
  if (hpy_import(st, obj, pool, &t, NULL) < 0) return NULL;
  return hpy_tensor_wrap(st, t);
}

static PyObject *Tensor_descriptor(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return PyBytes_FromStringAndSize((const char *)horus_tensor_get_desc(self->t),
                                   sizeof(horus_tensor_desc));
}

static PyObject *Tensor_from_descriptor(PyObject *cls, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"", "readonly", NULL};
  PyObject *arg;
  int readonly = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:from_descriptor", kwlist, &arg,
                                   &readonly))
    return NULL;
  Py_buffer b;
  if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
  if (b.len != (Py_ssize_t)sizeof(horus_tensor_desc)) {
    PyErr_Format(PyExc_ValueError, "a tensor descriptor is %zu bytes, got %zd",
                 sizeof(horus_tensor_desc), b.len);
    PyBuffer_Release(&b);
    return NULL;
  }
  horus_tensor_desc d;
  memcpy(&d, b.buf, sizeof d);
  PyBuffer_Release(&b);
  horus_tensor *t;
  int r = horus_tensor_open(&d, &t);
  if (r) return hpy_raise(r);
  if (readonly) horus_tensor_set_readonly(t);
  return hpy_tensor_wrap(hpy_state_of_type((PyTypeObject *)cls), t);
}

static PyObject *Tensor_reduce(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  PyObject *ctor = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "from_descriptor");
  PyObject *desc = Tensor_descriptor(self, NULL);
  /* A received (read-only) tensor unpickles read-only. */
  PyObject *res = ctor && desc ? Py_BuildValue("(O(OO))", ctor, desc,
                                               horus_tensor_is_readonly(self->t) ? Py_True
                                                                                 : Py_False)
                               : NULL;
  Py_XDECREF(ctor);
  Py_XDECREF(desc);
  return res;
}

/* ---- shape operations ---------------------------------------------------------- */

static PyObject *Tensor_view(TensorObject *self, PyObject *shape_obj) {
  GET_TENSOR(self, NULL);
  int64_t shape[HORUS_MAX_DIMS];
  int ndim;
  /* view() takes -1 for one inferred dimension, which parse_shape refuses. */
  PyObject *seq = PyLong_Check(shape_obj) ? PyTuple_Pack(1, shape_obj)
                                          : PySequence_Fast(shape_obj, "");
  if (!seq) {
    return PyErr_Format(PyExc_TypeError, "view() takes a sequence of ints, not %.80s",
                        Py_TYPE(shape_obj)->tp_name);
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n > HORUS_MAX_DIMS) {
    Py_DECREF(seq);
    return PyErr_Format(PyExc_ValueError, "view() shape has %zd dimensions: at most %d",
                        n, HORUS_MAX_DIMS);
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
    int overflow;
    long long v = PyLong_Check(item) ? PyLong_AsLongLongAndOverflow(item, &overflow) : -2;
    if (v == -2 && !PyLong_Check(item)) {
      Py_DECREF(seq);
      return PyErr_Format(PyExc_TypeError, "view() shape[%zd] must be an int", i);
    }
    if (v == -1 && PyErr_Occurred()) {
      Py_DECREF(seq);
      return NULL;
    }
    if (overflow || v < -1) {
      Py_DECREF(seq);
      return PyErr_Format(PyExc_ValueError, "view() shape[%zd] = %R is invalid", i, item);
    }
    shape[i] = v;
  }
  Py_DECREF(seq);
  ndim = (int)n;
  /* Iterating the shape ran Python code, which may have released us. */
  GET_TENSOR(self, NULL);
  horus_tensor *out;
  int r = horus_tensor_view(self->t, shape, ndim, &out);
  if (r) return hpy_raise(r);
  return hpy_tensor_wrap(state_of(self), out);
}

static PyObject *Tensor_slice(TensorObject *self, PyObject *const *args, Py_ssize_t nargs) {
  GET_TENSOR(self, NULL);
  if (nargs != 2)
    return PyErr_Format(PyExc_TypeError, "slice(start, stop) takes 2 arguments (%zd given)",
                        nargs);
  const horus_tensor_desc *d = horus_tensor_get_desc(self->t);
  if (d->ndim == 0) return PyErr_Format(PyExc_ValueError, "slice() of a 0-d tensor");
  long long n = (long long)d->shape[0], idx[2];
  for (int i = 0; i < 2; i++) {
    if (!PyLong_Check(args[i]))
      return PyErr_Format(PyExc_TypeError, "slice() bounds must be ints, not %.80s",
                          Py_TYPE(args[i])->tp_name);
    int overflow;
    idx[i] = PyLong_AsLongLongAndOverflow(args[i], &overflow);
    if (idx[i] == -1 && PyErr_Occurred()) return NULL;
    if (overflow) idx[i] = -1; /* out of range whatever the sign */
    else if (idx[i] < 0) idx[i] += n; /* Python-style negative indices */
  }
  /* Checked here rather than by horus_tensor_slice so that the message
   * gives the bounds the caller wrote, not the ones after adding n. */
  if (idx[0] < 0 || idx[1] < idx[0] || idx[1] > n)
    return PyErr_Format(PyExc_IndexError, "slice(%R, %R) out of range for dimension 0 "
                        "of size %lld: bounds must lie in [-%lld, %lld] (negative ones "
                        "count from the end) with start <= stop",
                        args[0], args[1], n, n, n);
  horus_tensor *out;
  int r = horus_tensor_slice(self->t, idx[0], idx[1], &out);
  if (r) return hpy_raise(r);
  return hpy_tensor_wrap(state_of(self), out);
}

static PyObject *Tensor_release(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  if (hpy_busy_refuse((PyObject *)self, &self->busy, "release()")) return NULL;
  horus_tensor_free(self->t);
  self->t = NULL;
  Py_RETURN_NONE;
}

PyObject *hpy_recycle(horus_tensor *t) {
  int r = horus_tensor_recycle(t);
  if (r == HORUS_EBUSY) {
    PyErr_Format(PyExc_BufferError, "recycle(): %s (wait until receivers and topics are done "
                 "with it, and drop to_numpy() views)", horus_errmsg());
    return NULL;
  }
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Tensor_recycle(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  if (hpy_busy_refuse((PyObject *)self, &self->busy, "recycle()")) return NULL;
  return hpy_recycle(self->t);
}

/* An independent tensor: a copy of the elements in a new block of the same
 * pool, packed row-major, same shape and dtype. */
static PyObject *Tensor_copy(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  horus_tensor *c = hpy_tensor_clone(self->t, &self->busy, "copy");
  return c ? hpy_tensor_wrap(state_of(self), c) : NULL;
}

static PyObject *Tensor_deepcopy(TensorObject *self, PyObject *Py_UNUSED(memo)) {
  return Tensor_copy(self, NULL);
}

static PyObject *Tensor_is_cpu(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  Py_RETURN_TRUE;
}

static PyObject *Tensor_is_contiguous(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return PyBool_FromLong(horus_tensor_is_contiguous(self->t));
}

static PyObject *Tensor_enter(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  return Py_NewRef(self);
}

static PyObject *Tensor_exit(TensorObject *self, PyObject *Py_UNUSED(args)) {
  return Tensor_release(self, NULL);
}

/* ---- properties ---------------------------------------------------------------- */

static PyObject *Tensor_get_shape(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  const horus_tensor_desc *d = horus_tensor_get_desc(self->t);
  PyObject *list = PyList_New(d->ndim);
  if (!list) return NULL;
  for (int i = 0; i < d->ndim; i++) {
    PyObject *v = PyLong_FromLongLong(d->shape[i]);
    if (!v) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, i, v);
  }
  return list;
}

static PyObject *Tensor_get_strides(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  const horus_tensor_desc *d = horus_tensor_get_desc(self->t);
  PyObject *list = PyList_New(d->ndim);
  if (!list) return NULL;
  for (int i = 0; i < d->ndim; i++) PyList_SET_ITEM(list, i, PyLong_FromLongLong(d->strides[i]));
  return list;
}

static PyObject *Tensor_get_dtype(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyUnicode_FromString(
      horus_dtype_name((horus_dtype)horus_tensor_get_desc(self->t)->dtype));
}

/* HORUS and PyTorch spellings: pools are host memory. */
static PyObject *Tensor_is_cuda(TensorObject *self, PyObject *Py_UNUSED(ignored)) {
  GET_TENSOR(self, NULL);
  Py_RETURN_FALSE;
}

static PyObject *Tensor_get_is_gpu(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  Py_RETURN_FALSE;
}

static PyObject *Tensor_get_readonly(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyBool_FromLong(horus_tensor_is_readonly(self->t));
}

static PyObject *Tensor_get_device(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyUnicode_FromString("cpu");
}

static PyObject *Tensor_get_ndim(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyLong_FromLong(horus_tensor_get_desc(self->t)->ndim);
}

static PyObject *Tensor_get_numel(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyLong_FromLongLong(horus_tensor_numel(self->t));
}

static PyObject *Tensor_get_nbytes(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyLong_FromUnsignedLongLong(horus_tensor_nbytes(self->t));
}

static PyObject *Tensor_get_refcount(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyLong_FromUnsignedLong(horus_tensor_refcount(self->t));
}

static PyObject *Tensor_get_pool_id(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return PyLong_FromUnsignedLong(horus_tensor_get_desc(self->t)->pool_id);
}

static PyObject *Tensor_get_released(TensorObject *self, void *Py_UNUSED(c)) {
  return PyBool_FromLong(self->t == NULL);
}

static PyObject *Tensor_get_array_interface(TensorObject *self, void *Py_UNUSED(c)) {
  GET_TENSOR(self, NULL);
  return hpy_array_interface(state_of(self), self->t, &self->exported);
}

static PyObject *Tensor_repr(TensorObject *self) {
  if (!self->t) return PyUnicode_FromString("<TensorHandle (released)>");
  const horus_tensor_desc *d = horus_tensor_get_desc(self->t);
  char shape[256];
  size_t n = 0;
  shape[n++] = '[';
  for (int i = 0; i < d->ndim && n < sizeof shape - 32; i++)
    n += (size_t)snprintf(shape + n, sizeof shape - n, i ? ", %lld" : "%lld",
                          (long long)d->shape[i]);
  snprintf(shape + n, sizeof shape - n, "]");
  return PyUnicode_FromFormat("<TensorHandle shape=%s dtype=%s device=cpu pool=%u "
                              "slot=%u refcount=%u>", shape,
                              horus_dtype_name((horus_dtype)d->dtype), d->pool_id,
                              d->slot, horus_tensor_refcount(self->t));
}

static int Tensor_getbuffer(TensorObject *self, Py_buffer *view, int flags) {
  if (!self->t) {
    PyErr_SetString(PyExc_BufferError, "TensorHandle has been released");
    return -1;
  }
  return hpy_getbuffer(self->t, (PyObject *)self, view, flags);
}

static void Tensor_releasebuffer(TensorObject *self, Py_buffer *view) {
  hpy_releasebuffer((PyObject *)self, view);
}

#define FASTCALL_KW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef Tensor_methods[] = {
    {"numpy", (PyCFunction)Tensor_numpy, METH_NOARGS,
     "numpy($self, /)\n--\n\nZero-copy NumPy view; it holds its own "
     "reference, so it stays valid after release()."},
    {"to_numpy", (PyCFunction)Tensor_numpy, METH_NOARGS, "to_numpy($self, /)\n--\n\nAlias of numpy()."},
    {"torch", (PyCFunction)Tensor_torch, METH_NOARGS,
     "torch($self, /)\n--\n\nZero-copy PyTorch tensor (ImportError "
     "without PyTorch)."},
    {"to_torch", (PyCFunction)Tensor_torch, METH_NOARGS, "to_torch($self, /)\n--\n\nAlias of torch()."},
    {"to_jax", (PyCFunction)Tensor_jax, METH_NOARGS,
     "to_jax($self, /)\n--\n\nZero-copy JAX array via DLPack (ImportError "
     "without JAX)."},
    {"jax", (PyCFunction)Tensor_jax, METH_NOARGS, "jax($self, /)\n--\n\nAlias of to_jax()."},
    {"view", (PyCFunction)Tensor_view, METH_O,
     "view($self, shape, /)\n--\n\nReshape without copying, as torch.Tensor.view: "
     "the tensor must be contiguous and `shape` must have as many elements.  One "
     "entry may be -1, inferred from the others: view([-1, 3]) of 12 elements is "
     "(4, 3).  ValueError when it does not divide evenly or for a second -1."},
    {"slice", (PyCFunction)(void (*)(void))Tensor_slice, METH_FASTCALL,
     "slice($self, start, stop, /)\n--\n\nRows [start, stop) along the first "
     "dimension, without copying.  IndexError when out of range."},
    {"recycle", (PyCFunction)Tensor_recycle, METH_NOARGS, HPY_RECYCLE_DOC},
    {"release", (PyCFunction)Tensor_release, METH_NOARGS,
     "release($self, /)\n--\n\nDrop this handle's reference now (optional: dropping the "
     "object does it).  Views exported earlier stay valid; the handle is unusable."},
    {"copy", (PyCFunction)Tensor_copy, METH_NOARGS,
     "copy($self, /)\n--\n\nAn independent copy in a new block of the same pool (same "
     "shape and dtype, packed row-major); writing to one never changes the other.  "
     "copy.copy() and copy.deepcopy() do the same; pickling, by contrast, shares "
     "the block."},
    {"__copy__", (PyCFunction)Tensor_copy, METH_NOARGS, "Same as copy()."},
    {"__deepcopy__", (PyCFunction)Tensor_deepcopy, METH_O, "Same as copy()."},
    {"is_cpu", (PyCFunction)Tensor_is_cpu, METH_NOARGS, "Always True: pools are host memory."},
    {"is_cuda", (PyCFunction)Tensor_is_cuda, METH_NOARGS,
     "Always False: pools are host memory (HORUS and PyTorch spelling)."},
    {"is_contiguous", (PyCFunction)Tensor_is_contiguous, METH_NOARGS,
     "True if the elements are laid out row-major without gaps."},
    {"from_dlpack", (PyCFunction)Tensor_from_dlpack, METH_O | METH_CLASS,
     "from_dlpack($cls, x, /)\n--\n\nImport any DLPack producer (PyTorch, "
     "JAX, NumPy...) or buffer.  No copy when x already lives in a horus pool; "
     "otherwise one copy into the global pool."},
    {"descriptor", (PyCFunction)Tensor_descriptor, METH_NOARGS,
     "descriptor($self, /)\n--\n\nPosition-independent description of this tensor "
     "(pool id, slot, generation, offset, dtype, shape, strides) for another "
     "process of the same namespace to open with from_descriptor()."},
    {"from_descriptor", (PyCFunction)(void (*)(void))Tensor_from_descriptor,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_descriptor($cls, desc, /, readonly=False)\n--\n\nOpen the tensor a descriptor "
     "names, taking a new reference (no copy); read-only when readonly is true (as a "
     "received one pickles).  ValueError when the block was freed or reused since the "
     "descriptor was made."},
    {"__reduce__", (PyCFunction)Tensor_reduce, METH_NOARGS,
     "Pickles as its descriptor: unpickling in another process of the same "
     "namespace maps the same block (while a reference keeps it alive)."},
    {"__dlpack__", (PyCFunction)(void (*)(void))Tensor_dlpack, FASTCALL_KW,
     "__dlpack__($self, /, *, stream=None, max_version=None, dl_device=None, copy=None)\n--\n\n"
     "DLPack capsule (versioned when max_version >= (1, 0) is given)."},
    {"__dlpack_device__", (PyCFunction)Tensor_dlpack_device, METH_NOARGS,
     "(kDLCPU, 0)"},
    {"__array__", (PyCFunction)(void (*)(void))Tensor_array, FASTCALL_KW,
     "__array__(dtype=None, copy=None) -> numpy.ndarray"},
    {"__enter__", (PyCFunction)Tensor_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Tensor_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Tensor_getset[] = {
    {"shape", (getter)Tensor_get_shape, NULL, "List of dimensions.", NULL},
    {"strides", (getter)Tensor_get_strides, NULL, "Strides in elements.", NULL},
    {"dtype", (getter)Tensor_get_dtype, NULL, "Element type name, e.g. 'float32'.", NULL},
    {"device", (getter)Tensor_get_device, NULL, "Always 'cpu'.", NULL},
    {"is_gpu", (getter)Tensor_get_is_gpu, NULL, "Always False (HORUS spelling).", NULL},
    {"readonly", (getter)Tensor_get_readonly, NULL,
     "True for a tensor received from a topic (shared with the publisher and every "
     "subscriber): its NumPy views are read-only.", NULL},
    {"ndim", (getter)Tensor_get_ndim, NULL, "Number of dimensions.", NULL},
    {"numel", (getter)Tensor_get_numel, NULL, "Total number of elements.", NULL},
    {"nbytes", (getter)Tensor_get_nbytes, NULL, "Size of the elements in bytes.", NULL},
    {"refcount", (getter)Tensor_get_refcount, NULL,
     "References to the block in all processes: handles, exported views, "
     "messages held by topics.", NULL},
    {"pool_id", (getter)Tensor_get_pool_id, NULL, "Id of the pool holding the block.", NULL},
    {"released", (getter)Tensor_get_released, NULL, "True after release().", NULL},
    {"__array_interface__", (getter)Tensor_get_array_interface, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Tensor_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(TensorObject, weakreflist), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot Tensor_slots[] = {
    {Py_tp_doc, "A tensor in a shared-memory pool block: one counted reference.\n\n"
                "Created by TensorPool.alloc() or TensorHandle.from_dlpack(); "
                "converts to NumPy, PyTorch and JAX without copying.  copy() (and "
                "copy.copy/deepcopy) gives an independent one in a new block.\n\n"
                "Threads: a call running without the GIL (copy, wire_encode) marks the "
                "handle busy; release() on a busy handle raises RuntimeError."},
    {Py_tp_new, Tensor_new},
    {Py_tp_dealloc, Tensor_dealloc},
    {Py_tp_alloc, hpy_msg_alloc},
    {Py_tp_free, hpy_msg_free},
    {Py_tp_methods, Tensor_methods},
    {Py_tp_getset, Tensor_getset},
    {Py_tp_members, Tensor_members},
    {Py_tp_repr, Tensor_repr},
    {Py_bf_getbuffer, Tensor_getbuffer},
    {Py_bf_releasebuffer, Tensor_releasebuffer},
    {0, NULL},
};

static PyType_Spec Tensor_spec = {
    .name = "horus.TensorHandle",
    .basicsize = sizeof(TensorObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Tensor_slots,
};

int hpy_tensor_init(PyObject *m, horus_state *st) {
  return hpy_add_type(m, &Tensor_spec, &st->TensorHandle_Type);
}
