/* topic_latency.c - one-way latency between two processes, measured as half
 * the round trip of a ping-pong, for the machine's floor and for horus
 * topics.  Prints one JSON line per measurement.
 *
 *   topic_latency floor-busy|floor-futex [N [PLACE]]
 *   topic_latency horus-busy|horus-block SIZE_BYTES [N [PLACE]]
 *   topic_latency pairs busy|block SIZE_BYTES N PAIRS [PLACE]
 *   topic_latency instr SIZE_BYTES N          (run under valgrind --tool=callgrind)
 *
 * floor-busy: two processes bounce a counter in one shared cache line.
 * floor-futex: the same, each side sleeping on a futex until woken.
 * horus-*: a preallocated SIZE-byte tensor goes out on topic "bench.ping"
 * and comes back on "bench.pong" (the payload stays where it is; what
 * moves is the descriptor and a new reference on each side), received by
 * spinning on recv (busy) or sleeping in recv with a timeout (block).
 *
 * pairs: floor, horus, floor, horus, ... PAIRS times, N messages each, then
 * a summary line with the median, min and max of the per-pair ratios
 * horus / floor.  On shared virtual machines the floor itself moves several
 * fold with where the host puts the two vCPUs; a floor measured minutes
 * apart from horus is not its floor, a pair measured back to back is.
 *
 * PLACE pins the two processes: "split" (parent on the first CPU of this
 * process's affinity mask, child on the second), "same" (both on the first:
 * every wake-up is a context switch on one CPU), "free" (the scheduler
 * decides, as the old bench did).  Busy-poll needs two CPUs: it refuses
 * "same".  Default: split.
 *
 * instr: the same horus ping-pong, but each side waits for the other's
 * message on a side channel before calling recv, so recv is called exactly
 * once per message and spinning costs no instructions; send, recv and
 * release each run in a function of their own (bench_send, bench_recv,
 * bench_release; the warm-up calls go through other functions), so
 * callgrind's inclusive cost of each, divided by the calls, is the
 * instructions per message with setup excluded.  bench/run.py does this. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#endif
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "horus/horus.h"

#define NOINLINE __attribute__((noinline))

typedef enum { PLACE_SPLIT, PLACE_SAME, PLACE_FREE } place_t;
static const char *const place_names[] = {"split", "same", "free"};
static int cpu_a = -1, cpu_b = -1; /* the first two CPUs we may run on */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void find_cpus(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set)) return;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) {
      if (cpu_a < 0)
        cpu_a = c;
      else if (cpu_b < 0)
        cpu_b = c;
    }
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

/* Called in the parent before fork (so the child inherits it) and in the
 * child after; the parent's original mask is restored by place_end. */
static cpu_set_t saved_mask;
static void place_parent(place_t p) {
  sched_getaffinity(0, sizeof saved_mask, &saved_mask);
  if (p != PLACE_FREE) pin(cpu_a);
}
static void place_child(place_t p) {
  if (p == PLACE_SPLIT) pin(cpu_b);
}
static void place_end(void) { sched_setaffinity(0, sizeof saved_mask, &saved_mask); }

/* The median of n round trips, halved, and the percentiles; prints the line
 * and returns the one-way median. */
static double report(const char *cas, uint64_t size, place_t place, int pair, uint64_t *rtt,
                     int n) {
  qsort(rtt, (size_t)n, sizeof *rtt, cmp_u64);
  double med = rtt[n / 2] / 2.0;
  printf("{\"case\": \"%s\", \"size\": %llu, \"n\": %d, \"place\": \"%s\", \"pair\": %d, "
         "\"median_ns\": %.1f, \"p99_ns\": %.1f, \"p999_ns\": %.1f}\n",
         cas, (unsigned long long)size, n, place_names[place], pair, med,
         rtt[(size_t)n * 99 / 100] / 2.0, rtt[(size_t)n * 999 / 1000] / 2.0);
  fflush(stdout);
  return med;
}

static void fwait(_Atomic uint32_t *w, uint32_t v) {
  syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}
static void fwake(_Atomic uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

static double floor_case(bool futex, int n, place_t place, int pair) {
  _Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (w == MAP_FAILED) return -1;
  atomic_store(w, 0);
  int total = n + 1000;
  place_parent(place);
  pid_t pid = fork();
  if (pid == 0) {
    place_child(place);
    for (uint32_t i = 1; i <= (uint32_t)total; i++) {
      uint32_t want = 2 * i - 1; /* parent's ping */
      while (atomic_load_explicit(w, memory_order_acquire) != want)
        if (futex) fwait(w, want - 1);
      atomic_store_explicit(w, want + 1, memory_order_release);
      if (futex) fwake(w);
    }
    _exit(0);
  }
  uint64_t *rtt = malloc(sizeof(uint64_t) * (size_t)n);
  for (int i = 1; i <= total; i++) {
    uint64_t t0 = now_ns();
    atomic_store_explicit(w, 2u * (uint32_t)i - 1, memory_order_release);
    if (futex) fwake(w);
    uint32_t want = 2u * (uint32_t)i;
    while (atomic_load_explicit(w, memory_order_acquire) != want)
      if (futex) fwait(w, want - 1);
    if (i > 1000) rtt[i - 1001] = now_ns() - t0;
  }
  waitpid(pid, NULL, 0);
  place_end();
  double med = report(futex ? "floor-futex" : "floor-busy", 64, place, pair, rtt, n);
  free(rtt);
  munmap((void *)w, 4096);
  return med;
}

/* The bench's waits: busy spins on a zero timeout; block sleeps in recv with
 * a 5 s timeout, re-entered on EAGAIN/EINTR. */
static int recv_one(horus_topic *t, bool block, horus_msg *m, horus_tensor **x) {
  for (;;) {
    int r = horus_topic_recv(t, block ? 5000000000ll : 0, m, x);
    if (r != HORUS_EAGAIN && r != HORUS_EINTR) return r;
  }
}

/* One operation per function, so callgrind's inclusive costs separate them
 * (see "instr" above).  The *_warm twins take the warm-up calls. */
static NOINLINE int bench_send(horus_topic *t, const horus_msg *m, horus_tensor *x) {
  return horus_topic_send(t, m, x, NULL);
}
static NOINLINE int bench_send_warm(horus_topic *t, const horus_msg *m, horus_tensor *x) {
  return horus_topic_send(t, m, x, NULL);
}
static NOINLINE int bench_recv(horus_topic *t, horus_msg *m, horus_tensor **x) {
  return horus_topic_recv(t, 0, m, x);
}
static NOINLINE int bench_recv_warm(horus_topic *t, horus_msg *m, horus_tensor **x) {
  return horus_topic_recv(t, 0, m, x);
}
static NOINLINE void bench_release(horus_tensor *x) { horus_tensor_free(x); }
static NOINLINE void bench_release_warm(horus_tensor *x) { horus_tensor_free(x); }
/* The floor's two operations, measured the same way. */
static NOINLINE void floor_store(_Atomic uint32_t *w, uint32_t v) {
  atomic_store_explicit(w, v, memory_order_release);
}
static NOINLINE uint32_t floor_load(_Atomic uint32_t *w) {
  return atomic_load_explicit(w, memory_order_acquire);
}

#define WARM 200

typedef struct {
  horus_pool *pool;
  horus_topic *ping, *pong;
  horus_tensor *payload;
  horus_msg m;
} session;

static int open_session(session *s, uint64_t size) {
  memset(s, 0, sizeof *s);
  if (!getenv("HORUS_NAMESPACE")) setenv("HORUS_NAMESPACE", "bench-latency", 1);
  uint64_t pool_mb = size * 3 / (1u << 20) + 64;
  if (horus_pool_open(77, pool_mb << 20, 256, HORUS_POOL_CREATE, &s->pool) ||
      horus_topic_open("bench.ping", HORUS_MSG_TENSOR, 4, &s->ping) ||
      horus_topic_open("bench.pong", HORUS_MSG_TENSOR, 4, &s->pong) ||
      horus_topic_subscribe(s->pong)) {
    fprintf(stderr, "setup: %s\n", horus_errmsg());
    return -1;
  }
  int64_t shape[1] = {(int64_t)size};
  if (horus_tensor_alloc(s->pool, shape, 1, HORUS_UINT8, &s->payload)) {
    fprintf(stderr, "alloc: %s\n", horus_errmsg());
    return -1;
  }
  memset(horus_tensor_data(s->payload), 1, size); /* commit the pages: a real frame */
  s->m.type = HORUS_MSG_TENSOR;
  s->m.tensor = *horus_tensor_get_desc(s->payload);
  return 0;
}

static void close_session(session *s) {
  horus_tensor_free(s->payload);
  horus_topic_close(s->ping);
  horus_topic_close(s->pong);
  horus_pool_close(s->pool);
  horus_clean(true, NULL, NULL);
}

static int child_topics(horus_topic **in, horus_topic **out) {
  return horus_topic_open("bench.ping", HORUS_MSG_TENSOR, 0, in) ||
         horus_topic_open("bench.pong", HORUS_MSG_TENSOR, 0, out) || horus_topic_subscribe(*in);
}

static double horus_case(bool block, uint64_t size, int n, place_t place, int pair) {
  session s;
  if (open_session(&s, size)) return -1;
  int total = n + WARM;
  int ready[2];
  if (pipe(ready)) return -1;
  place_parent(place);
  pid_t pid = fork();
  if (pid == 0) {
    place_child(place);
    horus_topic *in, *out;
    if (child_topics(&in, &out)) _exit(2);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    for (int i = 0; i < total; i++) {
      horus_msg m;
      horus_tensor *x;
      if (recv_one(in, block, &m, &x)) _exit(4);
      if (horus_topic_send(out, &m, x, NULL)) _exit(5); /* send the same block back */
      horus_tensor_free(x);
    }
    _exit(0);
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) return -1;
  close(ready[0]);
  uint64_t *rtt = malloc(sizeof(uint64_t) * (size_t)n);
  for (int i = 0; i < total; i++) {
    uint64_t t0 = now_ns();
    s.m.meta.timestamp_ns = (int64_t)t0; /* stamped, as a camera stamps its frames */
    if (horus_topic_send(s.ping, &s.m, s.payload, NULL)) return -1;
    horus_msg back;
    horus_tensor *x;
    if (recv_one(s.pong, block, &back, &x)) return -1;
    uint64_t t1 = now_ns();
    horus_tensor_free(x);
    if (i >= WARM) rtt[i - WARM] = t1 - t0;
  }
  int status;
  waitpid(pid, &status, 0);
  place_end();
  double med = report(block ? "horus-block" : "horus-busy", size, place, pair, rtt, n);
  free(rtt);
  close_session(&s);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? med : -1;
}

static int pairs_case(bool block, uint64_t size, int n, int pairs, place_t place) {
  double *ratio = calloc((size_t)pairs, sizeof *ratio);
  double *fl = calloc((size_t)pairs, sizeof *fl), *hz = calloc((size_t)pairs, sizeof *hz);
  for (int k = 0; k < pairs; k++) {
    fl[k] = floor_case(block, n, place, k);
    hz[k] = horus_case(block, size, n, place, k);
    if (fl[k] <= 0 || hz[k] <= 0) return 1;
    ratio[k] = hz[k] / fl[k];
  }
  qsort(ratio, (size_t)pairs, sizeof *ratio, cmp_double);
  qsort(fl, (size_t)pairs, sizeof *fl, cmp_double);
  qsort(hz, (size_t)pairs, sizeof *hz, cmp_double);
  printf("{\"case\": \"pairs-%s\", \"size\": %llu, \"place\": \"%s\", \"pairs\": %d, "
         "\"ratio_median\": %.3f, \"ratio_min\": %.3f, \"ratio_max\": %.3f, "
         "\"floor_median_ns\": %.1f, \"floor_min_ns\": %.1f, \"floor_max_ns\": %.1f, "
         "\"horus_median_ns\": %.1f, \"horus_min_ns\": %.1f, \"horus_max_ns\": %.1f}\n",
         block ? "block" : "busy", (unsigned long long)size, place_names[place], pairs,
         ratio[pairs / 2], ratio[0], ratio[pairs - 1], fl[pairs / 2], fl[0], fl[pairs - 1],
         hz[pairs / 2], hz[0], hz[pairs - 1]);
  free(ratio);
  free(fl);
  free(hz);
  return 0;
}

/* Spin (uncounted by the caller's functions) until *w reaches v. */
static void await(_Atomic uint32_t *w, uint32_t v) {
  while (atomic_load_explicit(w, memory_order_acquire) < v) {
  }
}

static int instr_case(uint64_t size, int n) {
  session s;
  if (open_session(&s, size)) return 1;
  /* side[0]: pings sent, side[1]: pongs sent; side[16]: the floor's line. */
  _Atomic uint32_t *side =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (side == MAP_FAILED) return 1;
  int total = n + WARM;
  pid_t pid = fork();
  if (pid == 0) {
    horus_topic *in, *out;
    if (child_topics(&in, &out)) _exit(2);
    atomic_store(&side[2], 1); /* subscribed */
    for (int i = 1; i <= total; i++) {
      horus_msg m;
      horus_tensor *x;
      await(&side[0], (uint32_t)i);
      int r = i > WARM ? bench_recv(in, &m, &x) : bench_recv_warm(in, &m, &x);
      if (r) _exit(4);
      r = i > WARM ? bench_send(out, &m, x) : bench_send_warm(out, &m, x);
      if (r) _exit(5);
      if (i > WARM)
        bench_release(x);
      else
        bench_release_warm(x);
      atomic_store_explicit(&side[1], (uint32_t)i, memory_order_release);
    }
    /* The floor: one store answered by one load, n times each way. */
    for (uint32_t i = 1; i <= (uint32_t)n; i++) {
      await(&side[16], 2 * i - 1);
      if (floor_load(&side[16]) != 2 * i - 1) _exit(6);
      floor_store(&side[16], 2 * i);
    }
    _exit(0);
  }
  await(&side[2], 1);
  for (int i = 1; i <= total; i++) {
    int r = i > WARM ? bench_send(s.ping, &s.m, s.payload) : bench_send_warm(s.ping, &s.m, s.payload);
    if (r) return 1;
    atomic_store_explicit(&side[0], (uint32_t)i, memory_order_release);
    await(&side[1], (uint32_t)i);
    horus_msg back;
    horus_tensor *x;
    r = i > WARM ? bench_recv(s.pong, &back, &x) : bench_recv_warm(s.pong, &back, &x);
    if (r) {
      fprintf(stderr, "recv after the pong was sent: %d\n", r);
      return 1;
    }
    if (i > WARM)
      bench_release(x);
    else
      bench_release_warm(x);
  }
  for (uint32_t i = 1; i <= (uint32_t)n; i++) {
    floor_store(&side[16], 2 * i - 1);
    await(&side[16], 2 * i);
    if (floor_load(&side[16]) != 2 * i) return 1;
  }
  int status;
  waitpid(pid, &status, 0);
  close_session(&s);
  printf("{\"case\": \"instr\", \"size\": %llu, \"n\": %d, \"calls_per_process\": %d}\n",
         (unsigned long long)size, n, n);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int parse_place(const char *s, place_t *p) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, place_names[i]) == 0) {
      *p = (place_t)i;
      return 0;
    }
  fprintf(stderr, "placement '%s': expected split, same or free\n", s);
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s floor-busy|floor-futex [N [PLACE]] | horus-busy|horus-block SIZE [N "
            "[PLACE]] | pairs busy|block SIZE N PAIRS [PLACE] | instr SIZE N\n",
            argv[0]);
    return 2;
  }
  find_cpus();
  place_t place = PLACE_SPLIT;
  const char *cmd = argv[1];
  if (strncmp(cmd, "floor", 5) == 0) {
    if (argc > 3 && parse_place(argv[3], &place)) return 2;
    bool futex = strcmp(cmd, "floor-futex") == 0;
    if (!futex && place == PLACE_SAME) return 2;
    return floor_case(futex, argc > 2 ? atoi(argv[2]) : 20000, place, 0) > 0 ? 0 : 1;
  }
  if (argc < 3) return 2;
  uint64_t size = strtoull(argv[2], NULL, 10);
  if (strcmp(cmd, "instr") == 0) return instr_case(size, argc > 3 ? atoi(argv[3]) : 2000);
  if (strcmp(cmd, "pairs") == 0) {
    if (argc < 6) return 2;
    bool block = strcmp(argv[2], "block") == 0;
    size = strtoull(argv[3], NULL, 10);
    if (argc > 6 && parse_place(argv[6], &place)) return 2;
    if (!block && place == PLACE_SAME) {
      fprintf(stderr, "busy-poll on one CPU measures the scheduler, not the path\n");
      return 2;
    }
    int pairs = atoi(argv[5]);
    if (pairs < 1) return 2;
    return pairs_case(block, size, atoi(argv[4]), pairs, place);
  }
  if (argc > 4 && parse_place(argv[4], &place)) return 2;
  bool block = strcmp(cmd, "horus-block") == 0;
  if (!block && place == PLACE_SAME) return 2;
  return horus_case(block, size, argc > 3 ? atoi(argv[3]) : 20000, place, 0) > 0 ? 0 : 1;
}
