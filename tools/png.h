/* png.h - write an 8- or 16-bit gray, RGB or RGBA image as PNG. */
#ifndef HORUS_TOOL_PNG_H
#define HORUS_TOOL_PNG_H

#include <stddef.h>
#include <stdint.h>

enum { PNG_GRAY = 0, PNG_RGB = 2, PNG_RGBA = 6 };

/* `rows` holds h rows of row_bytes bytes (16-bit samples big-endian).
 * Returns 0, or -1 with errno set. */
int png_write(const char *path, uint32_t w, uint32_t h, int color_type, int bit_depth,
              const uint8_t *rows, size_t row_bytes);

/* Read a non-interlaced PNG of 8-bit gray, RGB or RGBA or 16-bit gray whose
 * image data is stored (uncompressed) deflate blocks, as png_write makes.
 * On success returns 0 and *pixels (malloc'd; h rows of w * channels
 * samples, 16-bit ones in host order).  Otherwise -1 and `err` says why
 * (a compressed PNG: no zlib in this command). */
int png_read(const char *path, uint32_t *w, uint32_t *h, int *color_type, int *bit_depth,
             uint8_t **pixels, char *err, size_t errlen);

#endif
