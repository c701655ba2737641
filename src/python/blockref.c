/* blockref.c - horus._BlockRef: one block reference as a Python object.
 *
 * Every export holds its own block reference, so a view stays valid after
 * the object it came from is released or garbage collected: a NumPy view's
 * base is a _BlockRef owning one reference (numpy.c); __array_interface__
 * consumers are kept alive through a list of them (buffer.c); a DLPack
 * capsule's managed tensor owns one (dlpack.c); each buffer view owns one
 * until it is released (buffer.c). */
#include "horus_py.h"

typedef struct {
  PyObject_HEAD
  horus_tensor *t;
} BlockRef;

static void BlockRef_dealloc(BlockRef *self) {
  PyTypeObject *tp = Py_TYPE(self);
  horus_tensor_free(self->t);
  tp->tp_free(self);
  Py_DECREF(tp);
}

/* The block's bytes from element 0 on, as a flat buffer: this is what
 * NumPy reads when __array_interface__ gives a _BlockRef as its data.  The
 * reference belongs to the _BlockRef, which the view keeps alive.  Up to
 * the highest element: a negative stride's elements lie below element 0,
 * outside this buffer. */
static int BlockRef_getbuffer(BlockRef *self, Py_buffer *view, int flags) {
  const horus_tensor_desc *d = horus_tensor_get_desc(self->t);
  Py_ssize_t len = 0;
  if (horus_tensor_numel(self->t) > 0) {
    int64_t item = (int64_t)horus_dtype_size((horus_dtype)d->dtype);
    len = (Py_ssize_t)item;
    for (int i = 0; i < d->ndim; i++)
      if (d->strides[i] > 0) len += (Py_ssize_t)((d->shape[i] - 1) * d->strides[i] * item);
  }
  return PyBuffer_FillInfo(view, (PyObject *)self, horus_tensor_data(self->t), len,
                           horus_tensor_is_readonly(self->t), flags);
}

static PyType_Slot BlockRef_slots[] = {
    {Py_tp_doc, "One reference to a pool block, kept by the views exported from it."},
    {Py_tp_dealloc, BlockRef_dealloc},
    {Py_bf_getbuffer, BlockRef_getbuffer},
    {0, NULL},
};

static PyType_Spec BlockRef_spec = {
    .name = "horus._BlockRef",
    .basicsize = sizeof(BlockRef),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = BlockRef_slots,
};

int hpy_blockref_init(PyObject *m, horus_state *st) {
  return hpy_add_type(m, &BlockRef_spec, &st->BlockRef_Type);
}

PyObject *hpy_blockref_new(horus_state *st, const horus_tensor *t) {
  BlockRef *b = PyObject_New(BlockRef, st->BlockRef_Type);
  if (!b) return NULL;
  b->t = NULL;
  int r = horus_tensor_ref(t, &b->t);
  if (r) {
    Py_DECREF(b);
    return hpy_raise(r);
  }
  return (PyObject *)b;
}

const horus_tensor *hpy_blockref_tensor(horus_state *st, PyObject *obj) {
  return obj && Py_IS_TYPE(obj, st->BlockRef_Type) ? ((BlockRef *)obj)->t : NULL;
}
