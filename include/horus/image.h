/* horus/image.h - camera images: a (H, W) or (H, W, C) tensor with packed
 * rows (step == width * bytes_per_pixel) and an encoding. */
#ifndef HORUS_IMAGE_H
#define HORUS_IMAGE_H

#include "frame.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum horus_encoding {
  HORUS_ENC_MONO8 = 0,
  HORUS_ENC_MONO16,
  HORUS_ENC_RGB8,
  HORUS_ENC_BGR8,
  HORUS_ENC_RGBA8,
  HORUS_ENC_BGRA8,
  HORUS_ENC_YUV422,
  HORUS_ENC_MONO32F,
  HORUS_ENC_RGB32F,
  HORUS_ENC_BAYER_RGGB8,
  HORUS_ENC_DEPTH16,
  HORUS_ENC_COUNT
} horus_encoding;

typedef horus_frame horus_image;

#define HORUS_IMAGE_MAX_CHANNELS 4

/* Encoding names are the spec's ("rgb8", "bayer_rggb8"); horus_encoding_name
 * always gives that canonical spelling.  horus_encoding_from_name also takes
 * any case ("RGB8") and the aliases HORUS programs use: rgb, bgr, rgba, bgra
 * (the 8-bit encodings), gray/grey/mono (mono8), gray16/grey16 (mono16), yuyv
 * (yuv422), bayer (bayer_rggb8), float (mono32f).  -1 (HORUS_EINVAL) for an
 * unknown name or NULL. */
HORUS_API const char *horus_encoding_name(horus_encoding e);
HORUS_API int horus_encoding_from_name(const char *name);
HORUS_API int horus_encoding_channels(horus_encoding e);
HORUS_API int horus_encoding_bytes_per_pixel(horus_encoding e);
HORUS_API horus_dtype horus_encoding_dtype(horus_encoding e);

/* The encoding an (H, W[, C]) tensor means when its producer named none
 * (DESIGN.md): (H, W) uint8 mono8, uint16 mono16, float32 mono32f;
 * (H, W, 1) as (H, W); (H, W, 2) uint8 yuv422; (H, W, 3) uint8 rgb8,
 * float32 rgb32f; (H, W, 4) uint8 rgba8.  Reads only ndim, dtype and
 * shape.  HORUS_EINVAL for any other descriptor. */
HORUS_API int horus_encoding_infer(const horus_tensor_desc *desc);

/* A new image, its pixels zero (DESIGN.md: every new block reads as zeros),
 * of height x width in `pool`.  *img receives one block reference.
 * Errors: HORUS_EINVAL (a zero dimension, unknown encoding), HORUS_EOVERFLOW,
 * HORUS_ENOMEM, HORUS_ENOSLOT. */
HORUS_API int horus_image_create(horus_pool *pool, uint32_t height, uint32_t width,
                                 horus_encoding enc, horus_image *img);

/* Make an image of an existing compact tensor of shape (H, W) for one
 * channel or (H, W, C), dtype of the encoding; `t`'s ownership passes to
 * *img on success.  HORUS_EINVAL (with both in the message) on a mismatch. */
HORUS_API int horus_image_wrap(horus_tensor *t, horus_encoding enc, horus_image *img);

HORUS_API uint32_t horus_image_height(const horus_image *img);
HORUS_API uint32_t horus_image_width(const horus_image *img);
HORUS_API horus_encoding horus_image_encoding(const horus_image *img);
HORUS_API uint64_t horus_image_step(const horus_image *img);

/* Channel values of pixel (x = column, y = row) as doubles (exact for every
 * integer encoding).  HORUS_ERANGE outside the image. */
HORUS_API int horus_image_get_pixel(const horus_image *img, uint32_t x, uint32_t y,
                                    double *values);

/* Write `n` channel values (n must equal the channel count, each value
 * representable in the element type: integral and in range for integer
 * encodings).  HORUS_EINVAL / HORUS_ERANGE leave the image unchanged. */
HORUS_API int horus_image_set_pixel(horus_image *img, uint32_t x, uint32_t y,
                                    const double *values, int n);

/* Every pixel to the same `n` values (validated as for set_pixel). */
HORUS_API int horus_image_fill(horus_image *img, const double *values, int n);

/* Replace the pixels with `len` bytes, which must equal nbytes exactly. */
HORUS_API int horus_image_copy_from(horus_image *img, const void *src, size_t len);

/* Copy the w x h region at (x, y) as packed rows into `out` (out_len must be
 * at least w*h*bytes_per_pixel).  HORUS_ERANGE if the region leaves the
 * image, HORUS_EINVAL if it is empty. */
HORUS_API int horus_image_roi(const horus_image *img, uint32_t x, uint32_t y,
                              uint32_t w, uint32_t h, void *out, size_t out_len);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_IMAGE_H */
