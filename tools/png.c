/* png.c - a minimal PNG writer: stored (uncompressed) deflate blocks, so the
 * command needs no zlib; every PNG reader accepts them.  And the matching
 * reader, for `horus topic pub --file`: PNGs whose image data is stored
 * blocks (what the writer makes); a compressed PNG is refused by name, as
 * decoding it would need zlib, which this command does not depend on. */
#include "png.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[n] = c;
  }
}

static uint32_t crc(uint32_t c, const uint8_t *p, size_t n) {
  c = ~c;
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return ~c;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

typedef struct chunk {
  FILE *f;
  uint32_t crc;
  int ok;
} chunk;

static void put(chunk *c, const void *data, size_t n) {
  c->crc = crc(c->crc, data, n);
  c->ok &= fwrite(data, 1, n, c->f) == n;
}

static void begin(chunk *c, FILE *f, const char *type, uint32_t len) {
  uint8_t b[4];
  be32(b, len);
  c->f = f;
  c->ok = fwrite(b, 1, 4, f) == 4;
  c->crc = 0;
  put(c, type, 4);
}

static void end(chunk *c) {
  uint8_t b[4];
  be32(b, c->crc);
  c->ok &= fwrite(b, 1, 4, c->f) == 4;
}

int png_write(const char *path, uint32_t w, uint32_t h, int color_type, int bit_depth,
              const uint8_t *rows, size_t row_bytes) {
  if (!crc_table[1]) crc_init();
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  int ok = fwrite(sig, 1, 8, f) == 8;
  chunk c;
  uint8_t ihdr[13];
  be32(ihdr, w);
  be32(ihdr + 4, h);
  ihdr[8] = (uint8_t)bit_depth, ihdr[9] = (uint8_t)color_type, ihdr[10] = ihdr[11] = ihdr[12] = 0;
  begin(&c, f, "IHDR", 13);
  put(&c, ihdr, 13);
  end(&c);
  ok &= c.ok;

  /* Raw data: each row is a filter byte (0, none) and the pixels. */
  uint64_t raw = (uint64_t)h * (row_bytes + 1);
  uint64_t blocks = raw / 65535 + 1;
  uint64_t zlen = 2 + raw + blocks * 5 + 4;
  if (zlen > 0x7fffffff) {
    fclose(f);
    return -1;
  }
  begin(&c, f, "IDAT", (uint32_t)zlen);
  static const uint8_t zhdr[2] = {0x78, 0x01};
  put(&c, zhdr, 2);
  uint32_t a = 1, b = 0; /* adler32 */
  uint64_t left = raw, pos = 0;
  for (uint64_t k = 0; k < blocks; k++) {
    uint16_t n = (uint16_t)(left > 65535 ? 65535 : left);
    uint8_t hdr[5] = {(uint8_t)(k + 1 == blocks), (uint8_t)n, (uint8_t)(n >> 8),
                      (uint8_t)~n, (uint8_t)(~n >> 8)};
    put(&c, hdr, 5);
    for (uint16_t i = 0; i < n; i++, pos++) {
      uint64_t row = pos / (row_bytes + 1), col = pos % (row_bytes + 1);
      uint8_t byte = col == 0 ? 0 : rows[row * row_bytes + col - 1];
      put(&c, &byte, 1);
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }
    left -= n;
  }
  uint8_t ad[4];
  be32(ad, (b << 16) | a);
  put(&c, ad, 4);
  end(&c);
  ok &= c.ok;
  begin(&c, f, "IEND", 0);
  end(&c);
  ok &= c.ok;
  return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- reading ------------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define PNG_READ_MAX (256u << 20) /* bytes of file and of pixels */

static int fail(char *err, size_t len, const char *why) {
  snprintf(err, len, "%s", why);
  return -1;
}

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* The zlib stream `z` of IDAT data, stored deflate blocks only, into `out`
 * of exactly `want` bytes. */
static int inflate_stored(const uint8_t *z, size_t n, uint8_t *out, size_t want, char *err,
                          size_t errlen) {
  if (n < 2 || (z[0] & 0x0f) != 8 || ((unsigned)z[0] << 8 | z[1]) % 31 != 0 || (z[1] & 0x20))
    return fail(err, errlen, "not a zlib stream");
  size_t at = 2, got = 0;
  for (;;) {
    if (at >= n) return fail(err, errlen, "image data ends early");
    int final = z[at] & 1, type = (z[at] >> 1) & 3;
    if (type != 0)
      return fail(err, errlen, "compressed PNG: this horus build reads only uncompressed "
                  "(stored) PNGs, such as horus topic save writes, because the command "
                  "has no zlib");
    if (at + 5 > n) return fail(err, errlen, "image data ends early");
    uint32_t len = z[at + 1] | (uint32_t)z[at + 2] << 8;
    uint32_t nlen = z[at + 3] | (uint32_t)z[at + 4] << 8;
    at += 5;
    if ((len ^ 0xffffu) != nlen) return fail(err, errlen, "corrupt stored block");
    if (len > n - at || len > want - got) return fail(err, errlen, "image data of the wrong size");
    memcpy(out + got, z + at, len);
    at += len, got += len;
    if (final) break;
  }
  return got == want ? 0 : fail(err, errlen, "image data of the wrong size");
}

int png_read(const char *path, uint32_t *w_out, uint32_t *h_out, int *color_type,
             int *bit_depth, uint8_t **pixels, char *err, size_t errlen) {
  *pixels = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open: %s", strerror(errno));
    return -1;
  }
  uint8_t *file = NULL, *idat = NULL, *raw = NULL, *px = NULL;
  size_t size = 0, cap = 0, nidat = 0;
  int rc = -1;
  for (;;) { /* the whole file, bounded */
    if (size == cap) {
      if (cap >= PNG_READ_MAX) {
        fail(err, errlen, "file larger than 256 MB");
        goto out;
      }
      cap = cap ? cap * 2 : 1 << 16;
      uint8_t *grown = realloc(file, cap);
      if (!grown) {
        fail(err, errlen, "out of memory");
        goto out;
      }
      file = grown;
    }
    size_t k = fread(file + size, 1, cap - size, f);
    size += k;
    if (k == 0) break;
  }
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 8 + 25 || memcmp(file, sig, 8) != 0 || memcmp(file + 12, "IHDR", 4) != 0 ||
      rd32(file + 8) != 13) {
    fail(err, errlen, "not a PNG file");
    goto out;
  }
  const uint8_t *ih = file + 16;
  uint32_t w = rd32(ih), h = rd32(ih + 4);
  int depth = ih[8], type = ih[9];
  if (ih[10] || ih[11] || ih[12]) {
    fail(err, errlen, "interlaced or non-standard PNG: not supported");
    goto out;
  }
  int ch = type == PNG_GRAY ? 1 : type == PNG_RGB ? 3 : type == PNG_RGBA ? 4 : 0;
  if (!ch || !(depth == 8 || (depth == 16 && type == PNG_GRAY))) {
    fail(err, errlen, "PNG of a kind not supported (8-bit gray, RGB or RGBA, or 16-bit gray "
         "only; no palette)");
    goto out;
  }
  size_t bpp = (size_t)ch * (size_t)(depth / 8);
  if (!w || !h || w > PNG_READ_MAX / bpp || (uint64_t)w * bpp * h > PNG_READ_MAX) {
    fail(err, errlen, "PNG dimensions zero or too large");
    goto out;
  }
  size_t row = (size_t)w * bpp, want = (row + 1) * h;
  if (!(idat = malloc(size)) || !(raw = malloc(want)) || !(px = malloc(row * h))) {
    fail(err, errlen, "out of memory");
    goto out;
  }
  for (size_t at = 8; at + 12 <= size;) { /* chunks; CRCs are not checked */
    uint32_t len = rd32(file + at);
    if (len > size - at - 12) {
      fail(err, errlen, "truncated chunk");
      goto out;
    }
    const uint8_t *t = file + at + 4;
    if (memcmp(t, "IDAT", 4) == 0) memcpy(idat + nidat, t + 4, len), nidat += len;
    if (memcmp(t, "IEND", 4) == 0) break;
    at += 12 + (size_t)len;
  }
  if (inflate_stored(idat, nidat, raw, want, err, errlen) != 0) goto out;
  for (uint32_t y = 0; y < h; y++) { /* undo the per-row filters */
    const uint8_t *src = raw + (size_t)y * (row + 1) + 1;
    uint8_t *dst = px + (size_t)y * row, *up = y ? dst - row : NULL;
    int filter = src[-1];
    if (filter > 4) {
      fail(err, errlen, "corrupt PNG row filter");
      goto out;
    }
    for (size_t i = 0; i < row; i++) {
      int a = i >= bpp ? dst[i - bpp] : 0, b = up ? up[i] : 0, c = up && i >= bpp ? up[i - bpp] : 0;
      int pred = filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2
                 : filter == 4 ? paeth(a, b, c) : 0;
      dst[i] = (uint8_t)(src[i] + pred);
    }
  }
  if (depth == 16) /* big-endian samples to host order */
    for (size_t i = 0; i + 1 < row * h; i += 2) {
      uint16_t v = (uint16_t)(px[i] << 8 | px[i + 1]);
      memcpy(px + i, &v, 2);
    }
  *w_out = w, *h_out = h, *color_type = type, *bit_depth = depth;
  *pixels = px;
  px = NULL;
  rc = 0;
out:
  fclose(f);
  free(file), free(idat), free(raw), free(px);
  return rc;
}
