/* test_convert.c - the conversions a binding needs, done once in the core:
 * packing and compacting strided tensors, cloning, float64 depth to float32
 * meters, inferring an image encoding, a wire payload packed and rebuilt.
 * The Python extension calls these; a C program gets the same results. */
#include <string.h>

#include "check.h"

#define MB (1ull << 20)

static horus_pool *pool;

/* A (4, 6) int32 tensor holding 0..23, and its strided view of every other
 * column, (4, 3) with strides (6, 2). */
static horus_tensor *counting(void) {
  const int64_t shape[2] = {4, 6};
  horus_tensor *t = NULL;
  CHECK_OK(horus_tensor_alloc(pool, shape, 2, HORUS_INT32, &t));
  if (t)
    for (int32_t i = 0; i < 24; i++) ((int32_t *)horus_tensor_data(t))[i] = i;
  return t;
}

static horus_tensor *every_other_column(const horus_tensor *t) {
  horus_tensor_desc d = *horus_tensor_get_desc(t);
  d.shape[1] = 3;
  d.strides[1] = 2;
  horus_tensor *v = NULL;
  CHECK_OK(horus_tensor_open(&d, &v));
  return v;
}

static void test_pack_clone_compact(void) {
  horus_tensor *t = counting();
  horus_tensor *v = t ? every_other_column(t) : NULL;
  if (!v) {
    horus_tensor_free(t);
    return;
  }
  CHECK(!horus_tensor_is_contiguous(v));
  int32_t packed[12], want[12];
  for (int i = 0; i < 12; i++) want[i] = (i / 3) * 6 + (i % 3) * 2;
  horus_tensor_pack(v, packed);
  CHECK(memcmp(packed, want, sizeof want) == 0);

  horus_tensor *c = NULL;
  CHECK_OK(horus_tensor_clone(NULL, v, &c));
  if (c) {
    CHECK(horus_tensor_is_contiguous(c));
    CHECK(horus_tensor_pool(c) == pool);
    CHECK(horus_tensor_get_desc(c)->shape[0] == 4 && horus_tensor_get_desc(c)->shape[1] == 3);
    CHECK(memcmp(horus_tensor_data(c), want, sizeof want) == 0);
    /* A clone is a copy: writing it leaves the original alone. */
    ((int32_t *)horus_tensor_data(c))[0] = -1;
    CHECK(((int32_t *)horus_tensor_data(t))[0] == 0);
  }

  /* Compacting a compact tensor keeps the same handle; a strided one is
   * replaced by a compact copy and its handle freed. */
  horus_tensor *same = c;
  CHECK_OK(horus_tensor_compact(pool, &c));
  CHECK(c == same);
  uint32_t refs = horus_tensor_refcount(t);
  CHECK_OK(horus_tensor_compact(pool, &v));
  CHECK(horus_tensor_is_contiguous(v));
  CHECK(memcmp(horus_tensor_data(v), want, sizeof want) == 0);
  CHECK(horus_tensor_refcount(t) == refs - 1);

  /* A pool too small for the copy: an error, and the tensor still ours. */
  horus_pool *tiny = NULL;
  CHECK_OK(horus_pool_open(21, 64 * 1024, 4, HORUS_POOL_CREATE, &tiny));
  const int64_t big[2] = {200, 200};
  horus_tensor *b = NULL, *bv = NULL;
  CHECK_OK(horus_tensor_alloc(pool, big, 2, HORUS_FLOAT64, &b));
  if (b && tiny) {
    horus_tensor_desc d = *horus_tensor_get_desc(b);
    d.shape[1] = 100;
    d.strides[1] = 2;
    CHECK_OK(horus_tensor_open(&d, &bv));
    horus_tensor *keep = bv;
    CHECK_RC(horus_tensor_compact(tiny, &bv), HORUS_ENOMEM);
    CHECK(bv == keep);
  }
  horus_tensor_free(bv);
  horus_tensor_free(b);
  horus_pool_close(tiny);

  horus_tensor_free(c);
  horus_tensor_free(v);
  horus_tensor_free(t);
}

/* A strided tensor packed for the wire and rebuilt from header and payload
 * is the same tensor, compact, in the receiving pool. */
static void test_wire(void) {
  horus_tensor *t = counting();
  horus_tensor *v = t ? every_other_column(t) : NULL;
  if (!v) {
    horus_tensor_free(t);
    return;
  }
  horus_msg m = {.type = HORUS_MSG_TENSOR, .tensor = *horus_tensor_get_desc(v)};
  uint8_t header[HORUS_WIRE_HEADER_SIZE];
  int32_t payload[12], want[12];
  for (int i = 0; i < 12; i++) want[i] = (i / 3) * 6 + (i % 3) * 2;
  CHECK_OK(horus_wire_encode(&m, 7, header));
  CHECK_RC(horus_wire_pack(v, payload, sizeof payload - 1), HORUS_EINVAL);
  CHECK_OK(horus_wire_pack(v, payload, sizeof payload));
  CHECK(memcmp(payload, want, sizeof want) == 0);

  horus_msg got;
  uint64_t seq = 0;
  horus_tensor *r = NULL;
  CHECK_RC(horus_wire_rebuild(pool, header, sizeof header, payload, sizeof payload - 4,
                              &got, &seq, &r), HORUS_EINVAL);
  CHECK(strstr(horus_errmsg(), "payload of 44 bytes") != NULL);
  CHECK(r == NULL);
  CHECK_RC(horus_wire_rebuild(pool, header, sizeof header - 1, payload, sizeof payload,
                              &got, &seq, &r), HORUS_EINVAL);
  CHECK(r == NULL);
  CHECK_OK(horus_wire_rebuild(pool, header, sizeof header, payload, sizeof payload, &got,
                              &seq, &r));
  if (r) {
    const horus_tensor_desc *d = horus_tensor_get_desc(r);
    CHECK(seq == 7 && got.type == HORUS_MSG_TENSOR);
    CHECK(d->dtype == HORUS_INT32 && d->ndim == 2 && d->shape[0] == 4 && d->shape[1] == 3);
    CHECK(horus_tensor_is_contiguous(r));
    CHECK(memcmp(&got.tensor, d, sizeof *d) == 0);
    CHECK(memcmp(horus_tensor_data(r), want, sizeof want) == 0);
  }
  horus_tensor_free(r);
  horus_tensor_free(v);
  horus_tensor_free(t);
}

static void test_encoding_infer(void) {
  static const struct {
    int ndim;
    int64_t c;
    horus_dtype dtype;
    int want;
  } cases[] = {
      {2, 0, HORUS_UINT8, HORUS_ENC_MONO8},     {2, 0, HORUS_UINT16, HORUS_ENC_MONO16},
      {2, 0, HORUS_FLOAT32, HORUS_ENC_MONO32F}, {3, 1, HORUS_UINT8, HORUS_ENC_MONO8},
      {3, 1, HORUS_FLOAT32, HORUS_ENC_MONO32F}, {3, 2, HORUS_UINT8, HORUS_ENC_YUV422},
      {3, 3, HORUS_UINT8, HORUS_ENC_RGB8},      {3, 3, HORUS_FLOAT32, HORUS_ENC_RGB32F},
      {3, 4, HORUS_UINT8, HORUS_ENC_RGBA8},     {2, 0, HORUS_INT8, HORUS_EINVAL},
      {2, 0, HORUS_FLOAT64, HORUS_EINVAL},      {3, 1, HORUS_INT32, HORUS_EINVAL},
      {3, 2, HORUS_FLOAT32, HORUS_EINVAL},      {3, 4, HORUS_UINT16, HORUS_EINVAL},
      {3, 5, HORUS_UINT8, HORUS_EINVAL},        {1, 0, HORUS_UINT8, HORUS_EINVAL},
      {4, 0, HORUS_UINT8, HORUS_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    horus_tensor_desc d = {.ndim = (uint8_t)cases[i].ndim, .dtype = (uint8_t)cases[i].dtype};
    for (int k = 0; k < d.ndim; k++) d.shape[k] = 5;
    if (d.ndim == 3) d.shape[2] = cases[i].c;
    int got = horus_encoding_infer(&d);
    CHECK(got == cases[i].want);
    if (got != cases[i].want) fprintf(stderr, "  case %zu: got %d\n", i, got);
  }
  horus_tensor_desc bad = {.ndim = 2, .dtype = HORUS_INT8};
  CHECK_RC(horus_encoding_infer(&bad), HORUS_EINVAL);
  CHECK(strstr(horus_errmsg(), "2-d int8") != NULL);
}

static void test_depth_to_float32(void) {
  const int64_t shape[2] = {2, 3};
  const double meters[6] = {0.0, 0.25, 1.5, 1e-3, 65.535, 1.0 / 3.0};
  horus_tensor *t = NULL, *f = NULL;
  CHECK_OK(horus_tensor_alloc(pool, shape, 2, HORUS_FLOAT64, &t));
  if (!t) return;
  memcpy(horus_tensor_data(t), meters, sizeof meters);
  CHECK_OK(horus_depth_to_float32(pool, t, &f));
  if (f) {
    const horus_tensor_desc *d = horus_tensor_get_desc(f);
    CHECK(d->dtype == HORUS_FLOAT32 && d->ndim == 2 && d->shape[0] == 2 && d->shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(((float *)horus_tensor_data(f))[i] == (float)meters[i]);
    horus_depth dep;
    CHECK_OK(horus_depth_wrap(f, &dep));
    double m = 0;
    CHECK_OK(horus_depth_get(&dep, 2, 0, &m));
    CHECK(m == (double)1.5f);
    horus_frame_clear(&dep); /* owns f now */
  }
  /* Not float64, or strided: refused, nothing allocated. */
  horus_tensor *out = NULL;
  horus_tensor_desc sd = *horus_tensor_get_desc(t);
  sd.shape[1] = 2;
  sd.strides[1] = 2;
  horus_tensor *strided = NULL;
  CHECK_OK(horus_tensor_open(&sd, &strided));
  if (strided) CHECK_RC(horus_depth_to_float32(pool, strided, &out), HORUS_EINVAL);
  CHECK(out == NULL);
  horus_tensor_free(strided);
  horus_tensor *u = NULL;
  CHECK_OK(horus_tensor_alloc(pool, shape, 2, HORUS_UINT16, &u));
  if (u) CHECK_RC(horus_depth_to_float32(pool, u, &out), HORUS_EINVAL);
  CHECK(out == NULL);
  horus_tensor_free(u);
  horus_tensor_free(t);
}

int main(void) {
  check_remove_namespace();
  if (horus_pool_open(20, 4 * MB, 64, HORUS_POOL_CREATE, &pool)) {
    fprintf(stderr, "pool: %s\n", horus_errmsg());
    return 1;
  }
  test_pack_clone_compact();
  test_wire();
  test_encoding_infer();
  test_depth_to_float32();
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_convert");
}
