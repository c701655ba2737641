/* buffer.c - the buffer protocol and __array_interface__ for pool tensors, each
 * view or consumer keeping its own block reference, and importing any
 * object with the buffer protocol (bytes, memoryview, array.array...). */
#include "horus_py.h"

typedef struct view_info {
  horus_tensor *ref;
  Py_ssize_t shape[HORUS_MAX_DIMS];
  Py_ssize_t strides[HORUS_MAX_DIMS];
} view_info;

int hpy_getbuffer(const horus_tensor *t, PyObject *exporter, Py_buffer *view, int flags) {
  view->obj = NULL;
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  const char *fmt = hpy_dtype_format((horus_dtype)d->dtype);
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
          horus_tensor_get_desc(hpy_blockref_tensor(st, PyList_GET_ITEM(*keep, n - 1)));
      if (k->pool_id == d->pool_id && k->pool_nonce == d->pool_nonce &&
          k->slot == d->slot && k->generation == d->generation)
        return 0;
    }
  } else if (!(*keep = PyList_New(0))) {
    return -1;
  }
  PyObject *b = hpy_blockref_new(st, t);
  if (!b) return -1;
  int r = PyList_Append(*keep, b);
  Py_DECREF(b);
  return r;
}

PyObject *hpy_array_interface(horus_state *st, const horus_tensor *t, PyObject **keep) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  const char *typestr = hpy_dtype_typestr((horus_dtype)d->dtype);
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

/* ---- importing ----------------------------------------------------------------- */

int hpy_import_buffer(PyObject *obj, horus_pool *pool, horus_tensor **out,
                         bool *copied) {
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) < 0) return -1;
  int r = -1;
  int dtype = hpy_dtype_from_format(view.format, view.itemsize);
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
  /* With PyBUF_RECORDS_RO every exporter gives its shape: ndim 0 is a
   * scalar (a flat byte buffer reports ndim 1). */
  int64_t shape[HORUS_MAX_DIMS], bstr[HORUS_MAX_DIMS];
  int ndim = view.ndim;
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
  r = hpy_import_host(pool, view.buf, shape, bstr, ndim, (horus_dtype)dtype, out, &c);
  /* Shared, not copied: a read-only exporter (a received frame's view)
   * stays read-only. */
  if (r == 0 && !c && view.readonly) horus_tensor_set_readonly(*out);
  if (copied) *copied = c;
done:
  PyBuffer_Release(&view);
  return r;
}
