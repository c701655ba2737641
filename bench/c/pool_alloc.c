/* pool_alloc.c - cost of horus_pool_alloc + horus_pool_release against
 * malloc + free of the same sizes, and of horus_tensor_alloc + free.
 *
 * The allocator alone (blocks not cleared) and a memset of the same sizes
 * are measured beside it: a new block is cleared where it lies in memory
 * used before, so the first is the sum of the other two.
 *
 * Each sample is the mean of a batch of 64 alloc+release pairs (one clock
 * read per batch keeps the clock's own cost out); the report gives the median
 * and p99 over samples.  Prints one JSON line per case.
 * Usage: pool_alloc [samples]   (default 20000)
 *        pool_alloc instr N    (N batches of the allocator alone, for callgrind) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "horus/horus.h"
/* horus__pool_alloc_uninit: the allocation without clearing that clone,
 * import and wire decoding use for blocks they overwrite whole, measured
 * apart to show the allocator's cost beside the clearing's. */
#include "pool_internal.h"

#define BATCH 64

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *name, double *s, int n) {
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  printf("{\"case\": \"%s\", \"median_ns\": %.1f, \"p99_ns\": %.1f, \"samples\": %d}\n",
         name, s[n / 2], s[n * 99 / 100], n);
}

typedef int alloc_fn(horus_pool *, uint64_t, uint32_t *, uint32_t *, uint64_t *);

/* samples of the mean alloc + release time of a batch, into s. */
static void time_alloc(horus_pool *pool, alloc_fn *alloc, const uint64_t *sizes, double *s,
                       int samples) {
  for (int k = 0; k < samples; k++) {
    double t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      uint32_t slot, gen;
      uint64_t off;
      if (alloc(pool, sizes[i], &slot, &gen, &off) == 0) horus_pool_release(pool, slot, gen);
    }
    s[k] = (now_ns() - t0) / BATCH;
  }
}

/* For callgrind: n rounds of the allocator-alone batch and nothing else,
 * in a function of its own so that its inclusive count is per call. */
static __attribute__((noinline, noclone)) void alloc_release_uninit(horus_pool *pool, uint64_t size) {
  uint32_t slot, gen;
  uint64_t off;
  if (horus__pool_alloc_uninit(pool, size, &slot, &gen, &off) == 0)
    horus_pool_release(pool, slot, gen);
}

/* Close the bench's pool and remove its segment.  The namespace's directory
 * is left to whoever chose it: bench/run.py's closing horus.clean(all=True)
 * removes it with the per-user one (which a clean of a namespace already
 * gone would leave behind). */
static void remove_pool(horus_pool *pool) {
  char path[600];
  snprintf(path, sizeof path, "%s", horus_pool_path(pool));
  horus_pool_close(pool);
  remove(path);
}

static int instr_case(horus_pool *pool, const uint64_t *sizes, int n) {
  for (int k = 0; k < n; k++)
    for (int i = 0; i < BATCH; i++) alloc_release_uninit(pool, sizes[i]);
  printf("{\"case\": \"instr\", \"calls\": %d}\n", n * BATCH);
  return 0;
}

int main(int argc, char **argv) {
  bool instr = argc > 1 && strcmp(argv[1], "instr") == 0;
  if (instr) argv++, argc--;
  int samples = argc > 1 ? atoi(argv[1]) : 20000;
  if (samples < (instr ? 1 : 100)) samples = instr ? 1 : 100;
  if (!getenv("HORUS_NAMESPACE")) setenv("HORUS_NAMESPACE", "bench-pool-alloc", 1);
  horus_pool *pool;
  int r = horus_pool_open(42, 256ull << 20, 1024, HORUS_POOL_CREATE, &pool);
  if (r) {
    fprintf(stderr, "pool: %s\n", horus_errmsg());
    return 1;
  }
  uint64_t sizes[BATCH];
  srand(1);
  for (int i = 0; i < BATCH; i++) sizes[i] = 1024 + (uint64_t)rand() % (8u << 20);
  if (instr) {
    r = instr_case(pool, sizes, samples);
    remove_pool(pool);
    return r;
  }
  double *s = malloc(sizeof(double) * (size_t)samples);

  /* Warm up: touch the allocator's metadata and the lock's cache line. */
  for (int k = 0; k < 1000; k++) {
    uint32_t slot, gen;
    uint64_t off;
    horus_pool_alloc(pool, sizes[k % BATCH], &slot, &gen, &off);
    horus_pool_release(pool, slot, gen);
  }
  time_alloc(pool, horus_pool_alloc, sizes, s, samples);
  report("horus_pool_alloc+release", s, samples);
  time_alloc(pool, horus__pool_alloc_uninit, sizes, s, samples);
  report("allocator alone: horus__pool_alloc_uninit+release", s, samples);

  /* The clearing alone: memset of the same sizes in memory already
   * faulted in, which is what a reused block costs to clear. */
  char *scratch = malloc(8u << 20 | 1024);
  memset(scratch, 1, 8u << 20 | 1024);
  for (int k = 0; k < samples / 10 + 10; k++) {
    double t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      memset(scratch, 0, sizes[i]);
      __asm__ volatile("" : : "r"(scratch) : "memory");
    }
    s[k] = (now_ns() - t0) / BATCH;
  }
  report("memset of the same sizes", s, samples / 10 + 10);
  free(scratch);

  for (int k = 0; k < samples; k++) {
    double t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      void *p = malloc(sizes[i]);
      __asm__ volatile("" : : "r"(p) : "memory");
      free(p);
    }
    s[k] = (now_ns() - t0) / BATCH;
  }
  report("malloc+free", s, samples);

  int64_t shape[3] = {480, 640, 3};
  for (int k = 0; k < samples; k++) {
    double t0 = now_ns();
    for (int i = 0; i < BATCH; i++) {
      horus_tensor *t;
      if (horus_tensor_alloc(pool, shape, 3, HORUS_UINT8, &t) == 0) horus_tensor_free(t);
    }
    s[k] = (now_ns() - t0) / BATCH;
  }
  report("horus_tensor_alloc+free 640x480x3", s, samples);

  /* Fragmentation: random mixed sizes (1 KB .. 8 MB) alloc/free with live
   * bytes kept near half the pool; report how much of the free space the
   * largest free block is, and whether any allocation failed for want of a
   * contiguous block while enough bytes were free. */
  {
    enum { LIVE = 512 };
    uint32_t ls[LIVE], lg[LIVE];
    uint64_t lsz[LIVE], live_bytes = 0, fails = 0, ops = 0;
    int nl = 0;
    double worst = 1.0;
    srand(7);
    uint64_t cap = (256ull << 20) / 2;
    for (int it = 0; it < 200000; it++) {
      uint64_t want = 1024 + (uint64_t)rand() % (8u << 20);
      if (nl < LIVE && live_bytes + want < cap && (nl == 0 || rand() % 2)) {
        uint64_t off;
        if (horus_pool_alloc(pool, want, &ls[nl], &lg[nl], &off) == 0) {
          lsz[nl++] = want, live_bytes += want;
        } else {
          fails++;
        }
        ops++;
      } else if (nl) {
        int i = rand() % nl;
        horus_pool_release(pool, ls[i], lg[i]);
        live_bytes -= lsz[i];
        ls[i] = ls[--nl], lg[i] = lg[nl], lsz[i] = lsz[nl];
      }
      if (it % 1000 == 999) {
        horus_pool_stats st;
        horus_pool_stats_get(pool, &st);
        double ratio = st.free_bytes ? (double)st.largest_free_block / (double)st.free_bytes : 1;
        if (ratio < worst) worst = ratio;
      }
    }
    while (nl--) horus_pool_release(pool, ls[nl], lg[nl]);
    printf("{\"case\": \"fragmentation\", \"allocations\": %llu, \"failed_for_room\": %llu, "
           "\"worst_largest_free_over_free\": %.3f}\n", (unsigned long long)ops,
           (unsigned long long)fails, worst);
  }

  free(s);
  remove_pool(pool);
  return 0;
}
