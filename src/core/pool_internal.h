/* pool_internal.h - the pool's shared-memory layout and the entry points
 * other parts of libhorus (tensors, topics) use beyond the public API. */
#ifndef HORUS_POOL_INTERNAL_H
#define HORUS_POOL_INTERNAL_H

#include <pthread.h>

#include "horus/pool.h"
#include "horus/tensor.h"
#include "internal.h"
#include "tlsf.h"

#define HORUS__POOL_MAX_SLOTS (1u << 16)
#define HORUS__POOL_MAX_DATA (1ull << 44)

enum {
  HORUS__HOLDER_FREE = HORUS_HOLDER_FREE,
  HORUS__HOLDER_PROCESS = HORUS_HOLDER_PROCESS,
  HORUS__HOLDER_SEGMENT = HORUS_HOLDER_SEGMENT,
};
/* A slot is FREE or USED (a live block, or a dying one: see below). */
enum { HORUS__SLOT_FREE = 0, HORUS__SLOT_USED = 1 };

/* Who keeps a block alive (horus__slot.holders).  Holder h < FAST_HOLDERS
 * owns bit h, set while its ledger cell for the slot is non-zero; the
 * holders at or above FAST_HOLDERS share bit SLOW, set while any of them
 * has a reference (slot.slow_refs counts those, under the pool lock).
 * Retain and release change the mask with one compare-and-swap, without the
 * pool lock.  The holder that takes the mask from "only me" to DYING|me is
 * the last: it alone owns the block and frees it under
 * the lock.  A FREE slot's mask is DYING, so nobody can retain it.  Bits are
 * idempotent, which is what makes crash recovery exact: the reclaimer of a
 * dead holder clears its bit (and frees the block if that bit was the last,
 * or if the dead holder was its dying owner) whatever instant it died at.
 * See docs/recovery.md. */
#define HORUS__FAST_HOLDERS 62u
#define HORUS__MASK_SLOW (1ull << 62)
#define HORUS__MASK_DYING (1ull << 63)

/* A process's ledger cells change between 0 and 1 only under one of these
 * process-local stripe locks (keyed by slot), so a thread never counts a
 * reference while another thread of the process is still setting or
 * clearing the holder bit.  A stripe holds the fork epoch of its owner:
 * after fork the child takes over stripes its parent's threads held. */
#define HORUS__POOL_STRIPES 16
/* Backing store is committed (fallocate) in chunks of this size the first
 * time a block reaches into them, and recorded in the commit bitmap, so a
 * full tmpfs is an allocation error instead of a SIGBUS on first touch. */
#define HORUS__COMMIT_CHUNK (2ull << 20)

/* Who holds references: a process (alive while its node lock is held, see
 * horus__node_alive; pid and start time are for people), or another segment
 * such as a topic ring (alive while the file `name` in the namespace
 * directory exists with header nonce `nonce`). */
typedef struct horus__holder {
  uint32_t kind; /* horus_holder_kind */
  int32_t pid;
  uint64_t start_time;
  uint64_t nonce;
  uint64_t reserved0;
  char name[HORUS_NAME_MAX + 1];
  uint64_t node;
  uint8_t reserved[24];
} horus__holder;

typedef struct horus__slot {
  _Atomic uint32_t generation; /* bumped when the block is freed; never 0 */
  _Atomic uint32_t state;      /* FREE or USED */
  uint32_t slow_refs;          /* references of slow holders (pool lock) */
  uint32_t rec;                /* allocator record of the block */
  uint64_t offset;             /* in the data region */
  uint64_t size;               /* 64-byte rounded */
  uint32_t next_free;          /* slot free list */
  uint32_t reserved[7];
} horus__slot;

/* A block's place, read from the shared slot table exactly once: another
 * process may rewrite it at any instant, and a plain load the compiler
 * repeated after a bounds check would undo the check. */
static inline uint64_t horus__slot_offset(const horus__slot *sl) {
  return __atomic_load_n(&sl->offset, __ATOMIC_RELAXED);
}
static inline uint64_t horus__slot_size(const horus__slot *sl) {
  return __atomic_load_n(&sl->size, __ATOMIC_RELAXED);
}

/* A slot's holder mask (see HORUS__FAST_HOLDERS), on a cache line of its
 * own: receivers change it, while senders and receivers of the same block
 * only read the slot, which then stays in every core's cache. */
typedef struct horus__slot_mask {
  _Atomic uint64_t holders;
  uint64_t reserved[7];
} horus__slot_mask;

typedef struct horus__pool_header {
  horus__seg_header seg;
  uint32_t pool_id;
  uint32_t max_slots;
  uint32_t max_holders;
  uint32_t nrec;
  uint64_t data_size;
  uint64_t off_holders, off_slots, off_ledger, off_recs, off_commit, off_data, off_masks;
  uint64_t off_dirty;
  uint32_t slot_free_head;
  uint32_t allocated_slots;
  uint64_t reserved0;
  uint64_t reclaimed_blocks; /* blocks freed on behalf of dead holders */
  uint64_t repairs;          /* lock owners found dead and repaired after */
  horus__lock lock __attribute__((aligned(64)));
  horus__tlsf tlsf;
} horus__pool_header;

_Static_assert(sizeof(horus__slot) == 64, "slot is one cache line");
_Static_assert(sizeof(horus__slot_mask) == 64, "slot mask is one cache line");
_Static_assert(sizeof(horus__holder) == 128, "holder is 128 bytes");

struct horus_pool {
  struct horus_pool *next; /* process-local registry */
  _Atomic int refs;        /* process-local references; the last goes under registry_lock */
  uint32_t id;
  _Atomic uint64_t self;   /* fork epoch << 32 | this process's holder entry (or NIL) */
  _Atomic bool retired;    /* removed by horus_clean: never handed out again */
  int fd;                  /* the segment, for fallocate */
  uint64_t nonce;          /* the segment's incarnation, from its header */
  uint64_t node;           /* this process's node (see node_epoch) */
  unsigned node_epoch;
  /* Geometry validated at open and kept here: the copies in shared memory
   * could be overwritten later by a misbehaving process, and every bound
   * this process checks must come from what it validated. */
  uint32_t max_slots, nrec;
  _Atomic uint32_t stripes[HORUS__POOL_STRIPES]; /* 0 free, else 2 * fork epoch + 1 */
  uint64_t data_size;
  uint8_t *base;
  uint64_t map_size;
  horus__pool_header *hdr;
  horus__holder *holders;
  horus__slot *slots;
  horus__slot_mask *masks;  /* [slot] */
  _Atomic uint32_t *ledger; /* [holder][slot] */
  horus__tlsf_block *recs;
  _Atomic uint64_t *commit; /* bitmap of committed chunks */
  _Atomic uint64_t *dirty;  /* bitmap of chunks that may hold old bytes */
  uint64_t commit_chunks;
  horus__tlsf_view alloc;   /* the allocator, bounded by the validated geometry */
  uint8_t *data;
  char ns[HORUS_NAME_MAX + 1]; /* namespace name */
  char dir[HORUS__PATH_MAX];
  char user_dir[HORUS__PATH_MAX];
  char path[HORUS__PATH_MAX + 32];
};

/* Register another segment (e.g. a topic ring `name` with header `nonce`) as
 * a holder of references in `pool`; an existing registration of the same
 * name and nonce is reused.  Its references live as long as that segment. */
int horus__pool_holder_add(horus_pool *pool, const char *name, uint64_t nonce,
                           uint32_t *holder);

/* Retain / release on behalf of segment holder `holder` (see
 * horus__pool_holder_add).  The caller serialises all operations of one
 * segment holder (a topic does so under its publish lock). */
int horus__pool_retain_as(horus_pool *pool, uint32_t holder, uint32_t slot,
                          uint32_t generation);
int horus__pool_release_as(horus_pool *pool, uint32_t holder, uint32_t slot,
                           uint32_t generation);

/* Segment holder `holder`'s reference count on `slot` (its ledger cell). */
uint32_t horus__pool_count_as(horus_pool *pool, uint32_t holder, uint32_t slot);

/* Recovery after the process serialising segment holder `holder` died in
 * the middle of a retain or release of `slot`: set its count to `count`
 * (what the caller's journal says it must be) and make the slot's holder
 * mask agree, freeing the block if that drops its last reference.  Nothing
 * happens unless `slot` still holds block `generation`. */
int horus__pool_settle_as(horus_pool *pool, uint32_t holder, uint32_t slot,
                          uint32_t generation, uint32_t count);

/* horus_pool_alloc for a caller that writes every byte of the block before
 * anyone else can see it (a copy, a decoded payload): the block is not
 * cleared first. */
int horus__pool_alloc_uninit(horus_pool *pool, uint64_t nbytes, uint32_t *slot,
                             uint32_t *generation, uint64_t *offset);

/* horus_tensor_alloc likewise: every byte must be written by the caller. */
struct horus_tensor;
int horus__tensor_alloc_uninit(horus_pool *pool, const int64_t *shape, int ndim,
                               horus_dtype dtype, struct horus_tensor **out);

/* horus_tensor_recycle's half in the pool: move block `slot`/`generation`,
 * of which this process holds exactly one reference and nobody else any, to
 * a new generation (*new_generation) without freeing or clearing it. */
int horus__pool_recycle(horus_pool *pool, uint32_t slot, uint32_t generation,
                        uint32_t *new_generation);

/* True if this process already has pool `id` of this namespace open. */
bool horus__pool_is_open(uint32_t id);

/* Open the incarnation `nonce` of pool `id` (the one a descriptor names):
 * the open pool of that id if its nonce matches, else the segment on disk if
 * its nonce matches.  HORUS_ESTALE when that incarnation is gone (the pool
 * was removed and made anew): a descriptor never resolves into another
 * segment of the same name. */
int horus__pool_open_incarnation(uint32_t id, uint64_t nonce, horus_pool **out);

/* Remove the segment of `pool` if no holder but this process's inspection
 * is alive, deciding and unlinking under the pool lock (horus_pool_open
 * registers under it and re-checks the link, so no live user is cut off).
 * Returns 1 when removed, 0 when in use, or a negative error. */
int horus__pool_unlink_if_unused(horus_pool *pool);

/* After horus_clean removed this namespace's segments: pools this process
 * has open stop being handed out by id (their handles stay valid). */
void horus__pool_retire_namespace(const char *ns);

/* Take another process-local reference to an open pool. */
void horus__pool_ref(horus_pool *pool);

/* Map the tensor `desc` names in `pool` (which must be pool desc->pool_id),
 * taking a reference: horus_tensor_open without the pool lookup.  `desc`
 * must be the caller's private copy (no other process may write it). */
struct horus_tensor;
int horus__tensor_open_in(horus_pool *pool, const horus_tensor_desc *desc,
                          struct horus_tensor **out);

/* References to block `slot`/`generation` that live holders have (dead
 * processes' not yet reclaimed are left out); 0 when the block is gone.
 * Takes the pool lock; when it cannot, counts every holder's. */
uint32_t horus__pool_live_refcount(horus_pool *pool, uint32_t slot, uint32_t generation);

/* Test hook: where a crashed lock owner's state is repaired. */
int horus__pool_repairs(horus_pool *pool, uint64_t *out);

#endif /* HORUS_POOL_INTERNAL_H */
