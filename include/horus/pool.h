/* horus/pool.h - shared-memory tensor pools.
 *
 * A pool is one shared-memory segment, <shm>/horus-<uid>/<namespace>/pool.<id>,
 * holding a data region managed by a TLSF allocator, a slot table (one slot
 * per live block, with a generation counter) and per-holder reference ledgers.
 * Any process of the same user and namespace can open a pool by id and map a
 * block from a descriptor (slot, generation).  Every reference to a block is
 * counted in shared memory and attributed to its holder (a process, or a
 * topic), so references of a process that dies are reclaimed automatically.
 *
 * Environment:
 *   HORUS_NAMESPACE  namespace name (default "default")
 *   HORUS_SHM_DIR    directory holding horus-<uid>/ (default /dev/shm)
 *   HORUS_POOL_MB    size of the global pool, pool 0 (default 1024)
 *
 * Thread-safety: every function here is safe to call from several threads
 * and processes at once; pool state is guarded by a robust process-shared
 * mutex that a process killed while holding it cannot wedge.
 */
#ifndef HORUS_POOL_H
#define HORUS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct horus_pool horus_pool;

#define HORUS_GLOBAL_POOL_ID 0u
#define HORUS_BLOCK_ALIGN 64u         /* every block starts 64-byte aligned */
#define HORUS_NAME_MAX 63             /* names: [A-Za-z0-9._-], 1..63 bytes */
#define HORUS_POOL_MAX_HOLDERS 128    /* processes + topics attached at once */
#define HORUS_POOL_DEFAULT_SLOTS 4096 /* slots of the global pool */

typedef struct horus_pool_stats {
  uint32_t pool_id;
  uint32_t max_slots;
  uint64_t size_bytes;         /* data region */
  uint64_t used_bytes;         /* bytes of allocated blocks (64-byte rounded) */
  uint64_t free_bytes;         /* size_bytes - used_bytes */
  uint64_t largest_free_block; /* the largest single allocation that fits */
  uint32_t allocated_slots;    /* live blocks */
  uint32_t holders;            /* processes and topics attached */
  uint64_t total_refs;         /* references over all live blocks */
} horus_pool_stats;

/* Flags for horus_pool_open(). */
enum {
  HORUS_POOL_CREATE = 1 << 0, /* create the pool when it does not exist */
};

/* Open pool `pool_id` of this namespace, creating it with `size_bytes` of data
 * and `max_slots` slots when it does not exist and HORUS_POOL_CREATE is set.
 * When the pool exists, a nonzero size_bytes or max_slots must match its
 * geometry (HORUS_EGEOMETRY otherwise, with both geometries in
 * horus_errmsg()); zero accepts whatever it has.  Opening the same pool twice
 * in a process returns the same handle with one more process-local reference.
 * On success *out owns that reference: give it back with horus_pool_close().
 * Errors: HORUS_EINVAL (size 0 on create, max_slots out of 1..2^24),
 * HORUS_ENOENT, HORUS_EPERM, HORUS_ECORRUPT, HORUS_EVERSION, HORUS_EGEOMETRY,
 * HORUS_EBUSY (holder table full), HORUS_EIO. */
HORUS_API int horus_pool_open(uint32_t pool_id, uint64_t size_bytes,
                              uint32_t max_slots, unsigned flags,
                              horus_pool **out);

/* The global pool (id 0) of this namespace, created on first use with
 * HORUS_POOL_MB megabytes and HORUS_POOL_DEFAULT_SLOTS slots; an existing one
 * is used whatever its geometry.  *out owns a reference (horus_pool_close()). */
HORUS_API int horus_pool_global(horus_pool **out);

/* One more process-local reference to `pool`, an open handle the caller
 * holds a reference to: for a handle shared with code that may close its
 * own reference meanwhile (another thread).  Returns `pool`; give the
 * reference back with horus_pool_close().  Cannot fail. */
HORUS_API horus_pool *horus_pool_ref(horus_pool *pool);

/* Drop a process-local reference taken by horus_pool_open/global/ref.  The last
 * one unmaps the pool and detaches this process; blocks it still references
 * are released then. */
HORUS_API void horus_pool_close(horus_pool *pool);

HORUS_API uint32_t horus_pool_id(const horus_pool *pool);

/* Filesystem path of the pool's segment (valid while the pool is open). */
HORUS_API const char *horus_pool_path(const horus_pool *pool);

/* Snapshot of the pool's accounting, taken under the pool lock. */
HORUS_API int horus_pool_stats_get(horus_pool *pool, horus_pool_stats *out);

/* Release every reference held by dead holders (processes that exited or
 * were killed, topics whose segment was removed) and return how many blocks
 * were freed, or a negative error.  Runs automatically when a process
 * attaches and when an allocation does not fit. */
HORUS_API int horus_pool_reclaim(horus_pool *pool);

/* Allocate a block of at least `nbytes` (64-byte aligned) with one reference
 * owned by this process.  Gives the slot, generation and byte offset of the
 * block's data within the pool's data region.  Errors: HORUS_EINVAL
 * (nbytes 0 is allowed and takes one 64-byte granule; larger than the pool
 * gives HORUS_ENOMEM), HORUS_ENOMEM, HORUS_ENOSLOT (messages give the request
 * and the free bytes). */
HORUS_API int horus_pool_alloc(horus_pool *pool, uint64_t nbytes,
                               uint32_t *slot, uint32_t *generation,
                               uint64_t *offset);

/* Take one more reference to block (slot, generation) for this process.
 * HORUS_ESTALE when the block was freed or reused since the descriptor was
 * made; HORUS_ERANGE for a slot outside the table. */
HORUS_API int horus_pool_retain(horus_pool *pool, uint32_t slot,
                                uint32_t generation);

/* Drop one of this process's references; the last reference anywhere frees
 * the block.  HORUS_ESTALE if this process holds no reference to it. */
HORUS_API int horus_pool_release(horus_pool *pool, uint32_t slot,
                                 uint32_t generation);

/* Address of byte `offset` of the data region, or NULL if out of range. */
HORUS_API void *horus_pool_data(const horus_pool *pool, uint64_t offset);

/* Current reference count of a block in all processes (0 if stale). */
HORUS_API uint32_t horus_pool_refcount(horus_pool *pool, uint32_t slot,
                                       uint32_t generation);

/* Find the live block containing `ptr`, if `ptr` points into a pool this
 * process has open.  On success *pool_out gets a new pool reference and the
 * block's slot, generation and the byte offset of ptr in the data region.
 * HORUS_ENOENT when ptr is in no open pool.  Used to import without copying. */
HORUS_API int horus_pool_find(const void *ptr, horus_pool **pool_out,
                              uint32_t *slot, uint32_t *generation,
                              uint64_t *offset);

/* Size of the block (slot, generation) in bytes (64-byte rounded), 0 if stale. */
HORUS_API uint64_t horus_pool_block_size(horus_pool *pool, uint32_t slot,
                                         uint32_t generation);

/* Who holds references in a pool. */
typedef enum horus_holder_kind {
  HORUS_HOLDER_FREE = 0,    /* an unused entry */
  HORUS_HOLDER_PROCESS = 1, /* a process (alive while its node lock is held) */
  HORUS_HOLDER_SEGMENT = 2, /* another segment: a topic ring's queued messages */
} horus_holder_kind;

/* One holder of references in a pool (for tools such as `horus pool`). */
typedef struct horus_pool_holder {
  int kind;       /* horus_holder_kind */
  int32_t pid;    /* for processes */
  uint64_t refs;  /* references held */
  bool alive;     /* false: dead, awaiting reclamation */
  char name[HORUS_NAME_MAX + 1]; /* for segments: e.g. "topic.camera" */
} horus_pool_holder;

/* Copy up to `max` holder entries into `out`; returns how many there are
 * (which may exceed max) or a negative error. */
HORUS_API int horus_pool_holders(horus_pool *pool, horus_pool_holder *out, int max);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_POOL_H */
