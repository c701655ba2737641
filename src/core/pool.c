/* pool.c - shared-memory pools: layout, locking, reference ledgers, crash
 * reclamation and repair.  See horus/pool.h for the contract and
 * docs/recovery.md for the reference protocol and what a process killed at
 * any point of it leaves behind.
 *
 * References: ledger[h][s] counts holder h's references to slot s and is
 * written only by h (a process) or under h's own serialisation (a topic
 * ring, under its publish lock); the slot's holder mask has h's bit set
 * while that count is non-zero (pool_internal.h).  Retain and release touch
 * the holder's cell and, when it moves between 0 and 1, the slot's mask: no
 * pool lock.  The pool lock guards the allocator, the slot free list, the
 * holder table and the slow holders' counts.
 *
 * Invariants under the pool lock: a USED slot owns exactly one allocator
 * block and a FREE slot none; a FREE slot's mask is DYING.  The slot table is
 * the truth: if a process dies holding the lock, the next locker rebuilds
 * the allocator and the slot free list from the USED slots (repair()). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "pool_internal.h"

#define NIL HORUS__NIL
#define DYING HORUS__MASK_DYING
#define SLOW HORUS__MASK_SLOW
#define MASK(p, s) (&(p)->masks[s].holders)
/* A freed block this large gives its whole commit chunks back to the
 * kernel (a hole reads as zeros) instead of being overwritten. */
#define PUNCH_MIN (8ull << 20)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static horus_pool *registry;
static bool atexit_registered;
static bool process_exiting;

/* ---- layout ------------------------------------------------------------ */

typedef struct geometry {
  uint64_t off_holders, off_slots, off_masks, off_ledger, off_recs, off_commit, off_dirty,
      off_data, total;
  uint64_t commit_chunks;
  uint32_t nrec;
} geometry;

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static void layout(uint32_t max_slots, uint64_t data_size, geometry *g) {
  uint64_t off = round_up(sizeof(horus__pool_header), 4096);
  g->off_holders = off;
  off += (uint64_t)HORUS_POOL_MAX_HOLDERS * sizeof(horus__holder);
  g->off_slots = off = round_up(off, 64);
  off += (uint64_t)max_slots * sizeof(horus__slot);
  g->off_masks = off = round_up(off, 64);
  off += (uint64_t)max_slots * sizeof(horus__slot_mask);
  g->off_ledger = off = round_up(off, 64);
  off += (uint64_t)HORUS_POOL_MAX_HOLDERS * max_slots * sizeof(uint32_t);
  g->off_recs = off = round_up(off, 64);
  g->nrec = 2 * max_slots + 2;
  off += (uint64_t)g->nrec * sizeof(horus__tlsf_block);
  g->off_commit = off = round_up(off, 64);
  g->commit_chunks = (data_size + HORUS__COMMIT_CHUNK - 1) / HORUS__COMMIT_CHUNK;
  off += (g->commit_chunks + 63) / 64 * 8;
  g->off_dirty = off = round_up(off, 64);
  off += (g->commit_chunks + 63) / 64 * 8;
  g->off_data = off = round_up(off, 4096);
  g->total = off + data_size;
}

/* Pointers into the mapping, from the geometry validated at open (the
 * offsets in the header are only compared against it: they could change
 * under us). */
static void bind_pointers(horus_pool *p) {
  geometry g;
  layout(p->max_slots, p->data_size, &g);
  p->holders = (horus__holder *)(p->base + g.off_holders);
  p->slots = (horus__slot *)(p->base + g.off_slots);
  p->masks = (horus__slot_mask *)(p->base + g.off_masks);
  p->ledger = (_Atomic uint32_t *)(p->base + g.off_ledger);
  p->recs = (horus__tlsf_block *)(p->base + g.off_recs);
  p->commit = (_Atomic uint64_t *)(p->base + g.off_commit);
  p->dirty = (_Atomic uint64_t *)(p->base + g.off_dirty);
  p->commit_chunks = g.commit_chunks;
  p->data = p->base + g.off_data;
  p->alloc = (horus__tlsf_view){&p->hdr->tlsf, p->recs, p->nrec, p->data_size};
}

static inline _Atomic uint32_t *ledger_at(horus_pool *p, uint32_t h, uint32_t s) {
  return &p->ledger[(uint64_t)h * p->max_slots + s];
}

typedef struct create_args {
  uint32_t id, max_slots;
  uint64_t data_size;
} create_args;

static int init_segment(void *base, uint64_t size, void *arg) {
  create_args *a = arg;
  geometry g;
  layout(a->max_slots, a->data_size, &g);
  if (g.total != size) return horus__err(HORUS_EINVAL, "pool layout mismatch");
  horus__pool_header *h = base;
  h->pool_id = a->id;
  h->max_slots = a->max_slots;
  h->max_holders = HORUS_POOL_MAX_HOLDERS;
  h->nrec = g.nrec;
  h->data_size = a->data_size;
  h->off_holders = g.off_holders;
  h->off_slots = g.off_slots;
  h->off_masks = g.off_masks;
  h->off_ledger = g.off_ledger;
  h->off_recs = g.off_recs;
  h->off_commit = g.off_commit;
  h->off_dirty = g.off_dirty;
  h->off_data = g.off_data;

  int r = horus__lock_init(&h->lock);
  if (r) return r;

  horus__slot *slots = (horus__slot *)((uint8_t *)base + g.off_slots);
  horus__slot_mask *masks = (horus__slot_mask *)((uint8_t *)base + g.off_masks);
  for (uint32_t i = 0; i < a->max_slots; i++) {
    atomic_init(&slots[i].generation, 1);
    atomic_init(&masks[i].holders, DYING);
    slots[i].next_free = i + 1 < a->max_slots ? i + 1 : NIL;
    slots[i].rec = NIL;
  }
  h->slot_free_head = 0;
  horus__tlsf_view alloc = {&h->tlsf, (horus__tlsf_block *)((uint8_t *)base + g.off_recs),
                            g.nrec, a->data_size};
  horus__tlsf_init(&alloc);
  return 0;
}

/* Everything an opener reads from the header is checked against the layout
 * it implies, so a corrupt header is an error and never an out-of-bounds
 * access. */
/* Check the header of a mapped pool and keep its geometry in *p.  Each
 * shared field is read once: what is checked is what is used. */
static int validate(horus_pool *p, uint32_t id) {
  horus__pool_header *h = p->hdr;
  if (p->map_size < sizeof *h)
    return horus__err(HORUS_ECORRUPT, "%s: too short for a pool header", p->path);
  uint32_t pool_id = h->pool_id, max_slots = h->max_slots, max_holders = h->max_holders;
  uint64_t data_size = h->data_size;
  if (pool_id != id)
    return horus__err(HORUS_ECORRUPT, "%s: header names pool %u", p->path, pool_id);
  if (max_slots == 0 || max_slots > HORUS__POOL_MAX_SLOTS ||
      max_holders != HORUS_POOL_MAX_HOLDERS || data_size == 0 ||
      data_size > HORUS__POOL_MAX_DATA || data_size % HORUS_BLOCK_ALIGN)
    return horus__err(HORUS_ECORRUPT, "%s: implausible geometry (slots %u, "
                      "holders %u, data %" PRIu64 ")", p->path, max_slots,
                      max_holders, data_size);
  geometry g;
  layout(max_slots, data_size, &g);
  if (g.total != p->map_size || g.off_holders != h->off_holders ||
      g.off_slots != h->off_slots || g.off_masks != h->off_masks ||
      g.off_ledger != h->off_ledger ||
      g.off_recs != h->off_recs || g.off_commit != h->off_commit ||
      g.off_dirty != h->off_dirty ||
      g.off_data != h->off_data || g.nrec != h->nrec ||
      h->tlsf.region_size != data_size || h->tlsf.nrec != g.nrec)
    return horus__err(HORUS_ECORRUPT, "%s: header geometry disagrees with the "
                      "file (%" PRIu64 " bytes)", p->path, p->map_size);
  p->max_slots = max_slots;
  p->data_size = data_size;
  p->nrec = g.nrec;
  p->nonce = h->seg.nonce;
  return 0;
}

/* ---- backing store: commit on first use, zero on allocation ----------------
 *
 * Every block reads as zeros when it is handed out.  Instead of clearing a
 * block when it is freed (its next owner may overwrite it anyway: a copy, a
 * received frame, a file read), allocation clears what may hold old bytes:
 * a chunk is *dirty* once any block in it was handed out, and stays so until
 * its pages go back to the kernel (a hole reads as zeros).  A block lying in
 * clean chunks only (fresh from the kernel) is not written at all. */

static uint64_t data_file_offset(horus_pool *p) { return (uint64_t)(p->data - p->base); }

static bool chunk_dirty(horus_pool *p, uint64_t c) {
  return (atomic_load_explicit(&p->dirty[c / 64], memory_order_relaxed) >> (c % 64)) & 1;
}

/* The bitmap is changed with atomic read-modify-writes: a dying block's
 * owner punches its chunks outside the pool lock while an allocator commits
 * other chunks of the same bitmap word under it. */
static bool chunk_committed(horus_pool *p, uint64_t c) {
  return (atomic_load_explicit(&p->commit[c / 64], memory_order_relaxed) >> (c % 64)) & 1;
}

static void bit_mark(_Atomic uint64_t *map, uint64_t c, bool set) {
  if (set)
    atomic_fetch_or_explicit(&map[c / 64], 1ull << (c % 64), memory_order_relaxed);
  else
    atomic_fetch_and_explicit(&map[c / 64], ~(1ull << (c % 64)), memory_order_relaxed);
}

static void chunk_mark(horus_pool *p, uint64_t c, bool committed) { bit_mark(p->commit, c, committed); }

/* Make sure the tmpfs has pages behind [off, off + size) of the data region
 * before anyone touches them: a page tmpfs cannot supply would be a SIGBUS
 * in whichever process touched it first.  Under the pool lock. */
static int commit_range(horus_pool *p, uint64_t off, uint64_t size) {
  if (size == 0) return 0;
  uint64_t first = off / HORUS__COMMIT_CHUNK, last = (off + size - 1) / HORUS__COMMIT_CHUNK;
  for (uint64_t c = first; c <= last && c < p->commit_chunks; c++) {
    if (chunk_committed(p, c)) continue;
    uint64_t start = c * HORUS__COMMIT_CHUNK;
    uint64_t len = p->data_size - start < HORUS__COMMIT_CHUNK ? p->data_size - start
                                                              : HORUS__COMMIT_CHUNK;
    int r = fallocate(p->fd, 0, (off_t)(data_file_offset(p) + start), (off_t)len);
    if (r != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
      int e = errno;
      struct statvfs vfs;
      uint64_t avail = statvfs(p->dir, &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
      return horus__err(HORUS_ENOMEM, "pool %u: the shared-memory file system has no "
                        "room for this block (%" PRIu64 " bytes wanted, %" PRIu64
                        " bytes free in %s): %s", p->id, size, avail, p->dir, strerror(e));
    }
    chunk_mark(p, c, true);
  }
  return 0;
}

/* A freed block: its whole commit chunks, if it is large, go back to the
 * kernel (holes read as zeros; they leave both bitmaps, and the next block
 * there commits them again, clean).  Nothing is written: what stays is
 * cleared by the allocation that hands it out next.  The caller owns the
 * range exclusively (a slot being freed, or a dying block it owns). */
static void release_range(horus_pool *p, uint64_t off, uint64_t size) {
  if (off >= p->data_size || size > p->data_size - off || size < PUNCH_MIN) return;
  uint64_t end = off + size;
  uint64_t c0 = (off + HORUS__COMMIT_CHUNK - 1) / HORUS__COMMIT_CHUNK;
  uint64_t c1 = end / HORUS__COMMIT_CHUNK; /* chunks [c0, c1) lie inside */
  if (c1 <= c0) return;
  uint64_t hs = c0 * HORUS__COMMIT_CHUNK, he = c1 * HORUS__COMMIT_CHUNK;
  for (uint64_t c = c0; c < c1; c++) chunk_mark(p, c, false);
  if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                (off_t)(data_file_offset(p) + hs), (off_t)(he - hs)) == 0) {
    for (uint64_t c = c0; c < c1; c++) bit_mark(p->dirty, c, false);
    return;
  }
  for (uint64_t c = c0; c < c1; c++) chunk_mark(p, c, true); /* still there, still dirty */
}

/* Under the pool lock, for a block about to be handed out: mark its chunks
 * dirty and say which of them were already (their part of the block must
 * be cleared: see clear_dirty).  A bitmask relative to the block's first
 * chunk; all ones when the block spans more than 64 chunks. */
static uint64_t take_chunks(horus_pool *p, uint64_t off, uint64_t size) {
  uint64_t first = off / HORUS__COMMIT_CHUNK, last = (off + size - 1) / HORUS__COMMIT_CHUNK;
  uint64_t was = 0;
  for (uint64_t c = first; c <= last && c < p->commit_chunks; c++) {
    if (chunk_dirty(p, c))
      was |= c - first < 64 ? 1ull << (c - first) : 0;
    else
      bit_mark(p->dirty, c, true);
  }
  return last - first >= 64 ? ~0ull : was;
}

/* Clear the parts of a new block [off, off + size) that lie in the chunks
 * take_chunks found dirty.  Outside the lock: the block is the caller's. */
static void clear_dirty(horus_pool *p, uint64_t off, uint64_t size, uint64_t was) {
  if (!was || off >= p->data_size || size > p->data_size - off) return;
  uint64_t first = off / HORUS__COMMIT_CHUNK, end = off + size;
  for (uint64_t c = first; c * HORUS__COMMIT_CHUNK < end; c++) {
    if (c - first < 64 && !((was >> (c - first)) & 1)) continue;
    uint64_t a = c * HORUS__COMMIT_CHUNK > off ? c * HORUS__COMMIT_CHUNK : off;
    uint64_t b = (c + 1) * HORUS__COMMIT_CHUNK < end ? (c + 1) * HORUS__COMMIT_CHUNK : end;
    memset(p->data + a, 0, b - a);
  }
}

static void free_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok);
static void release_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok);
static void reclaim_holder_locked(horus_pool *p, uint32_t h, bool allocator_ok);
static bool holder_alive(horus_pool *p, const horus__holder *h);

static inline uint64_t holder_bit(uint32_t hi) {
  return hi < HORUS__FAST_HOLDERS ? 1ull << hi : SLOW;
}

/* ---- the holder mask ------------------------------------------------------ */

/* Add `bit` to slot's mask unless the block is dying or free. */
static bool mask_add(_Atomic uint64_t *hm, uint64_t bit) {
  uint64_t m = atomic_load_explicit(hm, memory_order_acquire);
  do {
    if (m & DYING) return false;
  } while (!atomic_compare_exchange_weak_explicit(hm, &m, m | bit,
                                                  memory_order_acq_rel, memory_order_acquire));
  return true;
}

/* Take `bit` out of slot's mask.  True when it was the only holder left: the
 * mask is now DYING|bit and the caller owns the block, which it must free
 * (free_dying, or release_slot_locked under the lock). */
static bool mask_drop(_Atomic uint64_t *hm, uint64_t bit) {
  uint64_t m = atomic_load_explicit(hm, memory_order_acquire);
  for (;;) {
    if (!(m & bit) || (m & DYING)) return false;
    uint64_t next = m == bit ? (DYING | bit) : (m & ~bit);
    if (atomic_compare_exchange_weak_explicit(hm, &m, next, memory_order_acq_rel,
                                              memory_order_acquire))
      return next & DYING;
  }
}

/* Under the pool lock: take holder `bit` out of slot s whatever state it
 * left there (its owner is dead, or is the caller), freeing the block if it
 * was the last holder or the dead holder was freeing it.  Returns true when
 * the block was freed. */
static bool mask_clear_locked(horus_pool *p, uint32_t s, uint64_t bit, bool allocator_ok) {
  horus__slot *sl = &p->slots[s];
  uint64_t m = atomic_load(MASK(p, s));
  if (m == (DYING | bit) || mask_drop(MASK(p, s), bit)) {
    if (atomic_load(&sl->state) == HORUS__SLOT_USED) {
      release_slot_locked(p, s, allocator_ok);
      return true;
    }
    atomic_store(MASK(p, s), DYING);
  }
  return false;
}

/* A slot whose block the allocator must not hand out (a dying block is
 * still USED: its owner frees it). */
static inline bool occupied(uint32_t state) { return state == HORUS__SLOT_USED; }

/* ---- locking and repair -------------------------------------------------- */

static int cmp_by_offset(const void *a, const void *b, void *arg) {
  const horus__slot *slots = arg;
  uint64_t x = slots[*(const uint32_t *)a].offset, y = slots[*(const uint32_t *)b].offset;
  return x < y ? -1 : x > y;
}

/* The previous lock owner died inside a critical section.  Recount the slow
 * holders' references, free what the dead left, drop the dead holders,
 * rebuild the allocator and the slot free list from the slot table.  Fast
 * holders' cells and bits are theirs, changed without the lock: left alone
 * (a dead one's are cleared by reclaim_holder_locked). */
static void repair(horus_pool *p) {
  horus__pool_header *h = p->hdr;
  uint32_t ms = p->max_slots;
  h->repairs++;
  for (uint32_t s = 0; s < ms; s++) {
    horus__slot *sl = &p->slots[s];
    bool used = occupied(atomic_load(&sl->state)) &&
                sl->offset < p->data_size && sl->size <= p->data_size - sl->offset &&
                sl->size > 0;
    if (!used) {
      release_slot_locked(p, s, false);
      continue;
    }
    uint32_t slow = 0;
    for (uint32_t hi = HORUS__FAST_HOLDERS; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
      _Atomic uint32_t *l = ledger_at(p, hi, s);
      if (p->holders[hi].kind == HORUS__HOLDER_FREE) atomic_store(l, 0);
      slow += atomic_load(l);
    }
    sl->slow_refs = slow;
    uint64_t m = atomic_load(MASK(p, s));
    uint64_t owner = m & ~DYING;
    if (m & DYING) {
      /* Dying: its owner frees it, unless the owner is the slow holders'
       * lock owner that died, or a holder entry no longer in use. */
      bool owner_live = owner && (owner & (owner - 1)) == 0 && owner != SLOW &&
                        p->holders[__builtin_ctzll(owner)].kind != HORUS__HOLDER_FREE;
      if (!owner_live) release_slot_locked(p, s, false);
      continue;
    }
    if (slow) {
      mask_add(MASK(p, s), SLOW);
    } else if (m == 0 || m == SLOW) {
      /* Nobody holds it: free it unless a fast retainer got in first. */
      if (atomic_compare_exchange_strong(MASK(p, s), &m, DYING | SLOW))
        release_slot_locked(p, s, false);
    } else {
      mask_drop(MASK(p, s), SLOW); /* others hold it: not the last */
    }
  }
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++)
    if (p->holders[hi].kind != HORUS__HOLDER_FREE && !holder_alive(p, &p->holders[hi]))
      reclaim_holder_locked(p, hi, false);

  /* Rebuild the allocator from the USED slots, dropping any that overlap. */
  uint32_t *order = malloc((size_t)ms * sizeof *order);
  uint64_t *offs = malloc((size_t)ms * sizeof *offs);
  uint64_t *sizes = malloc((size_t)ms * sizeof *sizes);
  uint32_t *recs = malloc((size_t)ms * sizeof *recs);
  uint32_t n = 0;
  if (order && offs && sizes && recs) {
    for (uint32_t s = 0; s < ms; s++)
      if (occupied(atomic_load(&p->slots[s].state))) order[n++] = s;
    qsort_r(order, n, sizeof *order, cmp_by_offset, p->slots);
    uint32_t kept = 0;
    uint64_t end = 0;
    for (uint32_t i = 0; i < n; i++) {
      horus__slot *sl = &p->slots[order[i]];
      if (sl->offset < end) { /* overlaps its predecessor: cannot be trusted */
        free_slot_locked(p, order[i], false);
        continue;
      }
      order[kept] = order[i];
      offs[kept] = sl->offset;
      sizes[kept] = sl->size;
      end = sl->offset + sl->size;
      kept++;
    }
    n = kept;
    horus__tlsf_rebuild(&p->alloc, offs, sizes, n, recs);
    for (uint32_t i = 0; i < n; i++) p->slots[order[i]].rec = recs[i];
  }
  free(order);
  free(offs);
  free(sizes);
  free(recs);
  /* Slot free list from scratch. */
  h->slot_free_head = NIL;
  h->allocated_slots = 0;
  for (uint32_t s = ms; s-- > 0;) {
    if (occupied(atomic_load(&p->slots[s].state))) {
      h->allocated_slots++;
    } else {
      p->slots[s].rec = NIL;
      p->slots[s].next_free = h->slot_free_head;
      h->slot_free_head = s;
    }
  }
}

/* This process's node, made anew after fork. */
static uint64_t self_node(horus_pool *p) {
  unsigned epoch = atomic_load(&horus__fork_epoch);
  if (p->node == 0 || p->node_epoch != epoch) {
    uint64_t id = 0;
    if (horus__node_self(p->user_dir, &id) == 0) {
      p->node = id;
      p->node_epoch = epoch;
    }
  }
  return p->node;
}

static int pool_lock(horus_pool *p) {
  int r = horus__lock_acquire(&p->hdr->lock, p->user_dir, self_node(p),
                              HORUS__LOCK_TIMEOUT_S, p->path);
  if (r == HORUS__OWNER_DIED) {
    repair(p);
    horus__lock_consistent(&p->hdr->lock);
    return 0;
  }
  return r;
}

/* Leave every critical section consistent: if the allocator found its shared
 * state impossible (another process wrote garbage into it), rebuild it from
 * the slot table before anyone else looks. */
static void pool_unlock(horus_pool *p) {
  horus__pool_header *h = p->hdr;
  if (h->tlsf.corrupt || h->tlsf.nrec != p->nrec || h->tlsf.region_size != p->data_size)
    repair(p);
  horus__lock_release(&h->lock);
}

/* Process-local stripe locks around a cell's 0 <-> 1 moves (see
 * HORUS__POOL_STRIPES).  A stripe held under another fork epoch belongs to
 * a thread of the parent, which does not exist here: taken over. */
static void stripe_lock(horus_pool *p, uint32_t s) {
  _Atomic uint32_t *st = &p->stripes[s % HORUS__POOL_STRIPES];
  uint32_t mine = 2 * atomic_load_explicit(&horus__fork_epoch, memory_order_relaxed) + 1;
  for (unsigned spins = 0;; spins++) {
    uint32_t v = atomic_load_explicit(st, memory_order_relaxed);
    if (v != mine && atomic_compare_exchange_weak_explicit(st, &v, mine, memory_order_acquire,
                                                           memory_order_relaxed))
      return;
    if (spins >= 64) sched_yield();
  }
}

static void stripe_unlock(horus_pool *p, uint32_t s) {
  atomic_store_explicit(&p->stripes[s % HORUS__POOL_STRIPES], 0, memory_order_release);
}

/* ---- holders ----------------------------------------------------------- */

/* Only a definite answer counts as death: a node whose lock is free or
 * whose file is gone, a segment that is gone or was made anew.  Anything
 * else (out of descriptors, a permission error) keeps the holder alive. */
static bool holder_alive(horus_pool *p, const horus__holder *h) {
  if (h->kind == HORUS__HOLDER_PROCESS) {
    uint64_t node = h->node;
    if (node == 0) return false; /* never registered properly */
    if (node == p->node && p->node_epoch == atomic_load(&horus__fork_epoch)) return true;
    return horus__node_alive(p->user_dir, node) != HORUS__NODE_DEAD;
  }
  if (h->kind == HORUS__HOLDER_SEGMENT) {
    char name[HORUS_NAME_MAX + 1];
    memcpy(name, h->name, sizeof name);
    name[HORUS_NAME_MAX] = '\0';
    horus__seg_header sh;
    if (!horus__name_valid(name)) return false;
    int r = horus__seg_peek(p->dir, name, &sh);
    if (r == HORUS_ENOENT) return false;
    if (r != 0) return true;
    return atomic_load(&sh.magic) == HORUS__MAGIC && sh.nonce == h->nonce;
  }
  return false;
}

/* Free slot s whose bytes are already zero (or were never handed out). */
static void free_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok) {
  horus__slot *sl = &p->slots[s];
  uint32_t was = atomic_load_explicit(&sl->state, memory_order_relaxed);
  /* Release stores, not sequentially consistent ones (a locked exchange
   * each on x86): the mask's DYING, stored last, is what a retainer
   * synchronises with, and nobody can retain a block while it is DYING. */
  atomic_store_explicit(&sl->state, HORUS__SLOT_FREE, memory_order_release);
  if (was == HORUS__SLOT_USED) {
    uint32_t g = atomic_load_explicit(&sl->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&sl->generation, g ? g : 1, memory_order_release);
  }
  sl->slow_refs = 0;
  atomic_store_explicit(MASK(p, s), DYING, memory_order_release);
  if (was != HORUS__SLOT_USED) return;
  if (allocator_ok) {
    if (sl->rec < p->nrec) horus__tlsf_free(&p->alloc, sl->rec);
    sl->rec = NIL;
    sl->next_free = p->hdr->slot_free_head;
    p->hdr->slot_free_head = s;
    p->hdr->allocated_slots--;
  }
}

/* Free slot s, giving a large block's pages back to the kernel. */
static void release_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok) {
  horus__slot *sl = &p->slots[s];
  if (atomic_load(&sl->state) == HORUS__SLOT_USED) release_range(p, sl->offset, sl->size);
  free_slot_locked(p, s, allocator_ok);
}

/* Drop every reference holder `hi` has and free its entry.  With
 * allocator_ok false (during repair) blocks are only marked free; the
 * allocator is rebuilt afterwards.  Its owner is dead (or is the caller):
 * nothing changes its cells meanwhile. */
static void reclaim_holder_locked(horus_pool *p, uint32_t hi, bool allocator_ok) {
  uint64_t bit = holder_bit(hi);
  for (uint32_t s = 0; s < p->max_slots; s++) {
    _Atomic uint32_t *l = ledger_at(p, hi, s);
    uint32_t n = atomic_load(l);
    atomic_store(l, 0);
    horus__slot *sl = &p->slots[s];
    bool freed;
    if (hi < HORUS__FAST_HOLDERS) {
      /* Its bit may be set with a zero cell (killed between the two). */
      if (!n && !(atomic_load(MASK(p, s)) & bit)) continue;
      freed = mask_clear_locked(p, s, bit, allocator_ok);
    } else {
      if (!n) continue;
      sl->slow_refs = sl->slow_refs > n ? sl->slow_refs - n : 0;
      freed = sl->slow_refs == 0 && mask_clear_locked(p, s, SLOW, allocator_ok);
    }
    if (freed) p->hdr->reclaimed_blocks++;
  }
  memset(&p->holders[hi], 0, sizeof p->holders[hi]);
}

/* This process's holder entry, registered under the current fork epoch:
 * p->self holds both, so the lock-free paths read them in one load.  NIL
 * when not registered yet, or in a forked child (the entry is the parent's). */
static uint32_t self_hi(horus_pool *p) {
  uint64_t me = atomic_load_explicit(&p->self, memory_order_acquire);
  return (unsigned)(me >> 32) == atomic_load_explicit(&horus__fork_epoch, memory_order_relaxed)
             ? (uint32_t)me
             : NIL;
}

static void set_self(horus_pool *p, uint32_t hi) {
  unsigned epoch = atomic_load_explicit(&horus__fork_epoch, memory_order_relaxed);
  atomic_store_explicit(&p->self, (uint64_t)epoch << 32 | hi, memory_order_release);
}

static int sweep_locked(horus_pool *p) {
  int freed_before = (int)p->hdr->allocated_slots;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
    horus__holder *h = &p->holders[hi];
    if (h->kind == HORUS__HOLDER_FREE) continue;
    if (hi == self_hi(p)) continue;
    if (!holder_alive(p, h)) reclaim_holder_locked(p, hi, true);
  }
  return freed_before - (int)p->hdr->allocated_slots;
}

/* A free holder entry, fast ones first.  Whatever a former owner of the
 * entry left in the masks is cleared before anyone inherits its bit. */
static int holder_claim_locked(horus_pool *p, uint32_t *out) {
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
      if (p->holders[hi].kind == HORUS__HOLDER_FREE) {
        reclaim_holder_locked(p, hi, true);
        *out = hi;
        return 0;
      }
    }
    if (pass == 0) sweep_locked(p);
  }
  return horus__err(HORUS_EBUSY, "%s: all %d holder entries are in use by live "
                    "processes and topics", p->path, HORUS_POOL_MAX_HOLDERS);
}

/* This process's holder, registering it on first use and again after fork. */
static int self_holder_locked(horus_pool *p, uint32_t *out) {
  if ((*out = self_hi(p)) != NIL) return 0;
  if (process_exiting)
    return horus__err(HORUS_EINVAL, "process is exiting: pools are detached");
  uint64_t node = self_node(p);
  if (node == 0)
    return horus__err(HORUS_EIO, "%s: cannot create this process's node file in %s",
                      p->path, p->user_dir);
  uint32_t hi = NIL;
  int r = holder_claim_locked(p, &hi);
  if (r) return r;
  horus__proc self;
  horus__proc_self(&self);
  horus__holder *h = &p->holders[hi];
  memset(h, 0, sizeof *h);
  h->pid = self.pid;
  h->start_time = self.start_time;
  h->node = node;
  h->kind = HORUS__HOLDER_PROCESS;
  set_self(p, hi);
  *out = hi;
  return 0;
}

/* This process's holder without the lock when it is registered for this
 * fork epoch (the hot path), else registered under the lock. */
static int self_holder(horus_pool *p, uint32_t *out) {
  if ((*out = self_hi(p)) != NIL) return 0;
  int r = pool_lock(p);
  if (r) return r;
  r = self_holder_locked(p, out);
  pool_unlock(p);
  return r;
}

int horus__pool_holder_add(horus_pool *p, const char *name, uint64_t nonce,
                           uint32_t *out) {
  if (!horus__name_valid(name))
    return horus__err(HORUS_EINVAL, "invalid holder segment name");
  int r = pool_lock(p);
  if (r) return r;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
    horus__holder *h = &p->holders[hi];
    if (h->kind == HORUS__HOLDER_SEGMENT && h->nonce == nonce &&
        strncmp(h->name, name, sizeof h->name) == 0) {
      *out = hi;
      pool_unlock(p);
      return 0;
    }
  }
  uint32_t hi = NIL;
  if ((r = holder_claim_locked(p, &hi)) == 0) {
    horus__holder *h = &p->holders[hi];
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    h->nonce = nonce;
    h->kind = HORUS__HOLDER_SEGMENT;
    *out = hi;
  }
  pool_unlock(p);
  return r;
}

/* ---- references ----------------------------------------------------------
 *
 * A fast holder's retain: if its cell is already non-zero it holds the
 * block, whose generation therefore cannot move: check it and count one
 * more.  Otherwise, under the stripe: set its bit (refused once the block
 * is dying or free), check the generation (the slot may have been freed and
 * handed out again before the bit went in: then take the bit out again),
 * and only then set the cell to 1.  A release counts down; the one that
 * takes the cell from 1 to 0 takes the bit out, and if that leaves the mask
 * empty it owns the block: it clears the bytes without any lock and frees
 * the block under the pool lock.  Slow holders do the same under the pool
 * lock with the shared SLOW bit. */

/* Test-only fault points named for whose references move: this process's
 * or a topic ring's (the name is worked out only when a point is armed). */
static inline void fault_at(horus_pool *p, uint32_t hi, const char *own, const char *ring) {
  if (__builtin_expect(horus__fault_point != NULL, 0)) horus__fault(hi == self_hi(p) ? own : ring);
}

static int stale(horus_pool *p, uint32_t s, uint32_t gen) {
  return horus__err(HORUS_ESTALE, "pool %u slot %u generation %u: block was "
                    "freed or reused", p->id, s, gen);
}

static inline bool slot_is(horus__slot *sl, uint32_t gen) {
  return atomic_load_explicit(&sl->state, memory_order_acquire) == HORUS__SLOT_USED &&
         atomic_load_explicit(&sl->generation, memory_order_acquire) == gen;
}

static int check_slot(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots)
    return horus__err(HORUS_ERANGE, "%s: slot %u outside the table of %u",
                      p->path, s, p->max_slots);
  return slot_is(&p->slots[s], gen) ? 0 : stale(p, s, gen);
}

/* Free a block whose mask is DYING|owner: the caller took it there and is
 * the only one who may touch it (a large one's pages go back to the kernel
 * first, without the lock).  If this process dies on the way, whoever
 * reclaims `owner` (or settles it, for a topic) frees it. */
static void free_dying(horus_pool *p, uint32_t s, uint64_t owner) {
  horus__slot *sl = &p->slots[s];
  horus__fault("zeroing");
  release_range(p, sl->offset, sl->size);
  if (pool_lock(p) != 0) return; /* stays dying until this process is reclaimed */
  if (atomic_load(MASK(p, s)) == (DYING | owner) &&
      atomic_load(&sl->state) == HORUS__SLOT_USED) {
    horus__fault("release_locked");
    free_slot_locked(p, s, true);
  }
  pool_unlock(p);
}

static int release_fast(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen);

static int retain_fast(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *cell = ledger_at(p, hi, s);
  uint64_t bit = 1ull << hi;
  uint32_t c = atomic_load_explicit(cell, memory_order_acquire);
  for (;;) {
    if (c > 0) {
      if (!slot_is(sl, gen)) return stale(p, s, gen);
      if (c == UINT32_MAX)
        return horus__err(HORUS_EOVERFLOW, "pool %u slot %u: too many references", p->id, s);
      if (!atomic_compare_exchange_weak_explicit(cell, &c, c + 1, memory_order_acq_rel,
                                                 memory_order_acquire))
        continue;
      /* The cell may have gone to 0 and back meanwhile, for a new block in
       * this slot that this process allocated: then the count is on it. */
      if (slot_is(sl, gen)) return 0;
      release_fast(p, hi, s, atomic_load(&sl->generation));
      return stale(p, s, gen);
    }
    stripe_lock(p, s);
    c = atomic_load_explicit(cell, memory_order_acquire);
    if (c > 0) {
      stripe_unlock(p, s);
      continue;
    }
    if (!mask_add(MASK(p, s), bit)) {
      stripe_unlock(p, s);
      return stale(p, s, gen);
    }
    fault_at(p, hi, "retain_bit", "ring_retain_bit");
    if (!slot_is(sl, gen)) { /* freed and handed out again before our bit went in */
      bool last = mask_drop(MASK(p, s), bit);
      stripe_unlock(p, s);
      if (last) free_dying(p, s, bit);
      return stale(p, s, gen);
    }
    atomic_store_explicit(cell, 1, memory_order_release);
    stripe_unlock(p, s);
    return 0;
  }
}

static int release_fast(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *cell = ledger_at(p, hi, s);
  uint32_t c = atomic_load_explicit(cell, memory_order_acquire);
  for (;;) {
    if (c == 0)
      return horus__err(HORUS_ESTALE, "pool %u slot %u: this holder has no "
                        "reference to release", p->id, s);
    if (!slot_is(sl, gen)) return stale(p, s, gen);
    if (c > 1) {
      if (atomic_compare_exchange_weak_explicit(cell, &c, c - 1, memory_order_acq_rel,
                                                memory_order_acquire))
        return 0;
      continue;
    }
    stripe_lock(p, s);
    if (!atomic_compare_exchange_strong_explicit(cell, &c, 0, memory_order_acq_rel,
                                                 memory_order_acquire)) {
      stripe_unlock(p, s);
      continue;
    }
    fault_at(p, hi, "release_bit", "ring_release_bit");
    bool last = mask_drop(MASK(p, s), 1ull << hi);
    stripe_unlock(p, s);
    if (last) free_dying(p, s, 1ull << hi);
    return 0;
  }
}

static int retain_slow_locked(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  int r = check_slot(p, s, gen);
  if (r) return r;
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *cell = ledger_at(p, hi, s);
  if (atomic_load(cell) == UINT32_MAX || sl->slow_refs == UINT32_MAX)
    return horus__err(HORUS_EOVERFLOW, "pool %u slot %u: too many references", p->id, s);
  if (!mask_add(MASK(p, s), SLOW)) return stale(p, s, gen);
  atomic_store(cell, atomic_load(cell) + 1);
  sl->slow_refs++;
  return 0;
}

static int release_slow_locked(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  int r = check_slot(p, s, gen);
  if (r) return r;
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *cell = ledger_at(p, hi, s);
  uint32_t mine = atomic_load(cell);
  if (mine == 0)
    return horus__err(HORUS_ESTALE, "pool %u slot %u: this holder has no "
                      "reference to release", p->id, s);
  atomic_store(cell, mine - 1);
  sl->slow_refs = sl->slow_refs ? sl->slow_refs - 1 : 0;
  horus__fault("release_locked");
  if (sl->slow_refs == 0 && mask_drop(MASK(p, s), SLOW)) release_slot_locked(p, s, true);
  return 0;
}

static int retain_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots) return check_slot(p, s, gen);
  if (hi < HORUS__FAST_HOLDERS) return retain_fast(p, hi, s, gen);
  int r = pool_lock(p);
  if (r) return r;
  r = retain_slow_locked(p, hi, s, gen);
  pool_unlock(p);
  return r;
}

static int release_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots) return check_slot(p, s, gen);
  if (hi < HORUS__FAST_HOLDERS) return release_fast(p, hi, s, gen);
  int r = pool_lock(p);
  if (r) return r;
  r = release_slow_locked(p, hi, s, gen);
  pool_unlock(p);
  return r;
}

int horus_pool_retain(horus_pool *p, uint32_t s, uint32_t gen) {
  uint32_t hi = NIL;
  int r = self_holder(p, &hi);
  return r ? r : retain_as(p, hi, s, gen);
}

int horus_pool_release(horus_pool *p, uint32_t s, uint32_t gen) {
  if (process_exiting) return 0; /* references already handed back at exit */
  /* Inherited handles in a forked child hold the parent's references,
   * which are not the child's to drop. */
  uint32_t hi = self_hi(p);
  return hi == NIL ? 0 : release_as(p, hi, s, gen);
}

int horus__pool_recycle(horus_pool *p, uint32_t s, uint32_t gen, uint32_t *new_gen) {
  uint32_t hi = NIL;
  int r = self_holder(p, &hi);
  if (r) return r;
  if ((r = check_slot(p, s, gen))) return r;
  if (hi >= HORUS__FAST_HOLDERS)
    return horus__err(HORUS_EBUSY, "pool %u: this process holds its blocks under the pool "
                      "lock (over %u holders): recycling is not offered", p->id,
                      HORUS__FAST_HOLDERS);
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *cell = ledger_at(p, hi, s);
  uint64_t bit = 1ull << hi, m = bit;
  uint32_t one = 1;
  stripe_lock(p, s);
  /* Our one reference leaves the cell first: another thread of ours
   * retaining the block counts in the cell alone, without the stripe while
   * the cell is non-zero, so only taking the cell from 1 to 0 keeps it out
   * (it then finds 0 and waits for this stripe).  Then the mask: from "only
   * us" to dying, which keeps out every other process. */
  bool ours = atomic_compare_exchange_strong_explicit(cell, &one, 0, memory_order_acq_rel,
                                                      memory_order_acquire);
  if (!ours || !atomic_compare_exchange_strong_explicit(MASK(p, s), &m, DYING | bit,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire)) {
    if (ours) atomic_store_explicit(cell, 1, memory_order_release);
    stripe_unlock(p, s);
    return horus__err(HORUS_EBUSY, "pool %u slot %u: the block is still held elsewhere "
                      "(a receiver, a topic, another handle)", p->id, s);
  }
  /* Dying and ours alone: nobody can retain it.  A new generation, then
   * the mask and the cell back to us; a retainer with an old descriptor
   * that gets in after that finds the generation moved (as after a free and
   * an alloc).  Killed in between, the reclaimer frees it: a dying block,
   * or our bit with a zero cell. */
  horus__fault("recycle");
  uint32_t g = gen + 1 ? gen + 1 : 1;
  atomic_store_explicit(&sl->generation, g, memory_order_release);
  atomic_store_explicit(MASK(p, s), bit, memory_order_release);
  atomic_store_explicit(cell, 1, memory_order_release);
  stripe_unlock(p, s);
  *new_gen = g;
  return 0;
}

static bool segment_holder(horus_pool *p, uint32_t hi) {
  return hi < HORUS_POOL_MAX_HOLDERS && p->holders[hi].kind == HORUS__HOLDER_SEGMENT;
}

int horus__pool_retain_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  if (!segment_holder(p, hi)) return horus__err(HORUS_ESTALE, "holder %u was reclaimed", hi);
  return retain_as(p, hi, s, gen);
}

int horus__pool_release_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  if (!segment_holder(p, hi)) return horus__err(HORUS_ESTALE, "holder %u was reclaimed", hi);
  return release_as(p, hi, s, gen);
}

uint32_t horus__pool_count_as(horus_pool *p, uint32_t hi, uint32_t s) {
  if (hi >= HORUS_POOL_MAX_HOLDERS || s >= p->max_slots) return 0;
  return atomic_load_explicit(ledger_at(p, hi, s), memory_order_acquire);
}

int horus__pool_settle_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen,
                          uint32_t count) {
  if (!segment_holder(p, hi) || s >= p->max_slots)
    return horus__err(HORUS_EINVAL, "settle: holder %u slot %u out of range", hi, s);
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *cell = ledger_at(p, hi, s);
  /* Freed already (the release finished), or a journal that names nothing:
   * the holder's count on this slot is about another block, if any.  But a
   * retain of a stale descriptor killed between its bit and its look at
   * the generation left the bit on the block the slot holds now, with no
   * count behind it (a topic's steps all run under its lock, held here, so
   * nothing else of this holder is in flight): take it out. */
  if (!slot_is(sl, gen)) {
    uint64_t bit = hi < HORUS__FAST_HOLDERS ? 1ull << hi : 0;
    uint64_t m = atomic_load(MASK(p, s));
    /* Its bit alone left (it was taking it out again when killed, and the
     * block's other holders had gone: the block is the ring's to free), or
     * its bit among others'. */
    if (bit && atomic_load(cell) == 0 &&
        (m == (DYING | bit) || ((m & bit) && mask_drop(MASK(p, s), bit))))
      free_dying(p, s, bit);
    return 0;
  }
  if (hi >= HORUS__FAST_HOLDERS) {
    int r = pool_lock(p);
    if (r) return r;
    uint32_t was = atomic_load(cell);
    atomic_store(cell, count);
    uint32_t slow = sl->slow_refs - (was < sl->slow_refs ? was : sl->slow_refs) + count;
    sl->slow_refs = slow;
    if (slow == 0 ? mask_clear_locked(p, s, SLOW, true) : !mask_add(MASK(p, s), SLOW)) {
      if (slow) atomic_store(cell, 0); /* the block died meanwhile: nothing to hold */
    }
    pool_unlock(p);
    return 0;
  }
  uint64_t bit = 1ull << hi;
  atomic_store_explicit(cell, count, memory_order_release);
  if (count > 0) {
    if (!mask_add(MASK(p, s), bit)) atomic_store(cell, 0); /* the block died meanwhile */
    return 0;
  }
  if (atomic_load(MASK(p, s)) == (DYING | bit) || mask_drop(MASK(p, s), bit)) free_dying(p, s, bit);
  return 0;
}

static int pool_alloc(horus_pool *p, uint64_t nbytes, bool clear, uint32_t *slot,
                      uint32_t *generation, uint64_t *offset) {
  horus__pool_header *h = p->hdr;
  if (nbytes > p->data_size)
    return horus__err(HORUS_ENOMEM, "pool %u exhausted: requested %" PRIu64
                      " bytes, %" PRIu64 " bytes free (the pool holds %" PRIu64
                      " bytes in all)", p->id, nbytes,
                      p->data_size - h->tlsf.used_bytes, p->data_size);
  int r = pool_lock(p);
  if (r) return r;
  uint32_t hi = NIL, rec = NIL, s = NIL;
  if ((r = self_holder_locked(p, &hi))) goto out;
  /* Two passes at most: the second after rebuilding state that another
   * process damaged (see pool_unlock). */
  for (int attempt = 0;; attempt++) {
    if (h->slot_free_head == NIL) sweep_locked(p);
    if (h->slot_free_head == NIL) {
      r = horus__err(HORUS_ENOSLOT, "pool %u exhausted: all %u slots hold live "
                     "blocks (requested %" PRIu64 " bytes, %" PRIu64 " bytes free)",
                     p->id, p->max_slots, nbytes, p->data_size - h->tlsf.used_bytes);
      goto out;
    }
    rec = horus__tlsf_alloc(&p->alloc, nbytes);
    if (rec == NIL && !h->tlsf.corrupt && sweep_locked(p) > 0)
      rec = horus__tlsf_alloc(&p->alloc, nbytes);
    s = h->slot_free_head;
    /* Whatever the allocator's shared state says, never hand out a block
     * outside the data region or smaller than asked. */
    bool bad_block = rec != NIL && (p->recs[rec].offset > p->data_size ||
                                    p->recs[rec].size > p->data_size - p->recs[rec].offset ||
                                    p->recs[rec].size < nbytes);
    bool damaged = h->tlsf.corrupt || bad_block || s >= p->max_slots ||
                   atomic_load(&p->slots[s].state) != HORUS__SLOT_FREE;
    if (!damaged) break;
    if (rec != NIL && !bad_block) horus__tlsf_free(&p->alloc, rec);
    repair(p);
    if (attempt == 1) {
      r = horus__err(HORUS_EIO, "%s: pool state is damaged beyond repair", p->path);
      goto out;
    }
  }
  if (rec == NIL) {
    r = horus__err(HORUS_ENOMEM, "pool %u exhausted: requested %" PRIu64
                   " bytes, %" PRIu64 " bytes free (largest free block %" PRIu64
                   " bytes)", p->id, nbytes, p->data_size - h->tlsf.used_bytes,
                   horus__tlsf_largest_free(&p->alloc));
    goto out;
  }
  if ((r = commit_range(p, p->recs[rec].offset, p->recs[rec].size))) {
    horus__tlsf_free(&p->alloc, rec);
    goto out;
  }
  horus__fault("alloc_locked");
  horus__slot *sl = &p->slots[s];
  h->slot_free_head = sl->next_free;
  sl->rec = rec;
  sl->offset = p->recs[rec].offset; /* checked above; repair() rebuilds from these */
  sl->size = p->recs[rec].size;
  sl->next_free = NIL;
  h->allocated_slots++;
  /* The mask goes last: until it leaves DYING nobody can retain the block,
   * and a retainer that gets in afterwards sees the new generation.  The
   * stripe keeps out a thread of ours still retaining this slot's previous
   * block (it finds the cell taken, or the mask still DYING). */
  stripe_lock(p, s);
  atomic_store_explicit(ledger_at(p, hi, s), 1, memory_order_relaxed);
  sl->slow_refs = hi < HORUS__FAST_HOLDERS ? 0 : 1;
  atomic_store_explicit(&sl->state, HORUS__SLOT_USED, memory_order_release);
  atomic_store_explicit(MASK(p, s), holder_bit(hi), memory_order_release);
  stripe_unlock(p, s);
  uint64_t dirty = take_chunks(p, sl->offset, sl->size);
  *slot = s;
  *generation = atomic_load_explicit(&sl->generation, memory_order_relaxed);
  *offset = sl->offset;
  uint64_t size = sl->size;
  pool_unlock(p);
  if (clear)
    clear_dirty(p, *offset, size, dirty);
  else if (dirty && nbytes < size) /* the caller writes nbytes; the rest is ours */
    memset(p->data + *offset + nbytes, 0, size - nbytes);
  return 0;
out:
  pool_unlock(p);
  return r;
}

int horus_pool_alloc(horus_pool *p, uint64_t nbytes, uint32_t *slot, uint32_t *generation,
                     uint64_t *offset) {
  return pool_alloc(p, nbytes, true, slot, generation, offset);
}

int horus__pool_alloc_uninit(horus_pool *p, uint64_t nbytes, uint32_t *slot,
                             uint32_t *generation, uint64_t *offset) {
  return pool_alloc(p, nbytes, false, slot, generation, offset);
}

/* ---- queries ------------------------------------------------------------ */

uint32_t horus_pool_id(const horus_pool *p) { return p->id; }
const char *horus_pool_path(const horus_pool *p) { return p->path; }

void *horus_pool_data(const horus_pool *p, uint64_t offset) {
  return offset < p->data_size ? p->data + offset : NULL;
}

/* Sum of a slot's ledger cells (one per holder), with `live_only` of the
 * holders alive only (under the pool lock, which guards the holder table):
 * for people, tests and messages_held, not for freeing anything (holders
 * change their cells without the lock). */
static uint64_t slot_refs(horus_pool *p, uint32_t s, bool live_only) {
  uint64_t sum = 0;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
    uint32_t n = atomic_load_explicit(ledger_at(p, hi, s), memory_order_relaxed);
    if (n && live_only && (p->holders[hi].kind == HORUS__HOLDER_FREE ||
                           !holder_alive(p, &p->holders[hi])))
      continue;
    sum += n;
  }
  return sum;
}

/* Sum of a holder's ledger row. */
static uint64_t holder_refs(horus_pool *p, uint32_t hi) {
  uint64_t sum = 0;
  for (uint32_t s = 0; s < p->max_slots; s++)
    sum += atomic_load_explicit(ledger_at(p, hi, s), memory_order_relaxed);
  return sum;
}

uint32_t horus_pool_refcount(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots || !slot_is(&p->slots[s], gen)) return 0;
  uint64_t n = slot_refs(p, s, false);
  return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

uint32_t horus__pool_live_refcount(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots || !slot_is(&p->slots[s], gen)) return 0;
  /* Without the lock the dead cannot be told apart: everyone counts. */
  if (pool_lock(p) != 0) return horus_pool_refcount(p, s, gen);
  uint64_t n = slot_is(&p->slots[s], gen) ? slot_refs(p, s, true) : 0;
  pool_unlock(p);
  return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

uint64_t horus_pool_block_size(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots) return 0;
  horus__slot *sl = &p->slots[s];
  uint64_t size = horus__slot_size(sl);
  if (atomic_load(&sl->generation) != gen || atomic_load(&sl->state) != HORUS__SLOT_USED)
    return 0;
  return size;
}

int horus_pool_stats_get(horus_pool *p, horus_pool_stats *out) {
  int r = pool_lock(p);
  if (r) return r;
  horus__pool_header *h = p->hdr;
  memset(out, 0, sizeof *out);
  out->pool_id = h->pool_id;
  out->max_slots = p->max_slots;
  out->size_bytes = p->data_size;
  out->used_bytes = h->tlsf.used_bytes;
  out->free_bytes = p->data_size - h->tlsf.used_bytes;
  out->largest_free_block = horus__tlsf_largest_free(&p->alloc);
  out->allocated_slots = h->allocated_slots;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
    if (p->holders[hi].kind == HORUS__HOLDER_FREE) continue;
    out->holders++;
    out->total_refs += holder_refs(p, hi);
  }
  pool_unlock(p);
  return 0;
}

int horus_pool_reclaim(horus_pool *p) {
  int r = pool_lock(p);
  if (r) return r;
  r = sweep_locked(p);
  pool_unlock(p);
  return r;
}

int horus_pool_holders(horus_pool *p, horus_pool_holder *out, int max) {
  int r = pool_lock(p);
  if (r) return r;
  int n = 0;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
    horus__holder *h = &p->holders[hi];
    if (h->kind == HORUS__HOLDER_FREE) continue;
    if (n < max) {
      horus_pool_holder *o = &out[n];
      memset(o, 0, sizeof *o);
      o->kind = (int)h->kind;
      o->pid = h->pid;
      o->refs = holder_refs(p, hi);
      o->alive = holder_alive(p, h);
      memcpy(o->name, h->name, sizeof o->name);
      o->name[HORUS_NAME_MAX] = '\0';
    }
    n++;
  }
  pool_unlock(p);
  return n;
}


int horus__pool_repairs(horus_pool *p, uint64_t *out) {
  int r = pool_lock(p);
  if (r) return r;
  *out = p->hdr->repairs;
  pool_unlock(p);
  return 0;
}

int horus_pool_find(const void *ptr, horus_pool **pool_out, uint32_t *slot,
                    uint32_t *generation, uint64_t *offset) {
  const uint8_t *q = ptr;
  pthread_mutex_lock(&registry_lock);
  horus_pool *p = registry;
  for (; p; p = p->next)
    if (q >= p->data && q < p->data + p->data_size) break;
  if (p) atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
  pthread_mutex_unlock(&registry_lock);
  if (!p) return horus__err(HORUS_ENOENT, "address is in no open pool");
  uint64_t off = (uint64_t)(q - p->data);
  for (uint32_t s = 0; s < p->max_slots; s++) {
    horus__slot *sl = &p->slots[s];
    if (atomic_load_explicit(&sl->state, memory_order_acquire) != HORUS__SLOT_USED) continue;
    uint32_t g = atomic_load_explicit(&sl->generation, memory_order_acquire);
    uint64_t o = horus__slot_offset(sl), sz = horus__slot_size(sl);
    if (off >= o && off - o < sz) {
      *pool_out = p;
      *slot = s;
      *generation = g;
      *offset = off;
      return 0;
    }
  }
  horus_pool_close(p);
  return horus__err(HORUS_ENOENT, "address is in pool %u but in no live block", p->id);
}

/* ---- open / close -------------------------------------------------------- */

static void detach_at_exit(void) {
  pthread_mutex_lock(&registry_lock);
  for (horus_pool *p = registry; p; p = p->next) {
    uint32_t hi = self_hi(p);
    if (hi == NIL) continue;
    bool locked = pool_lock(p) == 0;
    set_self(p, NIL);
    if (locked) {
      reclaim_holder_locked(p, hi, true);
      pool_unlock(p);
    }
  }
  process_exiting = true;
  pthread_mutex_unlock(&registry_lock);
}

static int map_pool(uint32_t id, const char *dir, uint64_t size_bytes,
                    uint32_t max_slots, unsigned flags, horus_pool *p) {
  char name[32];
  snprintf(name, sizeof name, HORUS__POOL_PREFIX "%u", id);
  snprintf(p->dir, sizeof p->dir, "%s", dir);
  snprintf(p->path, sizeof p->path, "%s/%s", dir, name);
  p->fd = -1;
  int r = horus__user_dir_of(dir, p->user_dir, sizeof p->user_dir);
  if (r) return r;
  void *base = NULL;
  uint64_t size = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    r = horus__seg_open(dir, name, HORUS__SEG_POOL, &base, &size, &p->fd);
    if (r == 0) break;
    if (r != HORUS_ENOENT || !(flags & HORUS_POOL_CREATE)) return r;
    create_args a = {id, max_slots, size_bytes};
    geometry g;
    layout(max_slots, size_bytes, &g);
    r = horus__seg_create(dir, name, HORUS__SEG_POOL, g.total, g.off_data, init_segment, &a,
                          &base, &p->fd);
    if (r == 0) {
      size = g.total;
      break;
    }
    if (r != HORUS_EAGAIN) return r; /* EAGAIN: created meanwhile; open it */
  }
  if (!base) return horus__err(HORUS_EIO, "%s: could not open or create", p->path);
  p->base = base;
  p->map_size = size;
  p->hdr = base;
  p->id = id;
  set_self(p, NIL);
  r = validate(p, id);
  if (r) {
    horus__seg_unmap(base, size);
    close(p->fd);
    p->fd = -1;
    return r;
  }
  bind_pointers(p);
  return 0;
}

static void unmap_pool(horus_pool *p) {
  if (p->base) horus__seg_unmap(p->base, p->map_size);
  if (p->fd >= 0) close(p->fd);
  p->base = NULL;
  p->fd = -1;
}

/* True while the segment we mapped is still the one at its path: horus_clean
 * may have removed it between our open and our registration. */
static bool still_linked(horus_pool *p) {
  struct stat a, b;
  if (fstat(p->fd, &a) != 0 || stat(p->path, &b) != 0) return false;
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static int geometry_check(horus_pool *p, uint64_t size_bytes, uint32_t max_slots) {
  if ((size_bytes && size_bytes != p->data_size) || (max_slots && max_slots != p->max_slots))
    return horus__err(HORUS_EGEOMETRY, "pool %u exists with size %" PRIu64
                      " bytes and %u slots; asked for size %" PRIu64 " bytes and "
                      "%u slots", p->id, p->data_size, p->max_slots,
                      size_bytes ? size_bytes : p->data_size,
                      max_slots ? max_slots : p->max_slots);
  return 0;
}

/* The open pool `id` of namespace `ns` (with `nonce` unless 0), not retired.
 * Under registry_lock. */
static horus_pool *registry_find(const char *ns, uint32_t id, uint64_t nonce) {
  for (horus_pool *p = registry; p; p = p->next)
    if (p->id == id && strcmp(p->ns, ns) == 0 && (nonce ? p->nonce == nonce : !p->retired))
      return p;
  return NULL;
}

/* Map, validate and register pool `id` as a new registry entry.  Under
 * registry_lock. */
static int attach(uint32_t id, const char *ns, uint64_t size_bytes, uint32_t max_slots,
                  unsigned flags, horus_pool **out) {
  char dir[HORUS__PATH_MAX];
  int r = horus__ns_dir(dir, sizeof dir);
  if (r) return r;
  for (int attempt = 0;; attempt++) {
    horus_pool *p = calloc(1, sizeof *p);
    if (!p) return horus__err(HORUS_ENOMEM, "out of process memory (a pool handle)");
    r = map_pool(id, dir, size_bytes, max_slots, flags, p);
    if (r == 0) r = geometry_check(p, size_bytes, max_slots);
    bool removed = false;
    if (r == 0 && (r = pool_lock(p)) == 0) {
      uint32_t hi = NIL;
      sweep_locked(p); /* reclaim what crashed processes left behind */
      /* Registered under the lock, then checked to still be the file at the
       * path: horus_clean unlinks only under this lock and only when no one
       * is registered, so either it sees us or we see it gone. */
      r = self_holder_locked(p, &hi);
      if (r == 0 && !still_linked(p)) {
        reclaim_holder_locked(p, hi, true);
        set_self(p, NIL);
        removed = true;
      }
      pool_unlock(p);
    }
    if (r || removed) {
      unmap_pool(p);
      free(p);
      if (r) return r;
      if (attempt == 3) return horus__err(HORUS_EIO, "pool %u keeps being removed", id);
      continue;
    }
    snprintf(p->ns, sizeof p->ns, "%s", ns);
    atomic_store(&p->refs, 1);
    p->next = registry;
    registry = p;
    if (!atexit_registered) {
      atexit(detach_at_exit);
      atexit_registered = true;
    }
    *out = p;
    return 0;
  }
}

int horus_pool_open(uint32_t id, uint64_t size_bytes, uint32_t max_slots,
                    unsigned flags, horus_pool **out) {
  if (flags & HORUS_POOL_CREATE) {
    if (size_bytes == 0 || size_bytes > HORUS__POOL_MAX_DATA)
      return horus__err(HORUS_EINVAL, "pool size %" PRIu64 " bytes: must be 1 "
                        "byte to 16 TiB", size_bytes);
    if (max_slots == 0 || max_slots > HORUS__POOL_MAX_SLOTS)
      return horus__err(HORUS_EINVAL, "max_slots %u: must be 1..%u", max_slots,
                        HORUS__POOL_MAX_SLOTS);
  }
  size_bytes = (size_bytes + HORUS_BLOCK_ALIGN - 1) & ~(uint64_t)(HORUS_BLOCK_ALIGN - 1);
  const char *ns = NULL;
  int r = horus__ns_name(&ns);
  if (r) return r;

  /* Already open in this process: no system calls (the hot path of
   * receiving a message from a pool we know). */
  pthread_mutex_lock(&registry_lock);
  horus_pool *p = registry_find(ns, id, 0);
  if (p) {
    r = geometry_check(p, size_bytes, max_slots);
    if (r == 0) {
      atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
      *out = p;
    }
  } else {
    r = attach(id, ns, size_bytes, max_slots, flags, out);
  }
  pthread_mutex_unlock(&registry_lock);
  return r;
}

int horus__pool_open_incarnation(uint32_t id, uint64_t nonce, horus_pool **out) {
  const char *ns = NULL;
  int r = horus__ns_name(&ns);
  if (r) return r;
  pthread_mutex_lock(&registry_lock);
  horus_pool *p = registry_find(ns, id, nonce);
  if (p) {
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    *out = p;
    pthread_mutex_unlock(&registry_lock);
    return 0;
  }
  /* Not the pool we have open under that id (if any): the one on disk now? */
  horus_pool *cur = registry_find(ns, id, 0);
  if (cur && !still_linked(cur)) cur->retired = true; /* removed and made anew */
  r = cur && !cur->retired ? HORUS_ESTALE : attach(id, ns, 0, 0, 0, &p);
  if (r == 0 && p->nonce != nonce) {
    pthread_mutex_unlock(&registry_lock);
    horus_pool_close(p);
    return horus__err(HORUS_ESTALE, "descriptor names an earlier pool %u (it was removed "
                      "and made anew)", id);
  }
  pthread_mutex_unlock(&registry_lock);
  if (r == HORUS_ESTALE || r == HORUS_ENOENT)
    return horus__err(HORUS_ESTALE, "descriptor names pool %u incarnation %016llx, "
                      "which no longer exists", id, (unsigned long long)nonce);
  if (r == 0) *out = p;
  return r;
}

int horus__pool_unlink_if_unused(horus_pool *p) {
  int r = pool_lock(p);
  if (r) return r;
  sweep_locked(p);
  int others = 0;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++)
    if (p->holders[hi].kind != HORUS__HOLDER_FREE && hi != self_hi(p) &&
        holder_alive(p, &p->holders[hi]))
      others++;
  if (others == 0 && still_linked(p) && unlink(p->path) == 0) {
    r = 1;
    p->retired = true;
  }
  pool_unlock(p);
  return r;
}

void horus__pool_retire_namespace(const char *ns) {
  pthread_mutex_lock(&registry_lock);
  for (horus_pool *p = registry; p; p = p->next)
    if (strcmp(p->ns, ns) == 0) p->retired = true;
  pthread_mutex_unlock(&registry_lock);
}

int horus_pool_global(horus_pool **out) {
  uint64_t mb = 1024;
  const char *env = getenv("HORUS_POOL_MB");
  if (env && *env) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(env, &end, 10);
    if (errno || *end || v == 0 || v > (HORUS__POOL_MAX_DATA >> 20))
      return horus__err(HORUS_EINVAL, "HORUS_POOL_MB='%.40s': want a whole "
                        "number of megabytes, 1 or more", env);
    mb = v;
  }
  int r = horus_pool_open(HORUS_GLOBAL_POOL_ID, 0, 0, 0, out);
  if (r != HORUS_ENOENT) return r;
  return horus_pool_open(HORUS_GLOBAL_POOL_ID, mb << 20, HORUS_POOL_DEFAULT_SLOTS,
                         HORUS_POOL_CREATE, out);
}

bool horus__pool_is_open(uint32_t id) {
  const char *ns = NULL;
  if (horus__ns_name(&ns)) return false;
  pthread_mutex_lock(&registry_lock);
  horus_pool *p = registry_find(ns, id, 0);
  bool open = p && atomic_load(&p->refs) > 0;
  pthread_mutex_unlock(&registry_lock);
  return open;
}

/* The caller holds a reference, so the handle cannot go away meanwhile:
 * no registry lock (this runs for every tensor handle made). */
void horus__pool_ref(horus_pool *p) {
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

horus_pool *horus_pool_ref(horus_pool *p) {
  horus__pool_ref(p);
  return p;
}

void horus_pool_close(horus_pool *p) {
  if (!p) return;
  /* Dropping a reference that is not the last needs no lock; the last one
   * is dropped under the registry lock, which registry_find's revivals take
   * too, so a handle is never found and freed at once. */
  int n = atomic_load_explicit(&p->refs, memory_order_relaxed);
  while (n > 1)
    if (atomic_compare_exchange_weak_explicit(&p->refs, &n, n - 1, memory_order_acq_rel,
                                              memory_order_relaxed))
      return;
  pthread_mutex_lock(&registry_lock);
  if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) > 1 || process_exiting) {
    pthread_mutex_unlock(&registry_lock);
    return;
  }
  for (horus_pool **pp = &registry; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  uint32_t hi = self_hi(p);
  if (hi != NIL && pool_lock(p) == 0) {
    reclaim_holder_locked(p, hi, true);
    set_self(p, NIL);
    pool_unlock(p);
  }
  pthread_mutex_unlock(&registry_lock);
  unmap_pool(p);
  free(p);
}
