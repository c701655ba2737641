/* horus/depth.h - depth images: (H, W) float32 meters (depth_scale 1.0) or
 * uint16 millimeters (depth_scale 0.001 meters per unit).  A valid depth is
 * finite and > 0; zero means "no reading". */
#ifndef HORUS_DEPTH_H
#define HORUS_DEPTH_H

#include "frame.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef horus_frame horus_depth;

/* The depth dtype a name means, in any case: "float32", "f32", "float",
 * "meters", "m" give HORUS_FLOAT32; "uint16", "u16", "mm", "millimeters"
 * give HORUS_UINT16 (the HORUS spellings).  HORUS_EINVAL for anything else
 * or NULL.  horus_dtype_name gives the canonical spelling back. */
HORUS_API int horus_depth_dtype_from_name(const char *name);

/* dtype HORUS_FLOAT32 or HORUS_UINT16, else HORUS_EINVAL. */
HORUS_API int horus_depth_create(horus_pool *pool, uint32_t height, uint32_t width,
                                 horus_dtype dtype, horus_depth *d);

/* A depth image of an existing compact (H, W) float32 or uint16 tensor. */
HORUS_API int horus_depth_wrap(horus_tensor *t, horus_depth *d);

/* float64 depth in meters as float32 meters (DESIGN.md): a new compact
 * float32 tensor of t's shape in `pool` (*out, the caller's), converted in
 * one pass; t is unchanged.  t must be a compact float64 tensor
 * (horus_tensor_compact).  Errors: HORUS_EINVAL for another dtype or a
 * strided t, those of horus_tensor_alloc. */
HORUS_API int horus_depth_to_float32(horus_pool *pool, const horus_tensor *t,
                                     horus_tensor **out);

HORUS_API uint32_t horus_depth_height(const horus_depth *d);
HORUS_API uint32_t horus_depth_width(const horus_depth *d);
HORUS_API double horus_depth_scale(const horus_depth *d);

/* Depth at (x, y) in meters.  HORUS_ERANGE outside the image. */
HORUS_API int horus_depth_get(const horus_depth *d, uint32_t x, uint32_t y, double *meters);

/* Store `meters`: NaN, negative or (uint16) above 65.535 m is HORUS_EINVAL;
 * uint16 rounds to the nearest millimeter; float32 also accepts +inf (no
 * return).  The image is unchanged on error. */
HORUS_API int horus_depth_set(horus_depth *d, uint32_t x, uint32_t y, double meters);

/* Min, max and mean in meters over valid pixels (finite and > 0), in one
 * pass.  *count receives the number of valid pixels; when it is 0 the other
 * outputs are 0 and the call still succeeds. */
HORUS_API int horus_depth_statistics(const horus_depth *d, double *min, double *max,
                                     double *mean, uint64_t *count);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_DEPTH_H */
