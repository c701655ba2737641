/* horus/sched.h - nodes ticked at their own rates by a scheduler.
 *
 * A node has a name, a rate in Hz, an order, and init/tick/shutdown
 * callbacks.  A scheduler ticks its nodes in order (lower first), each at its
 * own rate against absolute deadlines (no drift: the next deadline is the last
 * deadline plus the period), skipping and counting periods a slow tick
 * overran instead of bursting.  Nothing is allocated on the tick path. */
#ifndef HORUS_SCHED_H
#define HORUS_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct horus_node horus_node;
typedef struct horus_sched horus_sched;

/* A node callback: 0 to go on, a negative HORUS_E* (or any negative value)
 * to stop the run, which then runs every shutdown and returns that value. */
typedef int (*horus_node_fn)(horus_node *node, void *user);

#define HORUS_NODE_NAME_MAX 63

/* A node named `name` (1..63 bytes) ticking `tick` at `rate_hz` (> 0 and
 * finite).  HORUS_EINVAL otherwise.  *out is the caller's: horus_node_free
 * (not while its scheduler runs) removes it from its scheduler and frees it. */
HORUS_API int horus_node_create(const char *name, double rate_hz, horus_node_fn tick,
                                void *user, horus_node **out);
HORUS_API void horus_node_free(horus_node *node);

/* Optional callbacks: init runs once before the first tick of a run,
 * shutdown once after the last (for every node whose init succeeded). */
HORUS_API void horus_node_set_init(horus_node *node, horus_node_fn init);
HORUS_API void horus_node_set_shutdown(horus_node *node, horus_node_fn shutdown);
HORUS_API void horus_node_set_order(horus_node *node, int order);

HORUS_API const char *horus_node_name(const horus_node *node);
HORUS_API double horus_node_rate(const horus_node *node);
HORUS_API int horus_node_order(const horus_node *node);
HORUS_API void *horus_node_user(const horus_node *node);

/* Per-node statistics of the current or last run (times in ns). */
typedef struct horus_node_stats {
  uint64_t ticks;
  uint64_t overruns;       /* periods skipped because a tick ran late */
  uint64_t tick_min_ns, tick_max_ns;
  double tick_mean_ns;
  double actual_rate_hz;   /* ticks / run time */
  uint64_t jitter_p50_ns;  /* lateness of tick starts behind their deadlines */
  uint64_t jitter_p99_ns;
  uint64_t jitter_max_ns;
} horus_node_stats;

HORUS_API int horus_node_stats_get(const horus_node *node, horus_node_stats *out);

HORUS_API int horus_sched_create(horus_sched **out);

/* Free the scheduler (not while it runs); its nodes are detached, not freed. */
HORUS_API void horus_sched_free(horus_sched *s);

/* Add `node`, with `order` overriding the node's own when `set_order`.
 * HORUS_EINVAL if the node is in a scheduler already, its name is taken in
 * this one, or the scheduler is running. */
HORUS_API int horus_sched_add(horus_sched *s, horus_node *node, bool set_order, int order);

/* Run until horus_sched_stop(), an error from a callback, an error from the
 * interrupt hook, or `duration_ns` (< 0: no limit).  Returns 0 or the error;
 * 0 at once, running nothing, when a stop() is pending from before the call.
 * HORUS_EINVAL if already running (a tick calling run). */
HORUS_API int horus_sched_run(horus_sched *s, int64_t duration_ns);

/* Ask a run to stop after the current tick.  Async-signal-safe; callable
 * from any thread, a tick, or a signal handler.  The request stays pending
 * until a run consumes it: the run in progress, or, when none is, the next
 * one, which then returns 0 at once without calling init, tick or shutdown
 * (so a SIGINT that lands between installing its handler and calling run()
 * is not lost).  Every run ends with no request pending: a stop() during a
 * run never reaches the run after it. */
HORUS_API void horus_sched_stop(horus_sched *s);

/* One cycle: every node ticks once, in order, ignoring rates (no init or
 * shutdown).  Returns the first callback error. */
HORUS_API int horus_sched_tick_once(horus_sched *s);

/* Called when a sleep is interrupted by a signal (and at least every 50 ms
 * of sleeping): a nonzero return stops the run with that value.  Lets a
 * language binding run its signal handlers (Ctrl-C) promptly. */
HORUS_API void horus_sched_set_interrupt_hook(horus_sched *s, int (*hook)(void *arg), void *arg);

HORUS_API int horus_sched_node_count(const horus_sched *s);
HORUS_API horus_node *horus_sched_node(const horus_sched *s, int i); /* in tick order */
HORUS_API bool horus_sched_running(const horus_sched *s);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_SCHED_H */
