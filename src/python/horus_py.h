/* horus_py.h - what the extension's source files share.
 *
 * One source file per Python type; each exports hpy_<type>_init(), called
 * from module.c's exec slot, which creates its heap type and stores it in
 * the module state.  Shared machinery, one file per concept, makes
 * TensorHandle, Image, PointCloud and DepthImage all convert the same way:
 * args.c (argument parsing), blockref.c (_BlockRef), numpy.c, dlpack.c
 * (with PyTorch and JAX), buffer.c (buffer protocol, __array_interface__)
 * and import.c (anything array-like in). */
#ifndef HORUS_PY_H
#define HORUS_PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#define PY_ARRAY_UNIQUE_SYMBOL horus_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#ifndef HORUS_PY_MODULE_C
#define NO_IMPORT_ARRAY
#endif
#include <numpy/arrayobject.h>

#include "horus/horus.h"

/* The module state's Python references, written once: X(type, name).
 * The struct below, module.c's traverse and clear all expand it, so a new
 * member cannot be forgotten in one of them. */
#define HPY_STATE_OBJECTS(X)                                                  \
  X(PyTypeObject, BlockRef_Type)                                              \
  X(PyTypeObject, TensorPool_Type)                                            \
  X(PyTypeObject, TensorHandle_Type)                                          \
  X(PyTypeObject, Frame_Type) /* base of Image, PointCloud, DepthImage */     \
  X(PyTypeObject, Image_Type)                                                 \
  X(PyTypeObject, PointCloud_Type)                                            \
  X(PyTypeObject, DepthImage_Type)                                            \
  X(PyTypeObject, Topic_Type)                                                 \
  X(PyTypeObject, Node_Type)                                                  \
  X(PyTypeObject, Scheduler_Type)                                             \
  X(PyObject, torch_from_numpy)  /* torch.from_numpy, imported on first use */ \
  X(PyObject, torch_from_dlpack) /* torch.from_dlpack */                      \
  X(PyObject, jax_from_dlpack)   /* jax.dlpack.from_dlpack */                \
  X(PyObject, str_timeout)       /* "timeout", interned: recv's keyword */   \
  X(PyObject, json_encode) /* generic topics (topic.c), looked up on first use: */ \
  X(PyObject, json_loads)  /* JSONEncoder(...).encode, json.loads, */         \
  X(PyObject, pickle_dumps) /* pickle.dumps, pickle.loads */                  \
  X(PyObject, pickle_loads)

/* Message objects freed lately, of one size, kept for the next: a receive
 * loop makes and drops one object per message (module.c). */
#define HPY_FREELIST_MAX 32
typedef struct {
  Py_ssize_t size; /* tp_basicsize of the objects kept; 0 while unclaimed */
  int n;
  void *items[HPY_FREELIST_MAX];
} hpy_freelist;

typedef struct horus_state {
#define HPY_STATE_MEMBER(type, name) type *name;
  HPY_STATE_OBJECTS(HPY_STATE_MEMBER)
#undef HPY_STATE_MEMBER
  horus_pool *global_pool; /* opened on first use */
  hpy_freelist msg_free[2]; /* FrameObject and TensorHandle sizes */
} horus_state;

extern PyModuleDef horus_module;

/* Module state from any object of one of our types (or the module). */
horus_state *hpy_state_of_type(PyTypeObject *type);
horus_state *hpy_state(PyObject *module);

/* tp_alloc and tp_free of the message types (Image, PointCloud,
 * DepthImage, TensorHandle): objects without GC (they hold no reference
 * that could close a cycle), recycled through the module state's free
 * lists.  hpy_msg_alloc returns a new zeroed object of `type`, or NULL with
 * MemoryError. */
PyObject *hpy_msg_alloc(PyTypeObject *type, Py_ssize_t nitems);
void hpy_msg_free(void *self);

/* Create a heap type from `spec`, add it to the module under its short
 * name and store it in *slot.  Returns 0 or -1 with an exception set. */
int hpy_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot);

/* The same for a type deriving from `base`. */
int hpy_add_subtype(PyObject *module, PyType_Spec *spec, PyTypeObject *base,
                    PyTypeObject **slot);

/* ---- errors (errors.c) ------------------------------------------------ */

/* Raise the Python exception docs/guide.md ("Errors") gives a HORUS_E* code, with
 * horus_errmsg() as the message (or the code's description).  Returns NULL
 * so callers can `return hpy_raise(r);`. */
PyObject *hpy_raise(int err);
/* Same, returning -1 for int-returning slots. */
int hpy_raise_int(int err);

/* The exception being raised, taken as one object carrying its traceback
 * (what 3.12 calls PyErr_GetRaisedException; a new reference, NULL if none
 * is set), and raised again from one (the reference is stolen). */
PyObject *hpy_take_exception(void);
void hpy_restore_exception(PyObject *value);

/* A message type's Python name: the class a message of it becomes
 * ("Image", "TensorHandle"...; "bytes" for generic topics).  The core's
 * horus_msg_type_name() gives the C spelling. */
const char *hpy_msg_type_name(horus_msg_type type);

/* The UTF-8 of `obj` for C code, which would stop at the first NUL: every
 * string argument goes through here.  `what` names the argument in the
 * error: TypeError unless `obj` is a str, ValueError when it holds an
 * embedded "\x00" (a name that would silently become its prefix).  The
 * result is borrowed from `obj`; `len` (optional) gets its size in bytes.
 * NULL with the exception set on failure. */
const char *hpy_utf8(PyObject *obj, const char *what, Py_ssize_t *len);

/* ---- objects in use without the GIL (frame.c) ------------------------------
 *
 * A method that releases the GIL keeps using its object's handle (a frame's
 * tensor, a TensorHandle's tensor, a topic) while other threads run, and any
 * of them may call a method that frees or replaces that handle.  So every
 * such call marks the object busy, with the GIL held, before it releases the
 * GIL, and unmarks it after taking the GIL back; and every method that frees
 * or replaces the handle (__init__ run again, close(), release(), __exit__)
 * refuses a busy object with RuntimeError "<Type> is in use by another thread
 * (<method>)", leaving it as it was.  Refusing rather than waiting: the
 * other call may be a recv() with no timeout, and a close() that waited for
 * it would hang.  The count is only touched with the GIL held. */
typedef struct {
  int count;        /* calls running on the handle without the GIL */
  const char *what; /* the method of the latest, for the error message */
} hpy_busy;

static inline void hpy_busy_enter(hpy_busy *b, const char *what) {
  b->count++;
  b->what = what;
}
static inline void hpy_busy_leave(hpy_busy *b) { b->count--; }

/* 0 when `self` is not busy; otherwise RuntimeError naming its type, the
 * call in progress and `action` (what was refused), and -1. */
int hpy_busy_refuse(PyObject *self, const hpy_busy *b, const char *action);

/* ---- pools (pool.c) ---------------------------------------------------- */

/* The namespace's global pool, opened on first use (borrowed: the module
 * state keeps it open).  NULL with an exception set on failure. */
horus_pool *hpy_global_pool(horus_state *st);

/* ---- tensors (tensor.c) ------------------------------------------------ */

/* Wrap `t` (ownership passes to the new object) in a TensorHandle.  On
 * failure frees `t` and returns NULL with an exception set. */
PyObject *hpy_tensor_wrap(horus_state *st, horus_tensor *t);

/* ---- argument parsing (args.c) ------------------------------------------ */

/* dtype name -> horus_dtype, accepting str, numpy dtypes, numpy scalar
 * types and torch dtypes ("float32", np.float32, torch.float32).
 * -1 with ValueError/TypeError set otherwise. */
int hpy_parse_dtype(PyObject *obj);

/* Parse a shape: an int or a sequence of ints, each >= 0.  Returns ndim or
 * -1 with an exception set (ValueError naming the bad entry). */
int hpy_parse_shape(PyObject *obj, int64_t *shape, const char *what);

/* An image dimension: an int in 1..2^32-1 (TypeError for other types,
 * ValueError naming `what` otherwise). */
int hpy_parse_dim(PyObject *obj, const char *what, uint32_t *out);

/* A pixel coordinate: an int in 0..2^32-1 (IndexError naming `what` when
 * negative or too large to be inside anything). */
int hpy_parse_coord(PyObject *obj, const char *what, uint32_t *out);

/* An element index along a dimension of `size`: an int, negative counting
 * from the end as in Python and NumPy (the one rule for pixel, set_pixel,
 * get_depth, set_depth, point_at, img[y, x] and slice).  TypeError for a
 * non-int, IndexError naming `what` outside -size..size-1. */
int hpy_parse_index(PyObject *obj, const char *what, uint32_t size, uint32_t *out);

/* The parameters of a METH_FASTCALL | METH_KEYWORDS method, as Argument
 * Clinic declares them: `names` (NULL-terminated, at most 16; "a|b" accepts
 * either keyword for one parameter), of which the first `maxpos` may be
 * passed by position and the first `required` must be passed. */
typedef struct hpy_argspec {
  const char *fname;
  const char *const *names;
  int maxpos;
  int required;
} hpy_argspec;

/* Unpack a vectorcall's arguments by `spec` into out[] (borrowed), one
 * slot per name; slots not passed keep what the caller put there (the
 * default).  -1 with TypeError naming fname() for too many positional
 * arguments, an unknown keyword, one passed twice or a missing one. */
int hpy_parse_args(const hpy_argspec *spec, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames, PyObject **out);

/* For from_torch(): `obj` if it is a torch.Tensor, detached when it
 * requires grad (new reference); TypeError naming `owner`.from_numpy for
 * anything else. */
PyObject *hpy_torch_input(PyObject *obj, const char *owner);

/* ---- exports: _BlockRef (blockref.c), NumPy (numpy.c), DLPack, PyTorch and
 * JAX (dlpack.c), buffer protocol and __array_interface__ (buffer.c) ----- */

/* A new _BlockRef owning one reference to t's block (NULL with an
 * exception set on failure). */
PyObject *hpy_blockref_new(horus_state *st, const horus_tensor *t);

/* The tensor a _BlockRef refers to (borrowed), or NULL (no exception) when
 * obj is not a _BlockRef. */
const horus_tensor *hpy_blockref_tensor(horus_state *st, PyObject *obj);

/* ---- dtypes (dtypes.c), one table from HORUS_DTYPE_LIST ---------------- */

/* NumPy's type number for a dtype, -1 when NumPy has none (bfloat16);
 * and back, any integer spelling (NPY_LONG...) by kind and size, -1 when
 * there is no horus dtype for it (no exception). */
int hpy_npy_type(horus_dtype d);
int hpy_dtype_from_npy(int type_num);

/* The array-interface typestr ("<f4") and the buffer-protocol format ("f")
 * of a dtype, NULL when there is none (bfloat16). */
const char *hpy_dtype_typestr(horus_dtype d);
const char *hpy_dtype_format(horus_dtype d);

/* A buffer-protocol format (with an optional byte-order prefix, NULL for
 * plain bytes) and item size as a dtype; -1 when none fits (no exception). */
int hpy_dtype_from_format(const char *fmt, Py_ssize_t itemsize);

/* Every dtype name, comma-separated, for error messages. */
extern const char *const hpy_dtype_names;

/* Zero-copy NumPy view of `t` that holds its own block reference. */
PyObject *hpy_to_numpy(horus_state *st, const horus_tensor *t);

/* Zero-copy torch.Tensor of `t` (via NumPy when the dtype allows, which is
 * the cheaper path in torch; via DLPack otherwise). */
PyObject *hpy_to_torch(horus_state *st, const horus_tensor *t);

/* Zero-copy jax.Array of `exporter` (an object with __dlpack__ exporting
 * `t`, which JAX may take without max_version even when read-only). */
PyObject *hpy_to_jax(horus_state *st, PyObject *exporter, const horus_tensor *t);

/* __dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None)
 * for `t`: a capsule holding its own block reference. */
PyObject *hpy_dlpack(horus_state *st, const horus_tensor *t, PyObject *const *args,
                     Py_ssize_t nargs, PyObject *kwnames);
PyObject *hpy_dlpack_device(void);

/* Buffer protocol for `t` exported by `exporter`: each view holds its own
 * block reference, released by hpy_releasebuffer. */
int hpy_getbuffer(const horus_tensor *t, PyObject *exporter, Py_buffer *view, int flags);
void hpy_releasebuffer(PyObject *exporter, Py_buffer *view);

/* __array_interface__ dict for `t`: data is the protocol's (address,
 * read_only) tuple, strides left out when C-contiguous.  Consumers keep the
 * exporting object alive, not the block, so a reference to the block is
 * added to *keep (a list the exporter owns until it is deallocated; NULL
 * at first): the memory outlives release() and re-initialisation. */
PyObject *hpy_array_interface(horus_state *st, const horus_tensor *t, PyObject **keep);

/* __array__(dtype=None, copy=None) for `t`. */
PyObject *hpy_array(horus_state *st, const horus_tensor *t, PyObject *const *args,
                    Py_ssize_t nargs, PyObject *kwnames);

/* Import anything array-like into a pool tensor: a TensorHandle, an object
 * with the buffer protocol (NumPy arrays, bytes, memoryview), or an object
 * with __dlpack__ (PyTorch, JAX, CuPy...).  No copy when the memory is
 * already in one of our pools; one copy into `pool` otherwise (GIL released
 * for large copies).  `copied` (optional) tells which happened. */
int hpy_import(horus_state *st, PyObject *obj, horus_pool *pool, horus_tensor **out,
               bool *copied);

/* hpy_import's cases, each with its contract: an ndarray (numpy.c), an
 * object with the buffer protocol (buffer.c), one with __dlpack__
 * (dlpack.c).  0, or -1 with an exception set. */
int hpy_import_ndarray(horus_state *st, PyArrayObject *arr, horus_pool *pool,
                       horus_tensor **out, bool *copied);
int hpy_import_buffer(PyObject *obj, horus_pool *pool, horus_tensor **out, bool *copied);
int hpy_import_dlpack(PyObject *obj, horus_pool *pool, horus_tensor **out, bool *copied);

/* GIL-free copies pay off once the copy outweighs a GIL hand-off. */
#define HPY_NOGIL_COPY_BYTES (64 * 1024)

/* horus_tensor_from_host with the GIL released for large copies; 0, or -1
 * with an exception set. */
int hpy_import_host(horus_pool *pool, const void *data, const int64_t *shape,
                    const int64_t *bstr, int ndim, horus_dtype dtype,
                    horus_tensor **out, bool *copied);

/* ---- frames (frame.c): what Image, PointCloud, DepthImage share -------- */

typedef struct {
  PyObject_HEAD
  horus_frame f; /* f.tensor NULL until initialised */
  PyObject *weakreflist;
  hpy_busy busy; /* see "objects in use without the GIL" */
  PyObject *exported; /* blocks handed to __array_interface__ consumers */
} FrameObject;

/* A new, empty object of `type` (a Frame subtype) owning `f` (moved in).
 * On failure clears `f` and returns NULL. */
PyObject *hpy_frame_new(PyTypeObject *type, horus_frame *f);

/* type.__call__(type, *args, **kwargs) from a vectorcall's arguments: tp_new
 * then tp_init, for the calls a type's vectorcall shortcut leaves alone. */
PyObject *hpy_type_call(PyObject *type, PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames);

/* `t` if it is packed row-major; otherwise a compact copy in the global pool
 * (t is freed).  NULL with an exception set on failure (t freed). */
horus_tensor *hpy_compact(horus_state *st, horus_tensor *t);

/* The dealloc slot every Frame subtype lists (with hpy_msg_alloc/free). */
void hpy_frame_dealloc(FrameObject *self);

/* Raise unless the frame is initialised; returns the frame or NULL. */
horus_frame *hpy_frame_get(PyObject *self);

/* __init__'s last step: `f` (moved in) becomes the frame of `self`, whose
 * old frame is dropped.  A busy `self` is left as it was and `f` cleared:
 * -1 with RuntimeError. */
int hpy_frame_replace(FrameObject *self, horus_frame *f);

/* A copy of `t`'s elements in a new block of the same pool (packed
 * row-major; same shape and dtype).  The copy runs without the GIL, with
 * `busy` (the owner's) held across it.  NULL with an exception set. */
horus_tensor *hpy_tensor_clone(const horus_tensor *t, hpy_busy *busy, const char *what);
/* The frame if it may be written (initialised, not received from a topic);
 * ValueError naming copy() for a received one. */
horus_frame *hpy_frame_writable(PyObject *self);

/* `call` (an int expression of the core, which must not touch Python
 * objects) evaluated with the GIL released when `cond`: a new frame of a
 * megabyte or more may wait for the pool lock and commit backing store
 * (fallocate) for milliseconds, which other threads should not wait out.
 * `pool`, which the call uses, holds a reference of its own meanwhile: the
 * global pool's handle is the module's, and another thread may close it
 * (clean(all=True)) while this one is without the GIL. */
#define hpy_unlocked_pool_if(cond, pool, call)  \
  __extension__({                              \
    int r_;                                    \
    if (cond) {                                \
      horus_pool *held_ = horus_pool_ref(pool); \
      Py_BEGIN_ALLOW_THREADS r_ = (call);      \
      Py_END_ALLOW_THREADS                     \
      horus_pool_close(held_);                 \
    } else {                                   \
      r_ = (call);                             \
    }                                          \
    r_;                                        \
  })
/* Frames of h x w pixels this large allocate without the GIL (any encoding:
 * a pixel is at least one byte). */
static inline bool hpy_frame_bytes_large(uint32_t h, uint32_t w) {
  return (uint64_t)h * w >= (1u << 20);
}

/* ---- messages (frame.c): the bridge topics use --------------------------- */

/* Fill `msg` from a TensorHandle, Image, PointCloud or DepthImage; the
 * tensor is borrowed from the object, and `busy_out` (optional) gets the
 * object's busy count, to hold while the tensor is used without the GIL.
 * TypeError for anything else. */
int hpy_msg_from_object(horus_state *st, PyObject *obj, horus_msg *msg,
                        const horus_tensor **tensor_out, hpy_busy **busy_out);

/* The Python object for a received message; takes ownership of `t`. */
PyObject *hpy_msg_to_object(horus_state *st, const horus_msg *msg, horus_tensor *t);

/* horus_msg_type of a Python class (HORUS_MSG_NONE if none). */
horus_msg_type hpy_msg_type_of_class(horus_state *st, PyObject *cls);

/* The tensor of a TensorHandle (NULL, no exception, for other objects;
 * NULL with ValueError for a released one). */
const horus_tensor *hpy_tensor_get(PyObject *obj, horus_state *st);

/* recycle() of TensorHandle and the frames: horus_tensor_recycle on `t`,
 * BufferError while anything else holds the block. */
PyObject *hpy_recycle(horus_tensor *t);
#define HPY_RECYCLE_DOC                                                               \
  "recycle($self, /)\n--\n\nGive this object's block a new identity to fill and send "  \
  "again, instead of a new block per message: messages sent from it before no longer "  \
  "resolve, and the bytes are kept as they are (not cleared: they are this object's). "  \
  "Only when nothing else holds the block (no receiver, topic ring or to_numpy() view " \
  "still has it); BufferError otherwise."

/* The busy count of a TensorHandle (`obj` must be one). */
hpy_busy *hpy_tensor_busy(PyObject *obj);

/* ---- the bridge's wire format (wire.c) ----------------------------------- */

/* wire_encode / wire_decode, added to the module by exec. */
extern PyMethodDef hpy_wire_methods[];

#endif /* HORUS_PY_H */
