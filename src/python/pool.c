/* pool.c - horus.TensorPool: a shared-memory pool opened or created by id. */
#include "horus_py.h"

typedef struct {
  PyObject_HEAD
  horus_pool *pool; /* one process-local reference */
} PoolObject;

horus_pool *hpy_global_pool(horus_state *st) {
  if (!st->global_pool) {
    horus_pool *p;
    int r = horus_pool_global(&p);
    if (r) return (horus_pool *)hpy_raise(r);
    st->global_pool = p;
  }
  return st->global_pool;
}

PyObject *hpy_pool_stats_dict(horus_pool *pool) {
  horus_pool_stats s;
  int r = horus_pool_stats_get(pool, &s);
  if (r) return hpy_raise(r);
  return Py_BuildValue(
      "{s:I,s:K,s:I,s:I,s:K,s:K,s:K,s:I,s:K,s:s}", "pool_id", s.pool_id,
      "size_bytes", (unsigned long long)s.size_bytes, "max_slots", s.max_slots,
      "allocated_slots", s.allocated_slots, "used_bytes",
      (unsigned long long)s.used_bytes, "free_bytes", (unsigned long long)s.free_bytes,
      "largest_free_block", (unsigned long long)s.largest_free_block, "holders",
      s.holders, "total_refs", (unsigned long long)s.total_refs, "path",
      horus_pool_path(pool));
}

static int Pool_init(PoolObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"pool_id", "size_mb", "max_slots", NULL};
  /* NOT_GIVEN: not given.  Opening an existing pool then takes whatever geometry
   * it has; only a pool created here gets the defaults (1024 MB, 1024
   * slots; the global pool those of horus_pool_global). */
  const long long NOT_GIVEN = LLONG_MIN;
  long long pool_id = 0, size_mb = NOT_GIVEN, max_slots = NOT_GIVEN;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|LLL:TensorPool", kwlist, &pool_id,
                                   &size_mb, &max_slots))
    return -1;
  if (pool_id < 0 || pool_id > UINT32_MAX) {
    PyErr_Format(PyExc_ValueError, "pool_id %lld: must be 0..%u", pool_id, UINT32_MAX);
    return -1;
  }
  /* What was not given is 0 when opening: an existing pool's geometry is
   * accepted as it is, and a given value must match it. */
  bool defaulted = size_mb == NOT_GIVEN && max_slots == NOT_GIVEN;
  uint64_t want_bytes = 0;
  uint32_t want_slots = 0;
  if (size_mb == NOT_GIVEN) size_mb = 1024;
  else if (size_mb > 0 && size_mb <= (1ll << 24)) want_bytes = (uint64_t)size_mb << 20;
  if (max_slots == NOT_GIVEN) max_slots = 1024;
  else if (max_slots > 0 && max_slots <= (1ll << 16)) want_slots = (uint32_t)max_slots;
  if (size_mb <= 0 || size_mb > (1ll << 24)) {
    PyErr_Format(PyExc_ValueError, "size_mb %lld: must be 1..%lld", size_mb, 1ll << 24);
    return -1;
  }
  if (max_slots <= 0 || max_slots > (1ll << 16)) {
    PyErr_Format(PyExc_ValueError, "max_slots %lld: must be 1..65536", max_slots);
    return -1;
  }
  horus_pool *p;
  int r;
  if (defaulted && pool_id == 0) {
    r = horus_pool_global(&p); /* the pool Image() and friends use */
  } else {
    r = horus_pool_open((uint32_t)pool_id, want_bytes, want_slots, 0, &p);
    if (r == HORUS_ENOENT)
      r = horus_pool_open((uint32_t)pool_id, (uint64_t)size_mb << 20, (uint32_t)max_slots,
                          HORUS_POOL_CREATE, &p);
  }
  if (r) return hpy_raise_int(r);
  horus_pool_close(self->pool); /* __init__ called twice */
  self->pool = p;
  return 0;
}

static void Pool_dealloc(PoolObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  horus_pool_close(self->pool);
  tp->tp_free(self);
  Py_DECREF(tp);
}

static int check_open(PoolObject *self) {
  if (self->pool) return 0;
  PyErr_SetString(PyExc_ValueError, "TensorPool is not initialised");
  return -1;
}

static PyObject *Pool_alloc(PoolObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"shape", "dtype", "device", NULL};
  PyObject *shape_obj, *dtype_obj = NULL, *device_obj = NULL;
  const char *device = "cpu";
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO:alloc", kwlist, &shape_obj,
                                   &dtype_obj, &device_obj))
    return NULL;
  if (device_obj && !(device = hpy_utf8(device_obj, "device", NULL))) return NULL;
  if (check_open(self)) return NULL;
  if (strcmp(device, "cpu") != 0)
    return PyErr_Format(PyExc_ValueError, "device '%s' is not supported: pools "
                        "live in host shared memory (use 'cpu')", device);
  int dtype = HORUS_FLOAT32;
  if (dtype_obj && (dtype = hpy_parse_dtype(dtype_obj)) < 0) return NULL;
  int64_t shape[HORUS_MAX_DIMS];
  int ndim = hpy_parse_shape(shape_obj, shape, "shape");
  if (ndim < 0) return NULL;
  horus_tensor *t;
  int r = horus_tensor_alloc(self->pool, shape, ndim, (horus_dtype)dtype, &t);
  if (r) return hpy_raise(r);
  return hpy_tensor_wrap(hpy_state_of_type(Py_TYPE(self)), t);
}

static PyObject *Pool_stats(PoolObject *self, PyObject *Py_UNUSED(ignored)) {
  if (check_open(self)) return NULL;
  return hpy_pool_stats_dict(self->pool);
}

static PyObject *Pool_reclaim(PoolObject *self, PyObject *Py_UNUSED(ignored)) {
  if (check_open(self)) return NULL;
  int r = horus_pool_reclaim(self->pool);
  return r < 0 ? hpy_raise(r) : PyLong_FromLong(r);
}

static PyObject *Pool_get_id(PoolObject *self, void *Py_UNUSED(c)) {
  if (check_open(self)) return NULL;
  return PyLong_FromUnsignedLong(horus_pool_id(self->pool));
}

static PyObject *Pool_get_path(PoolObject *self, void *Py_UNUSED(c)) {
  if (check_open(self)) return NULL;
  return PyUnicode_DecodeFSDefault(horus_pool_path(self->pool));
}

static PyObject *Pool_repr(PoolObject *self) {
  horus_pool_stats s;
  if (!self->pool || horus_pool_stats_get(self->pool, &s))
    return PyUnicode_FromString("<TensorPool (not open)>");
  return PyUnicode_FromFormat("<TensorPool id=%u size=%llu MB used=%llu bytes "
                              "slots=%u/%u>", s.pool_id,
                              (unsigned long long)(s.size_bytes >> 20),
                              (unsigned long long)s.used_bytes, s.allocated_slots,
                              s.max_slots);
}

static PyMethodDef Pool_methods[] = {
    {"alloc", (PyCFunction)(void (*)(void))Pool_alloc, METH_VARARGS | METH_KEYWORDS,
     "alloc($self, shape, dtype='float32', device='cpu')\n--\n\n"
     "Allocate a contiguous tensor in this pool.  MemoryError when the pool has "
     "no room (the message gives the request and the free bytes)."},
    {"stats", (PyCFunction)Pool_stats, METH_NOARGS,
     "stats($self, /)\n--\n\npool_id, size_bytes, max_slots, allocated_slots, "
     "used_bytes, free_bytes, largest_free_block, holders, total_refs, path."},
    {"reclaim", (PyCFunction)Pool_reclaim, METH_NOARGS,
     "reclaim($self, /)\n--\n\nRelease references held by dead processes now; "
     "returns the number of blocks freed (this also happens automatically)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Pool_getset[] = {
    {"pool_id", (getter)Pool_get_id, NULL, "The pool's id in this namespace.", NULL},
    {"path", (getter)Pool_get_path, NULL, "The pool's shared-memory file.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Pool_slots[] = {
    {Py_tp_doc, "TensorPool(pool_id=0, size_mb=1024, max_slots=1024)\n--\n\n"
                "Open pool `pool_id` of this namespace, creating it with size_mb "
                "megabytes and max_slots blocks when it does not exist.  An existing "
                "pool is opened whatever its geometry when size_mb and max_slots are "
                "not given; one given that differs is a ValueError that states both.  "
                "TensorPool() is the global pool (id 0) that Image() and friends use.  "
                "Pages are committed only when touched."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Pool_init},
    {Py_tp_dealloc, Pool_dealloc},
    {Py_tp_methods, Pool_methods},
    {Py_tp_getset, Pool_getset},
    {Py_tp_repr, Pool_repr},
    {0, NULL},
};

static PyType_Spec Pool_spec = {
    .name = "horus.TensorPool",
    .basicsize = sizeof(PoolObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Pool_slots,
};

int hpy_pool_init(PyObject *m, horus_state *st) {
  return hpy_add_type(m, &Pool_spec, &st->TensorPool_Type);
}
