/* fuzz_wire.c - the one parser fed from the network: horus_wire_decode,
 * which `horus bridge` runs on every Zenoh sample, and what the bridge does
 * with a header it accepted.  An input is a header (its first 176 bytes, or
 * all of it when shorter, so every wrong length is tried too) followed by
 * the payload.  An accepted header must describe a tensor whose payload
 * length it states exactly, with compact strides; the payload, when it is
 * that long, is copied into a pool block and the frame rebuilt from the
 * metadata (horus_frame_from_msg), as horus.wire_decode does; and the
 * decoded message encodes back to a header that decodes to the same
 * message.  Every call must return 0 or a HORUS_E* code; a crash, an
 * out-of-bounds access (ASan), undefined behaviour (UBSan) or a broken
 * round trip (abort) is a finding. */
#include "fuzz.h"

#define POOL_ID 5

static horus_pool *pool;

static void teardown(void) {
  if (pool) horus_pool_close(pool);
  pool = NULL;
  fuzz_remove_namespace();
}

static void finding(const char *what) {
  fprintf(stderr, "fuzz_wire: %s (%s)\n", what, horus_errmsg());
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_environment("fuzz-wire");
  if (horus_pool_open(POOL_ID, 1u << 20, 64, HORUS_POOL_CREATE, &pool) != 0) {
    fprintf(stderr, "fuzz_wire: cannot create the pool: %s\n", horus_errmsg());
    exit(1);
  }
  atexit(teardown);
  return 0;
}

static bool same_msg(const horus_msg *a, const horus_msg *b) {
  if (a->type != b->type || a->tensor.dtype != b->tensor.dtype ||
      a->tensor.ndim != b->tensor.ndim || a->meta.timestamp_ns != b->meta.timestamp_ns ||
      a->meta.kind_data != b->meta.kind_data ||
      memcmp(&a->meta.depth_scale, &b->meta.depth_scale, sizeof(double)) != 0 ||
      strcmp(a->meta.frame_id, b->meta.frame_id) != 0)
    return false;
  for (int i = 0; i < HORUS_MAX_DIMS; i++)
    if (a->tensor.shape[i] != b->tensor.shape[i] || a->tensor.strides[i] != b->tensor.strides[i])
      return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t hlen = size < HORUS_WIRE_HEADER_SIZE ? size : HORUS_WIRE_HEADER_SIZE;
  const uint8_t *payload = data + hlen;
  size_t plen = size - hlen;
  horus_msg msg;
  uint64_t seq, want;
  int r = horus_wire_decode(data, hlen, &msg, &seq, &want);
  if (r) {
    if (r != HORUS_EINVAL && r != HORUS_EVERSION) finding("decode: unexpected code");
    return 0;
  }

  /* What an accepted header promises. */
  const horus_tensor_desc *d = &msg.tensor;
  if (d->dtype >= HORUS_DTYPE_COUNT || d->ndim > HORUS_MAX_DIMS) finding("dtype or ndim");
  uint64_t bytes = horus_dtype_size((horus_dtype)d->dtype);
  int64_t stride = 1;
  for (int i = d->ndim - 1; i >= 0; i--) {
    if (d->shape[i] < 0 || d->strides[i] != stride) finding("shape or strides");
    bytes *= (uint64_t)d->shape[i]; /* unsigned: wraps, never undefined */
    stride *= d->shape[i] ? d->shape[i] : 1;
  }
  for (int i = d->ndim; i < HORUS_MAX_DIMS; i++)
    if (d->shape[i] || d->strides[i]) finding("entries past ndim");
  if (bytes != want) finding("payload length disagrees with the shape");
  if (memchr(msg.meta.frame_id, 0, sizeof msg.meta.frame_id) == NULL) finding("frame_id");

  /* Encoding it again gives a header that decodes to the same message. */
  uint8_t again[HORUS_WIRE_HEADER_SIZE];
  horus_msg back;
  uint64_t seq2, want2;
  if (horus_wire_encode(&msg, seq, again)) finding("encode of a decoded message");
  if (horus_wire_decode(again, sizeof again, &back, &seq2, &want2)) finding("re-decode");
  if (seq2 != seq || want2 != want || !same_msg(&msg, &back)) finding("round trip");

  /* The bridge's next steps, when the payload is the promised length. */
  if (plen != want) return 0;
  horus_tensor *t;
  if (horus_tensor_alloc(pool, d->shape, d->ndim, (horus_dtype)d->dtype, &t)) return 0;
  if (horus_tensor_nbytes(t) != want) finding("tensor size disagrees with the header");
  if (want) memcpy(horus_tensor_data(t), payload, (size_t)want);
  msg.tensor = *horus_tensor_get_desc(t);
  if (msg.type == HORUS_MSG_TENSOR) {
    fuzz_touch(horus_tensor_data(t), want);
    horus_tensor_free(t);
    return 0;
  }
  horus_frame f;
  if (horus_frame_from_msg(&msg, t, &f)) {
    horus_tensor_free(t);
    return 0;
  }
  fuzz_touch(horus_tensor_data(f.tensor), horus_tensor_nbytes(f.tensor));
  horus_msg out;
  horus_frame_to_msg(&f, &out);
  if (horus_wire_encode(&out, seq, again)) finding("encode of a rebuilt frame");
  horus_frame_clear(&f);
  return 0;
}
