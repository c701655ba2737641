/* fuzz_pool.c - everything a pool trusts from shared memory, under a
 * coverage-guided fuzzer.  A real pool is created once; each input restores
 * its metadata (header, holder table, slot table, ledger, allocator records)
 * to a pristine snapshot and then runs a script that interleaves
 * scribbles over that metadata with the public calls a process makes:
 * alloc, retain, release, stats, reclaim, holders, find, opening tensors
 * from descriptors another process could have forged, and opening a copy
 * of the segment with a damaged header.  Every call must return 0 or a
 * HORUS_E* code; a crash, an out-of-bounds access (ASan) or undefined
 * behaviour (UBSan) is a finding. */
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "pool_internal.h"

#define POOL_ID 5
#define COPY_ID 6
#define MAX_LIVE 32

static horus_pool *pool;
static uint8_t *pristine; /* metadata region [0, off_data) after setup */
static size_t meta_len;
static fuzz_hole lock_hole;
static horus_tensor *sample;         /* a live tensor ... */
static horus_tensor_desc sample_desc; /* ... whose descriptor is mutated */

static void teardown(void) {
  horus_tensor_free(sample);
  if (pool) horus_pool_close(pool);
  pool = NULL;
  fuzz_remove_namespace();
  free(pristine);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_environment("fuzz-pool");
  if (horus_pool_open(POOL_ID, 1u << 20, 64, HORUS_POOL_CREATE, &pool) != 0) {
    fprintf(stderr, "fuzz_pool: cannot create the pool: %s\n", horus_errmsg());
    exit(1);
  }
  /* A few live blocks so the snapshot has a used slot table and ledger. */
  int64_t shape[2] = {16, 16};
  if (horus_tensor_alloc(pool, shape, 2, HORUS_FLOAT32, &sample) != 0) exit(1);
  sample_desc = *horus_tensor_get_desc(sample);
  uint32_t s, g;
  uint64_t off;
  horus_pool_alloc(pool, 4096, &s, &g, &off);
  horus_pool_alloc(pool, 100, &s, &g, &off);
  meta_len = (size_t)pool->hdr->off_data;
  pristine = malloc(meta_len);
  memcpy(pristine, pool->base, meta_len);
  lock_hole.off = offsetof(horus__pool_header, lock);
  lock_hole.len = sizeof(pthread_mutex_t);
  atexit(teardown);
  return 0;
}

/* Open a copy of the pristine segment with script-chosen damage under
 * another id, use it a little, close it. */
static void open_damaged_copy(fuzz_in *in) {
  char path[HORUS__PATH_MAX + 32], dir[HORUS__PATH_MAX];
  if (horus_namespace_dir(dir, sizeof dir, true) != 0) return;
  snprintf(path, sizeof path, "%s/pool.%d", dir, COPY_ID);
  uint8_t *img = malloc(meta_len);
  memcpy(img, pristine, meta_len);
  ((horus__pool_header *)img)->pool_id = COPY_ID;
  int patches = 1 + fuzz_u8(in) % 8;
  for (int i = 0; i < patches; i++) fuzz_scribble(in, img, meta_len, lock_hole);
  /* The file's size is part of what is validated: sometimes cut it. */
  uint64_t size = pool->map_size;
  if (fuzz_u8(in) % 4 == 0) size = fuzz_u32(in) % (pool->map_size + 1);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    size_t w = size < meta_len ? (size_t)size : meta_len;
    if (write(fd, img, w) == (ssize_t)w && ftruncate(fd, (off_t)size) == 0) {
      horus_pool *c;
      if (horus_pool_open(COPY_ID, 0, 0, 0, &c) == 0) {
        uint32_t s, g;
        uint64_t off;
        horus_pool_stats st;
        if (horus_pool_alloc(c, 1 + fuzz_u16(in), &s, &g, &off) == 0)
          horus_pool_release(c, s, g);
        horus_pool_stats_get(c, &st);
        horus_pool_reclaim(c);
        horus_pool_close(c);
      }
    }
    close(fd);
  }
  unlink(path);
  free(img);
}

/* A descriptor as another process could send it: the sample with some
 * fields overwritten. */
static void open_forged_desc(fuzz_in *in) {
  horus_tensor_desc d = sample_desc;
  int edits = fuzz_u8(in) % 6;
  for (int i = 0; i < edits; i++) {
    uint8_t f = fuzz_u8(in);
    uint64_t v = fuzz_u64(in);
    switch (f % 8) {
      case 0: d.slot = (uint32_t)v; break;
      case 1: d.generation = (uint32_t)v; break;
      case 2: d.dtype = (uint8_t)v; break;
      case 3: d.ndim = (uint8_t)v; break;
      case 4: d.offset = v; break;
      case 5: d.shape[f / 8 % HORUS_MAX_DIMS] = (int64_t)v; break;
      case 6: d.strides[f / 8 % HORUS_MAX_DIMS] = (int64_t)v; break;
      default: d.pool_id = (uint32_t)v; break;
    }
  }
  horus_tensor *t;
  if (horus_tensor_open(&d, &t) != 0) return;
  fuzz_touch_tensor(t);
  horus_tensor *v;
  int64_t flat = horus_tensor_numel(t);
  if (horus_tensor_view(t, &flat, 1, &v) == 0) horus_tensor_free(v);
  /* The same tensor as the frame a message says it is. */
  horus_msg m = {.type = HORUS_MSG_IMAGE + fuzz_u8(in) % 3, .tensor = d};
  m.meta.kind_data = fuzz_u8(in);
  fuzz_bytes(in, m.meta.frame_id, 8);
  horus_frame f;
  if (horus_frame_from_msg(&m, t, &f) == 0) horus_frame_clear(&f);
  else horus_tensor_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size};
  memcpy(pool->base, pristine, meta_len);
  uint32_t live_slot[MAX_LIVE], live_gen[MAX_LIVE];
  int nlive = 0;
  while (in.n) {
    uint8_t op = fuzz_u8(&in);
    uint32_t s, g;
    uint64_t off;
    int r = 0;
    switch (op % 12) {
      case 0:
      case 1: fuzz_scribble(&in, pool->base, meta_len, lock_hole); break;
      case 2:
        r = horus_pool_alloc(pool, fuzz_u32(&in) % (1u << 21), &s, &g, &off);
        if (r == 0) {
          void *p = horus_pool_data(pool, off);
          if (!p || horus_pool_block_size(pool, s, g) > pool->data_size - off) abort();
          if (nlive < MAX_LIVE) {
            live_slot[nlive] = s;
            live_gen[nlive++] = g;
          } else {
            r = horus_pool_release(pool, s, g);
          }
        }
        break;
      case 3:
        if (nlive) {
          int i = fuzz_u8(&in) % nlive;
          r = horus_pool_release(pool, live_slot[i], live_gen[i]);
          live_slot[i] = live_slot[--nlive];
          live_gen[i] = live_gen[nlive];
        }
        break;
      case 4:
        s = fuzz_u32(&in);
        g = fuzz_u32(&in);
        if ((r = horus_pool_retain(pool, s, g)) == 0) r = horus_pool_release(pool, s, g);
        break;
      case 5:
        r = horus_pool_release(pool, fuzz_u32(&in), fuzz_u32(&in));
        break;
      case 6: {
        horus_pool_stats st;
        r = horus_pool_stats_get(pool, &st);
        break;
      }
      case 7: r = horus_pool_reclaim(pool); break;
      case 8: {
        horus_pool_holder hs[8];
        r = horus_pool_holders(pool, hs, 8);
        if (r > 0) r = 0;
        s = fuzz_u32(&in);
        g = fuzz_u32(&in);
        (void)horus_pool_refcount(pool, s, g);
        (void)horus_pool_block_size(pool, s, g);
        horus_pool *fp;
        if (horus_pool_find(pool->data + fuzz_u32(&in) % pool->data_size, &fp, &s, &g,
                            &off) == 0)
          horus_pool_close(fp);
        break;
      }
      case 9: open_forged_desc(&in); break;
      case 10: fuzz_lock_owner_dies(&pool->hdr->lock.mutex); break;
      default: open_damaged_copy(&in); break;
    }
    if (r > 0 || r < HORUS_ERRNO_MIN) {
      fprintf(stderr, "fuzz_pool: op %u returned %d, not a HORUS_E* code\n", op % 12, r);
      abort();
    }
  }
  while (nlive--) horus_pool_release(pool, live_slot[nlive], live_gen[nlive]);
  return 0;
}
