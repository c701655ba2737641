/* test_shapes.c - shape arithmetic never overflows: every way a shape gets
 * into a tensor (alloc, view, DLPack import, a descriptor from another
 * process, slicing) refuses one whose nonzero dimensions multiply past
 * 2**62 bytes, a zero dimension included, and what it accepts computes its
 * strides and offsets without signed overflow (CI runs this under UBSan
 * with halt_on_error=1). */
#include <string.h>

#include "check.h"

#define MB (1ull << 20)
#define P62 (INT64_C(1) << 62)

static horus_pool *pool;

static void test_alloc(void) {
  horus_tensor *t = NULL;
  const int64_t zero_first[3] = {0, P62, P62};
  const int64_t zero_last[3] = {P62, P62, 0};
  const int64_t zero_mid[3] = {P62, 0, P62};
  CHECK_RC(horus_tensor_alloc(pool, zero_first, 3, HORUS_FLOAT64, &t), HORUS_EOVERFLOW);
  CHECK(strstr(horus_errmsg(), "overflows") != NULL);
  CHECK_RC(horus_tensor_alloc(pool, zero_last, 3, HORUS_FLOAT64, &t), HORUS_EOVERFLOW);
  CHECK_RC(horus_tensor_alloc(pool, zero_mid, 3, HORUS_UINT8, &t), HORUS_EOVERFLOW);
  /* 2**62 bytes of nonzero dimensions is the limit, itemsize included. */
  const int64_t at_limit[3] = {0, INT64_C(1) << 31, INT64_C(1) << 31};
  const int64_t past_limit[3] = {0, INT64_C(1) << 31, (INT64_C(1) << 31) + 1};
  CHECK_RC(horus_tensor_alloc(pool, past_limit, 3, HORUS_UINT8, &t), HORUS_EOVERFLOW);
  CHECK_RC(horus_tensor_alloc(pool, at_limit, 3, HORUS_UINT16, &t), HORUS_EOVERFLOW);
  CHECK_OK(horus_tensor_alloc(pool, at_limit, 3, HORUS_UINT8, &t));
  if (t) {
    const horus_tensor_desc *d = horus_tensor_get_desc(t);
    CHECK(horus_tensor_numel(t) == 0 && horus_tensor_nbytes(t) == 0);
    CHECK(d->strides[0] == P62 && d->strides[1] == INT64_C(1) << 31 && d->strides[2] == 1);
    horus_tensor_free(t);
  }
  const int64_t negative[2] = {0, -1};
  CHECK_RC(horus_tensor_alloc(pool, negative, 2, HORUS_UINT8, &t), HORUS_EINVAL);
}

static void test_view(void) {
  horus_tensor *empty, *v = NULL;
  const int64_t zero[1] = {0};
  CHECK_OK(horus_tensor_alloc(pool, zero, 1, HORUS_FLOAT32, &empty));
  /* Zero elements either way, but its strides would not fit int64_t. */
  const int64_t absurd[3] = {0, P62, P62};
  CHECK_RC(horus_tensor_view(empty, absurd, 3, &v), HORUS_EOVERFLOW);
  const int64_t fine[3] = {4, 0, 1000};
  CHECK_OK(horus_tensor_view(empty, fine, 3, &v));
  if (v) CHECK(horus_tensor_get_desc(v)->strides[0] == 1000);
  horus_tensor_free(v);
  horus_tensor_free(empty);
}

static void test_dlpack(void) {
  int64_t shape[3] = {0, P62, P62};
  static float cell;
  DLTensor dl;
  memset(&dl, 0, sizeof dl);
  dl.data = &cell;
  dl.device.device_type = kDLCPU;
  dl.ndim = 3;
  dl.dtype.code = kDLFloat;
  dl.dtype.bits = 32;
  dl.dtype.lanes = 1;
  dl.shape = shape;
  dl.strides = NULL; /* compact strides are computed from the shape */
  horus_tensor *t = NULL;
  bool copied;
  CHECK_RC(horus_tensor_from_dltensor(pool, &dl, &t, &copied), HORUS_EOVERFLOW);
  shape[1] = 3;
  shape[2] = 5;
  CHECK_OK(horus_tensor_from_dltensor(pool, &dl, &t, &copied));
  if (t) CHECK(horus_tensor_numel(t) == 0 && horus_tensor_get_desc(t)->strides[0] == 15);
  horus_tensor_free(t);
}

/* A descriptor as another process might send it. */
static void test_descriptor(void) {
  horus_tensor *block, *t = NULL, *s = NULL;
  const int64_t shape[2] = {10, 4};
  CHECK_OK(horus_tensor_alloc(pool, shape, 2, HORUS_UINT8, &block));
  horus_tensor_desc d = *horus_tensor_get_desc(block);
  d.shape[0] = 0, d.shape[1] = P62, d.shape[2] = P62;
  d.ndim = 3;
  CHECK_RC(horus_tensor_open(&d, &t), HORUS_EOVERFLOW);

  /* An empty view whose strides were never checked against the block
   * (an empty view touches nothing): slicing it must not compute
   * start * stride, which would overflow. */
  d = *horus_tensor_get_desc(block);
  d.shape[1] = 0;
  d.strides[0] = INT64_C(1) << 60;
  CHECK_OK(horus_tensor_open(&d, &t));
  if (t) {
    CHECK_OK(horus_tensor_slice(t, 9, 10, &s));
    if (s) {
      CHECK(horus_tensor_get_desc(s)->offset == d.offset);
      CHECK(horus_tensor_get_desc(s)->shape[0] == 1 && horus_tensor_numel(s) == 0);
    }
    horus_tensor_free(s);
    horus_tensor_free(t);
  }

  /* Slicing a real tensor still moves the offset by whole rows. */
  CHECK_OK(horus_tensor_slice(block, 3, 5, &s));
  if (s) CHECK(horus_tensor_get_desc(s)->offset == horus_tensor_get_desc(block)->offset + 12);
  horus_tensor_free(s);
  horus_tensor_free(block);
}

/* Opening remembers the last valid shape and skips re-checking it; where
 * the view lies must still be checked every time, and any other dtype,
 * shape or strides checked afresh. */
static void test_descriptor_repeats(void) {
  horus_tensor *big, *small, *t = NULL;
  const int64_t big_shape[2] = {64, 4}, small_shape[2] = {4, 4};
  CHECK_OK(horus_tensor_alloc(pool, big_shape, 2, HORUS_UINT8, &big));
  CHECK_OK(horus_tensor_alloc(pool, small_shape, 2, HORUS_UINT8, &small));
  horus_tensor_desc ok = *horus_tensor_get_desc(big), d;
  ok.shape[0] = 32; /* 128 bytes of the 256-byte block */
  for (int round = 0; round < 2; round++) {
    CHECK_OK(horus_tensor_open(&ok, &t));
    horus_tensor_free(t);
    t = NULL;
    d = ok; /* the same shape, in a block too small for it (64 bytes) */
    d.slot = horus_tensor_get_desc(small)->slot;
    d.generation = horus_tensor_get_desc(small)->generation;
    d.offset = horus_tensor_get_desc(small)->offset;
    CHECK_RC(horus_tensor_open(&d, &t), HORUS_EINVAL);
    d = ok; /* the same shape, running past the end of its block */
    d.offset += 256 - 64;
    CHECK_RC(horus_tensor_open(&d, &t), HORUS_EINVAL);
    d = ok; /* other strides: 32 rows 32 bytes apart need 996 bytes */
    d.strides[0] = 32;
    CHECK_RC(horus_tensor_open(&d, &t), HORUS_EINVAL);
    d.strides[0] = INT64_C(1) << 61; /* their extent overflows */
    CHECK_RC(horus_tensor_open(&d, &t), HORUS_EINVAL);
    d = ok; /* the second half of the block... */
    d.offset += 128;
    CHECK_OK(horus_tensor_open(&d, &t));
    horus_tensor_free(t);
    t = NULL;
    d.dtype = HORUS_UINT16; /* ...and the same shape of twice the bytes from there */
    CHECK_RC(horus_tensor_open(&d, &t), HORUS_EINVAL);
    d = ok; /* another dtype: twice the bytes, the whole block */
    d.dtype = HORUS_UINT16;
    CHECK_OK(horus_tensor_open(&d, &t));
    horus_tensor_free(t);
    t = NULL;
    d.shape[0] = 64; /* twice the bytes of the whole block */
    d.strides[0] = 4;
    CHECK_RC(horus_tensor_open(&d, &t), HORUS_EINVAL);
  }
  /* No failed open kept a reference. */
  CHECK(horus_pool_refcount(pool, ok.slot, ok.generation) == 1);
  horus_tensor_free(small);
  horus_tensor_free(big);
}

int main(void) {
  check_remove_namespace();
  if (horus_pool_open(9, 4 * MB, 64, HORUS_POOL_CREATE, &pool)) {
    fprintf(stderr, "pool: %s\n", horus_errmsg());
    return 1;
  }
  test_alloc();
  test_view();
  test_dlpack();
  test_descriptor();
  test_descriptor_repeats();
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_shapes");
}
