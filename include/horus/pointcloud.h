/* horus/pointcloud.h - point clouds: an (N, F) tensor, F values per point
 * (3 XYZ, 4 XYZI, 6 XYZRGB...).  Zero points is a valid, empty cloud. */
#ifndef HORUS_POINTCLOUD_H
#define HORUS_POINTCLOUD_H

#include "frame.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef horus_frame horus_pointcloud;

/* A new cloud of `num_points` x `fields` elements of `dtype` (any numeric
 * dtype; float32 is the common one).  *pc receives one block reference.
 * HORUS_EINVAL for fields == 0 or bool dtype. */
HORUS_API int horus_pointcloud_create(horus_pool *pool, uint64_t num_points,
                                      uint32_t fields, horus_dtype dtype,
                                      horus_pointcloud *pc);

/* A cloud of an existing compact (N, F) tensor; `t` passes to *pc on success. */
HORUS_API int horus_pointcloud_wrap(horus_tensor *t, horus_pointcloud *pc);

HORUS_API uint64_t horus_pointcloud_count(const horus_pointcloud *pc);
HORUS_API uint32_t horus_pointcloud_fields(const horus_pointcloud *pc);

/* The fields of point i (float32 clouds only: HORUS_ETYPE otherwise;
 * HORUS_ERANGE for i >= count).  `out` holds fields values. */
HORUS_API int horus_pointcloud_point(const horus_pointcloud *pc, uint64_t i, float *out);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_POINTCLOUD_H */
