/* lock.c - robust locks in shared memory that no other process can wedge.
 * See internal.h for the contract.
 *
 * The mutex is glibc's robust process-shared mutex; its first word is the
 * futex word, holding the owner's thread id (FUTEX_TID_MASK) while locked.
 * That word is the one thing another process can make lie: a scribbled word
 * names a thread that never took the lock.  Every real owner writes its
 * thread id, pid and node into the lock's record right after acquiring, so a
 * waiter that sees a word naming a thread that does not exist in its PID
 * namespace, and no record to match it (or a record whose node is dead),
 * knows nobody holds the lock.  It then frees the word with a compare-and-
 * swap (which fails harmlessly if anything changed meanwhile) and takes the
 * lock the ordinary way, telling its caller to rebuild the guarded state. */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SLICE_NS 50000000ull     /* re-examine the owner this often */
#define SUSPECT_NS 250000000ull  /* a missing owner must stay missing this long */
#define REPAIR_WAIT_NS 1000000000ull /* an odd repair_seq older than this is abandoned */
#define TAKEN_OVER (-100000)         /* wait_for_owner freed a word that named no one */

/* Who we are, for the owner record: cached per thread and fork epoch, since
 * gettid() and getpid() are system calls and a lock is taken several times
 * per message. */
static _Thread_local int32_t cached_tid, cached_pid;
static _Thread_local unsigned cached_epoch;

static inline __attribute__((always_inline)) void self_ids(int32_t *tid, int32_t *pid) {
  unsigned epoch = atomic_load_explicit(&horus__fork_epoch, memory_order_relaxed);
  if (!cached_tid || cached_epoch != epoch) {
    cached_tid = (int32_t)syscall(SYS_gettid);
    cached_pid = (int32_t)getpid();
    cached_epoch = epoch;
  }
  *tid = cached_tid;
  *pid = cached_pid;
}

static _Atomic uint32_t *futex_word(horus__lock *l) {
  return (_Atomic uint32_t *)(void *)&l->mutex;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&ts, NULL);
}

int horus__lock_init(horus__lock *l) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  int r = pthread_mutex_init(&l->mutex, &ma);
  pthread_mutexattr_destroy(&ma);
  atomic_store(&l->owner_tid, 0);
  atomic_store(&l->owner_pid, 0);
  atomic_store(&l->owner_node, 0);
  return r ? horus__err(HORUS_EIO, "pthread_mutex_init: %s", strerror(r)) : 0;
}

/* True when the thread `tid` the lock word names cannot be holding it: it
 * does not exist in our PID namespace, and the owner record either names
 * another thread (nobody recorded taking the lock) or a dead node.  A real
 * owner in another PID namespace has recorded itself and its node is alive. */
static bool owner_missing(horus__lock *l, int32_t tid, const char *user_dir) {
  if (kill(tid, 0) == 0 || errno != ESRCH) return false;
  if (atomic_load(&l->owner_tid) != tid) return true;
  uint64_t node = atomic_load(&l->owner_node);
  return node != 0 && horus__node_alive(user_dir, node) == HORUS__NODE_DEAD;
}

/* Wait for a lock someone holds.  Returns pthread's answer (0, EOWNERDEAD,
 * EINVAL...), TAKEN_OVER after freeing a word that named no one (the caller then
 * locks again), or HORUS_ETIMEDOUT with a message naming the owner. */
static int wait_for_owner(horus__lock *l, const char *user_dir, int timeout_s,
                          const char *what) {
  uint64_t start = horus__now_ns();
  uint64_t deadline = start + (uint64_t)timeout_s * 1000000000ull;
  uint64_t suspect_since = 0;
  uint32_t suspect_word = 0;
  for (;;) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + SLICE_NS;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    int r = pthread_mutex_timedlock(&l->mutex, &ts);
    if (r != ETIMEDOUT) return r;
    uint64_t now = horus__now_ns();
    uint32_t word = atomic_load(futex_word(l));
    int32_t tid = (int32_t)(word & FUTEX_TID_MASK);
    if (tid != 0 && owner_missing(l, tid, user_dir)) {
      if (suspect_since == 0 || word != suspect_word) {
        suspect_since = now;
        suspect_word = word;
      } else if (now - suspect_since >= SUSPECT_NS) {
        if (atomic_compare_exchange_strong(futex_word(l), &word, 0)) {
          syscall(SYS_futex, futex_word(l), FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
          return TAKEN_OVER;
        }
        suspect_since = 0;
      }
    } else {
      suspect_since = 0;
    }
    if (now >= deadline) {
      int32_t pid = atomic_load(&l->owner_pid);
      return horus__err(HORUS_ETIMEDOUT, "%s: lock held for over %d s by process %d, "
                        "which is alive: stopped or stuck? (resume it with kill -CONT %d, "
                        "or end it)", what, timeout_s, (int)pid, (int)pid);
    }
  }
}

/* Re-initialise a mutex whose bytes are garbage; exactly one process does
 * it (the one whose compare-and-swap makes repair_seq odd). */
static void reinit(horus__lock *l, uint32_t seq) {
  if (seq & 1) return;
  if (!atomic_compare_exchange_strong(&l->repair_seq, &seq, seq + 1)) return;
  horus__lock_init(l);
  atomic_store(&l->repair_seq, seq + 2);
  syscall(SYS_futex, futex_word(l), FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static inline __attribute__((always_inline)) void record_owner(horus__lock *l,
                                                             uint64_t self_node) {
  int32_t tid, pid;
  self_ids(&tid, &pid);
  atomic_store_explicit(&l->owner_tid, tid, memory_order_relaxed);
  atomic_store_explicit(&l->owner_pid, pid, memory_order_relaxed);
  atomic_store_explicit(&l->owner_node, self_node, memory_order_relaxed);
}

/* Everything but the first uncontended try: waiting for an owner, repairing
 * the mutex, taking over a word that names no one.  `seq` is the repair_seq
 * read before that try and `r` what pthread_mutex_trylock answered (-1: not
 * tried, `seq` was odd); with EOWNERDEAD this thread already holds the
 * lock.  A repair goes by the `seq` read before the trylock that failed, so
 * that a mutex another process repaired meanwhile is not repaired again
 * under its new owner. */
static __attribute__((noinline)) int acquire_slow(horus__lock *l, const char *user_dir,
                                                  uint64_t self_node, int timeout_s,
                                                  const char *what, uint32_t seq, int r) {
  bool rebuilt = false, tried = true;
  uint64_t odd_since = 0;
  for (int rounds = 0;; rounds++) {
    if (!tried) {
      seq = atomic_load(&l->repair_seq);
      r = seq & 1 ? -1 : pthread_mutex_trylock(&l->mutex);
    }
    tried = false;
    if (seq & 1) { /* someone is re-initialising it: wait, but not forever */
      uint64_t now = horus__now_ns();
      if (!odd_since) odd_since = now;
      if (now - odd_since < REPAIR_WAIT_NS)
        sleep_ns(1000000);
      else
        atomic_compare_exchange_strong(&l->repair_seq, &seq, seq + 1); /* abandoned */
      rounds--; /* waiting for a repair is not a failed round */
      continue;
    }
    if (r == EBUSY) r = wait_for_owner(l, user_dir, timeout_s, what);
    if (r == 0 || r == EOWNERDEAD) {
      record_owner(l, self_node);
      return r == EOWNERDEAD || rebuilt ? HORUS__OWNER_DIED : 0;
    }
    if (r < 0 && r != TAKEN_OVER) return r; /* a horus error (timed out) */
    if (rounds >= 64)
      return horus__err(HORUS_EIO, "%s: lock cannot be repaired (%s)", what,
                        r > 0 ? strerror(r) : "taken over repeatedly");
    rebuilt = true;
    if (r > 0) reinit(l, seq); /* EINVAL, ENOTRECOVERABLE, ...: its bytes are garbage */
  }
}

/* The uncontended lock in a small frame: one load, glibc's trylock and the
 * owner record (a send takes one lock, an allocation and a free one each). */
int horus__lock_acquire(horus__lock *l, const char *user_dir, uint64_t self_node,
                        int timeout_s, const char *what) {
  uint32_t seq = atomic_load(&l->repair_seq);
  int r = -1;
  if (!(seq & 1)) {
    r = pthread_mutex_trylock(&l->mutex);
    if (__builtin_expect(r == 0, 1)) {
      record_owner(l, self_node);
      return 0;
    }
  }
  return acquire_slow(l, user_dir, self_node, timeout_s, what, seq, r);
}

void horus__lock_consistent(horus__lock *l) {
  pthread_mutex_consistent(&l->mutex); /* EINVAL when it already was: fine */
}

void horus__lock_release(horus__lock *l) {
  atomic_store_explicit(&l->owner_tid, 0, memory_order_relaxed);
  pthread_mutex_unlock(&l->mutex);
}
