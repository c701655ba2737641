/* topic_latency.c - one-way latency between two processes, measured as half
 * the round trip of a ping-pong, for the machine's floor and for horus
 * topics.  Prints one JSON line per case.
 *
 *   topic_latency floor-busy|floor-futex [iterations]
 *   topic_latency horus-busy|horus-block SIZE_BYTES [iterations]
 *
 * floor-busy: two processes bounce a counter in one shared cache line.
 * floor-futex: the same, each side sleeping on a futex until woken.
 * horus-*: a preallocated SIZE-byte tensor goes out on topic "bench.ping"
 * and comes back on "bench.pong" (the payload stays where it is; what
 * moves is the descriptor and a new reference on each side), received by
 * spinning on recv (busy) or sleeping in recv with a timeout (block). */
#include <linux/futex.h>
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

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *cas, uint64_t size, uint64_t *rtt, int n) {
  qsort(rtt, (size_t)n, sizeof *rtt, cmp_u64);
  printf("{\"case\": \"%s\", \"size\": %llu, \"n\": %d, \"median_ns\": %.1f, "
         "\"p99_ns\": %.1f, \"p999_ns\": %.1f}\n", cas, (unsigned long long)size, n,
         rtt[n / 2] / 2.0, rtt[(size_t)n * 99 / 100] / 2.0, rtt[(size_t)n * 999 / 1000] / 2.0);
  fflush(stdout);
}

static void fwait(_Atomic uint32_t *w, uint32_t v) {
  syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}
static void fwake(_Atomic uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

static int floor_case(bool futex, int n) {
  _Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  atomic_store(w, 0);
  int total = n + 1000;
  pid_t pid = fork();
  if (pid == 0) {
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
  report(futex ? "floor-futex" : "floor-busy", 64, rtt, n);
  free(rtt);
  return 0;
}

static int recv_one(horus_topic *t, bool block, horus_msg *m, horus_tensor **x) {
  for (;;) {
    int r = horus_topic_recv(t, block ? 5000000000ll : 0, m, x);
    if (r != HORUS_EAGAIN && r != HORUS_EINTR) return r;
  }
}

static int horus_case(bool block, uint64_t size, int n) {
  if (!getenv("HORUS_NAMESPACE")) setenv("HORUS_NAMESPACE", "bench-latency", 1);
  uint64_t pool_mb = size * 3 / (1u << 20) + 64;
  horus_pool *pool;
  int r = horus_pool_open(77, pool_mb << 20, 256, HORUS_POOL_CREATE, &pool);
  if (r) {
    fprintf(stderr, "pool: %s\n", horus_errmsg());
    return 1;
  }
  int total = n + 200;
  horus_topic *ping, *pong;
  if ((r = horus_topic_open("bench.ping", HORUS_MSG_TENSOR, 4, &ping)) ||
      (r = horus_topic_open("bench.pong", HORUS_MSG_TENSOR, 4, &pong))) {
    fprintf(stderr, "topic: %s\n", horus_errmsg());
    return 1;
  }
  horus_topic_subscribe(pong);
  int ready[2];
  if (pipe(ready)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    horus_topic *in, *out;
    if (horus_topic_open("bench.ping", HORUS_MSG_TENSOR, 0, &in) ||
        horus_topic_open("bench.pong", HORUS_MSG_TENSOR, 0, &out) || horus_topic_subscribe(in))
      _exit(2);
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
  char c;
  if (read(ready[0], &c, 1) != 1) return 1;
  int64_t shape[1] = {(int64_t)size};
  horus_tensor *payload;
  if ((r = horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &payload))) {
    fprintf(stderr, "alloc: %s\n", horus_errmsg());
    return 1;
  }
  memset(horus_tensor_data(payload), 1, size); /* commit the pages: a real frame */
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor = *horus_tensor_get_desc(payload);
  uint64_t *rtt = malloc(sizeof(uint64_t) * (size_t)n);
  for (int i = 0; i < total; i++) {
    uint64_t t0 = now_ns();
    if (horus_topic_send(ping, &m, payload, NULL)) return 1;
    horus_msg back;
    horus_tensor *x;
    if (recv_one(pong, block, &back, &x)) return 1;
    uint64_t t1 = now_ns();
    horus_tensor_free(x);
    if (i >= 200) rtt[i - 200] = t1 - t0;
  }
  int status;
  waitpid(pid, &status, 0);
  report(block ? "horus-block" : "horus-busy", size, rtt, n);
  free(rtt);
  horus_tensor_free(payload);
  horus_topic_close(ping);
  horus_topic_close(pong);
  horus_pool_close(pool);
  horus_clean(true, NULL, NULL);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s floor-busy|floor-futex [n] | horus-busy|horus-block SIZE [n]\n",
            argv[0]);
    return 2;
  }
  if (strncmp(argv[1], "floor", 5) == 0)
    return floor_case(strcmp(argv[1], "floor-futex") == 0, argc > 2 ? atoi(argv[2]) : 20000);
  if (argc < 3) return 2;
  return horus_case(strcmp(argv[1], "horus-block") == 0, strtoull(argv[2], NULL, 10),
                    argc > 3 ? atoi(argv[3]) : 20000);
}
