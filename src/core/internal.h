/* internal.h - what libhorus's source files share and nobody else sees.
 * Everything here is prefixed horus__ and hidden from the shared object. */
#ifndef HORUS_INTERNAL_H
#define HORUS_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "horus/error.h"

#define HORUS__PATH_MAX 512
#define HORUS__NIL UINT32_MAX /* "no index" in shared tables (slots, holders, records) */

/* File names: segments in a namespace directory (pool.<id>, topic.<name>)
 * and nodes in the per-user directory (node.<16 hex digits>). */
#define HORUS__POOL_PREFIX "pool."
#define HORUS__TOPIC_PREFIX "topic."
#define HORUS__NODE_PREFIX "node."
#define HORUS__PREFIX_LEN(p) (sizeof(p) - 1)

/* ---- errors (error.c) ---------------------------------------------------- */

/* Record a detail message for horus_errmsg() and return `err`, so failure
 * paths read `return horus__err(HORUS_EINVAL, "shape[%d] = %lld", i, v);`. */
int horus__err(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- processes (proc.c) -------------------------------------------------- */

/* A process is named by its pid and its start time (clock ticks after boot),
 * so a recycled pid is never mistaken for the process that died. */
typedef struct horus__proc {
  int32_t pid;
  uint64_t start_time;
} horus__proc;

/* This process's identity (recomputed after fork). */
void horus__proc_self(horus__proc *out);

/* True while the process `p` names is running (zombies count as dead).
 * Only meaningful inside one PID namespace: callers decide liveness with
 * horus__node_alive(), which works across PID namespaces. */
bool horus__proc_alive(const horus__proc *p);

/* ---- nodes: liveness that holds across PID namespaces (proc.c) ------------
 *
 * Every process that takes part in a namespace owns a node file,
 * <shm>/horus-<uid>/node.<id as 16 hex digits>, on which it holds an
 * exclusive flock() for as long as it lives.  The kernel drops the lock
 * when the process dies, however it dies, and the lock is visible to every
 * process that shares the file system, whatever PID namespace it is in
 * (containers sharing /dev/shm).  So "holder X is alive" means "node X's
 * lock is held", and a recycled or invisible PID can never make a live
 * holder look dead.  The id is 64 random bits, new after every fork (the
 * child closes the parent's node descriptors in an atfork handler, so it
 * never keeps the parent's lock alive). */

enum { HORUS__NODE_DEAD = 0, HORUS__NODE_ALIVE = 1 };

/* This process's node id for the user directory `user_dir`, creating and
 * locking the node file on first use (and again after fork).  Thread-safe.
 * Errors: HORUS_EIO (the file could not be created or locked). */
int horus__node_self(const char *user_dir, uint64_t *id);

/* Whether node `id` of `user_dir` is alive.  Returns HORUS__NODE_DEAD only
 * when that is certain: the node file does not exist, or its lock is free.
 * Any other outcome (EMFILE, EACCES, an interrupted call...) counts as
 * alive, so a process short of descriptors never reclaims a live holder. */
int horus__node_alive(const char *user_dir, uint64_t id);

/* Remove the node files of `user_dir` whose processes are gone; returns
 * how many, calling `removed(path, arg)` for each. */
int horus__node_sweep(const char *user_dir, void (*removed)(const char *, void *),
                      void *arg);

/* Unlink dir/name; on success call removed(path, arg) (if not NULL) and
 * return 1, else 0 (namespace.c). */
int horus__unlink_reported(const char *dir, const char *name,
                           void (*removed)(const char *, void *), void *arg);

/* The user directory of a namespace directory (its parent), into buf. */
int horus__user_dir_of(const char *ns_dir, char *buf, size_t len);

/* Incremented in the child after every fork(), so handles notice that they
 * must register the new process before touching reference ledgers. */
extern _Atomic unsigned horus__fork_epoch;

/* Test-only fault injection: when the environment variable HORUS_FAULT equals
 * `point`, the process kills itself with SIGKILL right there.  Used by the
 * crash tests to die inside critical sections; one load and a branch when
 * unset. */
void horus__fault_slow(const char *point);
extern const char *horus__fault_point;
static inline void horus__fault(const char *point) {
  if (__builtin_expect(horus__fault_point != NULL, 0)) horus__fault_slow(point);
}

/* Monotonic clock in nanoseconds. */
uint64_t horus__now_ns(void);

/* The same clock at tick resolution (a few ms), several times cheaper: for
 * "when did this last happen" stamps that people read in seconds. */
uint64_t horus__coarse_ns(void);

/* 64 random bits (getrandom, falling back to clock and pid). */
uint64_t horus__random64(void);

/* ---- locks in shared memory (lock.c) -----------------------------------------
 *
 * A robust process-shared mutex plus a record of who holds it.  A process
 * killed inside the critical section leaves the lock to the next locker with
 * HORUS__OWNER_DIED (the kernel's robust futex list).  What the kernel cannot
 * see is handled here:
 *   - a lock word naming a thread that does not exist (written by a
 *     misbehaving process, never by a real owner) is taken over within a
 *     fraction of a second and reported as HORUS__OWNER_DIED, so the caller
 *     rebuilds the state it guards;
 *   - a mutex whose bytes were scribbled over (pthread returns EINVAL) is
 *     re-initialised by exactly one process (repair_seq) and likewise
 *     reported as HORUS__OWNER_DIED;
 *   - an owner that is alive but does not let go (stopped with SIGSTOP, in a
 *     debugger) gets HORUS_ETIMEDOUT naming its pid after `timeout_s`. */

#include <pthread.h>

typedef struct horus__lock {
  pthread_mutex_t mutex;
  _Atomic uint32_t repair_seq; /* odd while one process re-initialises it */
  _Atomic int32_t owner_tid;   /* written right after acquiring, cleared */
  _Atomic int32_t owner_pid;   /* before releasing: only for diagnosis   */
  uint32_t reserved0;          /* and to tell a real owner from garbage  */
  _Atomic uint64_t owner_node;
} horus__lock;

#define HORUS__OWNER_DIED 1
#define HORUS__LOCK_TIMEOUT_S 10 /* how long a live owner may hold a lock */

/* Initialise a lock in shared memory (robust, process-shared). */
int horus__lock_init(horus__lock *l);

/* Acquire `l`.  `user_dir` and `self_node` name this process's node (see
 * nodes above) so the owner record can be checked.  Returns 0,
 * HORUS__OWNER_DIED (the caller holds the lock, must make the guarded state
 * consistent, then call horus__lock_consistent()), HORUS_ETIMEDOUT naming
 * the live owner, or HORUS_EIO. */
int horus__lock_acquire(horus__lock *l, const char *user_dir, uint64_t self_node,
                        int timeout_s, const char *what);
void horus__lock_consistent(horus__lock *l);
void horus__lock_release(horus__lock *l);

/* ---- segments (shm.c) ---------------------------------------------------- */

#define HORUS__MAGIC 0x3153555230484f48ull /* "HOH0RUS1", little-endian */
#define HORUS__LAYOUT_VERSION 4u /* 4: ring entries with the changing words first */

enum { HORUS__SEG_POOL = 1, HORUS__SEG_TOPIC = 2 };

/* First 64 bytes of every segment.  `magic` is stored last, with release
 * ordering, once the rest of the segment is initialised. */
typedef struct horus__seg_header {
  _Atomic uint64_t magic;
  uint32_t version;
  uint32_t kind;
  uint64_t file_size;
  uint64_t nonce;
  uint64_t created_ns;
  int32_t creator_pid;
  uint32_t reserved0;
  uint64_t reserved[2];
} horus__seg_header;

_Static_assert(sizeof(horus__seg_header) == 64, "segment header is 64 bytes");

/* Equal ignoring ASCII case: unlike strcasecmp, whatever the locale (a
 * Turkish one folds "I" elsewhere).  For encoding and dtype names. */
bool horus__name_eq(const char *a, const char *b);

/* True for 1..HORUS_NAME_MAX bytes of [A-Za-z0-9._-] not starting with '.'. */
bool horus__name_valid(const char *name);

/* Directory of this namespace's segments, <shm>/horus-<uid>/<ns>, created
 * (mode 0700) when missing and refused (HORUS_EPERM) when it is a symlink,
 * another user's, or open to group/other. */
int horus__ns_dir(char *buf, size_t len);

/* The namespace name in use (HORUS_NAMESPACE or "default"), validated. */
int horus__ns_name(const char **out);

typedef int (*horus__seg_init_fn)(void *base, uint64_t size, void *arg);

/* Create `dir/name` of `size` bytes, initialised by `init` before anyone can
 * see it (written under a temporary name, then linked into place).  The
 * first `commit` bytes get backing store now (HORUS_ENOMEM naming the
 * numbers when the file system is full); the rest stays sparse.  Returns 0
 * and the mapping (and, when fd_out is not NULL, the open descriptor, which
 * the caller then owns) when created, HORUS_EAGAIN when someone else created
 * it first (the caller then opens it), or an error. */
int horus__seg_create(const char *dir, const char *name, uint32_t kind,
                      uint64_t size, uint64_t commit, horus__seg_init_fn init,
                      void *arg, void **base_out, int *fd_out);

/* Open and map `dir/name`, checking ownership, mode, magic, version, kind and
 * file size against the header.  Waits up to a second for a header still
 * being published.  The caller validates its kind-specific geometry. */
int horus__seg_open(const char *dir, const char *name, uint32_t kind,
                    void **base_out, uint64_t *size_out, int *fd_out);

/* Read the header of `dir/name` without mapping it (for liveness checks). */
int horus__seg_peek(const char *dir, const char *name, horus__seg_header *out);

void horus__seg_unmap(void *base, uint64_t size);

#endif /* HORUS_INTERNAL_H */
