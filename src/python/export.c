/* export.c - how pool tensors cross into NumPy, PyTorch, JAX and the buffer
 * protocol, and how arrays of those frameworks come in.
 *
 * Every export holds its own block reference, so a view stays valid after
 * the object it came from is released or garbage collected: a NumPy view's
 * base is a _BlockRef owning one reference; a DLPack capsule's managed tensor
 * owns one (dropped by its deleter, which needs no GIL); each buffer view
 * owns one until it is released. */
#include "horus_py.h"

/* ---- _BlockRef: one block reference as a Python object ------------------- */

typedef struct {
  PyObject_HEAD
  horus_tensor *t;
} BlockRef;

static void BlockRef_dealloc(BlockRef *self) {
  PyTypeObject *tp = Py_TYPE(self);
  horus_tensor_free(self->t);
  tp->tp_free(self);
  Py_DECREF(tp);
}

/* The block's bytes from element 0 on, as a flat buffer: this is what
 * NumPy reads when __array_interface__ gives a _BlockRef as its data.  The
 * reference belongs to the _BlockRef, which the view keeps alive. */
static int BlockRef_getbuffer(BlockRef *self, Py_buffer *view, int flags) {
  const horus_tensor_desc *d = horus_tensor_get_desc(self->t);
  Py_ssize_t len = 0;
  if (horus_tensor_numel(self->t) > 0) {
    len = (Py_ssize_t)horus_dtype_size((horus_dtype)d->dtype);
    for (int i = 0; i < d->ndim; i++)
      len += (Py_ssize_t)((d->shape[i] - 1) * d->strides[i] *
                          (int64_t)horus_dtype_size((horus_dtype)d->dtype));
  }
  return PyBuffer_FillInfo(view, (PyObject *)self, horus_tensor_data(self->t), len,
                           horus_tensor_is_readonly(self->t), flags);
}

static PyType_Slot BlockRef_slots[] = {
    {Py_tp_doc, "One reference to a pool block, kept by the views exported from it."},
    {Py_tp_dealloc, BlockRef_dealloc},
    {Py_bf_getbuffer, BlockRef_getbuffer},
    {0, NULL},
};

static PyType_Spec BlockRef_spec = {
    .name = "horus._BlockRef",
    .basicsize = sizeof(BlockRef),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = BlockRef_slots,
};

int hpy_blockref_init(PyObject *m, horus_state *st) {
  return hpy_add_type(m, &BlockRef_spec, &st->BlockRef_Type);
}

static PyObject *blockref_new(horus_state *st, const horus_tensor *t) {
  BlockRef *b = PyObject_New(BlockRef, st->BlockRef_Type);
  if (!b) return NULL;
  b->t = NULL;
  int r = horus_tensor_ref(t, &b->t);
  if (r) {
    Py_DECREF(b);
    return hpy_raise(r);
  }
  return (PyObject *)b;
}

/* ---- dtypes -------------------------------------------------------------- */

static const int npy_of[HORUS_DTYPE_COUNT] = {
    [HORUS_BOOL] = NPY_BOOL,       [HORUS_INT8] = NPY_INT8,
    [HORUS_INT16] = NPY_INT16,     [HORUS_INT32] = NPY_INT32,
    [HORUS_INT64] = NPY_INT64,     [HORUS_UINT8] = NPY_UINT8,
    [HORUS_UINT16] = NPY_UINT16,   [HORUS_UINT32] = NPY_UINT32,
    [HORUS_UINT64] = NPY_UINT64,   [HORUS_FLOAT16] = NPY_FLOAT16,
    [HORUS_BFLOAT16] = -1,         [HORUS_FLOAT32] = NPY_FLOAT32,
    [HORUS_FLOAT64] = NPY_FLOAT64,
};

static int dtype_from_npy(int type_num) {
  /* NPY_LONG / NPY_LONGLONG etc. alias the sized names; compare by kind and
   * size so every integer spelling maps. */
  PyArray_Descr *d = PyArray_DescrFromType(type_num);
  if (!d) {
    PyErr_Clear();
    return -1;
  }
  char kind = d->kind;
  int size = (int)PyDataType_ELSIZE(d);
  Py_DECREF(d);
  switch (kind) {
    case 'b': return size == 1 ? HORUS_BOOL : -1;
    case 'i': return size == 1 ? HORUS_INT8 : size == 2 ? HORUS_INT16
                   : size == 4 ? HORUS_INT32 : size == 8 ? HORUS_INT64 : -1;
    case 'u': return size == 1 ? HORUS_UINT8 : size == 2 ? HORUS_UINT16
                   : size == 4 ? HORUS_UINT32 : size == 8 ? HORUS_UINT64 : -1;
    case 'f': return size == 2 ? HORUS_FLOAT16 : size == 4 ? HORUS_FLOAT32
                   : size == 8 ? HORUS_FLOAT64 : -1;
    default: return -1;
  }
}

static PyObject *unknown_dtype(PyObject *obj) {
  return PyErr_Format(PyExc_ValueError, "unknown dtype %R: expected one of bool, "
                      "int8, int16, int32, int64, uint8, uint16, uint32, uint64, "
                      "float16, bfloat16, float32, float64", obj);
}

int hpy_parse_dtype(PyObject *obj) {
  if (PyUnicode_Check(obj)) {
    const char *name = hpy_utf8(obj, "dtype", NULL);
    if (!name) return -1;
    int d = horus_dtype_from_name(name);
    if (d < 0) unknown_dtype(obj);
    return d;
  }
  if (PyArray_DescrCheck(obj) || PyType_Check(obj)) {
    PyArray_Descr *descr = NULL;
    if (PyArray_DescrConverter2(obj, &descr) && descr) {
      int d = dtype_from_npy(descr->type_num);
      Py_DECREF(descr);
      if (d < 0) unknown_dtype(obj);
      return d;
    }
    PyErr_Clear();
  }
  /* torch.float32 and friends print as "torch.float32". */
  PyObject *s = PyObject_Str(obj);
  if (!s) return -1;
  const char *name = hpy_utf8(s, "dtype", NULL);
  int d = -1;
  if (name && strncmp(name, "torch.", 6) == 0) d = horus_dtype_from_name(name + 6);
  Py_DECREF(s);
  if (d < 0) {
    if (PyErr_Occurred()) return -1;
    PyErr_Format(PyExc_TypeError, "dtype must be a str, a NumPy dtype or a torch "
                 "dtype, not %R", obj);
  }
  return d;
}

int hpy_parse_shape(PyObject *obj, int64_t *shape, const char *what) {
  if (PyLong_Check(obj)) {
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < 0) {
      PyErr_Format(PyExc_ValueError, "%s %R: dimensions must be >= 0 and fit in "
                   "64 bits", what, obj);
      return -1;
    }
    shape[0] = v;
    return 1;
  }
  PyObject *seq = PySequence_Fast(obj, "");
  if (!seq) {
    PyErr_Format(PyExc_TypeError, "%s must be an int or a sequence of ints, not %.80s",
                 what, Py_TYPE(obj)->tp_name);
    return -1;
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n > HORUS_MAX_DIMS) {
    Py_DECREF(seq);
    PyErr_Format(PyExc_ValueError, "%s has %zd dimensions: at most %d", what, n,
                 HORUS_MAX_DIMS);
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyLong_Check(item) && !PyIndex_Check(item)) {
      PyErr_Format(PyExc_TypeError, "%s[%zd] must be an int, not %.80s", what, i,
                   Py_TYPE(item)->tp_name);
      Py_DECREF(seq);
      return -1;
    }
    PyObject *idx = PyNumber_Index(item);
    int overflow = 0;
    long long v = idx ? PyLong_AsLongLongAndOverflow(idx, &overflow) : -1;
    Py_XDECREF(idx);
    if (!idx || (v == -1 && PyErr_Occurred())) {
      Py_DECREF(seq);
      return -1;
    }
    if (overflow || v < 0) {
      PyErr_Format(PyExc_ValueError, "%s[%zd] = %R: dimensions must be >= 0 and "
                   "fit in 64 bits", what, i, item);
      Py_DECREF(seq);
      return -1;
    }
    shape[i] = v;
  }
  Py_DECREF(seq);
  return (int)n;
}

static int parse_u32(PyObject *obj, const char *what, long long lo, PyObject *range_exc,
                     const char *range_msg, uint32_t *out) {
  if (!PyLong_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not %.80s", what, Py_TYPE(obj)->tp_name);
    return -1;
  }
  int overflow;
  long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (overflow || v < lo || v > UINT32_MAX) {
    PyErr_Format(range_exc, range_msg, what, obj);
    return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

int hpy_parse_dim(PyObject *obj, const char *what, uint32_t *out) {
  return parse_u32(obj, what, 1, PyExc_ValueError, "%s must be > 0 (and < 2**32), got %R", out);
}

int hpy_parse_coord(PyObject *obj, const char *what, uint32_t *out) {
  return parse_u32(obj, what, 0, PyExc_IndexError, "%s = %R is outside the image", out);
}

int hpy_parse_index(PyObject *obj, const char *what, uint32_t size, uint32_t *out) {
  if (!PyLong_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not %.80s", what, Py_TYPE(obj)->tp_name);
    return -1;
  }
  int overflow;
  long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (!overflow && v < 0) v += size;
  if (overflow || v < 0 || v >= (long long)size) {
    PyErr_Format(PyExc_IndexError, "%s = %R is outside 0..%u (negative counts from "
                 "the end, down to -%u)", what, obj, size ? size - 1 : 0, size);
    return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

PyObject *hpy_torch_input(PyObject *obj, const char *owner) {
  /* Only someone who calls from_torch has torch; it is imported already. */
  PyObject *torch = PyImport_ImportModule("torch");
  if (!torch) {
    if (!PyErr_ExceptionMatches(PyExc_ImportError)) return NULL;
    PyErr_Clear();
    return PyErr_Format(PyExc_TypeError, "%s.from_torch() takes a torch.Tensor, not "
                        "%.80s (PyTorch is not installed): use %s.from_numpy()", owner,
                        Py_TYPE(obj)->tp_name, owner);
  }
  PyObject *tensor_type = PyObject_GetAttrString(torch, "Tensor");
  Py_DECREF(torch);
  if (!tensor_type) return NULL;
  int is = PyObject_IsInstance(obj, tensor_type);
  Py_DECREF(tensor_type);
  if (is < 0) return NULL;
  if (!is)
    return PyErr_Format(PyExc_TypeError, "%s.from_torch() takes a torch.Tensor, not "
                        "%.80s: use %s.from_numpy() for NumPy arrays and other array "
                        "likes", owner, Py_TYPE(obj)->tp_name, owner);
  /* A tensor that requires grad refuses DLPack export; the frame holds data,
   * not autograd history, so take the data (detach shares the storage). */
  PyObject *grad = PyObject_GetAttrString(obj, "requires_grad");
  if (!grad) return NULL;
  int needs = PyObject_IsTrue(grad);
  Py_DECREF(grad);
  if (needs < 0) return NULL;
  return needs ? PyObject_CallMethod(obj, "detach", NULL) : Py_NewRef(obj);
}

/* ---- NumPy ---------------------------------------------------------------- */

PyObject *hpy_to_numpy(horus_state *st, const horus_tensor *t) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  int type_num = npy_of[d->dtype];
  if (type_num < 0)
    return PyErr_Format(PyExc_BufferError, "NumPy has no %s dtype: use to_torch() "
                        "or __dlpack__", horus_dtype_name((horus_dtype)d->dtype));
  npy_intp dims[HORUS_MAX_DIMS], strides[HORUS_MAX_DIMS];
  npy_intp item = (npy_intp)horus_dtype_size((horus_dtype)d->dtype);
  for (int i = 0; i < d->ndim; i++) {
    dims[i] = (npy_intp)d->shape[i];
    strides[i] = (npy_intp)d->strides[i] * item;
  }
  PyObject *base = blockref_new(st, t);
  if (!base) return NULL;
  /* A received frame is everyone's: NumPy refuses writes to it (ValueError:
   * "assignment destination is read-only"), as to any read-only array. */
  int flags = horus_tensor_is_readonly(t) ? 0 : NPY_ARRAY_WRITEABLE;
  PyObject *arr = PyArray_NewFromDescr(&PyArray_Type, PyArray_DescrFromType(type_num),
                                       d->ndim, dims, strides, horus_tensor_data(t),
                                       flags, NULL);
  if (!arr) {
    Py_DECREF(base);
    return NULL;
  }
  if (PyArray_SetBaseObject((PyArrayObject *)arr, base) < 0) { /* steals base */
    Py_DECREF(arr);
    return NULL;
  }
  return arr;
}

/* ---- DLPack --------------------------------------------------------------- */

static void capsule_destructor(PyObject *cap) {
  /* Only a capsule nobody consumed still owns its managed tensor. */
  if (PyCapsule_IsValid(cap, "dltensor")) {
    DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");
    if (m && m->deleter) m->deleter(m);
  } else if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
    DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, "dltensor_versioned");
    if (m && m->deleter) m->deleter(m);
  }
}

static PyObject *make_capsule(const horus_tensor *t, bool versioned) {
  void *m;
  int r = horus_tensor_to_dlpack(t, versioned, &m);
  if (r) return hpy_raise(r);
  PyObject *cap = PyCapsule_New(m, versioned ? "dltensor_versioned" : "dltensor",
                                capsule_destructor);
  if (!cap) {
    if (versioned) ((DLManagedTensorVersioned *)m)->deleter(m);
    else ((DLManagedTensor *)m)->deleter(m);
  }
  return cap;
}

PyObject *hpy_dlpack_device(void) { return Py_BuildValue("(ii)", kDLCPU, 0); }

PyObject *hpy_dlpack(horus_state *st, const horus_tensor *t, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames) {
  (void)args;
  if (nargs > 0)
    return PyErr_Format(PyExc_TypeError, "__dlpack__() takes keyword arguments only");
  PyObject *stream = Py_None, *max_version = Py_None, *dl_device = Py_None,
           *copy = Py_None;
  Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nk; i++) {
    const char *k = hpy_utf8(PyTuple_GET_ITEM(kwnames, i), "keyword argument name", NULL);
    if (!k) return NULL;
    PyObject *v = args[nargs + i];
    if (strcmp(k, "stream") == 0) stream = v;
    else if (strcmp(k, "max_version") == 0) max_version = v;
    else if (strcmp(k, "dl_device") == 0) dl_device = v;
    else if (strcmp(k, "copy") == 0) copy = v;
    else return PyErr_Format(PyExc_TypeError, "__dlpack__() got an unexpected "
                             "keyword argument '%s'", k);
  }
  if (stream != Py_None)
    return PyErr_Format(PyExc_BufferError, "stream=%R: CPU tensors take no "
                        "stream (pass None)", stream);
  if (dl_device != Py_None) {
    int type, id;
    if (!PyTuple_Check(dl_device))
      return PyErr_Format(PyExc_TypeError, "dl_device must be a (device_type, device_id) "
                          "tuple, not %.80s", Py_TYPE(dl_device)->tp_name);
    if (!PyArg_ParseTuple(dl_device, "ii;dl_device must be a (device_type, "
                          "device_id) tuple", &type, &id))
      return NULL;
    if (type != kDLCPU || id != 0)
      return PyErr_Format(PyExc_BufferError, "dl_device=%R: this tensor lives "
                          "in host memory (kDLCPU, 0) and is not copied to other "
                          "devices", dl_device);
  }
  bool versioned = false;
  if (max_version != Py_None) {
    unsigned major, minor;
    if (!PyTuple_Check(max_version))
      return PyErr_Format(PyExc_TypeError, "max_version must be a (major, minor) tuple, "
                          "not %.80s", Py_TYPE(max_version)->tp_name);
    if (!PyArg_ParseTuple(max_version, "II;max_version must be a (major, minor) "
                          "tuple", &major, &minor))
      return NULL;
    versioned = major >= 1;
  }
  int want_copy = copy == Py_None ? 0 : PyObject_IsTrue(copy);
  if (want_copy < 0) return NULL;
  if (!want_copy) return make_capsule(t, versioned);

  /* copy=True: the consumer must get memory it does not share with us. */
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return NULL;
  /* Our own reference to the block, so the copy can run without the GIL
   * while another thread releases the exporting object. */
  horus_tensor *own, *c = NULL;
  int r = horus_tensor_ref(t, &own);
  if (r) return hpy_raise(r);
  Py_BEGIN_ALLOW_THREADS
  r = horus_tensor_clone(pool, own, &c);
  horus_tensor_free(own);
  Py_END_ALLOW_THREADS
  if (r) return hpy_raise(r);
  PyObject *cap = make_capsule(c, versioned);
  horus_tensor_free(c);
  if (cap && versioned) {
    DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, "dltensor_versioned");
    m->flags |= DLPACK_FLAG_BITMASK_IS_COPIED;
  }
  return cap;
}

/* ---- PyTorch and JAX -------------------------------------------------------- */

static PyObject *import_attr(PyObject **cache, const char *module, const char *attr,
                             const char *hint) {
  if (*cache) return *cache;
  PyObject *m = PyImport_ImportModule(module);
  if (!m) {
    if (PyErr_ExceptionMatches(PyExc_ImportError)) {
      PyErr_Clear();
      PyErr_Format(PyExc_ImportError, "%s", hint);
    }
    return NULL;
  }
  *cache = PyObject_GetAttrString(m, attr);
  Py_DECREF(m);
  return *cache;
}

PyObject *hpy_to_torch(horus_state *st, const horus_tensor *t) {
  const char *hint = "to_torch() needs PyTorch: pip install torch";
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  /* A read-only (received) frame goes through DLPack: PyTorch has no
   * read-only tensors, and torch.from_numpy of a read-only array warns once
   * and then says nothing.  The tensor shares the memory all the same; the
   * documented rule is that it must not be written (copy() first). */
  if (npy_of[d->dtype] >= 0 && !horus_tensor_is_readonly(t)) {
    PyObject *fn = import_attr(&st->torch_from_numpy, "torch", "from_numpy", hint);
    if (!fn) return NULL;
    PyObject *arr = hpy_to_numpy(st, t);
    if (!arr) return NULL;
    PyObject *res = PyObject_CallOneArg(fn, arr);
    Py_DECREF(arr);
    return res;
  }
  PyObject *fn = import_attr(&st->torch_from_dlpack, "torch", "from_dlpack", hint);
  if (!fn) return NULL;
  PyObject *cap = make_capsule(t, horus_tensor_is_readonly(t));
  if (!cap) return NULL;
  PyObject *res = PyObject_CallOneArg(fn, cap);
  Py_DECREF(cap);
  return res;
}

PyObject *hpy_to_jax(horus_state *st, PyObject *exporter) {
  if (!st->jax_from_dlpack) {
    PyObject *m = PyImport_ImportModule("jax.dlpack");
    if (!m) {
      if (PyErr_ExceptionMatches(PyExc_ImportError)) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ImportError, "to_jax() needs JAX: pip install jax");
      }
      return NULL;
    }
    st->jax_from_dlpack = PyObject_GetAttrString(m, "from_dlpack");
    Py_DECREF(m);
    if (!st->jax_from_dlpack) return NULL;
  }
  return PyObject_CallOneArg(st->jax_from_dlpack, exporter);
}

/* ---- buffer protocol ----------------------------------------------------------- */

static const char *format_of(horus_dtype d) {
  switch (d) {
    case HORUS_BOOL: return "?";
    case HORUS_INT8: return "b";
    case HORUS_INT16: return "h";
    case HORUS_INT32: return "i";
    case HORUS_INT64: return "q";
    case HORUS_UINT8: return "B";
    case HORUS_UINT16: return "H";
    case HORUS_UINT32: return "I";
    case HORUS_UINT64: return "Q";
    case HORUS_FLOAT16: return "e";
    case HORUS_FLOAT32: return "f";
    case HORUS_FLOAT64: return "d";
    default: return NULL;
  }
}

typedef struct view_info {
  horus_tensor *ref;
  Py_ssize_t shape[HORUS_MAX_DIMS];
  Py_ssize_t strides[HORUS_MAX_DIMS];
} view_info;

int hpy_getbuffer(const horus_tensor *t, PyObject *exporter, Py_buffer *view, int flags) {
  view->obj = NULL;
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  const char *fmt = format_of((horus_dtype)d->dtype);
  if (!fmt) {
    PyErr_Format(PyExc_BufferError, "the buffer protocol has no format for %s",
                 horus_dtype_name((horus_dtype)d->dtype));
    return -1;
  }
  if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && horus_tensor_is_readonly(t)) {
    PyErr_SetString(PyExc_BufferError, "this frame was received from a topic and is "
                    "read-only (the publisher and other subscribers share it): "
                    "copy() it for a writable one");
    return -1;
  }
  bool contiguous = horus_tensor_is_contiguous(t);
  if (!contiguous && ((flags & PyBUF_STRIDES) != PyBUF_STRIDES ||
                      (flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS ||
                      (flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS)) {
    PyErr_SetString(PyExc_BufferError, "tensor is not contiguous: ask for a strided buffer");
    return -1;
  }
  if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS &&
      (flags & PyBUF_C_CONTIGUOUS) != PyBUF_C_CONTIGUOUS && d->ndim > 1) {
    int nontrivial = 0;
    for (int i = 0; i < d->ndim; i++) nontrivial += d->shape[i] > 1;
    if (nontrivial > 1) {
      PyErr_SetString(PyExc_BufferError, "tensor is row-major, not Fortran-contiguous");
      return -1;
    }
  }
  view_info *info = PyMem_Malloc(sizeof *info);
  if (!info) {
    PyErr_NoMemory();
    return -1;
  }
  int r = horus_tensor_ref(t, &info->ref);
  if (r) {
    PyMem_Free(info);
    return hpy_raise_int(r);
  }
  Py_ssize_t item = (Py_ssize_t)horus_dtype_size((horus_dtype)d->dtype);
  for (int i = 0; i < d->ndim; i++) {
    info->shape[i] = (Py_ssize_t)d->shape[i];
    info->strides[i] = (Py_ssize_t)d->strides[i] * item;
  }
  view->buf = horus_tensor_data(t);
  view->obj = Py_NewRef(exporter);
  view->len = (Py_ssize_t)horus_tensor_nbytes(t);
  view->readonly = horus_tensor_is_readonly(t);
  view->itemsize = item;
  view->format = (flags & PyBUF_FORMAT) ? (char *)fmt : NULL;
  view->ndim = d->ndim;
  view->shape = (flags & PyBUF_ND) == PyBUF_ND ? info->shape : NULL;
  view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? info->strides : NULL;
  view->suboffsets = NULL;
  view->internal = info;
  return 0;
}

void hpy_releasebuffer(PyObject *exporter, Py_buffer *view) {
  (void)exporter;
  view_info *info = view->internal;
  if (info) {
    horus_tensor_free(info->ref);
    PyMem_Free(info);
    view->internal = NULL;
  }
}

/* ---- __array_interface__ / __array__ -------------------------------------------- */

static const char *typestr_of(horus_dtype d) {
  switch (d) {
    case HORUS_BOOL: return "|b1";
    case HORUS_INT8: return "|i1";
    case HORUS_INT16: return "<i2";
    case HORUS_INT32: return "<i4";
    case HORUS_INT64: return "<i8";
    case HORUS_UINT8: return "|u1";
    case HORUS_UINT16: return "<u2";
    case HORUS_UINT32: return "<u4";
    case HORUS_UINT64: return "<u8";
    case HORUS_FLOAT16: return "<f2";
    case HORUS_FLOAT32: return "<f4";
    case HORUS_FLOAT64: return "<f8";
    default: return NULL;
  }
}

/* Keep a reference to t's block in *keep (a list, created on first use)
 * unless its last entry already names that block: the consumer of
 * __array_interface__ holds the exporting object, not the block, so the
 * object must keep every block it ever pointed a consumer at. */
static int keep_block(horus_state *st, const horus_tensor *t, PyObject **keep) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  if (*keep) {
    Py_ssize_t n = PyList_GET_SIZE(*keep);
    if (n > 0) {
      const horus_tensor_desc *k =
          horus_tensor_get_desc(((BlockRef *)PyList_GET_ITEM(*keep, n - 1))->t);
      if (k->pool_id == d->pool_id && k->pool_nonce == d->pool_nonce &&
          k->slot == d->slot && k->generation == d->generation)
        return 0;
    }
  } else if (!(*keep = PyList_New(0))) {
    return -1;
  }
  PyObject *b = blockref_new(st, t);
  if (!b) return -1;
  int r = PyList_Append(*keep, b);
  Py_DECREF(b);
  return r;
}

PyObject *hpy_array_interface(horus_state *st, const horus_tensor *t, PyObject **keep) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  const char *typestr = typestr_of((horus_dtype)d->dtype);
  if (!typestr)
    return PyErr_Format(PyExc_BufferError, "NumPy has no %s dtype",
                        horus_dtype_name((horus_dtype)d->dtype));
  if (keep_block(st, t, keep) < 0) return NULL;
  PyObject *shape = PyTuple_New(d->ndim);
  if (!shape) return NULL;
  int64_t item = (int64_t)horus_dtype_size((horus_dtype)d->dtype);
  for (int i = 0; i < d->ndim; i++) PyTuple_SET_ITEM(shape, i, PyLong_FromLongLong(d->shape[i]));
  /* The protocol's form: data is (address, read_only), and strides are
   * left out (None) for a C-contiguous array, which is what PIL and other
   * consumers that do not walk strides require. */
  PyObject *res = Py_BuildValue("{s:O,s:s,s:(NO),s:i}", "shape", shape, "typestr", typestr,
                                "data", PyLong_FromVoidPtr(horus_tensor_data(t)),
                                horus_tensor_is_readonly(t) ? Py_True : Py_False,
                                "version", 3);
  Py_DECREF(shape);
  if (!res || horus_tensor_is_contiguous(t)) return res;
  PyObject *strides = PyTuple_New(d->ndim);
  if (!strides) {
    Py_DECREF(res);
    return NULL;
  }
  for (int i = 0; i < d->ndim; i++)
    PyTuple_SET_ITEM(strides, i, PyLong_FromLongLong(d->strides[i] * item));
  int r = PyDict_SetItemString(res, "strides", strides);
  Py_DECREF(strides);
  if (r < 0) Py_CLEAR(res);
  return res;
}

PyObject *hpy_array(horus_state *st, const horus_tensor *t, PyObject *const *args,
                    Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *dtype = Py_None, *copy = Py_None;
  if (nargs > 2) return PyErr_Format(PyExc_TypeError, "__array__() takes at most 2 arguments");
  if (nargs > 0) dtype = args[0];
  if (nargs > 1) copy = args[1];
  Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nk; i++) {
    const char *k = hpy_utf8(PyTuple_GET_ITEM(kwnames, i), "keyword argument name", NULL);
    if (!k) return NULL;
    if (strcmp(k, "dtype") == 0) dtype = args[nargs + i];
    else if (strcmp(k, "copy") == 0) copy = args[nargs + i];
    else return PyErr_Format(PyExc_TypeError, "__array__() got an unexpected "
                             "keyword argument '%s'", k);
  }
  PyObject *arr = hpy_to_numpy(st, t);
  if (!arr) return NULL;
  int want_copy = copy == Py_None ? 0 : PyObject_IsTrue(copy);
  if (want_copy < 0) {
    Py_DECREF(arr);
    return NULL;
  }
  if (dtype == Py_None && !want_copy) return arr;
  PyArray_Descr *descr = NULL;
  if (dtype != Py_None && !PyArray_DescrConverter(dtype, &descr)) {
    Py_DECREF(arr);
    return NULL;
  }
  if (!descr) {
    descr = PyArray_DESCR((PyArrayObject *)arr);
    Py_INCREF(descr);
  }
  bool same = PyArray_EquivTypes(descr, PyArray_DESCR((PyArrayObject *)arr));
  if (same && !want_copy) {
    Py_DECREF(descr);
    return arr;
  }
  if (copy == Py_False) {
    Py_DECREF(descr);
    Py_DECREF(arr);
    return PyErr_Format(PyExc_ValueError, "__array__(copy=False) with another "
                        "dtype would need a copy");
  }
  PyObject *res = PyArray_FromAny(arr, descr, 0, 0, NPY_ARRAY_ENSURECOPY, NULL);
  Py_DECREF(arr);
  return res;
}

/* ---- importing ----------------------------------------------------------------- */

/* GIL-free copies pay off once the copy outweighs a GIL hand-off. */
#define NOGIL_COPY_BYTES (64 * 1024)

static int from_host(horus_pool *pool, const void *data, const int64_t *shape,
                     const int64_t *bstr, int ndim, horus_dtype dtype,
                     horus_tensor **out, bool *copied) {
  uint64_t nbytes = horus_dtype_size(dtype);
  for (int i = 0; i < ndim; i++) nbytes *= (uint64_t)shape[i];
  int r;
  if (nbytes >= NOGIL_COPY_BYTES) {
    Py_BEGIN_ALLOW_THREADS
    r = horus_tensor_from_host(pool, data, shape, bstr, ndim, dtype, out, copied);
    Py_END_ALLOW_THREADS
  } else {
    r = horus_tensor_from_host(pool, data, shape, bstr, ndim, dtype, out, copied);
  }
  return r ? hpy_raise_int(r) : 0;
}

static int import_ndarray(horus_state *st, PyArrayObject *arr, horus_pool *pool,
                          horus_tensor **out, bool *copied) {
  int dtype = dtype_from_npy(PyArray_TYPE(arr));
  if (dtype < 0 || PyDataType_HASFIELDS(PyArray_DESCR(arr))) {
    PyErr_Format(PyExc_TypeError, "unsupported dtype %R: expected bool, "
                 "(u)int8-64, float16, float32 or float64", PyArray_DESCR(arr));
    return -1;
  }
  int ndim = PyArray_NDIM(arr);
  if (ndim > HORUS_MAX_DIMS) {
    PyErr_Format(PyExc_ValueError, "array has %d dimensions: at most %d", ndim,
                 HORUS_MAX_DIMS);
    return -1;
  }
  PyArrayObject *native = NULL;
  if (!PyArray_ISNOTSWAPPED(arr)) { /* big-endian data: let NumPy byte-swap */
    native = (PyArrayObject *)PyArray_FromAny(
        (PyObject *)arr, PyArray_DescrFromType(npy_of[dtype]), 0, 0,
        NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_NOTSWAPPED | NPY_ARRAY_ENSURECOPY, NULL);
    if (!native) return -1;
    arr = native;
  }
  int64_t shape[HORUS_MAX_DIMS], bstr[HORUS_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    shape[i] = PyArray_DIM(arr, i);
    bstr[i] = PyArray_STRIDE(arr, i);
  }
  /* A view of one of our exports: its base chain ends in a _BlockRef, which
   * names the block directly (no search). */
  PyObject *base = PyArray_BASE(arr);
  while (base && PyArray_Check(base)) base = PyArray_BASE((PyArrayObject *)base);
  if (!native && base && Py_IS_TYPE(base, st->BlockRef_Type)) {
    int r = horus_tensor_within(((BlockRef *)base)->t, PyArray_DATA(arr), shape, bstr,
                                ndim, (horus_dtype)dtype, out);
    if (r == 0) {
      if (copied) *copied = false;
      return 0;
    }
  }
  bool c = true;
  int r = from_host(pool, PyArray_DATA(arr), shape, bstr, ndim, (horus_dtype)dtype,
                    out, &c);
  /* Shared, not copied: a read-only view (of a received frame) must not
   * turn writable by being wrapped again. */
  if (r == 0 && !c && !PyArray_ISWRITEABLE(arr)) horus_tensor_set_readonly(*out);
  if (copied) *copied = c;
  Py_XDECREF(native);
  return r;
}

static int dtype_from_format(const char *fmt, Py_ssize_t itemsize) {
  if (!fmt) return HORUS_UINT8;
  if (*fmt == '<' || *fmt == '=' || *fmt == '@' || *fmt == '|') fmt++;
  if (fmt[0] == '\0' || fmt[1] != '\0') return -1;
  switch (*fmt) {
    case '?': return HORUS_BOOL;
    case 'e': return HORUS_FLOAT16;
    case 'f': return HORUS_FLOAT32;
    case 'd': return HORUS_FLOAT64;
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n':
      return itemsize == 1 ? HORUS_INT8 : itemsize == 2 ? HORUS_INT16
           : itemsize == 4 ? HORUS_INT32 : itemsize == 8 ? HORUS_INT64 : -1;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N': case 'c':
      return itemsize == 1 ? HORUS_UINT8 : itemsize == 2 ? HORUS_UINT16
           : itemsize == 4 ? HORUS_UINT32 : itemsize == 8 ? HORUS_UINT64 : -1;
    default: return -1;
  }
}

static int import_buffer(PyObject *obj, horus_pool *pool, horus_tensor **out,
                         bool *copied) {
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) < 0) return -1;
  int r = -1;
  int dtype = dtype_from_format(view.format, view.itemsize);
  if (dtype < 0 || (Py_ssize_t)horus_dtype_size((horus_dtype)dtype) != view.itemsize) {
    PyErr_Format(PyExc_TypeError, "unsupported buffer format '%s'",
                 view.format ? view.format : "B");
    goto done;
  }
  if (view.ndim > HORUS_MAX_DIMS) {
    PyErr_Format(PyExc_ValueError, "buffer has %d dimensions: at most %d", view.ndim,
                 HORUS_MAX_DIMS);
    goto done;
  }
  int64_t shape[HORUS_MAX_DIMS], bstr[HORUS_MAX_DIMS];
  int ndim = view.ndim;
  if (ndim == 0 && !view.shape) { /* a flat byte buffer */
    ndim = 1;
    shape[0] = view.len / view.itemsize;
    bstr[0] = view.itemsize;
  }
  for (int i = 0; i < view.ndim; i++) {
    shape[i] = view.shape ? view.shape[i] : view.len / view.itemsize;
    bstr[i] = view.strides ? view.strides[i] : 0;
  }
  if (view.ndim > 0 && !view.strides) { /* C-contiguous by definition */
    int64_t s = view.itemsize;
    for (int i = view.ndim - 1; i >= 0; i--) {
      bstr[i] = s;
      s *= shape[i];
    }
  }
  bool c = true;
  r = from_host(pool, view.buf, shape, bstr, ndim, (horus_dtype)dtype, out, &c);
  if (copied) *copied = c;
done:
  PyBuffer_Release(&view);
  return r;
}

static PyObject *call_dlpack(PyObject *obj) {
  PyObject *method = PyObject_GetAttrString(obj, "__dlpack__");
  if (!method) return NULL;
  /* Ask for a versioned capsule; producers that predate DLPack 1.0 do not
   * know the keyword and raise TypeError, so ask again plainly. */
  PyObject *kw = Py_BuildValue("{s:(ii)}", "max_version", 1, 1);
  PyObject *empty = PyTuple_New(0);
  PyObject *cap = kw && empty ? PyObject_Call(method, empty, kw) : NULL;
  if (!cap && PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    cap = PyObject_CallNoArgs(method);
  }
  Py_XDECREF(kw);
  Py_XDECREF(empty);
  Py_DECREF(method);
  return cap;
}

static int import_dlpack(PyObject *obj, horus_pool *pool, horus_tensor **out,
                         bool *copied) {
  PyObject *cap = call_dlpack(obj);
  if (!cap) return -1;
  int r = -1;
  DLManagedTensor *legacy = NULL;
  DLManagedTensorVersioned *versioned = NULL;
  const DLTensor *dl = NULL;
  if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
    versioned = PyCapsule_GetPointer(cap, "dltensor_versioned");
    if (versioned->version.major != DLPACK_MAJOR_VERSION) {
      PyErr_Format(PyExc_BufferError, "DLPack %u.%u capsule: this library reads %d.x",
                   versioned->version.major, versioned->version.minor,
                   DLPACK_MAJOR_VERSION);
      versioned = NULL; /* not ours to consume or free */
      goto done;
    }
    dl = &versioned->dl_tensor;
  } else if (PyCapsule_IsValid(cap, "dltensor")) {
    legacy = PyCapsule_GetPointer(cap, "dltensor");
    dl = &legacy->dl_tensor;
  } else {
    PyErr_Format(PyExc_BufferError, "%.80s.__dlpack__() returned %.80s, not an "
                 "unused DLPack capsule", Py_TYPE(obj)->tp_name, Py_TYPE(cap)->tp_name);
    goto done;
  }
  /* Consume the capsule first: from here on its managed tensor is ours to
   * delete, whatever happens. */
  if (PyCapsule_SetName(cap, versioned ? "used_dltensor_versioned" : "used_dltensor") < 0)
    goto done;
  if (!dl->data && dl->ndim > 0) {
    int64_t n = 1;
    for (int i = 0; i < dl->ndim && dl->shape; i++) n *= dl->shape[i];
    if (n != 0) {
      PyErr_SetString(PyExc_BufferError, "DLPack tensor has no data pointer");
      goto consumed;
    }
  }
  {
    int rc;
    bool c = true;
    uint64_t nbytes = (uint64_t)(dl->dtype.bits / 8);
    for (int i = 0; i < dl->ndim && dl->shape && dl->ndim <= HORUS_MAX_DIMS; i++)
      nbytes *= dl->shape[i] > 0 ? (uint64_t)dl->shape[i] : 0;
    if (nbytes >= NOGIL_COPY_BYTES) {
      Py_BEGIN_ALLOW_THREADS
      rc = horus_tensor_from_dltensor(pool, dl, out, &c);
      Py_END_ALLOW_THREADS
    } else {
      rc = horus_tensor_from_dltensor(pool, dl, out, &c);
    }
    if (rc) {
      if (rc == HORUS_ENOTSUP) {
        PyErr_Format(PyExc_TypeError, "%s", horus_errmsg());
      } else {
        hpy_raise(rc);
      }
    } else {
      if (copied) *copied = c;
      r = 0;
    }
  }
consumed:
  if (versioned && versioned->deleter) versioned->deleter(versioned);
  if (legacy && legacy->deleter) legacy->deleter(legacy);
done:
  Py_DECREF(cap);
  return r;
}

int hpy_import(horus_state *st, PyObject *obj, horus_pool *pool, horus_tensor **out,
               bool *copied) {
  const horus_tensor *t = hpy_tensor_get(obj, st);
  if (t) {
    if (copied) *copied = false;
    int r = horus_tensor_ref(t, out);
    return r ? hpy_raise_int(r) : 0;
  }
  if (PyErr_Occurred()) return -1; /* a released TensorHandle */
  if (st->Frame_Type && PyObject_TypeCheck(obj, st->Frame_Type)) {
    horus_frame *f = hpy_frame_get(obj);
    if (!f) return -1;
    if (copied) *copied = false;
    int r = horus_tensor_ref(f->tensor, out);
    return r ? hpy_raise_int(r) : 0;
  }
  if (PyArray_Check(obj)) return import_ndarray(st, (PyArrayObject *)obj, pool, out, copied);
  if (PyObject_CheckBuffer(obj)) return import_buffer(obj, pool, out, copied);
  if (PyObject_HasAttrString(obj, "__dlpack__")) return import_dlpack(obj, pool, out, copied);
  PyErr_Format(PyExc_TypeError, "expected a NumPy array, an object with __dlpack__ "
               "(PyTorch, JAX, ...) or a bytes-like object, not %.80s",
               Py_TYPE(obj)->tp_name);
  return -1;
}
