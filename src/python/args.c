/* args.c - argument parsing shared by the types: dtypes, shapes, image
 * dimensions, pixel coordinates and indices, from_torch()'s input. */
#include <assert.h>

#include "horus_py.h"

static PyObject *unknown_dtype(PyObject *obj) {
  return PyErr_Format(PyExc_ValueError, "unknown dtype %R: expected one of %s", obj,
                      hpy_dtype_names);
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
      int d = hpy_dtype_from_npy(descr->type_num);
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

/* Does keyword `k` (`n` bytes) name parameter `spec` ("a" or "a|b|...")? */
static bool names_param_n(const char *spec, const char *k, size_t n) {
  for (const char *p = spec;;) {
    size_t len = 0;
    while (p[len] && p[len] != '|') len++;
    if (len == n && memcmp(p, k, n) == 0) return true;
    if (!p[len]) return false;
    p += len + 1;
  }
}

static bool names_param(const char *spec, const char *k) {
  return names_param_n(spec, k, strlen(k));
}

/* The name a parameter is reported by: its first spelling.  (PyErr_Format
 * knows no %.*s.) */
static const char *first_name(const char *spec, char *buf, size_t size) {
  const char *bar = strchr(spec, '|');
  snprintf(buf, size, "%.*s", bar ? (int)(bar - spec) : (int)strlen(spec), spec);
  return buf;
}

int hpy_parse_args(const hpy_argspec *spec, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, PyObject **out) {
  Py_ssize_t nparams = 0;
  while (spec->names[nparams]) nparams++;
  if (nargs > spec->maxpos) {
    if (spec->maxpos == 0)
      PyErr_Format(PyExc_TypeError, "%s() takes keyword arguments only", spec->fname);
    else
      PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
                   spec->fname, spec->maxpos, spec->maxpos == 1 ? "" : "s", nargs);
    return -1;
  }
  bool given[16] = {false};
  assert(nparams <= 16);
  for (Py_ssize_t i = 0; i < nargs; i++) {
    out[i] = args[i];
    given[i] = true;
  }
  Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nk; i++) {
    PyObject *kw = PyTuple_GET_ITEM(kwnames, i);
    Py_ssize_t j = 0;
    if (PyUnicode_Check(kw) && PyUnicode_IS_COMPACT_ASCII(kw)) {
      /* The usual keyword (an ASCII identifier): its characters are its
       * UTF-8, so no conversion and no NUL check (a name holding a NUL
       * matches no parameter and gets the full treatment below). */
      const char *k = (const char *)PyUnicode_DATA(kw);
      size_t n = (size_t)PyUnicode_GET_LENGTH(kw);
      while (j < nparams && !names_param_n(spec->names[j], k, n)) j++;
    } else {
      j = nparams;
    }
    const char *k = NULL;
    if (j == nparams) {
      if (!(k = hpy_utf8(kw, "keyword argument name", NULL))) return -1;
      j = 0;
      while (j < nparams && !names_param(spec->names[j], k)) j++;
    }
    if (j == nparams) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%s'",
                   spec->fname, k);
      return -1;
    }
    if (given[j]) {
      char name[64];
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                   spec->fname, first_name(spec->names[j], name, sizeof name));
      return -1;
    }
    out[j] = args[nargs + i];
    given[j] = true;
  }
  for (int j = 0; j < spec->required; j++)
    if (!given[j]) {
      char name[64];
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", spec->fname,
                   first_name(spec->names[j], name, sizeof name));
      return -1;
    }
  return 0;
}
