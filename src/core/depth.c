/* depth.c - depth images in meters (float32) or millimeters (uint16). */
#include <math.h>
#include <string.h>

#include "horus/depth.h"
#include "internal.h"

#define MM_PER_M 1000.0

int horus_depth_dtype_from_name(const char *name) {
  static const char *const meters[] = {"float32", "f32", "float", "meters", "m"};
  static const char *const mm[] = {"uint16", "u16", "mm", "millimeters"};
  if (!name) return HORUS_EINVAL;
  for (size_t i = 0; i < sizeof meters / sizeof meters[0]; i++)
    if (horus__name_eq(meters[i], name)) return HORUS_FLOAT32;
  for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++)
    if (horus__name_eq(mm[i], name)) return HORUS_UINT16;
  return HORUS_EINVAL;
}

int horus_depth_create(horus_pool *pool, uint32_t height, uint32_t width,
                       horus_dtype dtype, horus_depth *d) {
  if (dtype != HORUS_FLOAT32 && dtype != HORUS_UINT16)
    return horus__err(HORUS_EINVAL, "depth dtype must be float32 (meters) or uint16 "
                      "(millimeters), not %s", horus_dtype_name(dtype));
  if (height == 0 || width == 0)
    return horus__err(HORUS_EINVAL, "depth image of %ux%u: both dimensions must be > 0",
                      width, height);
  int64_t shape[2] = {height, width};
  horus_tensor *t;
  int r = horus_tensor_alloc(pool, shape, 2, dtype, &t);
  if (r) return r;
  if ((r = horus_depth_wrap(t, d))) horus_tensor_free(t);
  return r;
}

int horus_depth_wrap(horus_tensor *t, horus_depth *d) {
  const horus_tensor_desc *td = horus_tensor_get_desc(t);
  if (td->ndim != 2 || (td->dtype != HORUS_FLOAT32 && td->dtype != HORUS_UINT16))
    return horus__err(HORUS_EINVAL, "a depth image is an (H, W) float32 or uint16 "
                      "tensor, got a %d-d %s one", td->ndim,
                      horus_dtype_name((horus_dtype)td->dtype));
  if (td->shape[0] <= 0 || td->shape[1] <= 0 || td->shape[0] > UINT32_MAX ||
      td->shape[1] > UINT32_MAX)
    return horus__err(HORUS_EINVAL, "depth image dimensions must be > 0");
  if (!horus_tensor_is_contiguous(t))
    return horus__err(HORUS_EINVAL, "depth image tensor must be contiguous");
  memset(d, 0, sizeof *d);
  d->type = HORUS_MSG_DEPTH;
  d->tensor = t;
  d->meta.kind_data = td->dtype;
  d->meta.depth_scale = td->dtype == HORUS_UINT16 ? 1.0 / MM_PER_M : 1.0;
  return 0;
}

int horus_depth_to_float32(horus_pool *pool, const horus_tensor *t, horus_tensor **out) {
  const horus_tensor_desc *td = horus_tensor_get_desc(t);
  if (td->dtype != HORUS_FLOAT64 || !horus_tensor_is_contiguous(t))
    return horus__err(HORUS_EINVAL, "converting to float32 meters needs a compact "
                      "float64 tensor, got a %s one%s",
                      horus_dtype_name((horus_dtype)td->dtype),
                      horus_tensor_is_contiguous(t) ? "" : " (strided)");
  int r = horus_tensor_alloc(pool, td->shape, td->ndim, HORUS_FLOAT32, out);
  if (r) return r;
  const double *src = horus_tensor_data(t);
  float *dst = horus_tensor_data(*out);
  int64_t n = horus_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
  return 0;
}

uint32_t horus_depth_height(const horus_depth *d) {
  return (uint32_t)horus_tensor_get_desc(d->tensor)->shape[0];
}
uint32_t horus_depth_width(const horus_depth *d) {
  return (uint32_t)horus_tensor_get_desc(d->tensor)->shape[1];
}
double horus_depth_scale(const horus_depth *d) { return d->meta.depth_scale; }

static bool is_u16(const horus_depth *d) {
  return horus_tensor_get_desc(d->tensor)->dtype == HORUS_UINT16;
}

static int check(const horus_depth *d, uint32_t x, uint32_t y) {
  if (!d || d->type != HORUS_MSG_DEPTH || !d->tensor)
    return horus__err(HORUS_ETYPE, "not a depth image");
  if (x >= horus_depth_width(d) || y >= horus_depth_height(d))
    return horus__err(HORUS_ERANGE, "pixel (%u, %u) outside the %ux%u depth image", x,
                      y, horus_depth_width(d), horus_depth_height(d));
  return 0;
}

int horus_depth_get(const horus_depth *d, uint32_t x, uint32_t y, double *meters) {
  int r = check(d, x, y);
  if (r) return r;
  uint64_t i = (uint64_t)y * horus_depth_width(d) + x;
  if (is_u16(d)) *meters = ((const uint16_t *)horus_tensor_data(d->tensor))[i] / MM_PER_M;
  else *meters = ((const float *)horus_tensor_data(d->tensor))[i];
  return 0;
}

int horus_depth_set(horus_depth *d, uint32_t x, uint32_t y, double meters) {
  int r = check(d, x, y);
  if (r) return r;
  if (isnan(meters) || meters < 0)
    return horus__err(HORUS_EINVAL, "depth %g m: must be a number >= 0", meters);
  uint64_t i = (uint64_t)y * horus_depth_width(d) + x;
  if (is_u16(d)) {
    double mm = nearbyint(meters * MM_PER_M);
    if (!(mm <= 65535.0))
      return horus__err(HORUS_EINVAL, "depth %g m does not fit a uint16 millimeter "
                        "image (at most 65.535 m)", meters);
    ((uint16_t *)horus_tensor_data(d->tensor))[i] = (uint16_t)mm;
  } else {
    if (isfinite(meters) && meters > 3.4028234663852886e38)
      return horus__err(HORUS_EINVAL, "depth %g m does not fit float32", meters);
    ((float *)horus_tensor_data(d->tensor))[i] = (float)meters;
  }
  return 0;
}

int horus_depth_statistics(const horus_depth *d, double *min, double *max,
                           double *mean, uint64_t *count) {
  int r = check(d, 0, 0);
  if (r) return r;
  uint64_t n = (uint64_t)horus_depth_width(d) * horus_depth_height(d), valid = 0;
  double lo = INFINITY, hi = 0, sum = 0;
  if (is_u16(d)) {
    /* Integer accumulation: exact and vectorisable. */
    const uint16_t *p = horus_tensor_data(d->tensor);
    uint64_t isum = 0;
    uint16_t ilo = UINT16_MAX, ihi = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint16_t v = p[i];
      if (!v) continue;
      valid++;
      isum += v;
      ilo = v < ilo ? v : ilo;
      ihi = v > ihi ? v : ihi;
    }
    lo = ilo / MM_PER_M, hi = ihi / MM_PER_M, sum = (double)isum / MM_PER_M;
  } else {
    const float *p = horus_tensor_data(d->tensor);
    for (uint64_t i = 0; i < n; i++) {
      float v = p[i];
      if (!(v > 0) || !isfinite(v)) continue;
      valid++;
      sum += v;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  }
  *count = valid;
  *min = valid ? lo : 0;
  *max = valid ? hi : 0;
  *mean = valid ? sum / (double)valid : 0;
  return 0;
}
