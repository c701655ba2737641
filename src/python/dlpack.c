/* dlpack.c - DLPack both ways: __dlpack__ capsules holding their own block
 * reference (the deleter needs no GIL), importing a producer's capsule, and
 * to_torch()/to_jax(), which hand our tensors to those frameworks. */
#include "horus_py.h"

/* The capsule names the DLPack Python specification fixes (NumPy's
 * dlpack.c names them the same way).  A consumer renames the capsule to the
 * used_ form when it takes the managed tensor over, so the destructor frees
 * only capsules nobody consumed.  PyCapsule_SetName keeps the pointer: these
 * must have static storage. */
static const char DLPACK_CAPSULE[] = "dltensor";
static const char DLPACK_USED_CAPSULE[] = "used_dltensor";
static const char DLPACK_VERSIONED_CAPSULE[] = "dltensor_versioned";
static const char DLPACK_USED_VERSIONED_CAPSULE[] = "used_dltensor_versioned";

static void capsule_destructor(PyObject *cap) {
  /* Only a capsule nobody consumed still owns its managed tensor. */
  if (PyCapsule_IsValid(cap, DLPACK_CAPSULE)) {
    DLManagedTensor *m = PyCapsule_GetPointer(cap, DLPACK_CAPSULE);
    if (m && m->deleter) m->deleter(m);
  } else if (PyCapsule_IsValid(cap, DLPACK_VERSIONED_CAPSULE)) {
    DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, DLPACK_VERSIONED_CAPSULE);
    if (m && m->deleter) m->deleter(m);
  }
}

static PyObject *make_capsule(const horus_tensor *t, bool versioned) {
  void *m;
  int r = horus_tensor_to_dlpack(t, versioned, &m);
  if (r) return hpy_raise(r);
  PyObject *cap = PyCapsule_New(m, versioned ? DLPACK_VERSIONED_CAPSULE : DLPACK_CAPSULE,
                                capsule_destructor);
  if (!cap) {
    if (versioned) ((DLManagedTensorVersioned *)m)->deleter(m);
    else ((DLManagedTensor *)m)->deleter(m);
  }
  return cap;
}

PyObject *hpy_dlpack_device(void) { return Py_BuildValue("(ii)", kDLCPU, 0); }

/* __dlpack__ of `t`, a handle of the caller's own (parsing the arguments
 * runs Python code that may release or re-initialise the exporting
 * object). */
static PyObject *dlpack_own(horus_state *st, const horus_tensor *t, bool jax_export,
                            PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  static const char *const names[] = {"stream", "max_version", "dl_device", "copy", NULL};
  static const hpy_argspec spec = {"__dlpack__", names, 0, 0};
  PyObject *v[4] = {Py_None, Py_None, Py_None, Py_None};
  if (hpy_parse_args(&spec, args, nargs, kwnames, v) < 0) return NULL;
  PyObject *stream = v[0], *max_version = v[1], *dl_device = v[2], *copy = v[3];
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
    int major, minor;
    if (!PyTuple_Check(max_version))
      return PyErr_Format(PyExc_TypeError, "max_version must be a (major, minor) tuple, "
                          "not %.80s", Py_TYPE(max_version)->tp_name);
    if (!PyArg_ParseTuple(max_version, "ii;max_version must be a (major, minor) "
                          "tuple", &major, &minor))
      return NULL;
    if (major < 0 || minor < 0)
      return PyErr_Format(PyExc_ValueError, "max_version=%R: versions are not negative",
                          max_version);
    versioned = major >= 1;
  }
  int want_copy = copy == Py_None ? 0 : PyObject_IsTrue(copy);
  if (want_copy < 0) return NULL;
  if (!want_copy) {
    /* A capsule before DLPack 1.0 cannot say read-only, and its consumer
     * may write into a received frame, the publisher's block.  NumPy
     * refuses the same way.  JAX asks for one but never writes (its arrays
     * are immutable): to_jax() lets it have one. */
    if (!versioned && horus_tensor_is_readonly(t) && !jax_export)
      return PyErr_Format(PyExc_BufferError, "this tensor is read-only (a received "
                          "message) and a DLPack capsule without max_version=(1, 0) "
                          "cannot say so: pass max_version=(1, 0), or copy=True");
    return make_capsule(t, versioned);
  }

  /* copy=True: the consumer must get memory it does not share with us. */
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return NULL;
  horus_tensor *c = NULL;
  int r = hpy_unlocked_pool_if(true, pool, horus_tensor_clone(pool, t, &c));
  if (r) return hpy_raise(r);
  PyObject *cap = make_capsule(c, versioned);
  horus_tensor_free(c);
  if (cap && versioned) {
    DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, DLPACK_VERSIONED_CAPSULE);
    m->flags |= DLPACK_FLAG_BITMASK_IS_COPIED;
  }
  return cap;
}

/* The tensor whose to_jax() this thread is in: JAX may take it without
 * max_version.  Per thread: another thread's to_jax (JAX may let the GIL go)
 * must neither lend this one the exception nor undo it. */
static _Thread_local const horus_tensor *jax_exporting;

PyObject *hpy_dlpack(horus_state *st, const horus_tensor *t, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames) {
  bool jax_export = jax_exporting && jax_exporting == t;
  /* Our own reference before any Python code runs; the copy, if asked
   * for, runs on it without the GIL while other threads may release the
   * exporting object. */
  horus_tensor *own;
  int r = horus_tensor_ref(t, &own);
  if (r) return hpy_raise(r);
  PyObject *res = dlpack_own(st, own, jax_export, args, nargs, kwnames);
  horus_tensor_free(own);
  return res;
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
  if (hpy_npy_type((horus_dtype)d->dtype) >= 0 && !horus_tensor_is_readonly(t)) {
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

PyObject *hpy_to_jax(horus_state *st, PyObject *exporter, const horus_tensor *t) {
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
  /* JAX asks for a capsule without max_version, which a read-only tensor
   * is otherwise refused (dlpack_own); JAX never writes into it. */
  const horus_tensor *outer = jax_exporting;
  jax_exporting = t;
  PyObject *res = PyObject_CallOneArg(st->jax_from_dlpack, exporter);
  jax_exporting = outer;
  return res;
}

/* ---- importing ------------------------------------------------------------ */

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

int hpy_import_dlpack(PyObject *obj, horus_pool *pool, horus_tensor **out,
                         bool *copied) {
  PyObject *cap = call_dlpack(obj);
  if (!cap) return -1;
  int r = -1;
  DLManagedTensor *legacy = NULL;
  DLManagedTensorVersioned *versioned = NULL;
  const DLTensor *dl = NULL;
  if (PyCapsule_IsValid(cap, DLPACK_VERSIONED_CAPSULE)) {
    versioned = PyCapsule_GetPointer(cap, DLPACK_VERSIONED_CAPSULE);
    if (versioned->version.major != DLPACK_MAJOR_VERSION) {
      PyErr_Format(PyExc_BufferError, "DLPack %u.%u capsule: this library reads %d.x",
                   versioned->version.major, versioned->version.minor,
                   DLPACK_MAJOR_VERSION);
      versioned = NULL; /* not ours to consume or free */
      goto done;
    }
    dl = &versioned->dl_tensor;
  } else if (PyCapsule_IsValid(cap, DLPACK_CAPSULE)) {
    legacy = PyCapsule_GetPointer(cap, DLPACK_CAPSULE);
    dl = &legacy->dl_tensor;
  } else {
    PyErr_Format(PyExc_BufferError, "%.80s.__dlpack__() returned %.80s, not an "
                 "unused DLPack capsule", Py_TYPE(obj)->tp_name, Py_TYPE(cap)->tp_name);
    goto done;
  }
  /* Consume the capsule first: from here on its managed tensor is ours to
   * delete, whatever happens. */
  if (PyCapsule_SetName(cap, versioned ? DLPACK_USED_VERSIONED_CAPSULE
                                       : DLPACK_USED_CAPSULE) < 0)
    goto done;
  if (!dl->data) {
    int64_t n = 1; /* a 0-d tensor holds one element */
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
    rc = hpy_unlocked_pool_if(nbytes >= HPY_NOGIL_COPY_BYTES, pool,
                              horus_tensor_from_dltensor(pool, dl, out, &c));
    if (rc) {
      if (rc == HORUS_ENOTSUP) {
        PyErr_Format(PyExc_TypeError, "%s", horus_errmsg());
      } else {
        hpy_raise(rc);
      }
    } else {
      /* Shared, not copied: a producer's read-only flag stays. */
      if (!c && versioned && (versioned->flags & DLPACK_FLAG_BITMASK_READ_ONLY))
        horus_tensor_set_readonly(*out);
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
