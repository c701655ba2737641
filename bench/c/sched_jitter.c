/* sched_jitter.c - a 1 kHz node for N seconds: actual rate, start-time
 * jitter (p50/p99/max) and the scheduler's own cost per tick (an empty
 * tick's run time minus the tick's own time, per tick).  JSON output.
 *   sched_jitter [seconds] [rate_hz] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "horus/horus.h"

static int empty(horus_node *n, void *u) {
  (void)n, (void)u;
  return 0;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5, rate = argc > 2 ? atof(argv[2]) : 1000;
  horus_sched *s;
  horus_node *n;
  if (horus_sched_create(&s) || horus_node_create("tick", rate, empty, NULL, &n) ||
      horus_sched_add(s, n, false, 0))
    return 1;
  if (horus_sched_run(s, (int64_t)(seconds * 1e9))) return 1;
  horus_node_stats st;
  horus_node_stats_get(n, &st);
  /* Overhead: tick_once on an empty node, timed over many cycles. */
  struct timespec a, b;
  const int loops = 200000;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < loops; i++) horus_sched_tick_once(s);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double per = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / loops;
  printf("{\"case\": \"sched-c\", \"rate_hz\": %g, \"actual_rate_hz\": %.3f, "
         "\"rate_error\": %.5f, \"jitter_p50_ns\": %llu, \"jitter_p99_ns\": %llu, "
         "\"jitter_max_ns\": %llu, \"overruns\": %llu, \"overhead_ns\": %.1f}\n",
         rate, st.actual_rate_hz, st.actual_rate_hz / rate - 1,
         (unsigned long long)st.jitter_p50_ns, (unsigned long long)st.jitter_p99_ns,
         (unsigned long long)st.jitter_max_ns, (unsigned long long)st.overruns, per);
  horus_sched_free(s);
  horus_node_free(n);
  return 0;
}
