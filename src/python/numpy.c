/* numpy.c - NumPy both ways: zero-copy ndarray views of pool tensors
 * (their base a _BlockRef), __array__, and importing an ndarray (no copy
 * when it is a view of one of our blocks). */
#include "horus_py.h"

PyObject *hpy_to_numpy(horus_state *st, const horus_tensor *t) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  int type_num = hpy_npy_type((horus_dtype)d->dtype);
  if (type_num < 0)
    return PyErr_Format(PyExc_BufferError, "NumPy has no %s dtype: use to_torch() "
                        "or __dlpack__", horus_dtype_name((horus_dtype)d->dtype));
  npy_intp dims[HORUS_MAX_DIMS], strides[HORUS_MAX_DIMS];
  npy_intp item = (npy_intp)horus_dtype_size((horus_dtype)d->dtype);
  for (int i = 0; i < d->ndim; i++) {
    dims[i] = (npy_intp)d->shape[i];
    strides[i] = (npy_intp)d->strides[i] * item;
  }
  PyObject *base = hpy_blockref_new(st, t);
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

PyObject *hpy_array(horus_state *st, const horus_tensor *t, PyObject *const *args,
                    Py_ssize_t nargs, PyObject *kwnames) {
  static const char *const names[] = {"dtype", "copy", NULL};
  static const hpy_argspec spec = {"__array__", names, 2, 0};
  PyObject *v[2] = {Py_None, Py_None};
  if (hpy_parse_args(&spec, args, nargs, kwnames, v) < 0) return NULL;
  PyObject *dtype = v[0], *copy = v[1];
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


int hpy_import_ndarray(horus_state *st, PyArrayObject *arr, horus_pool *pool,
                          horus_tensor **out, bool *copied) {
  int dtype = hpy_dtype_from_npy(PyArray_TYPE(arr));
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
        (PyObject *)arr, PyArray_DescrFromType(hpy_npy_type((horus_dtype)dtype)), 0, 0,
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
  const horus_tensor *owner = native ? NULL : hpy_blockref_tensor(st, base);
  if (owner) {
    int r = horus_tensor_within(owner, PyArray_DATA(arr), shape, bstr,
                                ndim, (horus_dtype)dtype, out);
    if (r == 0) {
      if (copied) *copied = false;
      return 0;
    }
  }
  bool c = true;
  int r = hpy_import_host(pool, PyArray_DATA(arr), shape, bstr, ndim, (horus_dtype)dtype,
                    out, &c);
  /* Shared, not copied: a read-only view (of a received frame) must not
   * turn writable by being wrapped again. */
  if (r == 0 && !c && !PyArray_ISWRITEABLE(arr)) horus_tensor_set_readonly(*out);
  if (copied) *copied = c;
  Py_XDECREF(native);
  return r;
}
