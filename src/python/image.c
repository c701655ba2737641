/* image.c - horus.Image: a camera image in a pool block. */
#include "horus_py.h"

static horus_state *state_of_type(PyTypeObject *t) { return hpy_state_of_type(t); }

static int parse_encoding(PyObject *obj) {
  const char *name = hpy_utf8(obj, "encoding", NULL);
  if (!name) return -1;
  int e = horus_encoding_from_name(name);
  if (e < 0)
    PyErr_Format(PyExc_ValueError, "unknown encoding %R: expected one of mono8, mono16, "
                 "rgb8, bgr8, rgba8, bgra8, yuv422, mono32f, rgb32f, bayer_rggb8, depth16 "
                 "(any case; or rgb, bgr, rgba, bgra, gray/grey/mono, gray16, yuyv, "
                 "bayer, float)", obj);
  return e;
}

/* Channel values: a sequence of real numbers (or one number for one channel). */
static int parse_values(PyObject *obj, double *v, int max) {
  if (PyLong_Check(obj) || PyFloat_Check(obj)) {
    v[0] = PyFloat_AsDouble(obj);
    if (v[0] == -1.0 && PyErr_Occurred()) goto overflow;
    return 1;
  }
  PyObject *seq = PySequence_Fast(obj, "");
  if (!seq) {
    PyErr_Format(PyExc_TypeError, "pixel values must be a sequence of numbers, not %.80s",
                 Py_TYPE(obj)->tp_name);
    return -1;
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n > max) {
    Py_DECREF(seq);
    PyErr_Format(PyExc_ValueError, "got %zd values: an image has at most %d channels", n, max);
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyNumber_Check(item) || PyComplex_Check(item)) {
      Py_DECREF(seq);
      PyErr_Format(PyExc_TypeError, "pixel value %zd must be a real number, not %.80s", i,
                   Py_TYPE(item)->tp_name);
      return -1;
    }
    v[i] = PyFloat_AsDouble(item);
    if (v[i] == -1.0 && PyErr_Occurred()) {
      Py_DECREF(seq);
      goto overflow;
    }
  }
  Py_DECREF(seq);
  return (int)n;
overflow:
  if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "pixel value is out of range for the image");
  }
  return -1;
}

/* ---- construction -------------------------------------------------------------- */

static int Image_init(FrameObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"height", "width", "encoding", NULL};
  PyObject *h_obj, *w_obj, *enc_obj = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O:Image", kwlist, &h_obj, &w_obj, &enc_obj))
    return -1;
  uint32_t h, w;
  int enc = HORUS_ENC_RGB8;
  if (hpy_parse_dim(h_obj, "height", &h) || hpy_parse_dim(w_obj, "width", &w)) return -1;
  if (enc_obj && (enc = parse_encoding(enc_obj)) < 0) return -1;
  horus_state *st = state_of_type(Py_TYPE(self));
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return -1;
  horus_frame f;
  int r = hpy_unlocked_pool_if(hpy_frame_bytes_large(h, w), pool, horus_image_create(pool, h, w, (horus_encoding)enc, &f));
  if (r) return hpy_raise_int(r);
  return hpy_frame_replace(self, &f);
}

/* Image(height, width[, encoding]) by position, the way a camera loop makes
 * one per frame: straight to the object, without the argument tuple, the
 * keyword dict and the tp_new + tp_init calls of type.__call__.  The checks
 * and their order are Image_init's; any other call goes the usual way. */
static PyObject *Image_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf,
                                  PyObject *kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (kwnames || nargs < 2 || nargs > 3) return hpy_type_call(type, args, nargs, kwnames);
  uint32_t h, w;
  int enc = HORUS_ENC_RGB8;
  if (hpy_parse_dim(args[0], "height", &h) || hpy_parse_dim(args[1], "width", &w)) return NULL;
  if (nargs == 3 && (enc = parse_encoding(args[2])) < 0) return NULL;
  PyTypeObject *tp = (PyTypeObject *)type;
  horus_pool *pool = hpy_global_pool(state_of_type(tp));
  if (!pool) return NULL;
  horus_frame f;
  int r = hpy_unlocked_pool_if(hpy_frame_bytes_large(h, w), pool, horus_image_create(pool, h, w, (horus_encoding)enc, &f));
  if (r) return hpy_raise(r);
  return hpy_frame_new(tp, &f);
}

static const char *const from_array_names[] = {"array|tensor", "encoding", NULL};

/* from_numpy(array, encoding=None) and from_torch(tensor, encoding=None). */
static PyObject *image_from(PyTypeObject *cls, PyObject *arr, PyObject *enc_obj) {
  int enc = -1;
  if (enc_obj != Py_None && (enc = parse_encoding(enc_obj)) < 0) return NULL;
  horus_state *st = state_of_type(cls);
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) return NULL;
  horus_tensor *t;
  if (hpy_import(st, arr, pool, &t, NULL) < 0) return NULL;
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  /* No encoding has more than 4 channels: (3, 480, 640) is PyTorch's CHW. */
  if (d->ndim == 3 && d->shape[2] > HORUS_IMAGE_MAX_CHANNELS &&
      d->shape[0] <= HORUS_IMAGE_MAX_CHANNELS) {
    long long c = d->shape[0], h = d->shape[1], w = d->shape[2];
    horus_tensor_free(t);
    return PyErr_Format(PyExc_ValueError, "got a (%lld, %lld, %lld) array, which looks "
                        "channels-first (C, H, W): images are (H, W, C), channels last; "
                        "pass arr.transpose(1, 2, 0) (NumPy) or t.permute(1, 2, 0) "
                        "(PyTorch), giving (%lld, %lld, %lld)", c, h, w, h, w, c);
  }
  if (enc < 0 && (enc = horus_encoding_infer(d)) < 0) {
    int ndim = d->ndim; /* d belongs to t */
    const char *dtype = horus_dtype_name((horus_dtype)d->dtype);
    horus_tensor_free(t);
    return PyErr_Format(PyExc_ValueError, "cannot infer an encoding for a %d-d %s array: "
                        "pass encoding=", ndim, dtype);
  }
  /* (H, W, 1) for a one-channel encoding: the image is (H, W). */
  if (d->ndim == 3 && d->shape[2] == 1 && horus_encoding_channels((horus_encoding)enc) == 1) {
    if (!(t = hpy_compact(st, t))) return NULL;
    horus_tensor *v;
    int64_t shape[2] = {horus_tensor_get_desc(t)->shape[0], horus_tensor_get_desc(t)->shape[1]};
    int r = horus_tensor_view(t, shape, 2, &v);
    horus_tensor_free(t);
    if (r) return hpy_raise(r);
    t = v;
  }
  if (!(t = hpy_compact(st, t))) return NULL;
  horus_frame f;
  int r = horus_image_wrap(t, (horus_encoding)enc, &f);
  if (r) {
    horus_tensor_free(t);
    return hpy_raise(r);
  }
  return hpy_frame_new(cls, &f);
}

static PyObject *Image_from_array(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
  static const hpy_argspec spec = {"from_numpy", from_array_names, 2, 1};
  PyObject *v[2] = {NULL, Py_None};
  if (hpy_parse_args(&spec, args, nargs, kwnames, v) < 0) return NULL;
  return image_from(cls, v[0], v[1]);
}

/* from_torch: from_numpy after checking it is given a torch.Tensor (and
 * detaching one that requires grad). */
static PyObject *Image_from_torch(PyTypeObject *cls, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
  static const char *const names[] = {"tensor|array", "encoding", NULL};
  static const hpy_argspec spec = {"from_torch", names, 2, 1};
  PyObject *v[2] = {NULL, Py_None};
  if (hpy_parse_args(&spec, args, nargs, kwnames, v) < 0) return NULL;
  PyObject *x = hpy_torch_input(v[0], "Image");
  if (!x) return NULL;
  PyObject *res = image_from(cls, x, v[1]);
  Py_DECREF(x);
  return res;
}

static PyObject *Image_from_bytes(PyTypeObject *cls, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"data", "height", "width", "encoding", NULL};
  Py_buffer buf;
  PyObject *h_obj, *w_obj, *enc_obj = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*OO|O:from_bytes", kwlist, &buf, &h_obj,
                                   &w_obj, &enc_obj))
    return NULL;
  PyObject *res = NULL;
  uint32_t h, w;
  int enc = HORUS_ENC_RGB8;
  if (hpy_parse_dim(h_obj, "height", &h) || hpy_parse_dim(w_obj, "width", &w)) goto done;
  if (enc_obj && (enc = parse_encoding(enc_obj)) < 0) goto done;
  uint64_t need = (uint64_t)h * w * (uint64_t)horus_encoding_bytes_per_pixel((horus_encoding)enc);
  if ((uint64_t)buf.len != need) {
    PyErr_Format(PyExc_ValueError, "from_bytes: a %ux%u %s image is %llu bytes, got %zd",
                 w, h, horus_encoding_name((horus_encoding)enc), (unsigned long long)need,
                 buf.len);
    goto done;
  }
  horus_state *st = state_of_type(cls);
  horus_pool *pool = hpy_global_pool(st);
  if (!pool) goto done;
  horus_frame f;
  int r = hpy_unlocked_pool_if(hpy_frame_bytes_large(h, w), pool, horus_image_create(pool, h, w, (horus_encoding)enc, &f));
  if (r) {
    hpy_raise(r);
    goto done;
  }
  Py_BEGIN_ALLOW_THREADS
  r = horus_image_copy_from(&f, buf.buf, (size_t)buf.len);
  Py_END_ALLOW_THREADS
  if (r) {
    horus_frame_clear(&f);
    hpy_raise(r);
    goto done;
  }
  res = hpy_frame_new(cls, &f);
done:
  PyBuffer_Release(&buf);
  return res;
}

/* ---- pixels ------------------------------------------------------------------ */

#define GET_IMAGE(self)                              \
  horus_frame *img = hpy_frame_get((PyObject *)self); \
  if (!img) return NULL

static PyObject *values_list(horus_frame *img, const double *v) {
  horus_encoding e = horus_image_encoding(img);
  int n = horus_encoding_channels(e);
  bool is_float = horus_encoding_dtype(e) == HORUS_FLOAT32;
  PyObject *list = PyList_New(n);
  if (!list) return NULL;
  for (int c = 0; c < n; c++) {
    PyObject *x = is_float ? PyFloat_FromDouble(v[c]) : PyLong_FromLongLong((long long)v[c]);
    if (!x) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, c, x);
  }
  return list;
}

static int parse_xy(horus_frame *img, PyObject *const *args, uint32_t *x, uint32_t *y) {
  return hpy_parse_index(args[0], "x", horus_image_width(img), x) ||
         hpy_parse_index(args[1], "y", horus_image_height(img), y) ? -1 : 0;
}

static PyObject *Image_pixel(FrameObject *self, PyObject *const *args, Py_ssize_t nargs) {
  GET_IMAGE(self);
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "pixel(x, y) takes 2 arguments");
  uint32_t x, y;
  if (parse_xy(img, args, &x, &y)) return NULL;
  double v[HORUS_IMAGE_MAX_CHANNELS];
  int r = horus_image_get_pixel(img, x, y, v);
  return r ? hpy_raise(r) : values_list(img, v);
}

static PyObject *Image_set_pixel(FrameObject *self, PyObject *const *args, Py_ssize_t nargs) {
  GET_IMAGE(self);
  if (nargs != 3) return PyErr_Format(PyExc_TypeError, "set_pixel(x, y, values) takes 3 arguments");
  if (!hpy_frame_writable((PyObject *)self)) return NULL;
  uint32_t x, y;
  if (parse_xy(img, args, &x, &y)) return NULL;
  double v[HORUS_IMAGE_MAX_CHANNELS];
  int n = parse_values(args[2], v, HORUS_IMAGE_MAX_CHANNELS);
  if (n < 0) return NULL;
  int r = horus_image_set_pixel(img, x, y, v, n);
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Image_fill(FrameObject *self, PyObject *arg) {
  GET_IMAGE(self);
  if (!hpy_frame_writable((PyObject *)self)) return NULL;
  double v[HORUS_IMAGE_MAX_CHANNELS];
  int n = parse_values(arg, v, HORUS_IMAGE_MAX_CHANNELS);
  if (n < 0) return NULL;
  int r;
  hpy_busy_enter(&self->busy, "fill");
  Py_BEGIN_ALLOW_THREADS
  r = horus_image_fill(img, v, n);
  Py_END_ALLOW_THREADS
  hpy_busy_leave(&self->busy);
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Image_copy_from(FrameObject *self, PyObject *arg) {
  GET_IMAGE(self);
  if (!hpy_frame_writable((PyObject *)self)) return NULL;
  Py_buffer buf;
  if (PyObject_GetBuffer(arg, &buf, PyBUF_C_CONTIGUOUS) < 0) {
    if (PyErr_ExceptionMatches(PyExc_BufferError)) {
      /* A strided source: copy_from wants bytes laid out like the image. */
      PyErr_Clear();
      PyErr_Format(PyExc_BufferError, "copy_from needs a C-contiguous buffer, got %.80s",
                   Py_TYPE(arg)->tp_name);
    }
    return NULL;
  }
  int r;
  hpy_busy_enter(&self->busy, "copy_from");
  Py_BEGIN_ALLOW_THREADS
  r = horus_image_copy_from(img, buf.buf, (size_t)buf.len);
  Py_END_ALLOW_THREADS
  hpy_busy_leave(&self->busy);
  PyBuffer_Release(&buf);
  if (r) return hpy_raise(r);
  Py_RETURN_NONE;
}

static PyObject *Image_roi(FrameObject *self, PyObject *args, PyObject *kwds) {
  GET_IMAGE(self);
  static char *kwlist[] = {"x", "y", "w", "h", NULL};
  PyObject *o[4];
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO:roi", kwlist, &o[0], &o[1], &o[2], &o[3]))
    return NULL;
  uint32_t v[4];
  for (int i = 0; i < 4; i++)
    if (hpy_parse_coord(o[i], kwlist[i], &v[i])) return NULL;
  uint32_t W = horus_image_width(img), H = horus_image_height(img);
  if (v[2] == 0 || v[3] == 0)
    return PyErr_Format(PyExc_ValueError, "roi w=%u h=%u is empty", v[2], v[3]);
  if (v[0] >= W || v[1] >= H || v[2] > W - v[0] || v[3] > H - v[1])
    return PyErr_Format(PyExc_IndexError, "roi x=%u y=%u w=%u h=%u leaves the %ux%u image",
                        v[0], v[1], v[2], v[3], W, H);
  size_t n = (size_t)v[2] * v[3] *
             (size_t)horus_encoding_bytes_per_pixel(horus_image_encoding(img));
  PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
  if (!out) return NULL;
  int r = horus_image_roi(img, v[0], v[1], v[2], v[3], PyBytes_AS_STRING(out), n);
  if (r) {
    Py_DECREF(out);
    return hpy_raise(r);
  }
  return out;
}

/* ---- properties ------------------------------------------------------------- */

static PyObject *Image_get_height(FrameObject *self, void *Py_UNUSED(c)) {
  GET_IMAGE(self);
  return PyLong_FromUnsignedLong(horus_image_height(img));
}
static PyObject *Image_get_width(FrameObject *self, void *Py_UNUSED(c)) {
  GET_IMAGE(self);
  return PyLong_FromUnsignedLong(horus_image_width(img));
}
static PyObject *Image_get_channels(FrameObject *self, void *Py_UNUSED(c)) {
  GET_IMAGE(self);
  return PyLong_FromLong(horus_encoding_channels(horus_image_encoding(img)));
}
static PyObject *Image_get_encoding(FrameObject *self, void *Py_UNUSED(c)) {
  GET_IMAGE(self);
  return PyUnicode_FromString(horus_encoding_name(horus_image_encoding(img)));
}
static PyObject *Image_get_step(FrameObject *self, void *Py_UNUSED(c)) {
  GET_IMAGE(self);
  return PyLong_FromUnsignedLongLong(horus_image_step(img));
}

static PyObject *Image_repr(FrameObject *self) {
  if (!self->f.tensor) return PyUnicode_FromString("<Image (uninitialised)>");
  horus_frame *img = &self->f;
  PyObject *id = PyUnicode_FromString(img->meta.frame_id);
  if (!id) return NULL;
  /* height and width named: NumPy/OpenCV say H x W, HORUS and ROS W x H. */
  PyObject *res = PyUnicode_FromFormat("<Image height=%u width=%u %s frame_id=%R "
                                       "timestamp_ns=%lld%s>",
                                       horus_image_height(img), horus_image_width(img),
                                       horus_encoding_name(horus_image_encoding(img)), id,
                                       (long long)img->meta.timestamp_ns,
                                       horus_tensor_is_readonly(img->tensor)
                                           ? " read-only" : "");
  Py_DECREF(id);
  return res;
}

#define FASTCALL_KW (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef Image_methods[] = {
    {"from_numpy", (PyCFunction)(void (*)(void))Image_from_array, FASTCALL_KW | METH_CLASS,
     "from_numpy($cls, array, encoding=None)\n--\n\nAn image of an (H, W) or (H, W, C) "
     "array.  Shares the memory when the array already lives in a horus pool (e.g. "
     "another image's to_numpy()); one copy otherwise.  Without encoding it is "
     "inferred: (H,W) u8 mono8, u16 mono16, f32 mono32f; (H,W,2) u8 yuv422; (H,W,3) "
     "u8 rgb8, f32 rgb32f; (H,W,4) u8 rgba8.  ValueError when the encoding does not "
     "match the array's shape or dtype."},
    {"from_torch", (PyCFunction)(void (*)(void))Image_from_torch, FASTCALL_KW | METH_CLASS,
     "from_torch($cls, tensor, encoding=None)\n--\n\nAs from_numpy, for a torch.Tensor "
     "(TypeError for anything else).  An (H, W[, C]) CPU tensor; one that requires "
     "grad is detached (the image holds data, not autograd history)."},
    {"from_bytes", (PyCFunction)(void (*)(void))Image_from_bytes,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_bytes($cls, data, height, width, encoding='rgb8')\n--\n\nAn image "
     "copied from packed bytes; ValueError unless len(data) is exactly "
     "height * width * bytes_per_pixel."},
    {"pixel", (PyCFunction)(void (*)(void))Image_pixel, METH_FASTCALL,
     "pixel($self, x, y, /)\n--\n\nChannel values at column x, row y (ints for integer "
     "encodings, floats for float ones); negative counts from the end, as in NumPy "
     "(pixel(-1, -1) is the bottom-right one).  IndexError outside the image.  "
     "img[y, x] is the NumPy-order spelling."},
    {"set_pixel", (PyCFunction)(void (*)(void))Image_set_pixel, METH_FASTCALL,
     "set_pixel($self, x, y, values, /)\n--\n\nWrite exactly `channels` values, each "
     "representable in the element type (ValueError otherwise, image unchanged)."},
    {"fill", (PyCFunction)Image_fill, METH_O,
     "fill($self, values, /)\n--\n\nSet every pixel to `values` (exactly `channels` of them)."},
    {"copy_from", (PyCFunction)Image_copy_from, METH_O,
     "copy_from($self, buffer, /)\n--\n\nReplace the pixels with a buffer of exactly nbytes bytes."},
    {"roi", (PyCFunction)(void (*)(void))Image_roi, METH_VARARGS | METH_KEYWORDS,
     "roi($self, x, y, w, h)\n--\n\nThe w x h region at (x, y) as packed bytes.  "
     "IndexError if it leaves the image."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Image_getset[] = {
    {"height", (getter)Image_get_height, NULL, "Height in pixels.", NULL},
    {"width", (getter)Image_get_width, NULL, "Width in pixels.", NULL},
    {"channels", (getter)Image_get_channels, NULL, "Channels per pixel.", NULL},
    {"encoding", (getter)Image_get_encoding, NULL, "Encoding name, e.g. 'rgb8'.", NULL},
    {"step", (getter)Image_get_step, NULL, "Row stride in bytes (rows are packed).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Image_slots[] = {
    {Py_tp_doc, "Image(height, width, encoding='rgb8')\n--\n\nA camera image in shared "
                "memory: zero-copy to NumPy (shape (H, W) for one channel, (H, W, C) "
                "otherwise), PyTorch and JAX, and sendable on a Topic without copying.  "
                "copy() (and copy.copy/deepcopy) gives an independent one in a new block; "
                "__init__ while another thread's call uses it (e.g. fill) raises "
                "RuntimeError."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Image_init},
    {Py_tp_dealloc, hpy_frame_dealloc},
    {Py_tp_alloc, hpy_msg_alloc},
    {Py_tp_free, hpy_msg_free},
    {Py_tp_methods, Image_methods},
    {Py_tp_getset, Image_getset},
    {Py_tp_repr, Image_repr},
    {0, NULL},
};

static PyType_Spec Image_spec = {
    .name = "horus.Image",
    .basicsize = sizeof(FrameObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Image_slots,
};

int hpy_image_init(PyObject *m, horus_state *st) {
  if (hpy_add_subtype(m, &Image_spec, st->Frame_Type, &st->Image_Type) < 0) return -1;
  /* No Py_tp_vectorcall slot before Python 3.14; the field is there. */
  st->Image_Type->tp_vectorcall = Image_vectorcall;
  return 0;
}
