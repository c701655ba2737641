/* fuzz_topic.c - everything a topic handle trusts from shared memory, under
 * a coverage-guided fuzzer: the topic header and its publish journal, the
 * participant tables, the ring entries with their stamps and the messages
 * in them (descriptors and frame metadata), and the pool those messages
 * live in.  A real topic with a few images in its ring is set up once; each
 * input restores the topic segment and the pool's metadata to that
 * snapshot, opens a publisher and a subscriber handle, runs a script of
 * scribbles, forged ring entries and sends/receives, and closes them.
 * Every call must return 0 or a HORUS_E* code and every frame handed out
 * must lie inside its block (ASan checks the bytes are really there). */
#include <fcntl.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "horus/image.h"
#include "pool_internal.h"
#include "topic_internal.h"

#define POOL_ID 5
#define TOPIC "fz"
#define COPY "fz2"
#define CAPACITY 8

static horus_pool *pool;
static uint8_t *pool_pristine;
static size_t pool_meta_len;
static uint8_t *seg;      /* this harness's own mapping of topic.fz */
static uint8_t *seg_pristine;
static size_t seg_len;
static horus_msg sample_msg; /* a valid message to forge from */
static fuzz_hole pool_lock_hole, topic_lock_hole;

static void teardown(void) {
  if (seg) munmap(seg, seg_len);
  if (pool) horus_pool_close(pool);
  fuzz_remove_namespace();
  free(pool_pristine);
  free(seg_pristine);
}

static int send_image(horus_topic *t, uint32_t h, uint32_t w, horus_encoding enc) {
  horus_image img;
  int r = horus_image_create(pool, h, w, enc, &img);
  if (r) return r;
  horus_frame_set_id(&img, "cam", 3);
  horus_msg m;
  horus_frame_to_msg(&img, &m);
  r = horus_topic_send(t, &m, img.tensor, NULL);
  horus_frame_clear(&img);
  return r;
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_topic: %s: %s\n", what, horus_errmsg());
  exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_environment("fuzz-topic");
  if (horus_pool_open(POOL_ID, 2u << 20, 64, HORUS_POOL_CREATE, &pool)) die("pool");
  horus_topic *t;
  if (horus_topic_open(TOPIC, HORUS_MSG_IMAGE, CAPACITY, &t)) die("topic");
  for (uint32_t i = 0; i < CAPACITY + 3; i++)
    if (send_image(t, 4 + i, 6, (horus_encoding)(i % HORUS_ENC_COUNT))) die("send");
  horus_tensor *tensor;
  if (horus_topic_recv_latest(t, &sample_msg, &tensor) != 0) die("recv");
  horus_tensor_free(tensor);
  horus_topic_close(t);

  char dir[HORUS__PATH_MAX], path[HORUS__PATH_MAX + 64];
  if (horus_namespace_dir(dir, sizeof dir, true)) die("dir");
  snprintf(path, sizeof path, "%s/topic.%s", dir, TOPIC);
  int fd = open(path, O_RDWR);
  struct stat st;
  if (fd < 0 || fstat(fd, &st)) die(path);
  seg_len = (size_t)st.st_size;
  seg = mmap(NULL, seg_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (seg == MAP_FAILED) die("mmap");
  seg_pristine = malloc(seg_len);
  memcpy(seg_pristine, seg, seg_len);
  pool_meta_len = (size_t)pool->hdr->off_data;
  pool_pristine = malloc(pool_meta_len);
  memcpy(pool_pristine, pool->base, pool_meta_len);
  pool_lock_hole = (fuzz_hole){offsetof(horus__pool_header, lock), sizeof(pthread_mutex_t)};
  topic_lock_hole = (fuzz_hole){offsetof(horus__topic_header, lock), sizeof(pthread_mutex_t)};
  atexit(teardown);
  return 0;
}

/* What a receiver does with a message: rebuild the frame (which validates
 * the metadata against the tensor) and read its bytes. */
static void consume(int r, const horus_msg *m, horus_tensor *tensor) {
  if (r != 0) return;
  fuzz_touch_tensor(tensor);
  horus_frame f;
  if (horus_frame_from_msg(m, tensor, &f) == 0) {
    if (f.type == HORUS_MSG_IMAGE &&
        horus_image_step(&f) * horus_image_height(&f) > horus_tensor_nbytes(f.tensor))
      abort(); /* an image that claims more rows than its block holds */
    horus_frame_clear(&f);
  } else {
    horus_tensor_free(tensor);
  }
}

/* Write a message into a ring entry with a stamp readers accept, the
 * sample message with some fields changed, as a buggy publisher might:
 * over one already there, or as the next one (then moving write_seq on,
 * without the lock and without a pool reference). */
static void forge_entry(fuzz_in *in) {
  horus__topic_header *h = (horus__topic_header *)seg;
  horus__topic_entry *ring = (horus__topic_entry *)(seg + ((horus__topic_header *)seg_pristine)->off_ring);
  uint8_t where = fuzz_u8(in);
  bool append = where % 2;
  uint64_t seq = atomic_load(&h->write_seq);
  if (!append) seq -= 1 + where / 2 % CAPACITY;
  horus_msg m = sample_msg;
  int edits = fuzz_u8(in) % 6;
  for (int i = 0; i < edits; i++) {
    uint8_t f = fuzz_u8(in);
    uint64_t v = fuzz_u64(in);
    switch (f % 10) {
      case 0: m.type = (uint32_t)v; break;
      case 1: m.tensor.slot = (uint32_t)v; break;
      case 2: m.tensor.generation = (uint32_t)v; break;
      case 3: m.tensor.dtype = (uint8_t)v; break;
      case 4: m.tensor.ndim = (uint8_t)v; break;
      case 5: m.tensor.offset = v; break;
      case 6: m.tensor.shape[f / 16 % HORUS_MAX_DIMS] = (int64_t)v; break;
      case 7: m.tensor.strides[f / 16 % HORUS_MAX_DIMS] = (int64_t)v; break;
      case 8: m.meta.kind_data = (uint32_t)v; break;
      default: memcpy(m.meta.frame_id + f / 16 % 56, &v, sizeof v); break;
    }
  }
  horus__topic_entry *e = &ring[seq % CAPACITY];
  for (size_t w = 0; w < HORUS__MSG_WORDS; w++) { /* as send lays it out */
    uint64_t word;
    memcpy(&word, (const char *)&m + w * sizeof word, sizeof word);
    atomic_store(&e->words[horus__entry_pos(w)], word);
  }
  atomic_store(&e->stamp, 2 * seq + 2 + (fuzz_u8(in) % 8 == 0)); /* sometimes odd */
  if (append) atomic_store(&h->write_seq, seq + 1);
}

/* Open a copy of the pristine topic segment, damaged, under another name. */
static void open_damaged_copy(fuzz_in *in) {
  char dir[HORUS__PATH_MAX], path[HORUS__PATH_MAX + 64];
  if (horus_namespace_dir(dir, sizeof dir, true)) return;
  snprintf(path, sizeof path, "%s/topic.%s", dir, COPY);
  uint8_t *img = malloc(seg_len);
  memcpy(img, seg_pristine, seg_len);
  horus__topic_header *h = (horus__topic_header *)img;
  memset(h->name, 0, sizeof h->name);
  memcpy(h->name, COPY, sizeof COPY);
  int patches = 1 + fuzz_u8(in) % 8;
  for (int i = 0; i < patches; i++) fuzz_scribble(in, img, seg_len, topic_lock_hole);
  size_t size = seg_len;
  if (fuzz_u8(in) % 4 == 0) size = fuzz_u32(in) % (seg_len + 1);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    if (write(fd, img, size) == (ssize_t)size) {
      horus_topic *t;
      if (horus_topic_open(COPY, HORUS_MSG_IMAGE, 0, &t) == 0) {
        horus_msg m;
        horus_tensor *tensor;
        consume(horus_topic_recv_latest(t, &m, &tensor), &m, tensor);
        send_image(t, 2, 2, HORUS_ENC_MONO8);
        horus_topic_close(t);
      }
    }
    close(fd);
  }
  unlink(path);
  free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  memcpy(pool->base, pool_pristine, pool_meta_len);
  memcpy(seg, seg_pristine, seg_len);
  horus_topic *pub = NULL, *sub = NULL;
  if (horus_topic_open(TOPIC, HORUS_MSG_IMAGE, 0, &pub) ||
      horus_topic_open(TOPIC, HORUS_MSG_IMAGE, 0, &sub)) {
    fprintf(stderr, "fuzz_topic: the restored topic does not open: %s\n", horus_errmsg());
    abort();
  }
  while (in.n) {
    uint8_t op = fuzz_u8(&in);
    horus_msg m;
    horus_tensor *tensor = NULL;
    int r = 0;
    switch (op % 13) {
      case 0:
      case 1: fuzz_scribble(&in, seg, seg_len, topic_lock_hole); break;
      case 2: fuzz_scribble(&in, pool->base, pool_meta_len, pool_lock_hole); break;
      case 3: forge_entry(&in); break;
      case 4:
        r = send_image(pub, 1 + fuzz_u8(&in) % 32, 1 + fuzz_u8(&in) % 32,
                       (horus_encoding)(fuzz_u8(&in) % HORUS_ENC_COUNT));
        break;
      case 5:
      case 6:
        r = horus_topic_recv(sub, 0, &m, &tensor);
        consume(r, &m, tensor);
        break;
      case 7:
        r = horus_topic_recv_latest(sub, &m, &tensor);
        consume(r, &m, tensor);
        break;
      case 8: {
        horus_topic_stats st;
        r = horus_topic_stats_get(fuzz_u8(&in) % 2 ? sub : pub, &st);
        horus_topic_info info[4];
        int n = horus_topic_list(info, 4);
        if (n < 0) r = n;
        break;
      }
      case 10: fuzz_lock_owner_dies(&((horus__topic_header *)seg)->lock.mutex); break;
      case 11: fuzz_lock_owner_dies(&pool->hdr->lock.mutex); break;
      case 9: {
        horus_pool_stats st;
        r = horus_pool_stats_get(pool, &st);
        int n = horus_pool_reclaim(pool);
        if (n < 0) r = n;
        break;
      }
      default: open_damaged_copy(&in); break;
    }
    if (r > 0 || r < HORUS_ERRNO_MIN) {
      fprintf(stderr, "fuzz_topic: op %u returned %d, not a HORUS_E* code\n", op % 13, r);
      abort();
    }
  }
  horus_topic_close(sub);
  horus_topic_close(pub);
  return 0;
}
