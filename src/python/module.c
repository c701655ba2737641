/* module.c - the horus._horus extension module: multi-phase init (PEP 489),
 * module state, and the list of types each source file contributes. */
#define HORUS_PY_MODULE_C
#include "horus_py.h"

/* Each type's file provides one of these; the exec slot runs them in order
 * (BlockRef first: the others' exports depend on it; Frame before the three
 * types derived from it). */
int hpy_blockref_init(PyObject *m, horus_state *st);
int hpy_pool_init(PyObject *m, horus_state *st);
int hpy_tensor_init(PyObject *m, horus_state *st);
int hpy_frame_init(PyObject *m, horus_state *st);
int hpy_image_init(PyObject *m, horus_state *st);
int hpy_pointcloud_init(PyObject *m, horus_state *st);
int hpy_depth_init(PyObject *m, horus_state *st);
int hpy_topic_init(PyObject *m, horus_state *st);
int hpy_sched_init(PyObject *m, horus_state *st);

static int (*const type_inits[])(PyObject *, horus_state *) = {
    hpy_blockref_init, hpy_pool_init, hpy_tensor_init, hpy_frame_init, hpy_image_init,
    hpy_pointcloud_init, hpy_depth_init, hpy_topic_init, hpy_sched_init,
};

horus_state *hpy_state(PyObject *module) { return PyModule_GetState(module); }

#if PY_VERSION_HEX < 0x030B0000
/* Python 3.10 lacks PyType_GetModuleByDef (3.11).  The same lookup, as
 * CPython's own backport does it: the first heap type in the MRO whose
 * module was created from `def` (our types are created with
 * PyType_FromModuleAndSpec, so ht_module is set; a Python subclass has none
 * and defers to its base).  Returns a borrowed reference. */
static PyObject *hpy_type_module_by_def(PyTypeObject *type, PyModuleDef *def) {
  PyObject *mro = type->tp_mro;
  Py_ssize_t n = mro ? PyTuple_GET_SIZE(mro) : 0;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
    if (!PyType_HasFeature(t, Py_TPFLAGS_HEAPTYPE)) continue;
    PyObject *m = ((PyHeapTypeObject *)t)->ht_module;
    if (m && PyModule_GetDef(m) == def) return m;
  }
  PyErr_Format(PyExc_TypeError,
               "PyType_GetModuleByDef: No superclass of '%s' has the given module",
               type->tp_name);
  return NULL;
}
#define PyType_GetModuleByDef hpy_type_module_by_def
#endif

static horus_state *own_state(PyTypeObject *type);

horus_state *hpy_state_of_type(PyTypeObject *type) {
  /* Every object a hot path sees is of one of our own types, whose module
   * is at hand: no walk of the MRO (a Python subclass takes the walk). */
  horus_state *st = own_state(type);
  if (st) return st;
  PyObject *m = PyType_GetModuleByDef(type, &horus_module);
  return m ? PyModule_GetState(m) : NULL;
}

/* ---- free lists of message objects ------------------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* A parked object is poisoned: a use after free still trips ASan. */
#define PARK(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPARK(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PARK(p, n) ((void)(p), (void)(n))
#define UNPARK(p, n) ((void)(p), (void)(n))
#endif

/* The module last looked up and its state, read under the GIL: every
 * message object's alloc and free asks.  free_module forgets it before the
 * module's memory can be reused for another. */
static PyObject *last_module;
static horus_state *last_state;

/* The state of the module that made `type`, when it is one of ours; NULL
 * (no exception) for anything else, e.g. a Python subclass. */
static horus_state *own_state(PyTypeObject *type) {
  if (!PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE)) return NULL;
  PyObject *m = ((PyHeapTypeObject *)type)->ht_module;
  if (m && m == last_module) return last_state;
  if (!m || PyModule_GetDef(m) != &horus_module) return NULL;
  last_module = m;
  return last_state = PyModule_GetState(m);
}

static hpy_freelist *freelist_for(horus_state *st, Py_ssize_t size) {
  for (size_t i = 0; i < sizeof st->msg_free / sizeof *st->msg_free; i++) {
    hpy_freelist *fl = &st->msg_free[i];
    if (fl->size == 0) fl->size = size;
    if (fl->size == size) return fl;
  }
  return NULL;
}

PyObject *hpy_msg_alloc(PyTypeObject *type, Py_ssize_t nitems) {
  (void)nitems; /* tp_itemsize is 0 */
  Py_ssize_t size = type->tp_basicsize;
  horus_state *st = own_state(type);
  hpy_freelist *fl = st ? freelist_for(st, size) : NULL;
  void *mem;
  if (fl && fl->n > 0) {
    mem = fl->items[--fl->n];
    UNPARK(mem, size);
  } else if (!(mem = PyObject_Malloc((size_t)size))) {
    return PyErr_NoMemory();
  }
  memset(mem, 0, (size_t)size);
  return PyObject_Init(mem, type); /* takes a reference to a heap type */
}

void hpy_msg_free(void *self) {
  PyTypeObject *type = Py_TYPE((PyObject *)self);
  horus_state *st = own_state(type);
  hpy_freelist *fl = st ? freelist_for(st, type->tp_basicsize) : NULL;
  if (fl && fl->n < HPY_FREELIST_MAX) {
    PARK(self, type->tp_basicsize);
    fl->items[fl->n++] = self;
    return;
  }
  PyObject_Free(self);
}

static void clear_freelists(horus_state *st) {
  for (size_t i = 0; i < sizeof st->msg_free / sizeof *st->msg_free; i++) {
    hpy_freelist *fl = &st->msg_free[i];
    while (fl->n > 0) {
      void *p = fl->items[--fl->n];
      UNPARK(p, fl->size);
      PyObject_Free(p);
    }
  }
}

int hpy_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot) {
  return hpy_add_subtype(module, spec, NULL, slot);
}

int hpy_add_subtype(PyObject *module, PyType_Spec *spec, PyTypeObject *base,
                    PyTypeObject **slot) {
  PyObject *t = PyType_FromModuleAndSpec(module, spec, (PyObject *)base);
  if (!t) return -1;
  if (PyModule_AddType(module, (PyTypeObject *)t) < 0) {
    Py_DECREF(t);
    return -1;
  }
  *slot = (PyTypeObject *)t; /* the state keeps this reference */
  return 0;
}

static int exec_module(PyObject *m) {
  if (PyArray_ImportNumPyAPI() < 0) return -1;
  horus_state *st = hpy_state(m);
  if (!(st->str_timeout = PyUnicode_InternFromString("timeout"))) return -1;
  for (size_t i = 0; i < sizeof type_inits / sizeof *type_inits; i++)
    if (type_inits[i](m, st) < 0) return -1;
  if (PyModule_AddFunctions(m, hpy_wire_methods) < 0) return -1;
  /* HORUS's runtime name for the class: the same class, not a subclass. */
  if (PyModule_AddObjectRef(m, "Tensor", (PyObject *)st->TensorHandle_Type) < 0) return -1;
  if (PyModule_AddStringConstant(m, "__version__", HORUS_VERSION_STRING) < 0) return -1;
  if (PyModule_AddIntConstant(m, "BLOCK_ALIGN", HORUS_BLOCK_ALIGN) < 0) return -1;
  return 0;
}

static int traverse_module(PyObject *m, visitproc visit, void *arg) {
  horus_state *st = hpy_state(m);
#define VISIT(type, name) Py_VISIT(st->name);
  HPY_STATE_OBJECTS(VISIT)
#undef VISIT
  return 0;
}

static int clear_module(PyObject *m) {
  horus_state *st = hpy_state(m);
#define CLEAR(type, name) Py_CLEAR(st->name);
  HPY_STATE_OBJECTS(CLEAR)
#undef CLEAR
  /* Objects freed after this (the types outlive a clear) are parked again
   * and freed by free_module's call. */
  clear_freelists(st);
  return 0;
}

static void free_module(void *m) {
  clear_module(m);
  if (last_module == m) last_module = NULL, last_state = NULL;
  /* The global pool stays mapped: NumPy views of it may outlive the module
   * during interpreter shutdown.  Process exit detaches it. */
}

static PyObject *py_global_pool_stats(PyObject *m, PyObject *Py_UNUSED(ignored));
static PyObject *py_reclaim(PyObject *m, PyObject *Py_UNUSED(ignored));
static PyObject *py_clean(PyObject *m, PyObject *args, PyObject *kwds);
static PyObject *py_topics(PyObject *m, PyObject *Py_UNUSED(ignored));

static PyMethodDef module_methods[] = {
    {"global_pool_stats", py_global_pool_stats, METH_NOARGS,
     "global_pool_stats($module, /)\n--\n\nAccounting of this namespace's global "
     "pool (created on first use): the keys of TensorPool.stats()."},
    {"reclaim", py_reclaim, METH_NOARGS,
     "reclaim($module, /)\n--\n\nRelease the references of dead processes in the "
     "global pool now; returns the number of blocks freed."},
    {"clean", (PyCFunction)(void (*)(void))py_clean, METH_VARARGS | METH_KEYWORDS,
     "clean($module, /, *, all=False)\n--\n\nRemove this namespace's stale segments "
     "(topics no live process uses, pools no live process or topic holds, "
     "temporaries of dead creators); with all=True every segment of the namespace. "
     "Returns the paths removed."},
    {"topics", (PyCFunction)py_topics, METH_NOARGS,
     "topics($module, /)\n--\n\nThe namespace's topics: name, type, capacity, live "
     "publishers and subscribers, messages sent, and dropped (by live subscribers, "
     "overwritten before they read them)."},
    {NULL, NULL, 0, NULL},
};

PyObject *hpy_pool_stats_dict(horus_pool *pool);

static PyObject *py_global_pool_stats(PyObject *m, PyObject *Py_UNUSED(ignored)) {
  horus_pool *p = hpy_global_pool(hpy_state(m));
  return p ? hpy_pool_stats_dict(p) : NULL;
}

static PyObject *py_reclaim(PyObject *m, PyObject *Py_UNUSED(ignored)) {
  horus_pool *p = hpy_global_pool(hpy_state(m));
  if (!p) return NULL;
  int r = horus_pool_reclaim(p);
  return r < 0 ? hpy_raise(r) : PyLong_FromLong(r);
}

static void collect_removed(const char *path, void *arg) {
  PyObject *s = PyUnicode_DecodeFSDefault(path);
  if (!s || PyList_Append(arg, s) < 0) PyErr_Clear(); /* best effort: it is gone anyway */
  Py_XDECREF(s);
}

static PyObject *py_clean(PyObject *m, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"all", NULL};
  int all = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$p:clean", kwlist, &all)) return NULL;
  PyObject *removed = PyList_New(0);
  if (!removed) return NULL;
  int r = horus_clean(all, collect_removed, removed);
  if (r < 0) {
    Py_DECREF(removed);
    return hpy_raise(r);
  }
  /* The global pool's segment is gone: later objects must come from a
   * fresh one, not from the removed pool no other process can see.  Live
   * objects keep their own references to the old mapping. */
  horus_state *st = PyModule_GetState(m);
  if (all && st && st->global_pool) {
    horus_pool_close(st->global_pool);
    st->global_pool = NULL;
  }
  return removed;
}

static int topic_dict(const horus_topic_info *info, void *arg) {
  PyObject *d = Py_BuildValue("{s:s,s:s,s:I,s:I,s:I,s:K,s:K}", "name", info->name, "type",
                              hpy_msg_type_name(info->type), "capacity", info->capacity,
                              "publishers", info->publishers, "subscribers",
                              info->subscribers, "sent", (unsigned long long)info->sent,
                              "dropped", (unsigned long long)info->dropped);
  int r = d ? PyList_Append((PyObject *)arg, d) : -1;
  Py_XDECREF(d);
  return r; /* -1 stops the walk; the Python error is set */
}

static PyObject *py_topics(PyObject *m, PyObject *Py_UNUSED(ignored)) {
  (void)m;
  PyObject *list = PyList_New(0);
  if (!list) return NULL;
  int r = horus_namespace_topics(topic_dict, list);
  if (r < 0) {
    Py_DECREF(list);
    return PyErr_Occurred() ? NULL : hpy_raise(r);
  }
  return list;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

PyModuleDef horus_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "horus._horus",
    .m_doc = "Shared-memory images, point clouds, depth images and tensors "
             "(the C core of the horus package).",
    .m_size = sizeof(horus_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = traverse_module,
    .m_clear = clear_module,
    .m_free = free_module,
};

PyMODINIT_FUNC PyInit__horus(void) { return PyModuleDef_Init(&horus_module); }
