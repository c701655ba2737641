/* topic_throughput.c - messages per second and payload gigabytes per second
 * made available, one publisher to K subscriber processes.  The publisher
 * sends a ring's worth of preallocated SIZE-byte tensors round-robin as fast
 * as it can for SECONDS; each subscriber receives (taking its own reference)
 * as fast as it can.  Reports what the slowest subscriber received.
 *   topic_throughput SUBSCRIBERS SIZE_BYTES [seconds]   (JSON line) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "horus/horus.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int k = atoi(argv[1]);
  uint64_t size = strtoull(argv[2], NULL, 10);
  double seconds = argc > 3 ? atof(argv[3]) : 2.0;
  if (!getenv("HORUS_NAMESPACE")) setenv("HORUS_NAMESPACE", "bench-throughput", 1);
  horus_pool *pool;
  horus_topic *pub;
  if (horus_pool_open(79, (size * 64 / (1u << 20) + 64) << 20, 1024, HORUS_POOL_CREATE, &pool) ||
      horus_topic_open("bench.tput", HORUS_MSG_TENSOR, 1024, &pub)) {
    fprintf(stderr, "%s\n", horus_errmsg());
    return 1;
  }
  int fds[2], res[2];
  if (pipe(fds) || pipe(res)) return 1;
  pid_t kids[16];
  for (int i = 0; i < k && i < 16; i++) {
    if ((kids[i] = fork()) == 0) {
      horus_topic *t;
      if (horus_topic_open("bench.tput", HORUS_MSG_TENSOR, 0, &t) || horus_topic_subscribe(t))
        _exit(2);
      if (write(fds[1], "r", 1) != 1) _exit(3);
      uint64_t got = 0;
      for (;;) {
        horus_msg m;
        horus_tensor *x;
        int r = horus_topic_recv(t, 500000000, &m, &x);
        if (r == HORUS_ETIMEDOUT) break;
        if (r) continue;
        if (m.meta.kind_data == 1) { /* the end marker */
          horus_tensor_free(x);
          break;
        }
        got++;
        horus_tensor_free(x);
      }
      horus_topic_stats st;
      horus_topic_stats_get(t, &st);
      uint64_t out[2] = {got, st.dropped};
      if (write(res[1], out, sizeof out) != (ssize_t)sizeof out) _exit(4);
      _exit(0);
    }
  }
  char c;
  for (int i = 0; i < k; i++)
    if (read(fds[0], &c, 1) != 1) return 1;
  horus_tensor *payload[64];
  int64_t shape[1] = {(int64_t)size};
  for (int i = 0; i < 64; i++) {
    if (horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &payload[i])) return 1;
    memset(horus_tensor_data(payload[i]), i, size);
  }
  uint64_t sent = 0, t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  while (now_ns() < end) {
    for (int j = 0; j < 256; j++) {
      horus_tensor *x = payload[sent % 64];
      m.tensor = *horus_tensor_get_desc(x);
      if (horus_topic_send(pub, &m, x, NULL) == 0) sent++;
    }
  }
  double elapsed = (double)(now_ns() - t0) / 1e9;
  m.meta.kind_data = 1;
  m.tensor = *horus_tensor_get_desc(payload[0]);
  for (int i = 0; i < 4; i++) horus_topic_send(pub, &m, payload[0], NULL);
  uint64_t slowest = UINT64_MAX, dropped = 0;
  for (int i = 0; i < k; i++) {
    uint64_t out[2];
    if (read(res[0], out, sizeof out) != (ssize_t)sizeof out) return 1;
    if (out[0] < slowest) slowest = out[0];
    dropped += out[1];
  }
  for (int i = 0; i < k; i++) waitpid(kids[i], NULL, 0);
  printf("{\"case\": \"throughput\", \"subscribers\": %d, \"size\": %llu, \"sent_per_s\": %.0f, "
         "\"received_per_s_slowest\": %.0f, \"gb_per_s_slowest\": %.3f, \"dropped_total\": %llu}\n",
         k, (unsigned long long)size, sent / elapsed, slowest / elapsed,
         slowest * (double)size / elapsed / 1e9, (unsigned long long)dropped);
  for (int i = 0; i < 64; i++) horus_tensor_free(payload[i]);
  horus_topic_close(pub);
  horus_pool_close(pool);
  horus_clean(true, NULL, NULL);
  return 0;
}
