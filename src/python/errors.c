/* errors.c - HORUS_E* codes to Python exceptions, as DESIGN.md assigns them:
 * ValueError for bad values, TypeError for wrong types, IndexError for
 * coordinates, MemoryError for an exhausted pool, BufferError for export
 * refusals, OSError for shared-memory failures, TimeoutError for waits. */
#include "horus_py.h"

PyObject *hpy_take_exception(void) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
}

void hpy_restore_exception(PyObject *value) {
  PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(value)), value, PyException_GetTraceback(value));
}

static PyObject *exception_for(int err) {
  switch (err) {
    case HORUS_ENOMEM:
    case HORUS_ENOSLOT:
      return PyExc_MemoryError;
    case HORUS_ERANGE:
      return PyExc_IndexError;
    case HORUS_ETYPE:
    case HORUS_ENOTSUP:
      return PyExc_TypeError;
    case HORUS_EBUFFER:
      return PyExc_BufferError;
    case HORUS_ETIMEDOUT:
      return PyExc_TimeoutError;
    case HORUS_EPERM:
      return PyExc_PermissionError;
    case HORUS_ENOENT:
      return PyExc_FileNotFoundError;
    case HORUS_ECORRUPT:
    case HORUS_EVERSION:
    case HORUS_EIO:
    case HORUS_EBUSY:
      return PyExc_OSError;
    case HORUS_EINVAL:
    case HORUS_ESTALE:
    case HORUS_EGEOMETRY:
    case HORUS_EOVERFLOW:
    default:
      return PyExc_ValueError;
  }
}

PyObject *hpy_raise(int err) {
  const char *detail = horus_errmsg();
  PyErr_SetString(exception_for(err), detail && *detail ? detail : horus_strerror(err));
  return NULL;
}

int hpy_raise_int(int err) {
  hpy_raise(err);
  return -1;
}

const char *hpy_utf8(PyObject *obj, const char *what, Py_ssize_t *len) {
  if (!PyUnicode_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "%s must be a str, not %.80s", what, Py_TYPE(obj)->tp_name);
    return NULL;
  }
  Py_ssize_t n;
  const char *s = PyUnicode_AsUTF8AndSize(obj, &n);
  if (!s) return NULL;
  if (strlen(s) != (size_t)n) {
    PyErr_Format(PyExc_ValueError, "%s %R contains a NUL character", what, obj);
    return NULL;
  }
  if (len) *len = n;
  return s;
}

const char *hpy_msg_type_name(horus_msg_type type) {
  switch (type) {
    case HORUS_MSG_TENSOR: return "TensorHandle";
    case HORUS_MSG_IMAGE: return "Image";
    case HORUS_MSG_POINTCLOUD: return "PointCloud";
    case HORUS_MSG_DEPTH: return "DepthImage";
    case HORUS_MSG_BYTES: return "bytes";
    default: return "none";
  }
}
