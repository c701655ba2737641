/* tensor.c - tensors over pool blocks; DLPack export and import. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "horus/tensor.h"
#include "horus/msg.h"
#include "pool_internal.h"

struct horus_tensor {
  horus_pool *pool; /* one process-local pool reference */
  uint8_t *data;    /* address of element 0 */
  horus_tensor_desc desc;
  bool readonly; /* a received frame: exports say so (see tensor.h) */
};

/* ---- dtypes ------------------------------------------------------------- */

static const struct {
  const char *name;
  uint8_t size;
  uint8_t dl_code;
} dtypes[HORUS_DTYPE_COUNT] = {
#define DTYPE_ENTRY(suffix, name, size, dl) [HORUS_##suffix] = {#name, size, dl},
    HORUS_DTYPE_LIST(DTYPE_ENTRY)
#undef DTYPE_ENTRY
};

const char *horus_dtype_name(horus_dtype d) {
  return (unsigned)d < HORUS_DTYPE_COUNT ? dtypes[d].name : "invalid";
}

int horus_dtype_from_name(const char *name) {
  if (!name) return HORUS_EINVAL;
  for (int i = 0; i < HORUS_DTYPE_COUNT; i++)
    if (strcmp(dtypes[i].name, name) == 0) return i;
  return HORUS_EINVAL;
}

size_t horus_dtype_size(horus_dtype d) {
  return (unsigned)d < HORUS_DTYPE_COUNT ? dtypes[d].size : 0;
}

static int dtype_from_dl(DLDataType t, horus_dtype *out) {
  if (t.lanes != 1) return HORUS_ENOTSUP;
  for (int i = 0; i < HORUS_DTYPE_COUNT; i++) {
    if (dtypes[i].dl_code == t.code && dtypes[i].size * 8 == t.bits) {
      *out = (horus_dtype)i;
      return 0;
    }
  }
  return HORUS_ENOTSUP;
}

/* ---- shape arithmetic ----------------------------------------------------- */

/* The largest block a tensor may describe; keeps every byte offset and
 * byte stride computed from a checked shape far inside int64_t. */
#define MAX_NBYTES (1ull << 62)

/* Every shape this library accepts (allocated, opened from a descriptor,
 * imported, reshaped, decoded from the wire) passes here.  The limit is
 * on the product of the NONZERO dimensions times the item size, as NumPy
 * does: a zero dimension makes the tensor empty but must not make an
 * absurd shape such as (0, 2**62, 2**62) legal, because its compact
 * strides and every offset computed from them are products of the other
 * dimensions and would overflow int64_t.  Once a shape passed, compact
 * strides, numel, nbytes and any partial product of its dimensions fit
 * in MAX_NBYTES, so the arithmetic on them elsewhere needs no checks. */
static int check_shape(const int64_t *shape, int ndim, horus_dtype dtype,
                       int64_t *numel_out, uint64_t *nbytes_out) {
  if ((unsigned)dtype >= HORUS_DTYPE_COUNT)
    return horus__err(HORUS_EINVAL, "unknown dtype %d", (int)dtype);
  if (ndim < 0 || ndim > HORUS_MAX_DIMS)
    return horus__err(HORUS_EINVAL, "ndim %d: must be 0..%d", ndim, HORUS_MAX_DIMS);
  if (ndim > 0 && !shape) return horus__err(HORUS_EINVAL, "shape is NULL");
  uint64_t span = dtypes[dtype].size; /* bytes of the nonzero dimensions */
  bool empty = false;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return horus__err(HORUS_EINVAL, "shape[%d] = %" PRId64 " is negative", i, shape[i]);
    if (shape[i] == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(span, (uint64_t)shape[i], &span) || span > MAX_NBYTES)
      return horus__err(HORUS_EOVERFLOW, "shape of %d dimensions overflows the "
                        "addressable size (2**62 bytes, zero dimensions "
                        "aside)", ndim);
  }
  *nbytes_out = empty ? 0 : span;
  *numel_out = (int64_t)(*nbytes_out / dtypes[dtype].size);
  return 0;
}

/* Only for shapes that passed check_shape (see there). */
static void compact_strides(const int64_t *shape, int ndim, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i] ? shape[i] : 1;
  }
}

/* Lowest and one-past-highest byte touched by a strided view, relative to
 * element 0.  An empty view touches nothing.  False when the extent does
 * not fit in int64_t (shapes and strides may come from another process). */
static bool extent(const int64_t *shape, const int64_t *byte_strides, int ndim,
                   size_t itemsize, int64_t *lo, int64_t *hi) {
  int64_t l = 0, h = (int64_t)itemsize;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) {
      *lo = *hi = 0;
      return true;
    }
  }
  for (int i = 0; i < ndim; i++) {
    int64_t span;
    if (__builtin_mul_overflow(shape[i] - 1, byte_strides[i], &span)) return false;
    if (span < 0 ? __builtin_add_overflow(l, span, &l) : __builtin_add_overflow(h, span, &h))
      return false;
  }
  *lo = l;
  *hi = h;
  return true;
}

/* True when bytes [offset + lo, offset + hi) lie inside [start, start + size). */
static bool within(uint64_t offset, int64_t lo, int64_t hi, uint64_t start, uint64_t size) {
  int64_t first, end;
  if (offset > INT64_MAX || __builtin_add_overflow((int64_t)offset, lo, &first) ||
      __builtin_add_overflow((int64_t)offset, hi, &end))
    return false;
  return first >= 0 && (uint64_t)first >= start && (uint64_t)end <= start + size;
}

/* ---- handles ------------------------------------------------------------- */

/* One freed handle kept for the next: a receiver frees one handle per
 * message and opens the next at once, and malloc + free cost more than the
 * rest of the release (about 125 instructions against one exchange).  An
 * exchange, never a compare-and-swap, so no ABA; the kept handle stays
 * reachable from here.  Off under AddressSanitizer, which must see every
 * handle freed to catch a use after free. */
#if defined(__SANITIZE_ADDRESS__)
#define HANDLE_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HANDLE_CACHE 0
#endif
#endif
#ifndef HANDLE_CACHE
#define HANDLE_CACHE 1
#endif
static _Atomic(horus_tensor *) spare_handle;

static horus_tensor *handle_new(void) {
  horus_tensor *t = HANDLE_CACHE ? atomic_exchange_explicit(&spare_handle, NULL,
                                                            memory_order_acquire)
                                 : NULL;
  return t ? t : malloc(sizeof *t);
}

static void handle_delete(horus_tensor *t) {
  if (HANDLE_CACHE) t = atomic_exchange_explicit(&spare_handle, t, memory_order_acq_rel);
  free(t);
}

static int make_handle(horus_pool *pool, const horus_tensor_desc *desc,
                       horus_tensor **out) {
  horus_tensor *t = handle_new();
  if (!t) return horus__err(HORUS_ENOMEM, "out of process memory");
  horus__pool_ref(pool);
  t->pool = pool;
  t->desc = *desc;
  t->readonly = false;
  t->data = horus_pool_data(pool, desc->offset);
  if (!t->data) t->data = pool->data; /* empty view at the region's end */
  *out = t;
  return 0;
}

/* New handle with its own reference to the block of `src`, describing `desc`. */
static int derive(const horus_tensor *src, const horus_tensor_desc *desc,
                  horus_tensor **out) {
  int r = horus_pool_retain(src->pool, desc->slot, desc->generation);
  if (r) return r;
  if ((r = make_handle(src->pool, desc, out)))
    horus_pool_release(src->pool, desc->slot, desc->generation);
  else
    (*out)->readonly = src->readonly;
  return r;
}

static int tensor_alloc(horus_pool *pool, const int64_t *shape, int ndim, horus_dtype dtype,
                        bool clear, horus_tensor **out) {
  int64_t numel;
  uint64_t nbytes;
  int r = check_shape(shape, ndim, dtype, &numel, &nbytes);
  if (r) return r;
  horus_tensor_desc d;
  memset(&d, 0, sizeof d);
  d.pool_id = horus_pool_id(pool);
  d.pool_nonce = pool->nonce;
  d.dtype = (uint8_t)dtype;
  d.ndim = (uint8_t)ndim;
  for (int i = 0; i < ndim; i++) d.shape[i] = shape[i];
  compact_strides(d.shape, ndim, d.strides);
  r = clear ? horus_pool_alloc(pool, nbytes, &d.slot, &d.generation, &d.offset)
            : horus__pool_alloc_uninit(pool, nbytes, &d.slot, &d.generation, &d.offset);
  if (r) return r;
  if ((r = make_handle(pool, &d, out))) horus_pool_release(pool, d.slot, d.generation);
  return r;
}

int horus_tensor_alloc(horus_pool *pool, const int64_t *shape, int ndim, horus_dtype dtype,
                       horus_tensor **out) {
  return tensor_alloc(pool, shape, ndim, dtype, true, out);
}

int horus__tensor_alloc_uninit(horus_pool *pool, const int64_t *shape, int ndim,
                               horus_dtype dtype, horus_tensor **out) {
  return tensor_alloc(pool, shape, ndim, dtype, false, out);
}

/* The last shape this thread found valid, with the byte extent its strides
 * reach: a stream's descriptors repeat dtype, shape and strides message
 * after message, and both checks depend on nothing else, so a repeat skips
 * them.  Where the view lies (offset, block) is checked on every open. */
typedef struct shape_memo {
  bool valid;
  uint8_t dtype, ndim;
  int64_t shape[HORUS_MAX_DIMS], strides[HORUS_MAX_DIMS];
  int64_t lo, hi;
} shape_memo;
static _Thread_local shape_memo last_shape;

static bool shape_seen(const shape_memo *m, const horus_tensor_desc *d) {
  if (!m->valid || m->dtype != d->dtype || m->ndim != d->ndim) return false;
  for (int i = 0; i < d->ndim; i++)
    if (m->shape[i] != d->shape[i] || m->strides[i] != d->strides[i]) return false;
  return true;
}

/* Thread-local, and never touched from a signal handler: opening a
 * descriptor allocates its handle (malloc), so no part of it is
 * async-signal-safe to begin with. */
static void shape_remember(shape_memo *m, const horus_tensor_desc *d, int64_t lo, int64_t hi) {
  m->dtype = d->dtype;
  m->ndim = d->ndim;
  memcpy(m->shape, d->shape, sizeof m->shape);
  memcpy(m->strides, d->strides, sizeof m->strides);
  m->lo = lo;
  m->hi = hi;
  m->valid = true;
}

int horus__tensor_open_in(horus_pool *pool, const horus_tensor_desc *desc,
                          horus_tensor **out) {
  /* desc is the caller's private copy (horus_tensor_open makes one; a ring
   * entry is copied out before this), so what is checked is what is used. */
  shape_memo *memo = &last_shape; /* one lookup of the thread's copy */
  bool seen = shape_seen(memo, desc);
  int64_t numel;
  uint64_t nbytes;
  int r;
  if (!seen && (r = check_shape(desc->shape, desc->ndim, (horus_dtype)desc->dtype, &numel,
                                &nbytes)))
    return r;
  if (desc->pool_id != pool->id)
    return horus__err(HORUS_EINVAL, "descriptor names pool %u, not %u", desc->pool_id, pool->id);
  if (desc->pool_nonce != pool->nonce)
    return horus__err(HORUS_ESTALE, "descriptor names another incarnation of pool %u "
                      "(the pool was removed and made anew)", pool->id);
  if ((r = horus_pool_retain(pool, desc->slot, desc->generation))) return r;

  /* The descriptor came from another process: the view must stay inside
   * its block whatever shape and strides it claims. */
  int64_t lo = memo->lo, hi = memo->hi;
  bool spans = seen;
  if (!seen) {
    size_t item = dtypes[desc->dtype].size;
    int64_t bstr[HORUS_MAX_DIMS];
    for (int i = 0; i < desc->ndim; i++) {
      if (__builtin_mul_overflow(desc->strides[i], (int64_t)item, &bstr[i])) {
        r = horus__err(HORUS_EINVAL, "descriptor stride %d overflows", i);
        goto release;
      }
    }
    spans = extent(desc->shape, bstr, desc->ndim, item, &lo, &hi);
  }
  horus__slot *sl = &pool->slots[desc->slot];
  uint64_t b_off = horus__slot_offset(sl), b_size = horus__slot_size(sl);
  if (desc->offset > pool->data_size || b_off > pool->data_size ||
      b_size > pool->data_size - b_off) {
    r = horus__err(HORUS_EINVAL, "descriptor offset outside pool %u", desc->pool_id);
    goto release;
  }
  if (!spans || (hi > lo && !within(desc->offset, lo, hi, b_off, b_size))) {
    r = horus__err(HORUS_EINVAL, "descriptor reaches outside its block "
                   "(pool %u slot %u)", desc->pool_id, desc->slot);
    goto release;
  }
  if (!seen) shape_remember(memo, desc, lo, hi);
  if ((r = make_handle(pool, desc, out)) == 0) return 0;
release:
  horus_pool_release(pool, desc->slot, desc->generation);
  return r;
}

int horus_tensor_open(const horus_tensor_desc *shared, horus_tensor **out) {
  /* The caller's descriptor may lie in memory another process writes:
   * checked and used from one copy. */
  horus_tensor_desc desc = *shared;
  horus_pool *pool;
  int r = horus__pool_open_incarnation(desc.pool_id, desc.pool_nonce, &pool);
  if (r) return r;
  r = horus__tensor_open_in(pool, &desc, out);
  horus_pool_close(pool);
  return r;
}

int horus_tensor_ref(const horus_tensor *t, horus_tensor **out) {
  return derive(t, &t->desc, out);
}

void horus_tensor_free(horus_tensor *t) {
  if (!t) return;
  horus_pool_release(t->pool, t->desc.slot, t->desc.generation);
  horus_pool_close(t->pool);
  handle_delete(t);
}

bool horus_tensor_is_contiguous(const horus_tensor *t) {
  int64_t expect = 1;
  for (int i = t->desc.ndim - 1; i >= 0; i--) {
    if (t->desc.shape[i] == 0) return true;
    if (t->desc.shape[i] != 1 && t->desc.strides[i] != expect) return false;
    expect *= t->desc.shape[i];
  }
  return true;
}

int horus_tensor_view(const horus_tensor *t, const int64_t *shape, int ndim,
                      horus_tensor **out) {
  if (ndim < 0 || ndim > HORUS_MAX_DIMS || (ndim && !shape))
    return horus__err(HORUS_EINVAL, "view: ndim %d must be 0..%d", ndim, HORUS_MAX_DIMS);
  if (!horus_tensor_is_contiguous(t))
    return horus__err(HORUS_EINVAL, "view: tensor is not contiguous");
  int64_t numel = horus_tensor_numel(t), known = 1;
  int infer = -1;
  horus_tensor_desc d = t->desc;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == -1 && infer < 0) {
      infer = i;
      continue;
    }
    if (shape[i] < 0)
      return horus__err(HORUS_EINVAL, "view: shape[%d] = %" PRId64 " is invalid", i, shape[i]);
    if (__builtin_mul_overflow(known, shape[i], &known))
      return horus__err(HORUS_EINVAL, "view: shape overflows");
    d.shape[i] = shape[i];
  }
  if (infer >= 0) {
    if (known == 0 || numel % known)
      return horus__err(HORUS_EINVAL, "view: cannot infer -1 of %" PRId64
                        " elements into %" PRId64 "-element rows", numel, known);
    d.shape[infer] = numel / known;
    known *= d.shape[infer];
  }
  if (known != numel)
    return horus__err(HORUS_EINVAL, "view: shape has %" PRId64 " elements, tensor "
                      "has %" PRId64, known, numel);
  /* An empty tensor takes any shape with a zero in it, (0, 2**62, 2**62)
   * included: the shape must pass the same limit as an allocation. */
  uint64_t nbytes;
  int r = check_shape(d.shape, ndim, (horus_dtype)d.dtype, &numel, &nbytes);
  if (r) return r;
  d.ndim = (uint8_t)ndim;
  for (int i = ndim; i < HORUS_MAX_DIMS; i++) d.shape[i] = d.strides[i] = 0;
  compact_strides(d.shape, ndim, d.strides);
  return derive(t, &d, out);
}

int horus_tensor_slice(const horus_tensor *t, int64_t start, int64_t stop,
                       horus_tensor **out) {
  if (t->desc.ndim == 0) return horus__err(HORUS_EINVAL, "slice: tensor is 0-d");
  int64_t n = t->desc.shape[0];
  if (start < 0 || stop < start || stop > n)
    return horus__err(HORUS_ERANGE, "slice [%" PRId64 ", %" PRId64 ") out of range "
                      "for dimension 0 of size %" PRId64, start, stop, n);
  horus_tensor_desc d = t->desc;
  d.shape[0] = stop - start;
  /* An empty result keeps the offset: its strides were never checked
   * against a block (extent() skips empty views), so start * stride may
   * not even fit in int64_t. */
  int64_t skip;
  if (horus_tensor_numel(t) > 0 && d.shape[0] > 0) {
    if (__builtin_mul_overflow(start, d.strides[0], &skip) ||
        __builtin_mul_overflow(skip, (int64_t)dtypes[d.dtype].size, &skip) ||
        __builtin_add_overflow(d.offset, (uint64_t)skip, &d.offset))
      return horus__err(HORUS_EINVAL, "slice: offset of row %" PRId64 " overflows", start);
  }
  return derive(t, &d, out);
}

const horus_tensor_desc *horus_tensor_get_desc(const horus_tensor *t) { return &t->desc; }
void horus_tensor_set_readonly(horus_tensor *t) { t->readonly = true; }
bool horus_tensor_is_readonly(const horus_tensor *t) { return t->readonly; }
void *horus_tensor_data(const horus_tensor *t) { return t->data; }
horus_pool *horus_tensor_pool(const horus_tensor *t) { return t->pool; }

int64_t horus_tensor_numel(const horus_tensor *t) {
  /* A zero anywhere first: the other dimensions of an empty tensor may
   * multiply past int64 (only non-empty products were checked). */
  for (int i = 0; i < t->desc.ndim; i++)
    if (t->desc.shape[i] == 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < t->desc.ndim; i++) n *= t->desc.shape[i];
  return n;
}

uint64_t horus_tensor_nbytes(const horus_tensor *t) {
  return (uint64_t)horus_tensor_numel(t) * dtypes[t->desc.dtype].size;
}

int horus_tensor_recycle(horus_tensor *t) {
  uint32_t g;
  int r = horus__pool_recycle(t->pool, t->desc.slot, t->desc.generation, &g);
  if (r == 0) t->desc.generation = g;
  return r;
}

uint32_t horus_tensor_refcount(const horus_tensor *t) {
  return horus_pool_refcount(t->pool, t->desc.slot, t->desc.generation);
}

/* ---- copies ------------------------------------------------------------ */

void horus_copy_strided(void *dst, const void *src, const int64_t *shape,
                        const int64_t *byte_strides, int ndim, size_t itemsize) {
  for (int i = 0; i < ndim; i++)
    if (shape[i] == 0) return;
  /* Fold trailing dimensions that are laid out contiguously into one run. */
  int64_t run = (int64_t)itemsize;
  int inner = ndim;
  while (inner > 0 && (shape[inner - 1] == 1 || byte_strides[inner - 1] == run)) {
    run *= shape[inner - 1];
    inner--;
  }
  if (inner == 0) {
    memcpy(dst, src, (size_t)run);
    return;
  }
  int64_t idx[HORUS_MAX_DIMS] = {0};
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (;;) {
    memcpy(d, s, (size_t)run);
    d += run;
    int i = inner - 1;
    for (; i >= 0; i--) {
      s += byte_strides[i];
      if (++idx[i] < shape[i]) break;
      s -= byte_strides[i] * shape[i];
      idx[i] = 0;
    }
    if (i < 0) return;
  }
}

void horus_tensor_pack(const horus_tensor *t, void *dst) {
  const horus_tensor_desc *d = &t->desc;
  size_t item = dtypes[d->dtype].size;
  int64_t bstr[HORUS_MAX_DIMS];
  for (int i = 0; i < d->ndim; i++) bstr[i] = d->strides[i] * (int64_t)item;
  horus_copy_strided(dst, t->data, d->shape, bstr, d->ndim, item);
}

int horus_tensor_clone(horus_pool *pool, const horus_tensor *t, horus_tensor **out) {
  const horus_tensor_desc *d = &t->desc;
  int r = horus__tensor_alloc_uninit(pool ? pool : t->pool, d->shape, d->ndim,
                                     (horus_dtype)d->dtype, out);
  if (r) return r;
  horus_tensor_pack(t, (*out)->data); /* every byte */
  return 0;
}

int horus_tensor_compact(horus_pool *pool, horus_tensor **t) {
  if (horus_tensor_is_contiguous(*t)) return 0;
  horus_tensor *c;
  int r = horus_tensor_clone(pool, *t, &c);
  if (r) return r;
  horus_tensor_free(*t);
  *t = c;
  return 0;
}

/* Descriptor for a view at `data` inside block (pool, slot, gen), checked to
 * lie within the block. */
static int view_in_block(horus_pool *pool, uint32_t slot, uint32_t gen,
                         const void *data, const int64_t *shape,
                         const int64_t *bstr, int ndim, horus_dtype dtype,
                         horus_tensor_desc *d) {
  size_t item = dtypes[dtype].size;
  const uint8_t *q = data;
  if (q < pool->data || q > pool->data + pool->data_size)
    return horus__err(HORUS_ERANGE, "address is outside pool %u", pool->id);
  uint64_t off = (uint64_t)(q - pool->data);
  int64_t lo, hi;
  horus__slot *sl = &pool->slots[slot];
  uint64_t b_off = horus__slot_offset(sl), b_size = horus__slot_size(sl);
  for (int i = 0; i < ndim; i++)
    if (bstr[i] % (int64_t)item)
      return horus__err(HORUS_EINVAL, "stride %" PRId64 " is not a multiple of the "
                        "item size %zu", bstr[i], item);
  if (b_off > pool->data_size || b_size > pool->data_size - b_off ||
      !extent(shape, bstr, ndim, item, &lo, &hi) ||
      (hi > lo && !within(off, lo, hi, b_off, b_size)))
    return horus__err(HORUS_ERANGE, "view reaches outside its block");
  memset(d, 0, sizeof *d);
  d->pool_id = pool->id;
  d->pool_nonce = pool->nonce;
  d->slot = slot;
  d->generation = gen;
  d->dtype = (uint8_t)dtype;
  d->ndim = (uint8_t)ndim;
  d->offset = off;
  for (int i = 0; i < ndim; i++) {
    d->shape[i] = shape[i];
    d->strides[i] = bstr[i] / (int64_t)item;
  }
  return 0;
}

int horus_tensor_within(const horus_tensor *owner, const void *data,
                        const int64_t *shape, const int64_t *byte_strides,
                        int ndim, horus_dtype dtype, horus_tensor **out) {
  int64_t numel;
  uint64_t nbytes;
  int r = check_shape(shape, ndim, dtype, &numel, &nbytes);
  if (r) return r;
  horus_tensor_desc d;
  r = view_in_block(owner->pool, owner->desc.slot, owner->desc.generation, data,
                    shape, byte_strides, ndim, dtype, &d);
  return r ? r : derive(owner, &d, out);
}

int horus_tensor_from_host(horus_pool *pool, const void *data,
                           const int64_t *shape, const int64_t *byte_strides,
                           int ndim, horus_dtype dtype, horus_tensor **out,
                           bool *copied) {
  int64_t numel;
  uint64_t nbytes;
  int r = check_shape(shape, ndim, dtype, &numel, &nbytes);
  if (r) return r;
  size_t item = dtypes[dtype].size;
  int64_t bstr[HORUS_MAX_DIMS];
  if (byte_strides) {
    memcpy(bstr, byte_strides, sizeof(int64_t) * (size_t)ndim);
  } else {
    compact_strides(shape, ndim, bstr);
    for (int i = 0; i < ndim; i++) bstr[i] *= (int64_t)item;
  }

  /* Already in one of our blocks: share it. */
  horus_pool *owner;
  uint32_t slot, gen;
  uint64_t off;
  if (numel > 0 && data && horus_pool_find(data, &owner, &slot, &gen, &off) == 0) {
    horus_tensor_desc d;
    r = view_in_block(owner, slot, gen, data, shape, bstr, ndim, dtype, &d);
    if (r == 0 && (r = horus_pool_retain(owner, slot, gen)) == 0 &&
        (r = make_handle(owner, &d, out)))
      horus_pool_release(owner, slot, gen);
    horus_pool_close(owner);
    if (r == 0) {
      *copied = false;
      return 0;
    }
    /* Not a view of one block (or freed while we looked): copy it. */
  }

  if ((r = horus__tensor_alloc_uninit(pool, shape, ndim, dtype, out))) return r;
  if (numel > 0) horus_copy_strided((*out)->data, data, shape, bstr, ndim, item); /* every byte */
  *copied = true;
  return 0;
}

/* ---- DLPack -------------------------------------------------------------- */

typedef struct dl_ctx {
  union {
    DLManagedTensor legacy;
    DLManagedTensorVersioned versioned;
  } m;
  horus_tensor *t;
  int64_t shape[HORUS_MAX_DIMS];
  int64_t strides[HORUS_MAX_DIMS];
} dl_ctx;

static void dl_delete_legacy(DLManagedTensor *self) {
  dl_ctx *c = self->manager_ctx;
  horus_tensor_free(c->t);
  free(c);
}

static void dl_delete_versioned(DLManagedTensorVersioned *self) {
  dl_ctx *c = self->manager_ctx;
  horus_tensor_free(c->t);
  free(c);
}

int horus_tensor_to_dlpack(const horus_tensor *t, bool versioned, void **out) {
  dl_ctx *c = calloc(1, sizeof *c);
  if (!c) return horus__err(HORUS_ENOMEM, "out of process memory");
  int r = horus_tensor_ref(t, &c->t);
  if (r) {
    free(c);
    return r;
  }
  const horus_tensor_desc *d = &t->desc;
  for (int i = 0; i < d->ndim; i++) {
    c->shape[i] = d->shape[i];
    c->strides[i] = d->strides[i];
  }
  DLTensor *dl = versioned ? &c->m.versioned.dl_tensor : &c->m.legacy.dl_tensor;
  dl->data = t->data;
  dl->device.device_type = kDLCPU;
  dl->device.device_id = 0;
  dl->ndim = d->ndim;
  dl->dtype.code = dtypes[d->dtype].dl_code;
  dl->dtype.bits = (uint8_t)(dtypes[d->dtype].size * 8);
  dl->dtype.lanes = 1;
  dl->shape = c->shape;
  dl->strides = c->strides;
  dl->byte_offset = 0;
  if (versioned) {
    c->m.versioned.version.major = DLPACK_MAJOR_VERSION;
    c->m.versioned.version.minor = DLPACK_MINOR_VERSION;
    c->m.versioned.manager_ctx = c;
    c->m.versioned.deleter = dl_delete_versioned;
    c->m.versioned.flags = t->readonly ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
  } else {
    c->m.legacy.manager_ctx = c;
    c->m.legacy.deleter = dl_delete_legacy;
  }
  *out = &c->m; /* the union's address is that of either member */
  return 0;
}

int horus_tensor_from_dltensor(horus_pool *pool, const DLTensor *src,
                               horus_tensor **out, bool *copied) {
  if (src->device.device_type != kDLCPU)
    return horus__err(HORUS_ENOTSUP, "DLPack device type %d: only CPU (1) tensors "
                      "are supported", (int)src->device.device_type);
  horus_dtype dtype;
  if (dtype_from_dl(src->dtype, &dtype))
    return horus__err(HORUS_ENOTSUP, "DLPack dtype (code %u, %u bits, %u lanes) is "
                      "not supported", src->dtype.code, src->dtype.bits,
                      src->dtype.lanes);
  if (src->ndim < 0 || src->ndim > HORUS_MAX_DIMS)
    return horus__err(HORUS_EINVAL, "DLPack ndim %d: at most %d dimensions",
                      src->ndim, HORUS_MAX_DIMS);
  if (src->ndim > 0 && !src->shape)
    return horus__err(HORUS_EINVAL, "DLPack tensor has no shape");
  int64_t bstr[HORUS_MAX_DIMS];
  size_t item = dtypes[dtype].size;
  /* Before the compact strides below are computed from it. */
  int64_t numel;
  uint64_t nbytes;
  int r = check_shape(src->shape, src->ndim, dtype, &numel, &nbytes);
  if (r) return r;
  if (src->strides) {
    for (int i = 0; i < src->ndim; i++)
      if (__builtin_mul_overflow(src->strides[i], (int64_t)item, &bstr[i]))
        return horus__err(HORUS_EINVAL, "DLPack stride %d overflows", i);
  } else {
    compact_strides(src->shape, src->ndim, bstr);
    for (int i = 0; i < src->ndim; i++) bstr[i] *= (int64_t)item;
  }
  const uint8_t *data = (const uint8_t *)src->data + src->byte_offset;
  return horus_tensor_from_host(pool, data, src->shape, bstr, src->ndim, dtype,
                                out, copied);
}

const char *horus_msg_type_name(horus_msg_type type) {
  switch (type) {
    case HORUS_MSG_TENSOR: return "tensor";
    case HORUS_MSG_IMAGE: return "image";
    case HORUS_MSG_POINTCLOUD: return "pointcloud";
    case HORUS_MSG_DEPTH: return "depth_image";
    case HORUS_MSG_BYTES: return "bytes";
    default: return "none";
  }
}
