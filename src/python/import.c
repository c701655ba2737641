/* import.c - anything array-like into a pool tensor: a TensorHandle or frame
 * (shared), else NumPy (numpy.c), the buffer protocol (buffer.c) or DLPack
 * (dlpack.c), all ending in one copy at most (hpy_import_host). */
#include "horus_py.h"

int hpy_import_host(horus_pool *pool, const void *data, const int64_t *shape,
                     const int64_t *bstr, int ndim, horus_dtype dtype,
                     horus_tensor **out, bool *copied) {
  uint64_t nbytes = horus_dtype_size(dtype);
  for (int i = 0; i < ndim; i++) nbytes *= (uint64_t)shape[i];
  int r;
  r = hpy_unlocked_pool_if(nbytes >= HPY_NOGIL_COPY_BYTES, pool,
                           horus_tensor_from_host(pool, data, shape, bstr, ndim, dtype, out,
                                                  copied));
  return r ? hpy_raise_int(r) : 0;
}

static int import_any(horus_state *st, PyObject *obj, horus_pool *pool, horus_tensor **out,
                      bool *copied) {
  /* The common case first: its type check is one comparison. */
  if (PyArray_CheckExact(obj)) return hpy_import_ndarray(st, (PyArrayObject *)obj, pool, out, copied);
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
  if (PyArray_Check(obj)) return hpy_import_ndarray(st, (PyArrayObject *)obj, pool, out, copied);
  if (PyObject_CheckBuffer(obj)) return hpy_import_buffer(obj, pool, out, copied);
  if (PyObject_HasAttrString(obj, "__dlpack__")) return hpy_import_dlpack(obj, pool, out, copied);
  PyErr_Format(PyExc_TypeError, "expected a NumPy array, an object with __dlpack__ "
               "(PyTorch, JAX, ...) or a bytes-like object, not %.80s",
               Py_TYPE(obj)->tp_name);
  return -1;
}

int hpy_import(horus_state *st, PyObject *obj, horus_pool *pool, horus_tensor **out,
               bool *copied) {
  /* `pool` may be the module's global pool, and asking `obj` for its data
   * runs Python code (__dlpack__, __buffer__, a __getattr__), which may
   * close that handle (clean(all=True)) before the pool is used: hold a
   * reference of our own across it. */
  horus_pool *held = horus_pool_ref(pool);
  int r = import_any(st, obj, pool, out, copied);
  horus_pool_close(held);
  return r;
}
