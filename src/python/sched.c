/* sched.c - horus.Node and horus.Scheduler over the C scheduler.
 *
 * run() releases the GIL for the whole run; each callback takes it back
 * for the Python call only (PyEval_RestoreThread/SaveThread on the thread
 * that called run, cheaper than PyGILState).  A Python exception in a
 * callback, or from a signal handler (Ctrl-C) run by the interrupt hook,
 * is kept, stops the run after every shutdown has run, and is re-raised. */
#include <math.h>

#include "horus_py.h"

typedef struct SchedObject SchedObject;

typedef struct {
  PyObject_HEAD
  horus_node *n;
  PyObject *tick, *init, *shutdown; /* callables (init/shutdown may be NULL) */
  PyObject *sched;                  /* the Scheduler it was added to, or NULL */
} NodeObject;

struct SchedObject {
  PyObject_HEAD
  horus_sched *s;
  PyObject *nodes;          /* list of NodeObject, keeps them alive */
  PyThreadState *released;  /* set while run() has the GIL released */
  PyObject *exc;            /* first exception raised by a callback */
};

/* ---- callbacks -------------------------------------------------------------- */

static void keep_exception(SchedObject *so) {
  PyObject *exc = hpy_take_exception();
  if (!so->exc) so->exc = exc;
  else {
    /* A later failure (e.g. in a shutdown after a tick failed): report it
     * without hiding the first. */
    hpy_restore_exception(exc);
    PyErr_WriteUnraisable((PyObject *)so);
  }
}

/* Calls fn(node) with the GIL.  After a tick (only), a signal that arrived
 * while run() was between sleeps, so that no EINTR will wake the interrupt
 * hook, is seen with the GIL already held: a few ns when none is pending.
 * Not after init: a node whose init completed must get its shutdown. */
static int call(PyObject *fn, NodeObject *node, bool is_tick) {
  SchedObject *so = (SchedObject *)node->sched;
  PyThreadState *ts = so ? so->released : NULL;
  if (ts) PyEval_RestoreThread(ts);
  PyObject *res = PyObject_CallOneArg(fn, (PyObject *)node);
  if (res && is_tick && PyErr_CheckSignals() < 0) Py_CLEAR(res);
  int r = 0;
  if (!res) {
    if (so) keep_exception(so);
    else PyErr_WriteUnraisable(fn);
    r = -1;
  }
  Py_XDECREF(res);
  if (ts) so->released = PyEval_SaveThread();
  return r;
}

static int tick_cb(horus_node *n, void *user) {
  NodeObject *node = user;
  (void)n;
  return call(node->tick, node, true);
}
static int init_cb(horus_node *n, void *user) {
  NodeObject *node = user;
  (void)n;
  return node->init ? call(node->init, node, false) : 0;
}
static int shutdown_cb(horus_node *n, void *user) {
  NodeObject *node = user;
  (void)n;
  return node->shutdown ? call(node->shutdown, node, false) : 0;
}

static int interrupt_cb(void *arg) {
  SchedObject *so = arg;
  PyEval_RestoreThread(so->released);
  int r = 0;
  if (PyErr_CheckSignals() < 0) {
    keep_exception(so);
    r = -1;
  }
  so->released = PyEval_SaveThread();
  return r;
}

/* ---- Node ------------------------------------------------------------------------ */

static int check_callable(PyObject *f, const char *what, bool optional) {
  if ((optional && f == Py_None) || PyCallable_Check(f)) return 0;
  PyErr_Format(PyExc_TypeError, "%s must be callable%s, not %.80s", what,
               optional ? " or None" : "", Py_TYPE(f)->tp_name);
  return -1;
}

static int Node_init(NodeObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"name", "tick", "rate", "init", "shutdown", "order", NULL};
  PyObject *name, *tick, *rate_obj, *init = Py_None, *shutdown = Py_None;
  int order = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOO|OOi:Node", kwlist, &name, &tick,
                                   &rate_obj, &init, &shutdown, &order))
    return -1;
  if (self->n) {
    PyErr_SetString(PyExc_RuntimeError, "Node is already initialised");
    return -1;
  }
  if (check_callable(tick, "tick", false) || check_callable(init, "init", true) ||
      check_callable(shutdown, "shutdown", true))
    return -1;
  if (PyBool_Check(rate_obj) || (!PyLong_Check(rate_obj) && !PyFloat_Check(rate_obj))) {
    PyErr_Format(PyExc_TypeError, "rate must be a number of Hz, not %.80s",
                 Py_TYPE(rate_obj)->tp_name);
    return -1;
  }
  double rate = PyFloat_AsDouble(rate_obj);
  if (rate == -1.0 && PyErr_Occurred()) return -1;
  const char *cname = hpy_utf8(name, "node name", NULL);
  if (!cname) return -1;
  if (!(rate > 0) || !isfinite(rate)) {
    PyErr_Format(PyExc_ValueError, "node '%s': rate must be > 0 Hz and finite, got %R",
                 cname, rate_obj);
    return -1;
  }
  int r = horus_node_create(cname, rate, tick_cb, self, &self->n);
  if (r) return hpy_raise_int(r);
  horus_node_set_init(self->n, init_cb);
  horus_node_set_shutdown(self->n, shutdown_cb);
  horus_node_set_order(self->n, order);
  self->tick = Py_NewRef(tick);
  self->init = init == Py_None ? NULL : Py_NewRef(init);
  self->shutdown = shutdown == Py_None ? NULL : Py_NewRef(shutdown);
  return 0;
}

static int Node_traverse(NodeObject *self, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->tick);
  Py_VISIT(self->init);
  Py_VISIT(self->shutdown);
  Py_VISIT(self->sched);
  return 0;
}

static int Node_clear(NodeObject *self) {
  Py_CLEAR(self->tick);
  Py_CLEAR(self->init);
  Py_CLEAR(self->shutdown);
  Py_CLEAR(self->sched);
  return 0;
}

static void Node_dealloc(NodeObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  Node_clear(self);
  horus_node_free(self->n); /* its scheduler, if any, is gone: it held a reference */
  tp->tp_free(self);
  Py_DECREF(tp);
}

static horus_node *get_node(NodeObject *self) {
  if (!self->n) PyErr_SetString(PyExc_ValueError, "Node is not initialised");
  return self->n;
}

static PyObject *stats_dict(const horus_node *n) {
  horus_node_stats s;
  horus_node_stats_get(n, &s);
  return Py_BuildValue("{s:s,s:d,s:K,s:K,s:d,s:d,s:d,s:d,s:d,s:d,s:d}", "name",
                       horus_node_name(n), "rate", horus_node_rate(n), "ticks",
                       (unsigned long long)s.ticks, "overruns", (unsigned long long)s.overruns,
                       "tick_min_s", s.tick_min_ns / 1e9, "tick_mean_s", s.tick_mean_ns / 1e9,
                       "tick_max_s", s.tick_max_ns / 1e9, "actual_rate", s.actual_rate_hz,
                       "jitter_p50_s", s.jitter_p50_ns / 1e9, "jitter_p99_s",
                       s.jitter_p99_ns / 1e9, "jitter_max_s", s.jitter_max_ns / 1e9);
}

static PyObject *Node_stats(NodeObject *self, PyObject *Py_UNUSED(a)) {
  horus_node *n = get_node(self);
  return n ? stats_dict(n) : NULL;
}

static PyObject *Node_get_name(NodeObject *self, void *Py_UNUSED(c)) {
  horus_node *n = get_node(self);
  return n ? PyUnicode_FromString(horus_node_name(n)) : NULL;
}
static PyObject *Node_get_rate(NodeObject *self, void *Py_UNUSED(c)) {
  horus_node *n = get_node(self);
  return n ? PyFloat_FromDouble(horus_node_rate(n)) : NULL;
}
static PyObject *Node_get_order(NodeObject *self, void *Py_UNUSED(c)) {
  horus_node *n = get_node(self);
  return n ? PyLong_FromLong(horus_node_order(n)) : NULL;
}
static PyObject *Node_get_scheduler(NodeObject *self, void *Py_UNUSED(c)) {
  return Py_NewRef(self->sched ? self->sched : Py_None);
}

static PyObject *Node_repr(NodeObject *self) {
  if (!self->n) return PyUnicode_FromString("<Node (uninitialised)>");
  horus_node_stats s;
  horus_node_stats_get(self->n, &s);
  char rate[32];
  snprintf(rate, sizeof rate, "%g", horus_node_rate(self->n));
  return PyUnicode_FromFormat("<Node '%s' rate=%s Hz order=%d ticks=%llu>",
                              horus_node_name(self->n), rate, horus_node_order(self->n),
                              (unsigned long long)s.ticks);
}

static PyMethodDef Node_methods[] = {
    {"stats", (PyCFunction)Node_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nticks, overruns, tick time min/mean/max (s), actual rate "
     "(Hz) and start-time jitter p50/p99/max (s) of the current or last run."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Node_getset[] = {
    {"name", (getter)Node_get_name, NULL, "The node's name.", NULL},
    {"rate", (getter)Node_get_rate, NULL, "Tick rate in Hz.", NULL},
    {"order", (getter)Node_get_order, NULL, "Position within a cycle (lower first).", NULL},
    {"scheduler", (getter)Node_get_scheduler, NULL,
     "The Scheduler this node was added to, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Node_slots[] = {
    {Py_tp_doc, "Node(name, tick, rate, init=None, shutdown=None, order=0)\n--\n\n"
                "A unit of work ticked by a Scheduler at `rate` Hz: tick(node) each "
                "period; init(node) before the first tick and shutdown(node) after "
                "the last of a run."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Node_init},
    {Py_tp_dealloc, Node_dealloc},
    {Py_tp_traverse, Node_traverse},
    {Py_tp_clear, Node_clear},
    {Py_tp_methods, Node_methods},
    {Py_tp_getset, Node_getset},
    {Py_tp_repr, Node_repr},
    {0, NULL},
};

static PyType_Spec Node_spec = {
    .name = "horus.Node",
    .basicsize = sizeof(NodeObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = Node_slots,
};

/* ---- Scheduler ---------------------------------------------------------------- */

static int Sched_init(SchedObject *self, PyObject *args, PyObject *kwds) {
  if (!PyArg_ParseTuple(args, ":Scheduler") || (kwds && PyDict_Size(kwds))) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "Scheduler() takes no arguments");
    return -1;
  }
  if (self->s) return 0;
  int r = horus_sched_create(&self->s);
  if (r) return hpy_raise_int(r);
  horus_sched_set_interrupt_hook(self->s, interrupt_cb, self);
  self->nodes = PyList_New(0);
  return self->nodes ? 0 : -1;
}

static int Sched_traverse(SchedObject *self, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->nodes);
  Py_VISIT(self->exc);
  return 0;
}

static int Sched_clear(SchedObject *self) {
  if (self->nodes) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->nodes); i++)
      Py_CLEAR(((NodeObject *)PyList_GET_ITEM(self->nodes, i))->sched);
  }
  Py_CLEAR(self->nodes);
  Py_CLEAR(self->exc);
  return 0;
}

static void Sched_dealloc(SchedObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  horus_sched_free(self->s); /* detaches nodes, so they can join another */
  Sched_clear(self);
  tp->tp_free(self);
  Py_DECREF(tp);
}

static horus_sched *get_sched(SchedObject *self) {
  if (!self->s) PyErr_SetString(PyExc_ValueError, "Scheduler is not initialised");
  return self->s;
}

static PyObject *Sched_add(SchedObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"node", "order", NULL};
  PyObject *node_obj, *order_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:add", kwlist, &node_obj, &order_obj))
    return NULL;
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  horus_state *st = hpy_state_of_type(Py_TYPE(self));
  if (!PyObject_TypeCheck(node_obj, st->Node_Type))
    return PyErr_Format(PyExc_TypeError, "add() takes a Node, not %.80s",
                        Py_TYPE(node_obj)->tp_name);
  NodeObject *node = (NodeObject *)node_obj;
  if (!get_node(node)) return NULL;
  int order = 0;
  if (order_obj != Py_None) {
    order = PyLong_AsLong(order_obj);
    if (order == -1 && PyErr_Occurred()) return NULL;
  }
  /* The list keeps the node alive while the C scheduler points at it, so
   * it must hold it before the node is added there. */
  if (PyList_Append(self->nodes, node_obj) < 0) return NULL;
  int r = horus_sched_add(s, node->n, order_obj != Py_None, order);
  if (r) {
    PySequence_DelItem(self->nodes, PyList_GET_SIZE(self->nodes) - 1);
    return hpy_raise(r);
  }
  Py_XSETREF(node->sched, Py_NewRef(self));
  Py_RETURN_NONE;
}

static PyObject *finish(SchedObject *self, int r) {
  if (self->exc) {
    hpy_restore_exception(self->exc);
    self->exc = NULL;
    return NULL;
  }
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Sched_run(SchedObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"duration", "raise_on_interrupt", NULL};
  PyObject *dur = Py_None;
  int raise_on_interrupt = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$p:run", kwlist, &dur, &raise_on_interrupt))
    return NULL;
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  int64_t ns = -1;
  if (dur != Py_None) {
    if (PyBool_Check(dur) || (!PyLong_Check(dur) && !PyFloat_Check(dur)))
      return PyErr_Format(PyExc_TypeError, "duration must be seconds or None, not %.80s",
                          Py_TYPE(dur)->tp_name);
    double d = PyFloat_AsDouble(dur);
    if (d == -1.0 && PyErr_Occurred()) return NULL;
    if (isnan(d) || d < 0)
      return PyErr_Format(PyExc_ValueError, "duration must be >= 0 seconds, got %R", dur);
    ns = isinf(d) || d > 9e9 ? -1 : (int64_t)(d * 1e9);
  }
  if (horus_sched_running(s))
    return PyErr_Format(PyExc_RuntimeError, "run() called while the scheduler is running "
                        "(from a tick?)");
  Py_INCREF(self); /* a tick may drop the last outside reference */
  Py_CLEAR(self->exc);
  self->released = PyEval_SaveThread();
  int r = horus_sched_run(s, ns);
  PyEval_RestoreThread(self->released);
  self->released = NULL;
  /* Ctrl-C is how a robot program is meant to end: every shutdown has run
   * by now, so return normally unless the caller wants to see it. */
  if (!raise_on_interrupt && self->exc &&
      PyErr_GivenExceptionMatches(self->exc, PyExc_KeyboardInterrupt)) {
    Py_CLEAR(self->exc);
    r = 0; /* the -1 the callback or hook returned for it */
  }
  PyObject *res = finish(self, r);
  Py_DECREF(self);
  return res;
}

static PyObject *Sched_tick_once(SchedObject *self, PyObject *Py_UNUSED(a)) {
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  if (horus_sched_running(s))
    return PyErr_Format(PyExc_RuntimeError, "tick_once() while the scheduler is running");
  Py_CLEAR(self->exc);
  int r = horus_sched_tick_once(s); /* GIL held: callbacks call straight in */
  return finish(self, r);
}

static PyObject *Sched_stop(SchedObject *self, PyObject *Py_UNUSED(a)) {
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  horus_sched_stop(s);
  Py_RETURN_NONE;
}

static PyObject *Sched_stats(SchedObject *self, PyObject *Py_UNUSED(a)) {
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  PyObject *d = PyDict_New();
  for (int i = 0; d && i < horus_sched_node_count(s); i++) {
    horus_node *n = horus_sched_node(s, i);
    PyObject *v = stats_dict(n);
    if (!v || PyDict_SetItemString(d, horus_node_name(n), v) < 0) Py_CLEAR(d);
    Py_XDECREF(v);
  }
  return d;
}

static PyObject *Sched_node_stats(SchedObject *self, PyObject *name) {
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  const char *cname = hpy_utf8(name, "node_stats() node name", NULL);
  if (!cname) return NULL;
  for (int i = 0; i < horus_sched_node_count(s); i++)
    if (strcmp(horus_node_name(horus_sched_node(s, i)), cname) == 0)
      return stats_dict(horus_sched_node(s, i));
  return PyErr_Format(PyExc_KeyError, "no node named %R in this scheduler", name);
}

static PyObject *Sched_enter(SchedObject *self, PyObject *Py_UNUSED(a)) {
  return Py_NewRef(self);
}

/* Leaving the with-block stops a run in progress (in another thread).
 * Only then: a stop() with no run in progress would stay pending and end
 * the next run() at once (horus/sched.h). */
static PyObject *Sched_exit(SchedObject *self, PyObject *Py_UNUSED(a)) {
  if (self->s && horus_sched_running(self->s)) horus_sched_stop(self->s);
  Py_RETURN_NONE;
}

static PyObject *Sched_get_nodes(SchedObject *self, void *Py_UNUSED(c)) {
  horus_sched *s = get_sched(self);
  if (!s) return NULL;
  /* In tick order, which the C side keeps. */
  PyObject *list = PyList_New(0);
  for (int i = 0; list && i < horus_sched_node_count(s); i++) {
    horus_node *n = horus_sched_node(s, i);
    if (PyList_Append(list, (PyObject *)horus_node_user(n)) < 0) Py_CLEAR(list);
  }
  return list;
}

static PyObject *Sched_repr(SchedObject *self) {
  if (!self->s) return PyUnicode_FromString("<Scheduler (uninitialised)>");
  return PyUnicode_FromFormat("<Scheduler nodes=%d%s>", horus_sched_node_count(self->s),
                              horus_sched_running(self->s) ? " running" : "");
}

static PyMethodDef Sched_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Sched_add, METH_VARARGS | METH_KEYWORDS,
     "add($self, node, order=None)\n--\n\nAdd a node; an order given here wins over the "
     "node's own.  ValueError for a duplicate name or a node already in a scheduler."},
    {"run", (PyCFunction)(void (*)(void))Sched_run, METH_VARARGS | METH_KEYWORDS,
     "run($self, duration=None, *, raise_on_interrupt=False)\n--\n\nTick the nodes in "
     "order, each at its own rate, until stop(), Ctrl-C or `duration` seconds; then "
     "every node's shutdown runs.  Ctrl-C (KeyboardInterrupt, in a tick or while "
     "waiting) then returns normally, or is re-raised when raise_on_interrupt=True.  "
     "Any other exception in a callback stops the run and propagates."},
    {"stop", (PyCFunction)Sched_stop, METH_NOARGS,
     "stop($self, /)\n--\n\nEnd the current run after the tick in progress (any thread); "
     "with no run in progress, the next run() returns at once."},
    {"tick_once", (PyCFunction)Sched_tick_once, METH_NOARGS,
     "tick_once($self, /)\n--\n\nTick every node once, in order, ignoring rates (no init or "
     "shutdown)."},
    {"stats", (PyCFunction)Sched_stats, METH_NOARGS,
     "stats($self, /)\n--\n\n{node name: Node.stats()} for every node."},
    {"node_stats", (PyCFunction)Sched_node_stats, METH_O,
     "node_stats($self, name, /)\n--\n\nOne node's statistics (KeyError if unknown)."},
    {"__enter__", (PyCFunction)Sched_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Sched_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Sched_getset[] = {
    {"nodes", (getter)Sched_get_nodes, NULL, "The nodes, in tick order.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Sched_slots[] = {
    {Py_tp_doc, "Scheduler()\n--\n\nTicks Nodes in order, each at its own rate, with "
                "absolute deadlines; the GIL is released while it sleeps."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Sched_init},
    {Py_tp_dealloc, Sched_dealloc},
    {Py_tp_traverse, Sched_traverse},
    {Py_tp_clear, Sched_clear},
    {Py_tp_methods, Sched_methods},
    {Py_tp_getset, Sched_getset},
    {Py_tp_repr, Sched_repr},
    {0, NULL},
};

static PyType_Spec Sched_spec = {
    .name = "horus.Scheduler",
    .basicsize = sizeof(SchedObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = Sched_slots,
};

int hpy_sched_init(PyObject *m, horus_state *st) {
  if (hpy_add_type(m, &Node_spec, &st->Node_Type) < 0) return -1;
  return hpy_add_type(m, &Sched_spec, &st->Scheduler_Type);
}
