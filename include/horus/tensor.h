/* horus/tensor.h - tensors in pool blocks, and DLPack in both directions.
 *
 * A horus_tensor_desc is plain data (no pointers) naming a strided view of a
 * pool block: it can be copied into shared memory and sent to another process,
 * which turns it back into a tensor with horus_tensor_open().  A horus_tensor
 * is this process's handle: one pool reference plus the mapped address.
 * Handles are not shared between threads without the caller's own locking;
 * distinct handles of one block may be used from any threads.
 */
#ifndef HORUS_TENSOR_H
#define HORUS_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "dlpack.h"
#include "error.h"
#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HORUS_MAX_DIMS 8

/* Every dtype, once: X(SUFFIX, name, itemsize, DLPack type code).  The
 * enum below, the core's dtype table and the Python extension's tables
 * (NumPy type, array-interface typestr, buffer format) all expand this
 * list, so a dtype is added in one place.  The order gives the enum values,
 * which the wire format and shared descriptors carry: append only.
 * Values: 0 bool, 1 int8, 2 int16, 3 int32, 4 int64, 5 uint8, 6 uint16,
 * 7 uint32, 8 uint64, 9 float16, 10 bfloat16, 11 float32, 12 float64. */
#define HORUS_DTYPE_LIST(X)           \
  X(BOOL, bool, 1, kDLBool)           \
  X(INT8, int8, 1, kDLInt)            \
  X(INT16, int16, 2, kDLInt)          \
  X(INT32, int32, 4, kDLInt)          \
  X(INT64, int64, 8, kDLInt)          \
  X(UINT8, uint8, 1, kDLUInt)         \
  X(UINT16, uint16, 2, kDLUInt)       \
  X(UINT32, uint32, 4, kDLUInt)       \
  X(UINT64, uint64, 8, kDLUInt)       \
  X(FLOAT16, float16, 2, kDLFloat)    \
  X(BFLOAT16, bfloat16, 2, kDLBfloat) \
  X(FLOAT32, float32, 4, kDLFloat)    \
  X(FLOAT64, float64, 8, kDLFloat)

typedef enum horus_dtype {
#define HORUS__DTYPE_ENUM(suffix, name, size, dl) HORUS_##suffix,
  HORUS_DTYPE_LIST(HORUS__DTYPE_ENUM)
#undef HORUS__DTYPE_ENUM
  HORUS_DTYPE_COUNT
} horus_dtype;

/* Position-independent description of a tensor in a pool block.  Strides are
 * in elements.  `offset` is the byte offset of element 0 in the pool's data
 * region (inside the block, after slicing). */
typedef struct horus_tensor_desc {
  uint32_t pool_id;
  uint32_t slot;
  uint32_t generation;
  uint8_t dtype; /* horus_dtype */
  uint8_t ndim;
  uint16_t reserved;
  uint64_t offset;
  int64_t shape[HORUS_MAX_DIMS];
  int64_t strides[HORUS_MAX_DIMS];
  /* The pool segment's incarnation: a pool removed and made anew under the
   * same id has another, so a descriptor never resolves into it. */
  uint64_t pool_nonce;
} horus_tensor_desc;

typedef struct horus_tensor horus_tensor;

/* dtype names are NumPy's ("float32", "uint8", "bool", "bfloat16").
 * horus_dtype_from_name returns -1 (HORUS_EINVAL) for an unknown name. */
HORUS_API const char *horus_dtype_name(horus_dtype dtype);
HORUS_API int horus_dtype_from_name(const char *name);
HORUS_API size_t horus_dtype_size(horus_dtype dtype);

/* Allocate a compact row-major tensor in `pool`.  *out owns one block
 * reference (horus_tensor_free()).  Errors: HORUS_EINVAL (bad dtype, ndim
 * outside 0..HORUS_MAX_DIMS, a negative dimension), HORUS_EOVERFLOW (the
 * nonzero dimensions times the item size exceed 2**62 bytes: a zero
 * dimension does not exempt the others, as in NumPy, since the strides are
 * their products; every function taking a shape applies this limit),
 * HORUS_ENOMEM, HORUS_ENOSLOT. */
HORUS_API int horus_tensor_alloc(horus_pool *pool, const int64_t *shape,
                                 int ndim, horus_dtype dtype,
                                 horus_tensor **out);

/* Map the tensor a descriptor names, taking a new reference for this process
 * (the pool is opened by id in this namespace).  Validates the descriptor
 * against the block: a view reaching outside it is HORUS_EINVAL, a freed or
 * reused block HORUS_ESTALE. */
HORUS_API int horus_tensor_open(const horus_tensor_desc *desc,
                                horus_tensor **out);

/* A second handle with its own reference to the same view. */
HORUS_API int horus_tensor_ref(const horus_tensor *t, horus_tensor **out);

/* Drop the handle's reference and free the handle.  NULL is a no-op. */
HORUS_API void horus_tensor_free(horus_tensor *t);

/* Reshape a contiguous tensor: a new handle (own reference) with `shape`,
 * which may hold one -1 to infer.  HORUS_EINVAL when the tensor is not
 * contiguous or the element counts differ, HORUS_EOVERFLOW for a shape
 * past the limit of horus_tensor_alloc (an empty tensor's new shape too). */
HORUS_API int horus_tensor_view(const horus_tensor *t, const int64_t *shape,
                                int ndim, horus_tensor **out);

/* Rows [start, stop) along dimension 0: a new handle (own reference).
 * HORUS_ERANGE unless 0 <= start <= stop <= shape[0]; HORUS_EINVAL for a
 * 0-d tensor. */
HORUS_API int horus_tensor_slice(const horus_tensor *t, int64_t start,
                                 int64_t stop, horus_tensor **out);

/* Mark this handle read-only: a received frame is the publisher's pages,
 * shared with every other subscriber, so its exports say "do not write".
 * Process-local and advisory: it does not protect the memory.  Handles
 * derived from it (horus_tensor_ref, _view, _slice, _within and DLPack
 * exports) inherit it; a versioned DLPack export sets
 * DLPACK_FLAG_BITMASK_READ_ONLY.  There is no way back: copy the data into
 * a new tensor to get a writable one. */
HORUS_API void horus_tensor_set_readonly(horus_tensor *t);
HORUS_API bool horus_tensor_is_readonly(const horus_tensor *t);

HORUS_API const horus_tensor_desc *horus_tensor_get_desc(const horus_tensor *t);
HORUS_API void *horus_tensor_data(const horus_tensor *t);
HORUS_API horus_pool *horus_tensor_pool(const horus_tensor *t);
HORUS_API int64_t horus_tensor_numel(const horus_tensor *t);
HORUS_API uint64_t horus_tensor_nbytes(const horus_tensor *t);
HORUS_API bool horus_tensor_is_contiguous(const horus_tensor *t);
HORUS_API uint32_t horus_tensor_refcount(const horus_tensor *t);

/* Give the block of `t` a new identity when `t` is its only holder: its
 * generation moves on, so every descriptor of it taken before (a message
 * sent earlier) no longer resolves, and `t` goes on describing the same
 * bytes under the new one.  The bytes are kept: they are already this
 * holder's to read, so nothing is cleared and nothing is allocated.  For a
 * producer that refills its frames once receivers are done with them (a
 * player, a camera driver with a ring of buffers).  Errors: HORUS_EBUSY when
 * anything else holds the block (another process, a topic's ring, another
 * handle of this process), HORUS_ESTALE if the block is gone. */
HORUS_API int horus_tensor_recycle(horus_tensor *t);

/* Export as DLPack.  The returned managed tensor owns a new reference to the
 * block; its deleter drops it and may be called from any thread, without any
 * lock held.  `versioned` selects DLManagedTensorVersioned (DLPack 1.x) over
 * the legacy DLManagedTensor.  *out is a DLManagedTensor* or a
 * DLManagedTensorVersioned* accordingly.  bfloat16 is exported as kDLBfloat. */
HORUS_API int horus_tensor_to_dlpack(const horus_tensor *t, bool versioned,
                                     void **out);

/* Import a DLPack tensor.  When its data lies in a pool block this process
 * has open, *out shares that block (no copy, *copied = false); otherwise the
 * data is copied once into a new compact tensor in `pool` (*copied = true).
 * Does not call the managed tensor's deleter: the caller does, after this
 * returns.  Errors: HORUS_ENOTSUP (non-CPU device, unsupported dtype, lanes
 * != 1), HORUS_EINVAL (ndim too large, negative shape), HORUS_EOVERFLOW
 * (shape past the limit of horus_tensor_alloc), HORUS_ENOMEM. */
HORUS_API int horus_tensor_from_dltensor(horus_pool *pool, const DLTensor *src,
                                         horus_tensor **out, bool *copied);

/* Import strided host memory described by byte strides (NumPy's convention):
 * no copy when `data` lies in a pool block, else one copy into `pool`. */
HORUS_API int horus_tensor_from_host(horus_pool *pool, const void *data,
                                     const int64_t *shape,
                                     const int64_t *byte_strides, int ndim,
                                     horus_dtype dtype, horus_tensor **out,
                                     bool *copied);

/* A view of the block `owner` refers to, starting at `data` with the given
 * shape and byte strides (e.g. a NumPy view of an exported array): no copy,
 * a new reference.  HORUS_ERANGE when the view reaches outside the block,
 * HORUS_EINVAL when a stride is not a multiple of the item size. */
HORUS_API int horus_tensor_within(const horus_tensor *owner, const void *data,
                                  const int64_t *shape, const int64_t *byte_strides,
                                  int ndim, horus_dtype dtype, horus_tensor **out);

/* Copy `src` (strided, byte strides) into the compact buffer `dst`. */
HORUS_API void horus_copy_strided(void *dst, const void *src,
                                  const int64_t *shape,
                                  const int64_t *byte_strides, int ndim,
                                  size_t itemsize);

/* Copy t's elements, row-major, into `dst`, a compact buffer of
 * horus_tensor_nbytes(t) bytes owned by the caller.  Takes no lock and
 * touches no shared state but the block's bytes, so bindings call it
 * without their interpreter lock (the caller keeps t alive meanwhile). */
HORUS_API void horus_tensor_pack(const horus_tensor *t, void *dst);

/* A new compact tensor in `pool` (t's own pool when NULL) holding a copy of
 * t's elements; t is unchanged.  *out is the caller's (horus_tensor_free).
 * Errors: those of horus_tensor_alloc (HORUS_ENOMEM when the pool is full). */
HORUS_API int horus_tensor_clone(horus_pool *pool, const horus_tensor *t,
                                 horus_tensor **out);

/* Make *t compact (row-major, no gaps): left as it is when it already is,
 * else replaced by horus_tensor_clone(pool, *t) and the old handle freed.
 * On error *t is unchanged and still the caller's.  Errors: those of
 * horus_tensor_clone. */
HORUS_API int horus_tensor_compact(horus_pool *pool, horus_tensor **t);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_TENSOR_H */
