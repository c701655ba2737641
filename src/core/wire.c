/* wire.c - the bridge's header format; see horus/wire.h for the layout.
 * Bytes are written one by one, so the format is little-endian on any host. */
#include <stdbool.h>
#include <string.h>

#include "horus/wire.h"
#include "internal.h"
#include "pool_internal.h"

static const uint8_t MAGIC[4] = {'H', 'R', 'S', '1'};

/* The largest payload, as for tensors in pools (tensor.c's MAX_NBYTES). */
#define MAX_PAYLOAD (1ull << 62)

/* Bytes of a packed tensor of `shape`, or -1 for a negative dimension or a
 * size past MAX_PAYLOAD.  Zero dimensions are left out of the product, not
 * allowed to end it: (0, 2**62, 2**62) is refused although it holds no
 * bytes, because its compact strides overflow int64_t, and a receiver
 * would refuse it anyway (horus_frame_from_msg, the tensor checks). */
static int payload_size(const int64_t *shape, int ndim, horus_dtype dtype, uint64_t *out) {
  uint64_t span = horus_dtype_size(dtype);
  bool empty = false;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return -1;
    if (shape[i] == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(span, (uint64_t)shape[i], &span) || span > MAX_PAYLOAD)
      return -1;
  }
  *out = empty ? 0 : span;
  return 0;
}

static void put(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int horus_wire_encode(const horus_msg *msg, uint64_t sequence,
                      uint8_t out[HORUS_WIRE_HEADER_SIZE]) {
  if (msg->type < HORUS_MSG_TENSOR || msg->type > HORUS_MSG_DEPTH)
    return horus__err(HORUS_EINVAL, "a %s message has no wire form",
                      horus_msg_type_name((horus_msg_type)msg->type));
  const horus_tensor_desc *d = &msg->tensor;
  if (d->dtype >= HORUS_DTYPE_COUNT || d->ndim > HORUS_MAX_DIMS)
    return horus__err(HORUS_EINVAL, "message has dtype %u and ndim %u", d->dtype, d->ndim);
  uint64_t nbytes;
  if (payload_size(d->shape, d->ndim, (horus_dtype)d->dtype, &nbytes))
    return horus__err(HORUS_EINVAL, "message shape is negative or overflows");
  memset(out, 0, HORUS_WIRE_HEADER_SIZE);
  memcpy(out, MAGIC, 4);
  out[4] = HORUS_WIRE_VERSION;
  out[5] = (uint8_t)msg->type;
  out[6] = d->dtype;
  out[7] = d->ndim;
  put(out + 8, sequence, 8);
  put(out + 16, (uint64_t)msg->meta.timestamp_ns, 8);
  put(out + 24, msg->meta.kind_data, 4);
  uint64_t scale;
  memcpy(&scale, &msg->meta.depth_scale, 8);
  put(out + 32, scale, 8);
  for (int i = 0; i < d->ndim; i++) put(out + 40 + 8 * i, (uint64_t)d->shape[i], 8);
  memcpy(out + 104, msg->meta.frame_id, strnlen(msg->meta.frame_id, HORUS_FRAME_ID_MAX));
  put(out + 168, nbytes, 8);
  return 0;
}

int horus_wire_decode(const uint8_t *h, size_t len, horus_msg *msg, uint64_t *sequence,
                      uint64_t *payload_len) {
  if (len != HORUS_WIRE_HEADER_SIZE)
    return horus__err(HORUS_EINVAL, "header of %zu bytes, expected %d", len,
                      HORUS_WIRE_HEADER_SIZE);
  if (memcmp(h, MAGIC, 4) != 0) return horus__err(HORUS_EINVAL, "header magic is not HRS1");
  if (h[4] != HORUS_WIRE_VERSION)
    return horus__err(HORUS_EVERSION, "header version %u, this library reads %d", h[4],
                      HORUS_WIRE_VERSION);
  memset(msg, 0, sizeof *msg);
  msg->type = h[5];
  if (msg->type < HORUS_MSG_TENSOR || msg->type > HORUS_MSG_DEPTH)
    return horus__err(HORUS_EINVAL, "header message type %u is unknown", h[5]);
  horus_tensor_desc *d = &msg->tensor;
  d->dtype = h[6];
  d->ndim = h[7];
  if (d->dtype >= HORUS_DTYPE_COUNT) return horus__err(HORUS_EINVAL, "header dtype %u is unknown", h[6]);
  if (d->ndim > HORUS_MAX_DIMS)
    return horus__err(HORUS_EINVAL, "header ndim %u exceeds %d", h[7], HORUS_MAX_DIMS);
  for (int i = 0; i < HORUS_MAX_DIMS; i++) {
    int64_t n = (int64_t)get(h + 40 + 8 * i, 8);
    if (i >= d->ndim) {
      if (n != 0) return horus__err(HORUS_EINVAL, "header shape has entries past ndim");
      continue;
    }
    if (n < 0) return horus__err(HORUS_EINVAL, "header shape[%d] is negative", i);
    d->shape[i] = n;
  }
  uint64_t nbytes;
  if (payload_size(d->shape, d->ndim, (horus_dtype)d->dtype, &nbytes))
    return horus__err(HORUS_EINVAL, "header shape overflows 2**62 bytes (zero "
                      "dimensions aside)");
  /* Every partial product is at most the checked size: no overflow. */
  int64_t stride = 1;
  for (int i = d->ndim - 1; i >= 0; i--) {
    d->strides[i] = stride;
    stride *= d->shape[i] ? d->shape[i] : 1;
  }
  *payload_len = get(h + 168, 8);
  if (*payload_len != nbytes)
    return horus__err(HORUS_EINVAL, "header says %llu payload bytes, its shape needs %llu",
                      (unsigned long long)*payload_len, (unsigned long long)nbytes);
  if (memchr(h + 104, 0, 64) == NULL)
    return horus__err(HORUS_EINVAL, "header frame_id is not NUL-terminated");
  memcpy(msg->meta.frame_id, h + 104, 64);
  *sequence = get(h + 8, 8);
  msg->meta.timestamp_ns = (int64_t)get(h + 16, 8);
  msg->meta.kind_data = (uint32_t)get(h + 24, 4);
  uint64_t scale = get(h + 32, 8);
  memcpy(&msg->meta.depth_scale, &scale, 8);
  return 0;
}

int horus_wire_pack(const horus_tensor *t, void *payload, size_t len) {
  uint64_t need = horus_tensor_nbytes(t);
  if ((uint64_t)len != need)
    return horus__err(HORUS_EINVAL, "payload buffer of %zu bytes, the tensor has %llu",
                      len, (unsigned long long)need);
  horus_tensor_pack(t, payload);
  return 0;
}

int horus_wire_rebuild(horus_pool *pool, const uint8_t *header, size_t header_len,
                       const void *payload, size_t payload_len, horus_msg *msg,
                       uint64_t *sequence, horus_tensor **out) {
  uint64_t want;
  int r = horus_wire_decode(header, header_len, msg, sequence, &want);
  if (r) return r;
  if ((uint64_t)payload_len != want)
    return horus__err(HORUS_EINVAL, "payload of %zu bytes, the header's shape needs %llu",
                      payload_len, (unsigned long long)want);
  horus_tensor *t;
  r = horus__tensor_alloc_uninit(pool, msg->tensor.shape, msg->tensor.ndim,
                                 (horus_dtype)msg->tensor.dtype, &t);
  if (r) return r;
  if (want) memcpy(horus_tensor_data(t), payload, (size_t)want); /* every byte */
  msg->tensor = *horus_tensor_get_desc(t);
  *out = t;
  return 0;
}
