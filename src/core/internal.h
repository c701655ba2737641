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

/* True while the process `p` names is running (zombies count as dead). */
bool horus__proc_alive(const horus__proc *p);

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

/* 64 random bits (getrandom, falling back to clock and pid). */
uint64_t horus__random64(void);

/* ---- robust process-shared mutexes (shm.c) -------------------------- */

#include <pthread.h>

/* Initialise a process-shared, robust mutex in shared memory. */
int horus__mutex_init(pthread_mutex_t *m);

/* Lock, waiting at most `timeout_s` for a live holder (HORUS_ETIMEDOUT names
 * `what`).  Returns 0, or HORUS__OWNER_DIED when the previous holder died
 * inside its critical section: the caller now holds the lock, must make the
 * state it guards consistent, then call pthread_mutex_consistent(). */
#define HORUS__OWNER_DIED 1
int horus__mutex_lock(pthread_mutex_t *m, int timeout_s, const char *what);

/* ---- segments (shm.c) ---------------------------------------------------- */

#define HORUS__MAGIC 0x3153555230484f48ull /* "HOH0RUS1", little-endian */
#define HORUS__LAYOUT_VERSION 1u

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
 * see it (written under a temporary name, then linked into place).  Returns 0
 * and the mapping when created, HORUS_EAGAIN when someone else created it
 * first (the caller then opens it), or an error. */
int horus__seg_create(const char *dir, const char *name, uint32_t kind,
                      uint64_t size, horus__seg_init_fn init, void *arg,
                      void **base_out);

/* Open and map `dir/name`, checking ownership, mode, magic, version, kind and
 * file size against the header.  Waits up to a second for a header still
 * being published.  The caller validates its kind-specific geometry. */
int horus__seg_open(const char *dir, const char *name, uint32_t kind,
                    void **base_out, uint64_t *size_out);

/* Read the header of `dir/name` without mapping it (for liveness checks). */
int horus__seg_peek(const char *dir, const char *name, horus__seg_header *out);

void horus__seg_unmap(void *base, uint64_t size);

#endif /* HORUS_INTERNAL_H */
