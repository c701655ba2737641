/* wire.c - the bridge's per-message work, in C: a message to (header,
 * payload) bytes for Zenoh, and back into a pool-backed object.  The
 * format is horus/wire.h's; horus/bridge.py moves the bytes. */
#include "horus_py.h"

/* wire_encode(msg, sequence) -> (header: bytes, payload: bytes)
 * The payload is the tensor's bytes packed row-major: one copy out of the
 * pool (Zenoh's Python binding takes only bytes), made without the GIL. */
static PyObject *py_wire_encode(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "wire_encode(msg, sequence)");
  horus_state *st = hpy_state(m);
  unsigned long long seq = PyLong_AsUnsignedLongLong(args[1]);
  if (seq == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  horus_msg msg;
  const horus_tensor *t;
  hpy_busy *busy;
  if (hpy_msg_from_object(st, args[0], &msg, &t, &busy) < 0) return NULL;
  uint8_t header[HORUS_WIRE_HEADER_SIZE];
  int r = horus_wire_encode(&msg, seq, header);
  if (r) return hpy_raise(r);
  /* Busy from here, before allocating (a collection may run finalizers,
   * and other threads): `t` is the object's own handle. */
  hpy_busy_enter(busy, "wire_encode");
  uint64_t nbytes = horus_tensor_nbytes(t);
  PyObject *payload = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)nbytes);
  if (!payload) {
    hpy_busy_leave(busy);
    return NULL;
  }
  Py_BEGIN_ALLOW_THREADS
  r = horus_wire_pack(t, PyBytes_AS_STRING(payload), (size_t)nbytes);
  Py_END_ALLOW_THREADS
  hpy_busy_leave(busy);
  if (r) {
    Py_DECREF(payload);
    return hpy_raise(r);
  }
  PyObject *h = PyBytes_FromStringAndSize((const char *)header, sizeof header);
  if (!h) {
    Py_DECREF(payload);
    return NULL;
  }
  return Py_BuildValue("(NN)", h, payload);
}

/* wire_decode(header, payload) -> (object, sequence)
 * Validates the header and that the payload is exactly the bytes its shape
 * needs, copies the payload into a block of the global pool (once, without
 * the GIL) and rebuilds the Image/PointCloud/DepthImage/TensorHandle, which
 * checks the metadata against the tensor.  ValueError names what is wrong;
 * nothing is left allocated on failure. */
static PyObject *py_wire_decode(PyObject *m, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "wire_decode(header, payload)");
  horus_state *st = hpy_state(m);
  Py_buffer hb, pb;
  if (PyObject_GetBuffer(args[0], &hb, PyBUF_SIMPLE) < 0) return NULL;
  if (PyObject_GetBuffer(args[1], &pb, PyBUF_SIMPLE) < 0) {
    PyBuffer_Release(&hb);
    return NULL;
  }
  PyObject *result = NULL;
  horus_msg msg;
  uint64_t seq;
  horus_tensor *t = NULL;
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) goto done;
  int r;
  r = hpy_unlocked_pool_if(true, pool, horus_wire_rebuild(pool, hb.buf, (size_t)hb.len, pb.buf,
                                                         (size_t)pb.len, &msg, &seq, &t));
  if (r == HORUS_EINVAL || r == HORUS_EVERSION) {
    /* whatever is wrong with bytes from the network is a bad value */
    PyErr_SetString(PyExc_ValueError, horus_errmsg());
    goto done;
  }
  if (r) {
    hpy_raise(r);
    goto done;
  }
  PyObject *obj = hpy_msg_to_object(st, &msg, t); /* owns t, even on failure */
  t = NULL;
  if (!obj && PyErr_ExceptionMatches(PyExc_TypeError)) {
    /* metadata that does not fit the type is a malformed message too */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_SetObject(PyExc_ValueError, value);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
  }
  if (obj) result = Py_BuildValue("(NK)", obj, (unsigned long long)seq);
done:
  horus_tensor_free(t);
  PyBuffer_Release(&pb);
  PyBuffer_Release(&hb);
  return result;
}

PyMethodDef hpy_wire_methods[] = {
    {"wire_encode", (PyCFunction)(void (*)(void))py_wire_encode, METH_FASTCALL,
     "wire_encode($module, msg, sequence, /)\n--\n\nThe wire form of an Image, "
     "PointCloud, DepthImage or TensorHandle: (header, payload) bytes, the header "
     "as documented in horus/wire.h and the README, the payload packed row-major."},
    {"wire_decode", (PyCFunction)(void (*)(void))py_wire_decode, METH_FASTCALL,
     "wire_decode($module, header, payload, /)\n--\n\nRebuild a message from its wire "
     "form into the global pool: (object, sequence).  ValueError for a malformed "
     "header or a payload whose size disagrees with it."},
    {NULL, NULL, 0, NULL},
};
