/* test_sched.c - the scheduler: order, rates, stopping (from a tick, a
 * thread, a signal), errors, and refusals. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static char trace[64];
static int trace_n;

static int record(horus_node *n, void *user) {
  (void)user;
  if (trace_n < 63) trace[trace_n++] = horus_node_name(n)[0];
  return 0;
}

static int count(horus_node *n, void *user) {
  (void)n;
  ++*(int *)user;
  return 0;
}

static void test_order(void) {
  horus_sched *s;
  horus_node *a, *b, *c;
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("a", 10, record, NULL, &a));
  CHECK_OK(horus_node_create("b", 10, record, NULL, &b));
  CHECK_OK(horus_node_create("c", 10, record, NULL, &c));
  horus_node_set_order(a, 5);
  horus_node_set_order(b, 1);
  CHECK_OK(horus_sched_add(s, a, false, 0));
  CHECK_OK(horus_sched_add(s, b, false, 0));
  CHECK_OK(horus_sched_add(s, c, true, 3)); /* an order given to add() wins */
  trace_n = 0;
  CHECK_OK(horus_sched_tick_once(s));
  trace[trace_n] = 0;
  CHECK(strcmp(trace, "bca") == 0);
  /* In a run, nodes due together tick in order every cycle. */
  trace_n = 0;
  CHECK_OK(horus_sched_run(s, 250000000));
  trace[trace_n] = 0;
  CHECK(trace_n >= 6 && strncmp(trace, "bcabca", 6) == 0);
  horus_node *dup;
  CHECK_OK(horus_node_create("a", 1, record, NULL, &dup));
  CHECK_RC(horus_sched_add(s, dup, false, 0), HORUS_EINVAL);
  horus_sched *other;
  CHECK_OK(horus_sched_create(&other));
  CHECK_RC(horus_sched_add(other, a, false, 0), HORUS_EINVAL);
  horus_sched_free(other);
  horus_sched_free(s);
  horus_node_free(a), horus_node_free(b), horus_node_free(c), horus_node_free(dup);
}

static void test_rates(void) {
  horus_sched *s;
  horus_node *fast, *slow;
  int nf = 0, ns = 0;
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("fast", 100, count, &nf, &fast));
  CHECK_OK(horus_node_create("slow", 10, count, &ns, &slow));
  CHECK_OK(horus_sched_add(s, fast, false, 0));
  CHECK_OK(horus_sched_add(s, slow, false, 0));
  CHECK_OK(horus_sched_run(s, 1000000000));
  /* What holds under any scheduling (how close the rates come is measured
   * in bench/sched_jitter, not asserted): deadlines are absolute, so a node
   * never ticks more than rate x duration + 1 times, every node ticks at
   * least once, and whenever the slow node is due the fast one is too. */
  CHECK(nf >= 1 && nf <= 101);
  CHECK(ns >= 1 && ns <= 11);
  CHECK(nf >= ns);
  horus_node_stats st;
  CHECK_OK(horus_node_stats_get(fast, &st));
  CHECK(st.ticks == (uint64_t)nf && st.actual_rate_hz > 0 && st.actual_rate_hz <= 102);
  CHECK(st.tick_max_ns >= st.tick_min_ns && st.jitter_p99_ns <= st.jitter_max_ns);
  printf("100 Hz node: %d ticks, rate %.1f Hz, p99 jitter %llu ns\n", nf, st.actual_rate_hz,
         (unsigned long long)st.jitter_p99_ns);
  horus_sched_free(s);
  horus_node_free(fast), horus_node_free(slow);
}

static int shutdowns;
static int on_shutdown(horus_node *n, void *u) {
  (void)n, (void)u;
  shutdowns++;
  return 0;
}
static int stop_at_5(horus_node *n, void *u) {
  (void)u;
  horus_node_stats st;
  horus_node_stats_get(n, &st);
  if (st.ticks == 4) horus_sched_stop(*(horus_sched **)u);
  return 0;
}
static int fail_at_3(horus_node *n, void *u) {
  (void)u;
  horus_node_stats st;
  horus_node_stats_get(n, &st);
  return st.ticks == 2 ? -42 : 0;
}
static int reenter(horus_node *n, void *u) {
  (void)n;
  return horus_sched_run(*(horus_sched **)u, 1000);
}
/* A tick that tells `fd` once that the scheduler is running (a readiness
 * signal from inside run(), so nothing has to guess how long to wait). */
static int announce(horus_node *n, void *user) {
  (void)n;
  int *fd = user;
  if (*fd >= 0) {
    if (write(*fd, "r", 1) != 1) return -1;
    *fd = -1;
  }
  return 0;
}

struct stopper_arg {
  horus_sched *s;
  int ready_fd;
};

static void *stopper(void *p) {
  struct stopper_arg *a = p;
  char c;
  if (read(a->ready_fd, &c, 1) == 1) horus_sched_stop(a->s);
  return NULL;
}

static void test_stopping(void) {
  int ticks_m = 0, ticks_idle = 0;
  horus_sched *s;
  horus_node *n, *m;
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("stopper", 1000, stop_at_5, &s, &n));
  horus_node_set_shutdown(n, on_shutdown);
  CHECK_OK(horus_node_create("other", 1000, count, &ticks_m, &m));
  horus_node_set_shutdown(m, on_shutdown);
  CHECK_OK(horus_sched_add(s, n, false, 0));
  CHECK_OK(horus_sched_add(s, m, false, 0));
  shutdowns = 0;
  CHECK_OK(horus_sched_run(s, -1)); /* stop() from a tick ends an unbounded run */
  horus_node_stats st;
  horus_node_stats_get(n, &st);
  CHECK(st.ticks == 5 && shutdowns == 2);
  horus_sched_free(s);
  horus_node_free(n), horus_node_free(m);

  /* stop() from another thread, once the run is under way. */
  int fds[2];
  CHECK(pipe(fds) == 0);
  int announce_fd = fds[1];
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("idle", 5, announce, &announce_fd, &n));
  CHECK_OK(horus_sched_add(s, n, false, 0));
  struct stopper_arg sa = {s, fds[0]};
  pthread_t th;
  pthread_create(&th, NULL, stopper, &sa);
  CHECK_OK(horus_sched_run(s, -1));
  pthread_join(th, NULL);
  CHECK(!horus_sched_running(s));
  horus_sched_free(s);
  horus_node_free(n);
  close(fds[0]), close(fds[1]);

  /* An error from a tick stops the run, runs shutdowns and is returned. */
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("failing", 1000, fail_at_3, NULL, &n));
  horus_node_set_shutdown(n, on_shutdown);
  CHECK_OK(horus_sched_add(s, n, false, 0));
  shutdowns = 0;
  CHECK(horus_sched_run(s, -1) == -42 && shutdowns == 1);
  horus_sched_free(s);
  horus_node_free(n);

  /* run() from a tick is refused (and that error stops the outer run). */
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("reenter", 100, reenter, &s, &n));
  CHECK_OK(horus_sched_add(s, n, false, 0));
  CHECK_RC(horus_sched_run(s, 1000000000), HORUS_EINVAL);
  horus_sched_free(s);
  horus_node_free(n);

  /* A node freed while still in its scheduler leaves it (a garbage
   * collector may free nodes first); ASan checks nothing dangles. */
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("first", 10, count, &ticks_idle, &n));
  CHECK_OK(horus_node_create("second", 10, count, &ticks_idle, &m));
  CHECK_OK(horus_sched_add(s, n, false, 0));
  CHECK_OK(horus_sched_add(s, m, false, 0));
  horus_node_free(n);
  CHECK_OK(horus_sched_tick_once(s));
  horus_sched_free(s);
  horus_node_free(m);
}

static int inits;
static int on_init(horus_node *n, void *u) {
  (void)n, (void)u;
  inits++;
  return 0;
}

/* A stop() that comes before run() is not lost: that run returns at once
 * and runs nothing, and consumes it, so the run after is a normal one. */
static void test_stop_before_run(void) {
  horus_sched *s;
  horus_node *n;
  CHECK_OK(horus_sched_create(&s));
  CHECK_OK(horus_node_create("stopper", 1000, stop_at_5, &s, &n));
  horus_node_set_init(n, on_init);
  horus_node_set_shutdown(n, on_shutdown);
  CHECK_OK(horus_sched_add(s, n, false, 0));
  inits = shutdowns = 0;
  horus_sched_stop(s);
  horus_sched_stop(s); /* twice is still one request */
  CHECK_OK(horus_sched_run(s, -1)); /* stop_at_5 would end it after 5 ticks */
  horus_node_stats st;
  horus_node_stats_get(n, &st);
  CHECK(inits == 0 && shutdowns == 0 && st.ticks == 0 && !horus_sched_running(s));
  CHECK_OK(horus_sched_run(s, -1));
  horus_node_stats_get(n, &st);
  CHECK(inits == 1 && shutdowns == 1 && st.ticks == 5);
  /* That run's own stop() (from its 5th tick) was consumed by it. */
  CHECK_OK(horus_sched_run(s, -1));
  horus_node_stats_get(n, &st);
  CHECK(inits == 2 && shutdowns == 2 && st.ticks == 5);
  horus_sched_free(s);
  horus_node_free(n);
}

static horus_sched *sig_sched;
static void on_sigint(int sig) {
  (void)sig;
  horus_sched_stop(sig_sched);
}

static void test_sigint(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    horus_node *n;
    static int ready_fd;
    ready_fd = fds[1];
    if (horus_sched_create(&sig_sched) ||
        horus_node_create("spin", 200, announce, &ready_fd, &n))
      _exit(2);
    horus_node_set_shutdown(n, on_shutdown);
    horus_sched_add(sig_sched, n, false, 0);
    signal(SIGINT, on_sigint);
    shutdowns = 0;
    int r = horus_sched_run(sig_sched, -1); /* its first tick says "ready" */
    _exit(r == 0 && shutdowns == 1 ? 0 : 4);
  }
  char c;
  CHECK(read(fds[0], &c, 1) == 1); /* the child is inside run() */
  kill(pid, SIGINT);
  int status;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fds[0]), close(fds[1]);
}

/* The lost-signal case itself: SIGINT lands after its handler is installed
 * but before run() (here: raised by the child itself).  The run must see it
 * and return at once; before, run() cleared it and spun until the 5th tick
 * of a node that stands in for "for ever". */
static void test_sigint_before_run(void) {
  pid_t pid = fork();
  if (pid == 0) {
    horus_node *n;
    if (horus_sched_create(&sig_sched) ||
        horus_node_create("stopper", 1000, stop_at_5, &sig_sched, &n))
      _exit(2);
    horus_sched_add(sig_sched, n, false, 0);
    signal(SIGINT, on_sigint);
    raise(SIGINT); /* the handler has run when raise() returns */
    int r = horus_sched_run(sig_sched, -1);
    horus_node_stats st;
    horus_node_stats_get(n, &st);
    _exit(r == 0 && st.ticks == 0 ? 0 : 4);
  }
  int status;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_bad_input(void) {
  horus_node *n;
  CHECK_RC(horus_node_create("r0", 0, count, NULL, &n), HORUS_EINVAL);
  CHECK_RC(horus_node_create("neg", -5, count, NULL, &n), HORUS_EINVAL);
  CHECK_RC(horus_node_create("nan", NAN, count, NULL, &n), HORUS_EINVAL);
  CHECK_RC(horus_node_create("inf", INFINITY, count, NULL, &n), HORUS_EINVAL);
  CHECK_RC(horus_node_create("notick", 10, NULL, NULL, &n), HORUS_EINVAL);
  CHECK_RC(horus_node_create("", 10, count, NULL, &n), HORUS_EINVAL);
}

int main(void) {
  test_order();
  test_rates();
  test_stopping();
  test_stop_before_run();
  test_sigint();
  test_sigint_before_run();
  test_bad_input();
  return check_report("test_sched");
}
