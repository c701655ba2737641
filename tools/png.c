/* png.c - a minimal PNG writer: stored (uncompressed) deflate blocks, so the
 * command needs no zlib; every PNG reader accepts them. */
#include "png.h"

#include <stdio.h>
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
