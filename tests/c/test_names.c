/* test_names.c - the names a C (or HORUS) program may use for encodings and
 * depth dtypes map to one canonical encoding/dtype, in any case; and a
 * read-only tensor (a received frame) stays read-only through every handle
 * derived from it and says so in a versioned DLPack export. */
#include <string.h>

#include "check.h"

#define MB (1ull << 20)

static void test_encoding_names(void) {
  static const struct {
    const char *name;
    horus_encoding want;
  } cases[] = {
      {"rgb8", HORUS_ENC_RGB8},         {"RGB8", HORUS_ENC_RGB8},
      {"rgb", HORUS_ENC_RGB8},          {"RGB", HORUS_ENC_RGB8},
      {"bgr", HORUS_ENC_BGR8},          {"rgba", HORUS_ENC_RGBA8},
      {"bgra", HORUS_ENC_BGRA8},        {"gray", HORUS_ENC_MONO8},
      {"grey", HORUS_ENC_MONO8},        {"Mono", HORUS_ENC_MONO8},
      {"mono8", HORUS_ENC_MONO8},       {"mono16", HORUS_ENC_MONO16},
      {"gray16", HORUS_ENC_MONO16},     {"yuyv", HORUS_ENC_YUV422},
      {"YUV422", HORUS_ENC_YUV422},     {"bayer", HORUS_ENC_BAYER_RGGB8},
      {"Bayer_RGGB8", HORUS_ENC_BAYER_RGGB8}, {"float", HORUS_ENC_MONO32F},
      {"rgb32f", HORUS_ENC_RGB32F},     {"depth16", HORUS_ENC_DEPTH16},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int e = horus_encoding_from_name(cases[i].name);
    CHECK(e == (int)cases[i].want);
    if (e != (int)cases[i].want) fprintf(stderr, "  name '%s' gave %d\n", cases[i].name, e);
  }
  /* The canonical spelling is what comes back, whatever was asked for. */
  CHECK(strcmp(horus_encoding_name((horus_encoding)horus_encoding_from_name("GREY")),
               "mono8") == 0);
  const char *bad[] = {"", "rgb9", "rgb8 ", "bayer_bggr8", "floats", "r", NULL};
  for (int i = 0; bad[i]; i++) CHECK(horus_encoding_from_name(bad[i]) == HORUS_EINVAL);
  CHECK(horus_encoding_from_name(NULL) == HORUS_EINVAL);
}

static void test_depth_names(void) {
  const char *meters[] = {"float32", "f32", "float", "meters", "m", "M", "Meters", NULL};
  const char *mm[] = {"uint16", "u16", "mm", "millimeters", "MM", NULL};
  for (int i = 0; meters[i]; i++) CHECK(horus_depth_dtype_from_name(meters[i]) == HORUS_FLOAT32);
  for (int i = 0; mm[i]; i++) CHECK(horus_depth_dtype_from_name(mm[i]) == HORUS_UINT16);
  const char *bad[] = {"float64", "uint8", "", "millimetres ", "cm", NULL};
  for (int i = 0; bad[i]; i++) CHECK(horus_depth_dtype_from_name(bad[i]) == HORUS_EINVAL);
  CHECK(horus_depth_dtype_from_name(NULL) == HORUS_EINVAL);
}

static void test_readonly(horus_pool *pool) {
  const int64_t shape[2] = {4, 6};
  horus_tensor *t = NULL, *r = NULL, *v = NULL, *s = NULL, *w = NULL;
  CHECK_OK(horus_tensor_alloc(pool, shape, 2, HORUS_UINT8, &t));
  if (!t) return;
  CHECK(!horus_tensor_is_readonly(t));
  /* A writable tensor exports a writable versioned capsule. */
  void *m = NULL;
  CHECK_OK(horus_tensor_to_dlpack(t, true, &m));
  if (m) {
    DLManagedTensorVersioned *mv = m;
    CHECK((mv->flags & DLPACK_FLAG_BITMASK_READ_ONLY) == 0);
    mv->deleter(mv);
  }
  CHECK_OK(horus_tensor_ref(t, &r));
  horus_tensor_set_readonly(r);
  CHECK(horus_tensor_is_readonly(r));
  CHECK(!horus_tensor_is_readonly(t)); /* per handle: the publisher's stays writable */
  const int64_t flat[1] = {-1};
  CHECK_OK(horus_tensor_view(r, flat, 1, &v));
  CHECK_OK(horus_tensor_slice(r, 1, 3, &s));
  const int64_t row[1] = {6}, bstr[1] = {1};
  CHECK_OK(horus_tensor_within(r, (const uint8_t *)horus_tensor_data(r) + 6, row, bstr, 1,
                               HORUS_UINT8, &w));
  CHECK(v && horus_tensor_is_readonly(v));
  CHECK(s && horus_tensor_is_readonly(s));
  CHECK(w && horus_tensor_is_readonly(w));
  CHECK_OK(horus_tensor_to_dlpack(r, true, &m));
  if (m) {
    DLManagedTensorVersioned *mv = m;
    CHECK((mv->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
    mv->deleter(mv);
  }
  horus_tensor_free(w);
  horus_tensor_free(s);
  horus_tensor_free(v);
  horus_tensor_free(r);
  horus_tensor_free(t);
}

int main(void) {
  check_remove_namespace();
  test_encoding_names();
  test_depth_names();
  horus_pool *pool = NULL;
  if (horus_pool_open(11, 4 * MB, 64, HORUS_POOL_CREATE, &pool)) {
    fprintf(stderr, "pool: %s\n", horus_errmsg());
    check_remove_namespace();
    return 1;
  }
  test_readonly(pool);
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_names");
}
