/* topic.c - horus.Topic: typed publish/subscribe between processes.
 *
 * Topic(Image) carries Images (likewise PointCloud, DepthImage,
 * TensorHandle) by descriptor: nothing of the payload is copied.
 * Topic("name") carries small Python objects, copied once into a pool
 * block: bytes as they are; values JSON represents exactly (dict with str
 * keys, list, str, int, finite float, bool, None; exact types, bounded
 * depth) as UTF-8 JSON, so the C `horus topic echo/pub` and other languages
 * read and write them; anything else (tuples, bytes inside, non-str keys,
 * subclasses, custom objects) pickled, so every object round-trips exactly. */
#include <math.h>

#include "horus_py.h"

/* Payload flavours of a generic topic, kept in meta.kind_data (topic.h). */
enum { GENERIC_BYTES = HORUS_BYTES_RAW, GENERIC_PICKLE = HORUS_BYTES_PICKLE,
       GENERIC_JSON = HORUS_BYTES_JSON };

/* Nesting the JSON flavour allows; deeper values are pickled (the C
 * reader's parser is bounded to the same depth). */
#define JSON_MAX_DEPTH 64

/* Blocking receives wait in slices so Ctrl-C is noticed promptly. */
#define WAIT_SLICE_NS 50000000ll

typedef struct {
  PyObject_HEAD
  horus_topic *t;     /* NULL after close() */
  PyObject *msg_type; /* the class given, or None for a generic topic */
  hpy_busy busy;      /* a thread uses `t` without the GIL (recv, generic send) */
  horus_state *st;    /* the module's, once initialised (the type keeps it alive) */
} TopicObject;

static horus_state *state_of(TopicObject *self) {
  return self->st ? self->st : hpy_state_of_type(Py_TYPE(self));
}

/* The topic handle for `action`.  A handle serves one thread at a time
 * (horus/topic.h), so while one thread uses it without the GIL every other
 * use is refused, not only close() and __init__. */
static horus_topic *get_topic(TopicObject *self, const char *action) {
  if (!self->t) {
    PyErr_SetString(PyExc_ValueError, "Topic is closed");
    return NULL;
  }
  if (hpy_busy_refuse((PyObject *)self, &self->busy, action)) return NULL;
  return self->t;
}

/* A ROS-style name ("/camera/front"): say how horus spells it rather than
 * just "invalid".  0 when the name has no '/', -1 with ValueError. */
static int slash_name(PyObject *name, const char *cname) {
  if (!strchr(cname, '/')) return 0;
  char want[HORUS_TOPIC_NAME_MAX + 1];
  size_t n = 0;
  for (const char *p = cname; *p && n < sizeof want - 1; p++) {
    if (*p != '/') want[n++] = *p;
    else if (n > 0 && want[n - 1] != '.' && p[1] && p[1] != '/') want[n++] = '.';
  }
  want[n] = '\0';
  PyErr_Format(PyExc_ValueError, "topic name %R: horus topic names use '.' where ROS "
               "and MCAP use '/': write '%s' (it is '/%s' in MCAP files, Foxglove and "
               "ROS 2)", name, want, cname[0] == '/' ? cname + 1 : cname);
  return -1;
}

typedef struct found_type {
  const char *name;
  horus_msg_type type;
} found_type;

static int find_type(const horus_topic_info *info, void *arg) {
  found_type *f = arg;
  if (strcmp(info->name, f->name) != 0) return 0;
  f->type = info->type;
  return 1;
}

/* TypeError for a topic that exists with another message type, in Python's
 * names (the core's message speaks C). */
static void type_mismatch(const char *name, horus_msg_type wanted) {
  bool held = strstr(horus_errmsg(), "still held") != NULL;
  found_type f = {name, HORUS_MSG_NONE};
  horus_namespace_topics(find_type, &f);
  if (f.type == HORUS_MSG_NONE) {
    hpy_raise(HORUS_ETYPE);
    return;
  }
  PyErr_Format(PyExc_TypeError, "topic '%s' carries %s messages%s, not %s", name,
               hpy_msg_type_name(f.type),
               held ? " still held by a receiver (not retyped while they are)" : "",
               hpy_msg_type_name(wanted));
}

static int Topic_init(TopicObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"msg_type", "name", "capacity", "history", NULL};
  PyObject *type_obj, *name_obj = Py_None, *cap_obj = Py_None, *hist_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$OO:Topic", kwlist, &type_obj, &name_obj,
                                   &cap_obj, &hist_obj))
    return -1;
  long long history = 0;
  if (hist_obj != Py_None) {
    if (!PyLong_Check(hist_obj) || PyBool_Check(hist_obj)) {
      PyErr_Format(PyExc_TypeError, "history must be an int, not %.80s",
                   Py_TYPE(hist_obj)->tp_name);
      return -1;
    }
    history = PyLong_AsLongLong(hist_obj);
    if (history == -1 && PyErr_Occurred()) PyErr_Clear(), history = -1;
    if (history < 0 || history > HORUS_TOPIC_MAX_CAPACITY) {
      PyErr_Format(PyExc_ValueError, "history must be 0..%d messages, got %R",
                   HORUS_TOPIC_MAX_CAPACITY, hist_obj);
      return -1;
    }
  }
  horus_state *st = state_of(self);
  horus_msg_type type;
  PyObject *name = NULL;
  if (PyUnicode_Check(type_obj)) {
    if (name_obj != Py_None) {
      PyErr_SetString(PyExc_TypeError, "Topic(name) takes no second name");
      return -1;
    }
    type = HORUS_MSG_BYTES;
    name = Py_NewRef(type_obj);
  } else {
    type = hpy_msg_type_of_class(st, type_obj);
    if (type == HORUS_MSG_NONE) {
      PyErr_Format(PyExc_TypeError, "Topic carries Image, PointCloud, DepthImage or "
                   "TensorHandle (or takes a str name for Python objects), not %R", type_obj);
      return -1;
    }
    if (name_obj == Py_None) {
      PyObject *n = PyObject_GetAttrString(type_obj, "__name__");
      if (!n) return -1;
      name = PyObject_CallMethod(n, "lower", NULL);
      Py_DECREF(n);
      if (!name) return -1;
    } else if (!PyUnicode_Check(name_obj)) {
      PyErr_Format(PyExc_TypeError, "name must be a str, not %.80s", Py_TYPE(name_obj)->tp_name);
      return -1;
    } else {
      name = Py_NewRef(name_obj);
    }
  }
  long long cap = 0;
  if (cap_obj != Py_None) {
    if (!PyLong_Check(cap_obj)) {
      PyErr_Format(PyExc_TypeError, "capacity must be an int, not %.80s",
                   Py_TYPE(cap_obj)->tp_name);
      Py_DECREF(name);
      return -1;
    }
    cap = PyLong_AsLongLong(cap_obj);
    if (cap == -1 && PyErr_Occurred()) PyErr_Clear(), cap = -1;
    if (cap < 1 || cap > HORUS_TOPIC_MAX_CAPACITY) {
      PyErr_Format(PyExc_ValueError, "capacity must be 1..%d, got %R",
                   HORUS_TOPIC_MAX_CAPACITY, cap_obj);
      Py_DECREF(name);
      return -1;
    }
  }
  const char *cname = hpy_utf8(name, "topic name", NULL);
  if (!cname) {
    Py_DECREF(name);
    return -1;
  }
  if (slash_name(name, cname) < 0) {
    Py_DECREF(name);
    return -1;
  }
  horus_topic *t;
  int r;
  Py_BEGIN_ALLOW_THREADS
  r = horus_topic_open(cname, type, (uint32_t)cap, &t);
  Py_END_ALLOW_THREADS
  if (r == HORUS_ETYPE) {
    type_mismatch(cname, type);
    Py_DECREF(name);
    return -1;
  }
  Py_DECREF(name);
  if (r) return hpy_raise_int(r);
  /* Checked after the open, which ran without the GIL: another thread may
   * have entered a recv on the old handle meanwhile. */
  if (hpy_busy_refuse((PyObject *)self, &self->busy, "__init__()")) {
    horus_topic_close(t);
    return -1;
  }
  if (history > 0 && (r = horus_topic_set_history(t, (uint32_t)history))) {
    horus_topic_close(t);
    return hpy_raise_int(r);
  }
  horus_topic_close(self->t);
  self->t = t;
  self->st = st;
  Py_XSETREF(self->msg_type, type == HORUS_MSG_BYTES ? Py_NewRef(Py_None) : Py_NewRef(type_obj));
  return 0;
}

static void Topic_dealloc(TopicObject *self) {
  PyTypeObject *tp = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  horus_topic_close(self->t);
  Py_CLEAR(self->msg_type);
  tp->tp_free(self);
  Py_DECREF(tp);
}

static int Topic_traverse(TopicObject *self, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->msg_type);
  return 0;
}

static int Topic_clear(TopicObject *self) {
  Py_CLEAR(self->msg_type);
  return 0;
}

/* ---- send -------------------------------------------------------------------- */

/* 1 if json.loads(json.dumps(obj)) gives back an equal object of the same
 * types, 0 if not, -1 on error.  Exact types only: a tuple would come back a
 * list, an int subclass (IntEnum) a plain int; floats must be finite (JSON
 * has no NaN) and ints fit in 64 bits (what C readers hold). */
static int json_exact(PyObject *obj, int depth) {
  if (depth > JSON_MAX_DEPTH) return 0;
  if (obj == Py_None || PyBool_Check(obj) || PyUnicode_CheckExact(obj)) return 1;
  if (PyLong_CheckExact(obj)) {
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    return overflow == 0;
  }
  if (PyFloat_CheckExact(obj)) return isfinite(PyFloat_AS_DOUBLE(obj)) ? 1 : 0;
  if (PyList_CheckExact(obj)) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(obj); i++) {
      int r = json_exact(PyList_GET_ITEM(obj, i), depth + 1);
      if (r != 1) return r;
    }
    return 1;
  }
  if (PyDict_CheckExact(obj)) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(obj, &pos, &k, &v)) {
      if (!PyUnicode_CheckExact(k)) return 0;
      int r = json_exact(v, depth + 1);
      if (r != 1) return r;
    }
    return 1;
  }
  return 0;
}

/* module.attr, kept in *slot (the module state's) from the first call on:
 * a generic message costs no import or attribute lookup.  A new
 * reference, or NULL with an exception set. */
static PyObject *cached_attr(PyObject **slot, const char *module, const char *attr) {
  if (!*slot) {
    PyObject *m = PyImport_ImportModule(module);
    if (!m) return NULL;
    PyObject *a = PyObject_GetAttrString(m, attr);
    Py_DECREF(m);
    if (!a) return NULL;
    if (!*slot) *slot = a; /* the import may have run this already */
    else Py_DECREF(a);
  }
  return Py_NewRef(*slot);
}

/* json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")),
 * which is exactly what this encoder's encode() does, built once. */
static PyObject *json_encoder(horus_state *st) {
  if (!st->json_encode) {
    PyObject *json = PyImport_ImportModule("json");
    if (!json) return NULL;
    PyObject *cls = PyObject_GetAttrString(json, "JSONEncoder");
    Py_DECREF(json);
    if (!cls) return NULL;
    PyObject *args = PyTuple_New(0);
    PyObject *kw = Py_BuildValue("{s:O,s:O,s:(ss)}", "ensure_ascii", Py_False, "allow_nan",
                                 Py_False, "separators", ",", ":");
    PyObject *enc = args && kw ? PyObject_Call(cls, args, kw) : NULL;
    Py_XDECREF(args);
    Py_XDECREF(kw);
    Py_DECREF(cls);
    if (!enc) return NULL;
    PyObject *encode = PyObject_GetAttrString(enc, "encode");
    Py_DECREF(enc);
    if (!encode) return NULL;
    Py_XSETREF(st->json_encode, encode);
  }
  return Py_NewRef(st->json_encode);
}

/* obj as compact UTF-8 JSON bytes; Py_None (new ref) when a str holds a
 * lone surrogate, which UTF-8 cannot carry (the caller pickles it then);
 * NULL with an exception on error. */
static PyObject *json_dumps(horus_state *st, PyObject *obj) {
  PyObject *encode = json_encoder(st);
  if (!encode) return NULL;
  PyObject *text = PyObject_CallOneArg(encode, obj);
  Py_DECREF(encode);
  if (!text) return NULL;
  PyObject *bytes = PyUnicode_AsUTF8String(text);
  Py_DECREF(text);
  if (!bytes && PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
    PyErr_Clear();
    return Py_NewRef(Py_None);
  }
  return bytes;
}

static PyObject *send_generic(horus_state *st, horus_topic *t, PyObject *obj) {
  PyObject *payload = NULL;
  uint32_t flavour = GENERIC_BYTES;
  int exact = 0;
  if (PyBytes_Check(obj) || PyByteArray_Check(obj) || PyMemoryView_Check(obj)) {
    payload = Py_NewRef(obj);
  } else if ((exact = json_exact(obj, 0)) < 0) {
    return NULL;
  } else if (exact == 1 && !(payload = json_dumps(st, obj))) {
    return NULL;
  } else if (exact == 1 && payload != Py_None) {
    flavour = GENERIC_JSON;
  } else {
    Py_CLEAR(payload);
    PyObject *dumps = cached_attr(&st->pickle_dumps, "pickle", "dumps");
    if (!dumps) return NULL;
    PyObject *proto = PyLong_FromLong(5);
    PyObject *args[] = {obj, proto};
    payload = proto ? PyObject_Vectorcall(dumps, args, 2, NULL) : NULL;
    Py_XDECREF(proto);
    Py_DECREF(dumps);
    if (!payload) return NULL;
    flavour = GENERIC_PICKLE;
  }
  Py_buffer b;
  if (PyObject_GetBuffer(payload, &b, PyBUF_C_CONTIGUOUS) < 0) {
    Py_DECREF(payload);
    return NULL;
  }
  PyObject *res = NULL;
  int r;
  /* Without the GIL only when the copy outweighs handing the GIL over. */
  if (b.len >= HPY_NOGIL_COPY_BYTES) {
    Py_BEGIN_ALLOW_THREADS
    r = horus_topic_send_bytes(t, b.buf, (size_t)b.len, flavour, NULL);
    Py_END_ALLOW_THREADS
  } else {
    r = horus_topic_send_bytes(t, b.buf, (size_t)b.len, flavour, NULL);
  }
  if (r) hpy_raise(r);
  else res = Py_NewRef(Py_None);
  PyBuffer_Release(&b);
  Py_DECREF(payload);
  return res;
}

static PyObject *Topic_send(TopicObject *self, PyObject *obj) {
  horus_topic *t = get_topic(self, "send()");
  if (!t) return NULL;
  if (horus_topic_type(t) == HORUS_MSG_BYTES) {
    /* Busy from here: pickling runs Python code, and the copy runs without
     * the GIL; either lets another thread at this Topic. */
    hpy_busy_enter(&self->busy, "send");
    PyObject *res = send_generic(state_of(self), t, obj);
    hpy_busy_leave(&self->busy);
    return res;
  }
  if (!PyObject_TypeCheck(obj, (PyTypeObject *)self->msg_type))
    return PyErr_Format(PyExc_TypeError, "topic '%s' carries %s, not %.80s",
                        horus_topic_name(t), ((PyTypeObject *)self->msg_type)->tp_name,
                        Py_TYPE(obj)->tp_name);
  horus_msg msg;
  const horus_tensor *x;
  if (hpy_msg_from_object(state_of(self), obj, &msg, &x, NULL) < 0) return NULL;
  int r = horus_topic_send(t, &msg, x, NULL);
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

/* ---- receive ------------------------------------------------------------------ */

static PyObject *to_object(TopicObject *self, const horus_msg *msg, horus_tensor *x) {
  if (msg->type != HORUS_MSG_BYTES) {
    /* The publisher's pages, shared with every subscriber: read-only. */
    horus_tensor_set_readonly(x);
    return hpy_msg_to_object(state_of(self), msg, x);
  }
  PyObject *data = PyBytes_FromStringAndSize(horus_tensor_data(x),
                                             (Py_ssize_t)horus_tensor_nbytes(x));
  horus_tensor_free(x);
  if (!data || msg->meta.kind_data == GENERIC_BYTES) return data;
  PyObject *obj = NULL, *loads = NULL;
  horus_state *st = state_of(self);
  if (msg->meta.kind_data == GENERIC_JSON) {
    loads = cached_attr(&st->json_loads, "json", "loads");
  } else if (msg->meta.kind_data == GENERIC_PICKLE) {
    loads = cached_attr(&st->pickle_loads, "pickle", "loads");
  } else {
    PyErr_Format(PyExc_ValueError, "generic message of unknown encoding %u (a newer sender?)",
                 (unsigned)msg->meta.kind_data);
  }
  if (loads) {
    obj = PyObject_CallOneArg(loads, data);
    Py_DECREF(loads);
  }
  Py_DECREF(data);
  return obj;
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* timeout: None (do not wait), or seconds >= 0 (inf: wait for ever). */
static int parse_timeout(PyObject *obj, int64_t *ns) {
  if (obj == Py_None) {
    *ns = 0;
    return 0;
  }
  if (!PyLong_Check(obj) && !PyFloat_Check(obj)) {
    PyErr_Format(PyExc_TypeError, "timeout must be a number of seconds or None, not %.80s",
                 Py_TYPE(obj)->tp_name);
    return -1;
  }
  double s = PyFloat_AsDouble(obj);
  if (s == -1.0 && PyErr_Occurred()) return -1;
  if (isnan(s) || s < 0) {
    PyErr_Format(PyExc_ValueError, "timeout must be >= 0 seconds, got %R", obj);
    return -1;
  }
  *ns = isinf(s) || s > 9.2e9 ? -1 : (int64_t)(s * 1e9);
  return 0;
}

static PyObject *Topic_recv(TopicObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames) {
  static const char *const names[] = {"timeout", NULL};
  static const hpy_argspec spec = {"recv", names, 1, 0};
  PyObject *timeout_obj = Py_None;
  /* recv(), recv(t) and recv(timeout=t) without the general parser: a call
   * site's keyword is interned, as is the state's "timeout". */
  if (nargs == 0 && !kwnames)
    ;
  else if (nargs == 1 && !kwnames)
    timeout_obj = args[0];
  else if (nargs == 0 && kwnames && PyTuple_GET_SIZE(kwnames) == 1 && self->st &&
           PyTuple_GET_ITEM(kwnames, 0) == self->st->str_timeout)
    timeout_obj = args[0];
  else if (hpy_parse_args(&spec, args, nargs, kwnames, &timeout_obj) < 0)
    return NULL;
  int64_t timeout;
  if (parse_timeout(timeout_obj, &timeout) < 0) return NULL;
  /* Only now: parsing may run Python code (an int subclass's __float__),
   * and so another thread that closes the topic. */
  horus_topic *t = get_topic(self, "recv()");
  if (!t) return NULL;
  horus_msg msg;
  horus_tensor *x;
  int r = horus_topic_recv(t, 0, &msg, &x);
  if (r == HORUS_EAGAIN && timeout != 0) {
    /* Waited in slices, to run signal handlers between them; the clock is
     * read again only when a slice ends without a message. */
    int64_t left = timeout, start = timeout > 0 ? monotonic_ns() : 0;
    hpy_busy_enter(&self->busy, "recv");
    for (;;) {
      int64_t slice = left < 0 || left > WAIT_SLICE_NS ? WAIT_SLICE_NS : left;
      Py_BEGIN_ALLOW_THREADS
      r = horus_topic_recv(t, slice, &msg, &x);
      Py_END_ALLOW_THREADS
      if (r != HORUS_ETIMEDOUT && r != HORUS_EINTR) break;
      if (PyErr_CheckSignals() < 0) {
        hpy_busy_leave(&self->busy);
        return NULL;
      }
      if (left >= 0) {
        left = timeout - (monotonic_ns() - start);
        if (left <= 0) break;
      }
    }
    hpy_busy_leave(&self->busy);
  }
  if (r == HORUS_EAGAIN || r == HORUS_ETIMEDOUT || r == HORUS_EINTR) Py_RETURN_NONE;
  if (r) return hpy_raise(r);
  return to_object(self, &msg, x);
}

static PyObject *Topic_recv_latest(TopicObject *self, PyObject *Py_UNUSED(a)) {
  horus_topic *t = get_topic(self, "recv_latest()");
  if (!t) return NULL;
  horus_msg msg;
  horus_tensor *x;
  int r = horus_topic_recv_latest(t, &msg, &x);
  if (r == HORUS_EAGAIN) Py_RETURN_NONE;
  if (r) return hpy_raise(r);
  return to_object(self, &msg, x);
}

/* The exception being raised gets `received`: what recv_all had taken off
 * the ring before it (asyncio's IncompleteReadError.partial, in spirit).
 * An exception that takes no attributes is raised as it is. */
static void attach_received(PyObject *list) {
  PyObject *exc = hpy_take_exception();
  if (!exc) return;
  if (PyObject_SetAttrString(exc, "received", list) < 0) PyErr_Clear();
  hpy_restore_exception(exc);
}

static PyObject *Topic_recv_all(TopicObject *self, PyObject *Py_UNUSED(a)) {
  horus_topic *t = get_topic(self, "recv_all()");
  if (!t) return NULL;
  PyObject *list = PyList_New(0);
  if (!list) return NULL;
  for (;;) {
    /* Decoding the last message ran Python code (unpickling, a collection,
     * another thread given the GIL), which may have closed this topic, run
     * __init__ again or started using the handle without the GIL: then
     * stop; what is left stays in the ring for the next call. */
    if (self->t != t || self->busy.count) return list;
    horus_msg msg;
    horus_tensor *x;
    int r = horus_topic_recv(t, 0, &msg, &x);
    if (r == HORUS_EAGAIN) return list;
    PyObject *obj = r ? hpy_raise(r) : to_object(self, &msg, x);
    if (!obj) {
      attach_received(list);
      Py_DECREF(list);
      return NULL;
    }
    if (PyList_Append(list, obj) < 0) {
      Py_DECREF(obj);
      Py_DECREF(list);
      return NULL;
    }
    Py_DECREF(obj);
  }
}

static PyObject *Topic_iternext(TopicObject *self) {
  horus_topic *t = get_topic(self, "iteration");
  if (!t) return NULL;
  horus_msg msg;
  horus_tensor *x;
  int r = horus_topic_recv(t, 0, &msg, &x);
  if (r == HORUS_EAGAIN) return NULL; /* StopIteration: nothing more right now */
  if (r) return hpy_raise(r);
  return to_object(self, &msg, x);
}

/* ---- the rest ----------------------------------------------------------------- */

static PyObject *Topic_stats(TopicObject *self, PyObject *Py_UNUSED(a)) {
  horus_topic *t = get_topic(self, "stats()");
  if (!t) return NULL;
  horus_topic_stats s;
  int r = horus_topic_stats_get(t, &s);
  if (r) return hpy_raise(r);
  return Py_BuildValue("{s:s,s:s,s:K,s:K,s:K,s:I,s:I,s:I}", "name", horus_topic_name(t),
                       "type", hpy_msg_type_name(s.type), "sent", (unsigned long long)s.sent,
                       "received", (unsigned long long)s.received, "dropped",
                       (unsigned long long)s.dropped, "publishers", s.publishers,
                       "subscribers", s.subscribers, "capacity", s.capacity);
}

static PyObject *Topic_close(TopicObject *self, PyObject *Py_UNUSED(a)) {
  if (hpy_busy_refuse((PyObject *)self, &self->busy, "close()")) return NULL;
  horus_topic_close(self->t);
  self->t = NULL;
  Py_RETURN_NONE;
}

static PyObject *Topic_enter(TopicObject *self, PyObject *Py_UNUSED(a)) {
  if (!get_topic(self, "__enter__()")) return NULL;
  return Py_NewRef(self);
}

static PyObject *Topic_exit(TopicObject *self, PyObject *Py_UNUSED(a)) {
  return Topic_close(self, NULL);
}

static PyObject *Topic_get_name(TopicObject *self, void *Py_UNUSED(c)) {
  if (!self->t) return PyErr_Format(PyExc_ValueError, "Topic is closed");
  return PyUnicode_FromString(horus_topic_name(self->t));
}

static PyObject *Topic_get_msg_type(TopicObject *self, void *Py_UNUSED(c)) {
  return Py_NewRef(self->msg_type ? self->msg_type : Py_None);
}

static PyObject *Topic_get_capacity(TopicObject *self, void *Py_UNUSED(c)) {
  horus_topic *t = get_topic(self, "capacity");
  if (!t) return NULL;
  horus_topic_stats s;
  horus_topic_stats_get(t, &s);
  return PyLong_FromUnsignedLong(s.capacity);
}

static PyObject *Topic_repr(TopicObject *self) {
  if (!self->t) return PyUnicode_FromString("<Topic (closed)>");
  horus_topic_stats s;
  horus_topic_stats_get(self->t, &s);
  return PyUnicode_FromFormat("<Topic '%s' of %s capacity=%u sent=%llu publishers=%u "
                              "subscribers=%u>", horus_topic_name(self->t),
                              hpy_msg_type_name(s.type), s.capacity,
                              (unsigned long long)s.sent, s.publishers, s.subscribers);
}

static PyMethodDef Topic_methods[] = {
    {"send", (PyCFunction)Topic_send, METH_O,
     "send($self, msg, /)\n--\n\nPublish msg; never blocks.  Typed topics pass the message by "
     "reference (no copy); a generic topic copies bytes, JSON (values JSON holds exactly: "
     "readable by `horus topic echo`) or a pickle of msg.  "
     "TypeError for the wrong type, ValueError for a released tensor or an oversized "
     "generic message."},
    {"recv", (PyCFunction)(void (*)(void))Topic_recv, METH_FASTCALL | METH_KEYWORDS,
     "recv($self, timeout=None)\n--\n\nThe next unread message, or None.  With timeout (seconds) "
     "wait up to that long with the GIL released; Ctrl-C interrupts.  The message is "
     "this subscriber's own reference: valid after the publisher moves on or exits."},
    {"recv_latest", (PyCFunction)Topic_recv_latest, METH_NOARGS,
     "recv_latest($self, /)\n--\n\nThe newest message at once (skipping older unread ones, "
     "counted as dropped), or None."},
    {"recv_all", (PyCFunction)Topic_recv_all, METH_NOARGS,
     "recv_all($self, /)\n--\n\nEvery unread message available now, oldest first.  If one "
     "fails to decode, its exception is raised with the messages taken before it in "
     "`received`; those after it stay for the next call."},
    {"stats", (PyCFunction)Topic_stats, METH_NOARGS,
     "stats($self, /)\n--\n\nname, type, sent (by all), received and dropped (by this "
     "handle), publishers and subscribers (live, all processes), capacity."},
    {"close", (PyCFunction)Topic_close, METH_NOARGS, "close($self, /)\n--\n\nLeave the topic."},
    {"__enter__", (PyCFunction)Topic_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Topic_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Topic_getset[] = {
    {"name", (getter)Topic_get_name, NULL, "The topic's name.", NULL},
    {"msg_type", (getter)Topic_get_msg_type, NULL,
     "The message class, or None for a generic topic.", NULL},
    {"capacity", (getter)Topic_get_capacity, NULL, "Messages the ring holds.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Topic_slots[] = {
    {Py_tp_doc, "Topic(msg_type, name=None, *, capacity=None, history=None)\n--\n\nA named "
                "channel between processes of the namespace.  msg_type is Image, PointCloud, "
                "DepthImage or TensorHandle (the name defaults to the lower-cased type "
                "name: Topic(Image) is 'image'), or a str name for small Python "
                "objects.  Names use '.' (camera.front), never '/'.  A new Topic "
                "receives what is sent after it opens; history=N makes its first "
                "receives start with up to N of the newest messages still in the ring, "
                "oldest first.  Received frames are read-only (shared with the "
                "publisher and every subscriber).  Iterating yields the messages "
                "available now.\n\n"
                "Threads: a handle serves one thread at a time.  While a thread waits "
                "in recv(timeout=...) or sends a generic message (both without the "
                "GIL), every other call on the handle, close() and __init__ included, "
                "raises RuntimeError; give each thread its own Topic."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Topic_init},
    {Py_tp_dealloc, Topic_dealloc},
    {Py_tp_traverse, Topic_traverse},
    {Py_tp_clear, Topic_clear},
    {Py_tp_methods, Topic_methods},
    {Py_tp_getset, Topic_getset},
    {Py_tp_repr, Topic_repr},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, Topic_iternext},
    {0, NULL},
};

static PyType_Spec Topic_spec = {
    .name = "horus.Topic",
    .basicsize = sizeof(TopicObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Topic_slots,
};

int hpy_topic_init(PyObject *m, horus_state *st) {
  return hpy_add_type(m, &Topic_spec, &st->Topic_Type);
}
