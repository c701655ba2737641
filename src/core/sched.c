/* sched.c - the node scheduler: absolute deadlines on CLOCK_MONOTONIC,
 * ticks in order, overruns skipped and counted, per-node statistics with a
 * log-linear jitter histogram (no allocation once running). */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "horus/sched.h"
#include "internal.h"

#define SUB_BITS 3 /* 8 linear steps per power of two: jitter within 12.5% */
#define BUCKETS (64 << SUB_BITS)
#define MAX_SLEEP_NS 50000000ull /* see horus_sched_set_interrupt_hook */

struct horus_node {
  char name[HORUS_NODE_NAME_MAX + 1];
  double rate;
  uint64_t period_ns;
  int order;
  horus_node_fn init, tick, shutdown;
  void *user;
  horus_sched *sched;
  uint64_t seq; /* order of addition, for stable ordering */
  /* run state */
  uint64_t deadline;
  bool initialised;
  /* statistics */
  uint64_t ticks, overruns, tmin, tmax;
  double tsum;
  uint64_t run_start, run_end;
  uint64_t jmax;
  uint32_t hist[BUCKETS];
};

struct horus_sched {
  horus_node **nodes; /* sorted by (order, seq) */
  int n, cap;
  uint64_t next_seq;
  _Atomic int stop;    /* lock-free: safe from signal handlers and threads */
  _Atomic int running;
  int (*hook)(void *);
  void *hook_arg;
};

static int bucket_of(uint64_t v) {
  if (v < (1u << SUB_BITS)) return (int)v;
  int e = 63 - __builtin_clzll(v);
  int sub = (int)((v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1));
  return ((e - SUB_BITS + 1) << SUB_BITS) + sub;
}

static uint64_t bucket_top(int b) { /* largest value in bucket b */
  if (b < (1 << SUB_BITS)) return (uint64_t)b;
  int e = (b >> SUB_BITS) + SUB_BITS - 1, sub = b & ((1 << SUB_BITS) - 1);
  uint64_t lo = (1ull << e) | ((uint64_t)sub << (e - SUB_BITS));
  return lo + (1ull << (e - SUB_BITS)) - 1;
}

int horus_node_create(const char *name, double rate, horus_node_fn tick, void *user,
                      horus_node **out) {
  if (!name || !*name || strlen(name) > HORUS_NODE_NAME_MAX)
    return horus__err(HORUS_EINVAL, "node name must be 1..%d bytes", HORUS_NODE_NAME_MAX);
  if (!(rate > 0) || !isfinite(rate) || rate > 1e9)
    return horus__err(HORUS_EINVAL, "node '%s': rate %g Hz must be > 0 and finite", name, rate);
  if (!tick) return horus__err(HORUS_EINVAL, "node '%s' has no tick callback", name);
  horus_node *n = calloc(1, sizeof *n);
  if (!n) return horus__err(HORUS_ENOMEM, "out of process memory");
  snprintf(n->name, sizeof n->name, "%s", name);
  n->rate = rate;
  n->period_ns = (uint64_t)llround(1e9 / rate);
  if (n->period_ns == 0) n->period_ns = 1;
  n->tick = tick;
  n->user = user;
  *out = n;
  return 0;
}

void horus_node_free(horus_node *n) {
  if (!n) return;
  /* Still in a scheduler: leave it first, so the scheduler never holds a
   * freed node (language bindings cannot always choose the order in which
   * a scheduler and its nodes are collected). */
  horus_sched *s = n->sched;
  if (s) {
    int j = 0;
    for (int i = 0; i < s->n; i++)
      if (s->nodes[i] != n) s->nodes[j++] = s->nodes[i];
    s->n = j;
  }
  free(n);
}
void horus_node_set_init(horus_node *n, horus_node_fn f) { n->init = f; }
void horus_node_set_shutdown(horus_node *n, horus_node_fn f) { n->shutdown = f; }
void horus_node_set_order(horus_node *n, int order) { n->order = order; }
const char *horus_node_name(const horus_node *n) { return n->name; }
double horus_node_rate(const horus_node *n) { return n->rate; }
int horus_node_order(const horus_node *n) { return n->order; }
void *horus_node_user(const horus_node *n) { return n->user; }

int horus_node_stats_get(const horus_node *n, horus_node_stats *o) {
  memset(o, 0, sizeof *o);
  o->ticks = n->ticks;
  o->overruns = n->overruns;
  o->tick_min_ns = n->ticks ? n->tmin : 0;
  o->tick_max_ns = n->tmax;
  o->tick_mean_ns = n->ticks ? n->tsum / (double)n->ticks : 0;
  uint64_t end = n->run_end ? n->run_end : horus__now_ns();
  if (n->run_start && end > n->run_start && n->ticks)
    o->actual_rate_hz = (double)n->ticks * 1e9 / (double)(end - n->run_start);
  o->jitter_max_ns = n->jmax;
  uint64_t seen = 0, p50 = (n->ticks + 1) / 2, p99 = n->ticks - n->ticks / 100;
  for (int b = 0; b < BUCKETS && seen < n->ticks; b++) {
    uint64_t before = seen;
    seen += n->hist[b];
    if (before < p50 && seen >= p50) o->jitter_p50_ns = bucket_top(b);
    if (before < p99 && seen >= p99) o->jitter_p99_ns = bucket_top(b);
  }
  if (o->jitter_p99_ns > n->jmax) o->jitter_p99_ns = n->jmax;
  if (o->jitter_p50_ns > n->jmax) o->jitter_p50_ns = n->jmax;
  return 0;
}

int horus_sched_create(horus_sched **out) {
  horus_sched *s = calloc(1, sizeof *s);
  if (!s) return horus__err(HORUS_ENOMEM, "out of process memory");
  *out = s;
  return 0;
}

void horus_sched_free(horus_sched *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) s->nodes[i]->sched = NULL;
  free(s->nodes);
  free(s);
}

static bool before(const horus_node *a, const horus_node *b) {
  return a->order < b->order || (a->order == b->order && a->seq < b->seq);
}

int horus_sched_add(horus_sched *s, horus_node *n, bool set_order, int order) {
  if (s->running) return horus__err(HORUS_EINVAL, "cannot add nodes while the scheduler runs");
  if (n->sched)
    return horus__err(HORUS_EINVAL, "node '%s' already belongs to a scheduler", n->name);
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->nodes[i]->name, n->name) == 0)
      return horus__err(HORUS_EINVAL, "a node named '%s' is already in this scheduler", n->name);
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 8;
    horus_node **nodes = realloc(s->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return horus__err(HORUS_ENOMEM, "out of process memory");
    s->nodes = nodes;
    s->cap = cap;
  }
  if (set_order) n->order = order;
  n->seq = s->next_seq++;
  int i = s->n++;
  while (i > 0 && before(n, s->nodes[i - 1])) {
    s->nodes[i] = s->nodes[i - 1];
    i--;
  }
  s->nodes[i] = n;
  n->sched = s;
  return 0;
}

void horus_sched_stop(horus_sched *s) { s->stop = 1; }

void horus_sched_set_interrupt_hook(horus_sched *s, int (*hook)(void *), void *arg) {
  s->hook = hook;
  s->hook_arg = arg;
}

int horus_sched_node_count(const horus_sched *s) { return s->n; }
horus_node *horus_sched_node(const horus_sched *s, int i) {
  return i >= 0 && i < s->n ? s->nodes[i] : NULL;
}
bool horus_sched_running(const horus_sched *s) { return s->running; }

static int tick(horus_node *n, uint64_t deadline) {
  uint64_t start = horus__now_ns();
  uint64_t late = start > deadline ? start - deadline : 0;
  n->hist[bucket_of(late)]++;
  if (late > n->jmax) n->jmax = late;
  int r = n->tick(n, n->user);
  uint64_t took = horus__now_ns() - start;
  if (!n->ticks || took < n->tmin) n->tmin = took;
  if (took > n->tmax) n->tmax = took;
  n->tsum += (double)took;
  n->ticks++;
  return r;
}

int horus_sched_tick_once(horus_sched *s) {
  if (s->running) return horus__err(HORUS_EINVAL, "tick_once() while the scheduler runs");
  s->running = 1;
  int r = 0;
  for (int i = 0; i < s->n && !r; i++) r = tick(s->nodes[i], horus__now_ns());
  s->running = 0;
  return r;
}

static void reset_stats(horus_node *n, uint64_t now) {
  n->ticks = n->overruns = n->tmin = n->tmax = n->jmax = 0;
  n->tsum = 0;
  n->run_start = now;
  n->run_end = 0;
  memset(n->hist, 0, sizeof n->hist);
  n->deadline = now;
  n->initialised = false;
}

int horus_sched_run(horus_sched *s, int64_t duration_ns) {
  if (s->running) return horus__err(HORUS_EINVAL, "the scheduler is already running "
                                    "(run() called from a tick?)");
  s->running = 1;
  /* A stop() that came before this run (a signal between installing the
   * handler and calling run) is this run's: clearing it here would lose
   * it and run for ever.  It is consumed, so it stops one run only. */
  if (atomic_exchange(&s->stop, 0)) {
    s->running = 0;
    return 0;
  }
  int r = 0;
  /* The kernel may defer a timer by the thread's slack (50 us by default)
   * to batch wake-ups; a control loop wants its deadline instead. */
  int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
  uint64_t now = horus__now_ns();
  uint64_t end = duration_ns >= 0 ? now + (uint64_t)duration_ns : UINT64_MAX;
  for (int i = 0; i < s->n; i++) reset_stats(s->nodes[i], now);
  for (int i = 0; i < s->n && !r; i++) {
    horus_node *n = s->nodes[i];
    if (n->init) r = n->init(n, n->user);
    if (!r) n->initialised = true;
  }
  now = horus__now_ns();
  for (int i = 0; i < s->n; i++) s->nodes[i]->deadline = s->nodes[i]->run_start = now;

  while (!r && !s->stop) {
    now = horus__now_ns();
    if (now >= end) break;
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < s->n; i++)
      if (s->nodes[i]->deadline < next) next = s->nodes[i]->deadline;
    if (s->n == 0) next = end;
    if (next > now) {
      uint64_t wake = next < end ? next : end;
      if (wake - now > MAX_SLEEP_NS) wake = now + MAX_SLEEP_NS;
      struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
      int e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
      if ((e == EINTR || wake < next) && s->hook) r = s->hook(s->hook_arg);
      continue;
    }
    /* Everything due now ticks, in order. */
    for (int i = 0; i < s->n && !r && !s->stop; i++) {
      horus_node *n = s->nodes[i];
      if (n->deadline > now) continue;
      r = tick(n, n->deadline);
      uint64_t after = horus__now_ns();
      n->deadline += n->period_ns;
      if (n->deadline <= after) { /* overran: skip the missed periods */
        uint64_t missed = (after - n->deadline) / n->period_ns + 1;
        n->overruns += missed;
        n->deadline += missed * n->period_ns;
      }
    }
  }
  now = horus__now_ns();
  for (int i = 0; i < s->n; i++) {
    horus_node *n = s->nodes[i];
    n->run_end = now;
    if (n->initialised && n->shutdown) {
      int sr = n->shutdown(n, n->user);
      if (!r) r = sr;
    }
    n->initialised = false;
  }
  if (slack > 0) prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
  s->stop = 0; /* consumed by this run; a later stop() is the next run's */
  s->running = 0;
  return r;
}
