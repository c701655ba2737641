/* image.c - images: encodings, pixel access, fills, copies and regions. */
#include <math.h>
#include <string.h>

#include "horus/image.h"
#include "internal.h"

static const struct {
  const char *name;
  uint8_t channels;
  uint8_t bytes_per_pixel;
  horus_dtype dtype;
} encodings[HORUS_ENC_COUNT] = {
    [HORUS_ENC_MONO8] = {"mono8", 1, 1, HORUS_UINT8},
    [HORUS_ENC_MONO16] = {"mono16", 1, 2, HORUS_UINT16},
    [HORUS_ENC_RGB8] = {"rgb8", 3, 3, HORUS_UINT8},
    [HORUS_ENC_BGR8] = {"bgr8", 3, 3, HORUS_UINT8},
    [HORUS_ENC_RGBA8] = {"rgba8", 4, 4, HORUS_UINT8},
    [HORUS_ENC_BGRA8] = {"bgra8", 4, 4, HORUS_UINT8},
    [HORUS_ENC_YUV422] = {"yuv422", 2, 2, HORUS_UINT8},
    [HORUS_ENC_MONO32F] = {"mono32f", 1, 4, HORUS_FLOAT32},
    [HORUS_ENC_RGB32F] = {"rgb32f", 3, 12, HORUS_FLOAT32},
    [HORUS_ENC_BAYER_RGGB8] = {"bayer_rggb8", 1, 1, HORUS_UINT8},
    [HORUS_ENC_DEPTH16] = {"depth16", 1, 2, HORUS_UINT16},
};

static bool enc_ok(horus_encoding e) { return (unsigned)e < HORUS_ENC_COUNT; }

const char *horus_encoding_name(horus_encoding e) {
  return enc_ok(e) ? encodings[e].name : "invalid";
}

/* The short names HORUS programs and OpenCV/PIL users write.  Each maps to
 * one canonical encoding, which is what every name, repr and error shows:
 * "mono" and "gray" are 8-bit one-channel (OpenCV's GRAY, PIL's "L");
 * "bayer" is RGGB, the only Bayer layout we carry; "float" is one float32
 * channel (OpenCV's CV_32FC1, PIL's "F"), the HORUS float image. */
static const struct {
  const char *alias;
  horus_encoding enc;
} aliases[] = {
    {"rgb", HORUS_ENC_RGB8},     {"bgr", HORUS_ENC_BGR8},
    {"rgba", HORUS_ENC_RGBA8},   {"bgra", HORUS_ENC_BGRA8},
    {"gray", HORUS_ENC_MONO8},   {"grey", HORUS_ENC_MONO8},
    {"mono", HORUS_ENC_MONO8},   {"gray8", HORUS_ENC_MONO8},
    {"grey8", HORUS_ENC_MONO8},  {"gray16", HORUS_ENC_MONO16},
    {"grey16", HORUS_ENC_MONO16}, {"yuyv", HORUS_ENC_YUV422},
    {"bayer", HORUS_ENC_BAYER_RGGB8}, {"float", HORUS_ENC_MONO32F},
};

int horus_encoding_infer(const horus_tensor_desc *d) {
  int c = d->ndim == 3 ? (int)d->shape[2] : d->ndim == 2 ? 1 : 0;
  if (d->ndim == 2 || c == 1) {
    if (d->dtype == HORUS_UINT8) return HORUS_ENC_MONO8;
    if (d->dtype == HORUS_UINT16) return HORUS_ENC_MONO16;
    if (d->dtype == HORUS_FLOAT32) return HORUS_ENC_MONO32F;
  } else if (d->ndim == 3) {
    if (d->dtype == HORUS_UINT8 && c == 2) return HORUS_ENC_YUV422;
    if (d->dtype == HORUS_UINT8 && c == 3) return HORUS_ENC_RGB8;
    if (d->dtype == HORUS_FLOAT32 && c == 3) return HORUS_ENC_RGB32F;
    if (d->dtype == HORUS_UINT8 && c == 4) return HORUS_ENC_RGBA8;
  }
  return horus__err(HORUS_EINVAL, "cannot infer an encoding for a %d-d %s tensor",
                    d->ndim, horus_dtype_name((horus_dtype)d->dtype));
}

int horus_encoding_from_name(const char *name) {
  if (!name) return HORUS_EINVAL;
  for (int i = 0; i < HORUS_ENC_COUNT; i++)
    if (horus__name_eq(encodings[i].name, name)) return i;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (horus__name_eq(aliases[i].alias, name)) return (int)aliases[i].enc;
  return HORUS_EINVAL;
}

int horus_encoding_channels(horus_encoding e) { return enc_ok(e) ? encodings[e].channels : 0; }
int horus_encoding_bytes_per_pixel(horus_encoding e) {
  return enc_ok(e) ? encodings[e].bytes_per_pixel : 0;
}
horus_dtype horus_encoding_dtype(horus_encoding e) {
  return enc_ok(e) ? encodings[e].dtype : HORUS_UINT8;
}

static int check_image(const horus_image *img) {
  if (!img || img->type != HORUS_MSG_IMAGE || !img->tensor)
    return horus__err(HORUS_ETYPE, "not an image");
  return 0;
}

int horus_image_create(horus_pool *pool, uint32_t height, uint32_t width,
                       horus_encoding enc, horus_image *img) {
  if (!enc_ok(enc)) return horus__err(HORUS_EINVAL, "unknown encoding %d", (int)enc);
  if (height == 0 || width == 0)
    return horus__err(HORUS_EINVAL, "image of %ux%u: both dimensions must be > 0",
                      width, height);
  int64_t shape[3] = {height, width, encodings[enc].channels};
  horus_tensor *t;
  int r = horus_tensor_alloc(pool, shape, shape[2] == 1 ? 2 : 3, encodings[enc].dtype, &t);
  if (r) return r;
  if ((r = horus_image_wrap(t, enc, img))) horus_tensor_free(t);
  return r;
}

int horus_image_wrap(horus_tensor *t, horus_encoding enc, horus_image *img) {
  if (!enc_ok(enc)) return horus__err(HORUS_EINVAL, "unknown encoding %d", (int)enc);
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  int ch = encodings[enc].channels;
  bool shape_ok = (ch == 1 && d->ndim == 2) ||
                  (ch > 1 && d->ndim == 3 && d->shape[2] == ch);
  if (!shape_ok || d->dtype != encodings[enc].dtype)
    return horus__err(HORUS_EINVAL, "encoding '%s' needs %s %s, got a %d-d %s tensor"
                      "%s", encodings[enc].name, ch == 1 ? "(H, W)" : "(H, W, C)",
                      horus_dtype_name(encodings[enc].dtype), d->ndim,
                      horus_dtype_name((horus_dtype)d->dtype),
                      ch > 1 && d->ndim == 3 ? " with another channel count" : "");
  if (d->shape[0] <= 0 || d->shape[1] <= 0 || d->shape[0] > UINT32_MAX ||
      d->shape[1] > UINT32_MAX)
    return horus__err(HORUS_EINVAL, "image dimensions %lldx%lld are invalid",
                      (long long)d->shape[1], (long long)d->shape[0]);
  if (!horus_tensor_is_contiguous(t))
    return horus__err(HORUS_EINVAL, "image rows must be packed (a contiguous tensor)");
  memset(img, 0, sizeof *img);
  img->type = HORUS_MSG_IMAGE;
  img->tensor = t;
  img->meta.kind_data = (uint32_t)enc;
  return 0;
}

uint32_t horus_image_height(const horus_image *img) {
  return (uint32_t)horus_tensor_get_desc(img->tensor)->shape[0];
}
uint32_t horus_image_width(const horus_image *img) {
  return (uint32_t)horus_tensor_get_desc(img->tensor)->shape[1];
}
horus_encoding horus_image_encoding(const horus_image *img) {
  return (horus_encoding)img->meta.kind_data;
}
uint64_t horus_image_step(const horus_image *img) {
  return (uint64_t)horus_image_width(img) * encodings[horus_image_encoding(img)].bytes_per_pixel;
}

static uint8_t *pixel_at(const horus_image *img, uint32_t x, uint32_t y) {
  return (uint8_t *)horus_tensor_data(img->tensor) + (uint64_t)y * horus_image_step(img) +
         (uint64_t)x * encodings[horus_image_encoding(img)].bytes_per_pixel;
}

/* Check values for the element type before anything is written. */
static int check_values(const horus_image *img, const double *v, int n) {
  horus_encoding e = horus_image_encoding(img);
  if (n != encodings[e].channels)
    return horus__err(HORUS_EINVAL, "'%s' has %d channels, got %d values",
                      encodings[e].name, encodings[e].channels, n);
  double hi = encodings[e].dtype == HORUS_UINT8 ? 255.0 : 65535.0;
  for (int i = 0; i < n; i++) {
    if (encodings[e].dtype == HORUS_FLOAT32) {
      if (isfinite(v[i]) && fabs(v[i]) > 3.4028234663852886e38)
        return horus__err(HORUS_EINVAL, "value %g does not fit float32", v[i]);
      continue;
    }
    if (!(v[i] >= 0 && v[i] <= hi) || v[i] != floor(v[i]))
      return horus__err(HORUS_EINVAL, "value %g is not an integer in 0..%.0f for '%s'",
                        v[i], hi, encodings[e].name);
  }
  return 0;
}

static void store(const horus_image *img, uint8_t *px, const double *v) {
  horus_encoding e = horus_image_encoding(img);
  for (int c = 0; c < encodings[e].channels; c++) {
    switch (encodings[e].dtype) {
      case HORUS_UINT8: px[c] = (uint8_t)v[c]; break;
      case HORUS_UINT16: ((uint16_t *)(void *)px)[c] = (uint16_t)v[c]; break;
      default: ((float *)(void *)px)[c] = (float)v[c]; break;
    }
  }
}

int horus_image_get_pixel(const horus_image *img, uint32_t x, uint32_t y, double *v) {
  int r = check_image(img);
  if (r) return r;
  if (x >= horus_image_width(img) || y >= horus_image_height(img))
    return horus__err(HORUS_ERANGE, "pixel (%u, %u) outside the %ux%u image", x, y,
                      horus_image_width(img), horus_image_height(img));
  horus_encoding e = horus_image_encoding(img);
  const uint8_t *px = pixel_at(img, x, y);
  for (int c = 0; c < encodings[e].channels; c++) {
    switch (encodings[e].dtype) {
      case HORUS_UINT8: v[c] = px[c]; break;
      case HORUS_UINT16: v[c] = ((const uint16_t *)(const void *)px)[c]; break;
      default: v[c] = ((const float *)(const void *)px)[c]; break;
    }
  }
  return 0;
}

int horus_image_set_pixel(horus_image *img, uint32_t x, uint32_t y, const double *v, int n) {
  int r = check_image(img);
  if (r) return r;
  if (x >= horus_image_width(img) || y >= horus_image_height(img))
    return horus__err(HORUS_ERANGE, "pixel (%u, %u) outside the %ux%u image", x, y,
                      horus_image_width(img), horus_image_height(img));
  if ((r = check_values(img, v, n))) return r;
  store(img, pixel_at(img, x, y), v);
  return 0;
}

int horus_image_fill(horus_image *img, const double *v, int n) {
  int r = check_image(img);
  if (r) return r;
  if ((r = check_values(img, v, n))) return r;
  int bpp = encodings[horus_image_encoding(img)].bytes_per_pixel;
  uint8_t *data = horus_tensor_data(img->tensor);
  uint64_t total = horus_tensor_nbytes(img->tensor);
  store(img, data, v);
  /* Doubling copies: log2(pixels) memcpy calls instead of one store each. */
  uint64_t done = (uint64_t)bpp;
  while (done < total) {
    uint64_t n_copy = done < total - done ? done : total - done;
    memcpy(data + done, data, n_copy);
    done += n_copy;
  }
  return 0;
}

int horus_image_copy_from(horus_image *img, const void *src, size_t len) {
  int r = check_image(img);
  if (r) return r;
  uint64_t nbytes = horus_tensor_nbytes(img->tensor);
  if (len != nbytes)
    return horus__err(HORUS_EINVAL, "copy_from needs exactly %llu bytes, got %zu",
                      (unsigned long long)nbytes, len);
  memmove(horus_tensor_data(img->tensor), src, len);
  return 0;
}

int horus_image_roi(const horus_image *img, uint32_t x, uint32_t y, uint32_t w,
                    uint32_t h, void *out, size_t out_len) {
  int r = check_image(img);
  if (r) return r;
  uint32_t W = horus_image_width(img), H = horus_image_height(img);
  if (w == 0 || h == 0) return horus__err(HORUS_EINVAL, "roi of %ux%u is empty", w, h);
  if (x >= W || y >= H || w > W - x || h > H - y)
    return horus__err(HORUS_ERANGE, "roi x=%u y=%u w=%u h=%u leaves the %ux%u image",
                      x, y, w, h, W, H);
  uint64_t bpp = (uint64_t)encodings[horus_image_encoding(img)].bytes_per_pixel;
  uint64_t row = w * bpp;
  if (out_len < row * h)
    return horus__err(HORUS_EINVAL, "roi needs %llu bytes of output, got %zu",
                      (unsigned long long)(row * h), out_len);
  for (uint32_t j = 0; j < h; j++)
    memcpy((uint8_t *)out + j * row, pixel_at(img, x, y + j), (size_t)row);
  return 0;
}
