/* test_wire.c - the bridge's header format (horus/wire.h) on its own: every
 * message type survives encode and decode with its metadata, the bytes sit
 * at the documented offsets, little-endian, and every class of malformed
 * header is refused with the code and a message that names it. */
#include <string.h>

#include "check.h"

#define MB (1ull << 20)
#define H HORUS_WIRE_HEADER_SIZE

static horus_pool *pool;

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Encode `m`, check the documented layout, decode, compare. */
static void round_trip(const horus_msg *m, uint64_t seq) {
  uint8_t h[H];
  CHECK_OK(horus_wire_encode(m, seq, h));
  const horus_tensor_desc *d = &m->tensor;
  CHECK(memcmp(h, "HRS1", 4) == 0 && h[4] == HORUS_WIRE_VERSION);
  CHECK(h[5] == m->type && h[6] == d->dtype && h[7] == d->ndim);
  CHECK(le(h + 8, 8) == seq && le(h + 16, 8) == (uint64_t)m->meta.timestamp_ns);
  CHECK(le(h + 24, 4) == m->meta.kind_data && le(h + 28, 4) == 0);
  uint64_t numel = 1;
  for (int i = 0; i < HORUS_MAX_DIMS; i++) {
    CHECK(le(h + 40 + 8 * i, 8) == (i < d->ndim ? (uint64_t)d->shape[i] : 0));
    if (i < d->ndim) numel *= (uint64_t)d->shape[i];
  }
  CHECK(le(h + 168, 8) == numel * horus_dtype_size((horus_dtype)d->dtype));
  CHECK(strcmp((const char *)h + 104, m->meta.frame_id) == 0);

  horus_msg got;
  uint64_t gseq = 0, plen = 0;
  CHECK_OK(horus_wire_decode(h, H, &got, &gseq, &plen));
  CHECK(gseq == seq && plen == le(h + 168, 8));
  CHECK(got.type == m->type && got.tensor.dtype == d->dtype && got.tensor.ndim == d->ndim);
  int64_t stride = 1;
  for (int i = d->ndim - 1; i >= 0; i--) { /* compact, whatever the sender's were */
    CHECK(got.tensor.shape[i] == d->shape[i] && got.tensor.strides[i] == stride);
    stride *= d->shape[i] ? d->shape[i] : 1;
  }
  CHECK(got.tensor.pool_id == 0 && got.tensor.slot == 0 && got.tensor.offset == 0);
  CHECK(got.meta.timestamp_ns == m->meta.timestamp_ns && got.meta.kind_data == m->meta.kind_data);
  CHECK(memcmp(&got.meta.depth_scale, &m->meta.depth_scale, sizeof(double)) == 0);
  CHECK(strcmp(got.meta.frame_id, m->meta.frame_id) == 0);
}

static void test_round_trips(void) {
  horus_msg m;
  horus_image img;
  CHECK_OK(horus_image_create(pool, 4, 6, HORUS_ENC_RGB8, &img));
  CHECK_OK(horus_frame_set_id(&img, "camera_front", 12));
  img.meta.timestamp_ns = -1234567890123ll; /* signed survives */
  horus_frame_to_msg(&img, &m);
  round_trip(&m, 0);
  round_trip(&m, UINT64_MAX);
  horus_frame_clear(&img);

  for (int e = 0; e < HORUS_ENC_COUNT; e++) {
    if (horus_image_create(pool, 2, 4, (horus_encoding)e, &img) == 0) {
      horus_frame_to_msg(&img, &m);
      round_trip(&m, (uint64_t)e);
      horus_frame_clear(&img);
    }
  }

  horus_pointcloud pc;
  CHECK_OK(horus_pointcloud_create(pool, 100, 4, HORUS_FLOAT32, &pc));
  CHECK_OK(horus_frame_set_id(&pc, "lidar", 5));
  horus_frame_to_msg(&pc, &m);
  round_trip(&m, 7);
  horus_frame_clear(&pc);

  horus_depth dep;
  CHECK_OK(horus_depth_create(pool, 3, 5, HORUS_UINT16, &dep));
  horus_frame_to_msg(&dep, &m);
  CHECK(m.meta.depth_scale > 0);
  round_trip(&m, 8);
  horus_frame_clear(&dep);

  /* Tensors of every dtype and rank, empty ones and a strided view. */
  for (int dt = 0; dt < HORUS_DTYPE_COUNT; dt++) {
    const int64_t shape[HORUS_MAX_DIMS] = {2, 1, 3, 1, 1, 2, 1, 2};
    for (int nd = 0; nd <= HORUS_MAX_DIMS; nd += 4) {
      horus_tensor *t;
      CHECK_OK(horus_tensor_alloc(pool, shape, nd, (horus_dtype)dt, &t));
      memset(&m, 0, sizeof m);
      m.type = HORUS_MSG_TENSOR;
      m.tensor = *horus_tensor_get_desc(t);
      round_trip(&m, 9);
      horus_tensor_free(t);
    }
  }
  const int64_t empty[3] = {0, 1 << 20, 1 << 20};
  horus_tensor *t, *s;
  CHECK_OK(horus_tensor_alloc(pool, empty, 3, HORUS_FLOAT64, &t));
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor = *horus_tensor_get_desc(t);
  round_trip(&m, 10);
  horus_tensor_free(t);
  const int64_t rows[2] = {6, 5};
  CHECK_OK(horus_tensor_alloc(pool, rows, 2, HORUS_INT32, &t));
  CHECK_OK(horus_tensor_slice(t, 2, 5, &s));
  m.tensor = *horus_tensor_get_desc(s);
  round_trip(&m, 11);
  horus_tensor_free(s);
  horus_tensor_free(t);

  /* Bytes have no wire form; nor has a descriptor no tensor could have. */
  uint8_t h[H];
  m.type = HORUS_MSG_BYTES;
  CHECK_RC(horus_wire_encode(&m, 0, h), HORUS_EINVAL);
  m.type = HORUS_MSG_NONE;
  CHECK_RC(horus_wire_encode(&m, 0, h), HORUS_EINVAL);
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor.dtype = HORUS_UINT8;
  m.tensor.ndim = 3;
  m.tensor.shape[1] = m.tensor.shape[2] = INT64_C(1) << 62;
  CHECK_RC(horus_wire_encode(&m, 0, h), HORUS_EINVAL);
  m.tensor.ndim = HORUS_MAX_DIMS + 1;
  CHECK_RC(horus_wire_encode(&m, 0, h), HORUS_EINVAL);
}

/* A valid header to damage: a 2x3 uint16 tensor. */
static void valid(uint8_t h[H]) {
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor.dtype = HORUS_UINT16;
  m.tensor.ndim = 2;
  m.tensor.shape[0] = 2;
  m.tensor.shape[1] = 3;
  strcpy(m.meta.frame_id, "base");
  if (horus_wire_encode(&m, 1, h)) abort();
}

/* Decode `h` (of `len` bytes), expecting `want` and `words` in the message. */
static void refused(const uint8_t *h, size_t len, int want, const char *words) {
  horus_msg m;
  uint64_t seq, plen;
  CHECK_RC(horus_wire_decode(h, len, &m, &seq, &plen), want);
  if (!strstr(horus_errmsg(), words)) {
    fprintf(stderr, "message \"%s\" does not say \"%s\"\n", horus_errmsg(), words);
    CHECK(!"message names the defect");
  }
}

static void test_malformed(void) {
  uint8_t h[H + 1];
  horus_msg m;
  uint64_t seq, plen;
  valid(h);
  CHECK_OK(horus_wire_decode(h, H, &m, &seq, &plen));
  CHECK(plen == 12);

  refused(h, H - 1, HORUS_EINVAL, "175 bytes");
  refused(h, H + 1, HORUS_EINVAL, "177 bytes");
  refused(h, 0, HORUS_EINVAL, "0 bytes");

  valid(h), h[3] = '2';
  refused(h, H, HORUS_EINVAL, "magic");
  valid(h), h[4] = 2;
  refused(h, H, HORUS_EVERSION, "version 2");
  const uint8_t bad_types[] = {0, HORUS_MSG_BYTES, 255};
  for (size_t i = 0; i < sizeof bad_types; i++) {
    valid(h), h[5] = bad_types[i];
    refused(h, H, HORUS_EINVAL, "message type");
  }
  valid(h), h[6] = HORUS_DTYPE_COUNT;
  refused(h, H, HORUS_EINVAL, "dtype 13");
  valid(h), h[6] = 255;
  refused(h, H, HORUS_EINVAL, "dtype 255");
  valid(h), h[7] = HORUS_MAX_DIMS + 1;
  refused(h, H, HORUS_EINVAL, "ndim 9");
  valid(h), put_le(h + 40 + 8 * 2, 1, 8);
  refused(h, H, HORUS_EINVAL, "past ndim");
  valid(h), put_le(h + 40, (uint64_t)-2, 8);
  refused(h, H, HORUS_EINVAL, "negative");
  valid(h), put_le(h + 48, (uint64_t)INT64_MIN, 8);
  refused(h, H, HORUS_EINVAL, "negative");

  /* Shapes whose size overflows, with and without a zero dimension. */
  const uint64_t p62 = 1ull << 62;
  const uint64_t shapes[][3] = {{p62, p62, 1}, {0, p62, p62}, {p62, p62, 0},
                                {p62, 0, p62}, {0, 1ull << 31, 1ull << 31}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    valid(h);
    h[7] = 3;
    for (int k = 0; k < 3; k++) put_le(h + 40 + 8 * k, shapes[i][k], 8);
    put_le(h + 168, 0, 8); /* what an empty tensor would claim */
    refused(h, H, HORUS_EINVAL, "overflows");
  }
  /* The limit itself is 2**62 bytes of nonzero dimensions. */
  valid(h);
  h[6] = HORUS_UINT8;
  h[7] = 3;
  put_le(h + 40, 0, 8), put_le(h + 48, 1ull << 31, 8), put_le(h + 56, 1ull << 31, 8);
  put_le(h + 168, 0, 8);
  CHECK_OK(horus_wire_decode(h, H, &m, &seq, &plen));
  CHECK(plen == 0 && m.tensor.strides[0] == (int64_t)p62 && m.tensor.strides[2] == 1);

  valid(h), put_le(h + 168, 13, 8);
  refused(h, H, HORUS_EINVAL, "13 payload bytes");
  valid(h), put_le(h + 168, 12 + (1ull << 63), 8);
  refused(h, H, HORUS_EINVAL, "payload bytes");
  valid(h), memset(h + 104, 'x', 64);
  refused(h, H, HORUS_EINVAL, "frame_id");
}

/* Every single-byte change of a valid header decodes or is refused; a
 * decoded one always has a payload length that matches its shape. */
static void test_every_byte(void) {
  uint8_t h[H];
  const uint8_t values[] = {0, 1, 0x7f, 0x80, 0xff};
  int decoded = 0;
  for (int at = 0; at < H; at++) {
    for (size_t v = 0; v < sizeof values; v++) {
      valid(h);
      h[at] = values[v];
      horus_msg m;
      uint64_t seq, plen;
      int r = horus_wire_decode(h, H, &m, &seq, &plen);
      CHECK(r == 0 || r == HORUS_EINVAL || r == HORUS_EVERSION);
      if (r == 0) {
        uint64_t n = horus_dtype_size((horus_dtype)m.tensor.dtype);
        for (int i = 0; i < m.tensor.ndim; i++) n *= (uint64_t)m.tensor.shape[i];
        CHECK(plen == n);
        decoded++;
      }
    }
  }
  CHECK(decoded > 0);
}

int main(void) {
  check_remove_namespace();
  if (horus_pool_open(11, 4 * MB, 64, HORUS_POOL_CREATE, &pool)) {
    fprintf(stderr, "pool: %s\n", horus_errmsg());
    return 1;
  }
  test_round_trips();
  test_malformed();
  test_every_byte();
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_wire");
}
