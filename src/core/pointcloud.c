/* pointcloud.c - point clouds: (N, F) tensors; N may be zero. */
#include <string.h>

#include "horus/pointcloud.h"
#include "internal.h"

int horus_pointcloud_create(horus_pool *pool, uint64_t n, uint32_t fields,
                            horus_dtype dtype, horus_pointcloud *pc) {
  if (fields == 0) return horus__err(HORUS_EINVAL, "a point needs at least one field");
  if ((unsigned)dtype >= HORUS_DTYPE_COUNT || dtype == HORUS_BOOL)
    return horus__err(HORUS_EINVAL, "point cloud dtype %s is not numeric",
                      horus_dtype_name(dtype));
  if (n > (uint64_t)INT64_MAX) return horus__err(HORUS_EOVERFLOW, "too many points");
  int64_t shape[2] = {(int64_t)n, fields};
  horus_tensor *t;
  int r = horus_tensor_alloc(pool, shape, 2, dtype, &t);
  if (r) return r;
  if ((r = horus_pointcloud_wrap(t, pc))) horus_tensor_free(t);
  return r;
}

int horus_pointcloud_wrap(horus_tensor *t, horus_pointcloud *pc) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  if (d->ndim != 2 || d->shape[1] < 1 || d->shape[1] > UINT32_MAX)
    return horus__err(HORUS_EINVAL, "a point cloud is an (N, F) tensor with F >= 1, "
                      "got %d dimensions", d->ndim);
  if (d->dtype == HORUS_BOOL)
    return horus__err(HORUS_EINVAL, "point cloud dtype bool is not numeric");
  if (!horus_tensor_is_contiguous(t))
    return horus__err(HORUS_EINVAL, "point cloud tensor must be contiguous");
  memset(pc, 0, sizeof *pc);
  pc->type = HORUS_MSG_POINTCLOUD;
  pc->tensor = t;
  pc->meta.kind_data = (uint32_t)d->shape[1];
  return 0;
}

uint64_t horus_pointcloud_count(const horus_pointcloud *pc) {
  return (uint64_t)horus_tensor_get_desc(pc->tensor)->shape[0];
}

uint32_t horus_pointcloud_fields(const horus_pointcloud *pc) {
  return (uint32_t)horus_tensor_get_desc(pc->tensor)->shape[1];
}

int horus_pointcloud_point(const horus_pointcloud *pc, uint64_t i, float *out) {
  if (!pc || pc->type != HORUS_MSG_POINTCLOUD || !pc->tensor)
    return horus__err(HORUS_ETYPE, "not a point cloud");
  const horus_tensor_desc *d = horus_tensor_get_desc(pc->tensor);
  if (d->dtype != HORUS_FLOAT32)
    return horus__err(HORUS_ETYPE, "reading a point as floats needs a float32 cloud; this "
                      "one is %s (read its tensor instead)",
                      horus_dtype_name((horus_dtype)d->dtype));
  if (i >= horus_pointcloud_count(pc))
    return horus__err(HORUS_ERANGE, "point %llu of a cloud of %llu points",
                      (unsigned long long)i, (unsigned long long)horus_pointcloud_count(pc));
  uint32_t f = horus_pointcloud_fields(pc);
  memcpy(out, (const float *)horus_tensor_data(pc->tensor) + i * f, f * sizeof(float));
  return 0;
}
