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

#endif
