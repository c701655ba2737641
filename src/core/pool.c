/* pool.c - shared-memory pools: layout, locking, reference ledgers, crash
 * reclamation and repair.  See horus/pool.h for the contract.
 *
 * Invariants, all under the pool lock:
 *   slot.refcount == sum over holders h of ledger[h][slot]
 *   holder.refs   == sum over slots s of ledger[holder][s]
 *   a USED slot owns exactly one allocator block; a FREE slot none.
 * The slot table is the truth: if a process dies holding the lock, the next
 * locker recomputes refcounts from the ledgers and rebuilds the allocator and
 * the slot free list from the USED slots (repair()). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "pool_internal.h"

#define NIL HORUS__NIL
/* A freed block larger than this is zeroed outside the pool lock (two lock
 * round trips); a smaller one under it, in less time than the round trip. */
#define ZERO_UNLOCKED_MIN (16u << 10)
/* A freed block this large gives its whole commit chunks back to the
 * kernel (a hole reads as zeros) instead of being overwritten. */
#define PUNCH_MIN (8ull << 20)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static horus_pool *registry;
static bool atexit_registered;
static bool process_exiting;

/* ---- layout ------------------------------------------------------------ */

typedef struct geometry {
  uint64_t off_holders, off_slots, off_ledger, off_recs, off_commit, off_data, total;
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
  g->off_ledger = off = round_up(off, 64);
  off += (uint64_t)HORUS_POOL_MAX_HOLDERS * max_slots * sizeof(uint32_t);
  g->off_recs = off = round_up(off, 64);
  g->nrec = 2 * max_slots + 2;
  off += (uint64_t)g->nrec * sizeof(horus__tlsf_block);
  g->off_commit = off = round_up(off, 64);
  g->commit_chunks = (data_size + HORUS__COMMIT_CHUNK - 1) / HORUS__COMMIT_CHUNK;
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
  p->ledger = (_Atomic uint32_t *)(p->base + g.off_ledger);
  p->recs = (horus__tlsf_block *)(p->base + g.off_recs);
  p->commit = (uint64_t *)(p->base + g.off_commit);
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
  h->off_ledger = g.off_ledger;
  h->off_recs = g.off_recs;
  h->off_commit = g.off_commit;
  h->off_data = g.off_data;

  int r = horus__lock_init(&h->lock);
  if (r) return r;

  horus__slot *slots = (horus__slot *)((uint8_t *)base + g.off_slots);
  for (uint32_t i = 0; i < a->max_slots; i++) {
    atomic_init(&slots[i].generation, 1);
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
      g.off_slots != h->off_slots || g.off_ledger != h->off_ledger ||
      g.off_recs != h->off_recs || g.off_commit != h->off_commit ||
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

/* ---- backing store: commit on first use, zero on free ---------------------- */

static uint64_t data_file_offset(horus_pool *p) { return (uint64_t)(p->data - p->base); }

static bool chunk_committed(horus_pool *p, uint64_t c) {
  return (p->commit[c / 64] >> (c % 64)) & 1;
}

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
    p->commit[c / 64] |= 1ull << (c % 64);
  }
  return 0;
}

/* Give [off, off + size) of the data region back as zeros: whole commit
 * chunks of a large block become holes (and leave the bitmap: the next
 * block there commits them again), the rest is overwritten.  The caller owns
 * the range exclusively (a slot being freed or ZEROING). */
static void zero_range(horus_pool *p, uint64_t off, uint64_t size) {
  if (off >= p->data_size || size > p->data_size - off || size == 0) return;
  uint64_t end = off + size;
  if (size >= PUNCH_MIN) {
    uint64_t c0 = (off + HORUS__COMMIT_CHUNK - 1) / HORUS__COMMIT_CHUNK;
    uint64_t c1 = end / HORUS__COMMIT_CHUNK; /* chunks [c0, c1) lie inside */
    if (c1 > c0) {
      uint64_t hs = c0 * HORUS__COMMIT_CHUNK, he = c1 * HORUS__COMMIT_CHUNK;
      for (uint64_t c = c0; c < c1; c++) p->commit[c / 64] &= ~(1ull << (c % 64));
      if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    (off_t)(data_file_offset(p) + hs), (off_t)(he - hs)) == 0) {
        memset(p->data + off, 0, hs - off);
        memset(p->data + he, 0, end - he);
        return;
      }
      for (uint64_t c = c0; c < c1; c++) p->commit[c / 64] |= 1ull << (c % 64);
    }
  }
  memset(p->data + off, 0, size);
}

/* ---- locking and repair -------------------------------------------------- */

static int cmp_by_offset(const void *a, const void *b, void *arg) {
  const horus__slot *slots = arg;
  uint64_t x = slots[*(const uint32_t *)a].offset, y = slots[*(const uint32_t *)b].offset;
  return x < y ? -1 : x > y;
}

static void free_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok);
static void release_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok);
static void reclaim_holder_locked(horus_pool *p, uint32_t h, bool allocator_ok);
static bool holder_alive(horus_pool *p, const horus__holder *h);

/* A slot whose block the allocator must not hand out. */
static inline bool occupied(uint32_t state) {
  return state == HORUS__SLOT_USED || state == HORUS__SLOT_ZEROING;
}

/* The previous lock owner died inside a critical section.  Recompute what
 * can be derived from the ledgers, drop the dead, rebuild the allocator and
 * the slot free list from the slot table. */
static void repair(horus_pool *p) {
  horus__pool_header *h = p->hdr;
  uint32_t ms = p->max_slots;
  h->repairs++;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) p->holders[hi].refs = 0;
  h->total_refs = 0;
  for (uint32_t s = 0; s < ms; s++) {
    horus__slot *sl = &p->slots[s];
    /* A ZEROING block still belongs to its releaser, clearing it outside
     * the lock right now: it stays out of the allocator until that ends
     * (or the releaser is found dead below). */
    bool used = occupied(atomic_load(&sl->state)) &&
                sl->offset < p->data_size && sl->size <= p->data_size - sl->offset &&
                sl->size > 0;
    uint32_t sum = 0;
    for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
      _Atomic uint32_t *l = ledger_at(p, hi, s);
      if (!used || p->holders[hi].kind == HORUS__HOLDER_FREE) atomic_store(l, 0);
      uint32_t n = atomic_load(l);
      sum += n;
      p->holders[hi].refs += n;
    }
    atomic_store(&sl->refcount, sum);
    h->total_refs += sum;
    if (!used || sum == 0) release_slot_locked(p, s, false);
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
  uint32_t was = atomic_load(&sl->state);
  atomic_store(&sl->state, HORUS__SLOT_FREE);
  if (was != HORUS__SLOT_USED && was != HORUS__SLOT_ZEROING) return;
  uint32_t g = atomic_load(&sl->generation) + 1;
  atomic_store(&sl->generation, g ? g : 1);
  atomic_store(&sl->refcount, 0);
  if (allocator_ok) {
    if (sl->rec < p->nrec) horus__tlsf_free(&p->alloc, sl->rec);
    sl->rec = NIL;
    sl->next_free = p->hdr->slot_free_head;
    p->hdr->slot_free_head = s;
    p->hdr->allocated_slots--;
  }
}

/* Free slot s, zeroing its bytes first: every free byte of the data region
 * reads as zero, so a new block is zero without being written. */
static void release_slot_locked(horus_pool *p, uint32_t s, bool allocator_ok) {
  horus__slot *sl = &p->slots[s];
  uint32_t was = atomic_load(&sl->state);
  if (was == HORUS__SLOT_USED || was == HORUS__SLOT_ZEROING) zero_range(p, sl->offset, sl->size);
  free_slot_locked(p, s, allocator_ok);
}

/* Drop every reference holder `hi` has and free its entry.  With
 * allocator_ok false (during repair) blocks are only marked free; the
 * allocator is rebuilt afterwards. */
static void reclaim_holder_locked(horus_pool *p, uint32_t hi, bool allocator_ok) {
  horus__holder *h = &p->holders[hi];
  if (h->refs) {
    for (uint32_t s = 0; s < p->max_slots; s++) {
      _Atomic uint32_t *l = ledger_at(p, hi, s);
      uint32_t n = atomic_load(l);
      if (!n) continue;
      atomic_store(l, 0);
      horus__slot *sl = &p->slots[s];
      uint32_t rc = atomic_load(&sl->refcount);
      rc = rc > n ? rc - n : 0;
      atomic_store(&sl->refcount, rc);
      p->hdr->total_refs -= p->hdr->total_refs > n ? n : p->hdr->total_refs;
      uint32_t st = atomic_load(&sl->state);
      if (rc == 0 && (st == HORUS__SLOT_USED || st == HORUS__SLOT_ZEROING)) {
        release_slot_locked(p, s, allocator_ok);
        p->hdr->reclaimed_blocks++;
      }
    }
  }
  memset(h, 0, sizeof *h);
}

static int sweep_locked(horus_pool *p) {
  int freed_before = (int)p->hdr->allocated_slots;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
    horus__holder *h = &p->holders[hi];
    if (h->kind == HORUS__HOLDER_FREE) continue;
    if (hi == p->holder && p->epoch == atomic_load(&horus__fork_epoch)) continue;
    if (!holder_alive(p, h)) reclaim_holder_locked(p, hi, true);
  }
  return freed_before - (int)p->hdr->allocated_slots;
}

static int holder_claim_locked(horus_pool *p, uint32_t *out) {
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
      if (p->holders[hi].kind == HORUS__HOLDER_FREE) {
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
  unsigned epoch = atomic_load(&horus__fork_epoch);
  if (p->holder != NIL && p->epoch == epoch) {
    *out = p->holder;
    return 0;
  }
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
  p->holder = hi;
  p->epoch = epoch;
  *out = hi;
  return 0;
}

/* Holder for releases: inherited handles in a forked child hold the
 * parent's references, which are not the child's to drop. */
static bool release_holder_locked(horus_pool *p, uint32_t *out) {
  if (p->holder == NIL || p->epoch != atomic_load(&horus__fork_epoch)) return false;
  *out = p->holder;
  return true;
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

/* ---- references ---------------------------------------------------------- */

static int check_slot(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots)
    return horus__err(HORUS_ERANGE, "%s: slot %u outside the table of %u",
                      p->path, s, p->max_slots);
  horus__slot *sl = &p->slots[s];
  if (atomic_load_explicit(&sl->state, memory_order_relaxed) != HORUS__SLOT_USED ||
      atomic_load_explicit(&sl->generation, memory_order_relaxed) != gen)
    return horus__err(HORUS_ESTALE, "pool %u slot %u generation %u: block was "
                      "freed or reused", p->id, s, gen);
  return 0;
}

static int retain_locked(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  int r = check_slot(p, s, gen);
  if (r) return r;
  horus__slot *sl = &p->slots[s];
  atomic_fetch_add_explicit(ledger_at(p, hi, s), 1, memory_order_relaxed);
  p->holders[hi].refs++;
  atomic_fetch_add_explicit(&sl->refcount, 1, memory_order_relaxed);
  p->hdr->total_refs++;
  return 0;
}

/* Drop one of holder hi's references.  The last reference to a large block
 * does not free it here: the slot becomes ZEROING (its generation moves on,
 * so descriptors of it fail from now on), holder hi keeps that one ledger
 * reference, and *zero_gen gets the new generation: the caller clears the
 * bytes after unlocking and then calls finish_zeroing_locked(). */
static int release_locked(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen,
                          uint32_t *zero_gen) {
  int r = check_slot(p, s, gen);
  if (r) return r;
  _Atomic uint32_t *l = ledger_at(p, hi, s);
  uint32_t mine = atomic_load_explicit(l, memory_order_relaxed);
  if (mine == 0)
    return horus__err(HORUS_ESTALE, "pool %u slot %u: this holder has no "
                      "reference to release", p->id, s);
  horus__slot *sl = &p->slots[s];
  uint32_t rc = atomic_load_explicit(&sl->refcount, memory_order_relaxed);
  if (rc == 1 && zero_gen && sl->size > ZERO_UNLOCKED_MIN) {
    uint32_t g = gen + 1 ? gen + 1 : 1;
    atomic_store(&sl->generation, g);
    atomic_store(&sl->state, HORUS__SLOT_ZEROING);
    *zero_gen = g;
    horus__fault("release_locked");
    return 0;
  }
  atomic_store_explicit(l, mine - 1, memory_order_relaxed);
  p->holders[hi].refs--;
  p->hdr->total_refs--;
  atomic_store_explicit(&sl->refcount, rc - 1, memory_order_relaxed);
  horus__fault("release_locked");
  if (rc == 1) release_slot_locked(p, s, true);
  return 0;
}

/* Second half of a deferred release: the bytes are zero now.  Nothing to do
 * if the slot moved on meanwhile (a repair after another process died
 * freed it, zeroing it itself). */
static void finish_zeroing_locked(horus_pool *p, uint32_t hi, uint32_t s, uint32_t g) {
  horus__slot *sl = &p->slots[s];
  _Atomic uint32_t *l = ledger_at(p, hi, s);
  if (atomic_load(&sl->state) != HORUS__SLOT_ZEROING || atomic_load(&sl->generation) != g ||
      atomic_load(l) == 0)
    return;
  atomic_store(l, atomic_load(l) - 1);
  if (p->holders[hi].refs) p->holders[hi].refs--;
  if (p->hdr->total_refs) p->hdr->total_refs--;
  atomic_store(&sl->refcount, 0);
  free_slot_locked(p, s, true);
}

/* Release as holder hi, clearing a large block's bytes outside the lock.
 * `holder_of` re-reads the holder after locking (NIL: nothing to release). */
static int release_as_holder(horus_pool *p, bool self, uint32_t hi, uint32_t s, uint32_t gen) {
  int r = pool_lock(p);
  if (r) return r;
  uint32_t zero_gen = 0;
  if (self && !release_holder_locked(p, &hi)) {
    pool_unlock(p);
    return 0;
  }
  r = release_locked(p, hi, s, gen, &zero_gen);
  if (r || !zero_gen) {
    pool_unlock(p);
    return r;
  }
  uint64_t off = p->slots[s].offset, size = p->slots[s].size;
  pool_unlock(p);
  horus__fault("zeroing");
  zero_range(p, off, size);
  if ((r = pool_lock(p))) return r;
  finish_zeroing_locked(p, hi, s, zero_gen);
  pool_unlock(p);
  return 0;
}

int horus_pool_retain(horus_pool *p, uint32_t s, uint32_t gen) {
  int r = pool_lock(p);
  if (r) return r;
  uint32_t hi = NIL;
  if ((r = self_holder_locked(p, &hi)) == 0) r = retain_locked(p, hi, s, gen);
  pool_unlock(p);
  return r;
}

int horus_pool_release(horus_pool *p, uint32_t s, uint32_t gen) {
  if (process_exiting) return 0; /* references already handed back at exit */
  return release_as_holder(p, true, NIL, s, gen);
}

int horus__pool_retain_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  if (hi >= HORUS_POOL_MAX_HOLDERS) return horus__err(HORUS_EINVAL, "bad holder");
  int r = pool_lock(p);
  if (r) return r;
  r = p->holders[hi].kind == HORUS__HOLDER_FREE
          ? horus__err(HORUS_ESTALE, "holder %u was reclaimed", hi)
          : retain_locked(p, hi, s, gen);
  pool_unlock(p);
  return r;
}

int horus__pool_release_as(horus_pool *p, uint32_t hi, uint32_t s, uint32_t gen) {
  if (hi >= HORUS_POOL_MAX_HOLDERS) return horus__err(HORUS_EINVAL, "bad holder");
  return release_as_holder(p, false, hi, s, gen);
}

int horus_pool_alloc(horus_pool *p, uint64_t nbytes, uint32_t *slot,
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
  atomic_store_explicit(ledger_at(p, hi, s), 1, memory_order_relaxed);
  p->holders[hi].refs++;
  h->total_refs++;
  atomic_store_explicit(&sl->refcount, 1, memory_order_relaxed);
  h->allocated_slots++;
  atomic_store_explicit(&sl->state, HORUS__SLOT_USED, memory_order_release);
  *slot = s;
  *generation = atomic_load_explicit(&sl->generation, memory_order_relaxed);
  *offset = sl->offset;
out:
  pool_unlock(p);
  return r;
}

/* ---- queries ------------------------------------------------------------ */

uint32_t horus_pool_id(const horus_pool *p) { return p->id; }
const char *horus_pool_path(const horus_pool *p) { return p->path; }

void *horus_pool_data(const horus_pool *p, uint64_t offset) {
  return offset < p->data_size ? p->data + offset : NULL;
}

uint32_t horus_pool_refcount(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots) return 0;
  horus__slot *sl = &p->slots[s];
  uint32_t rc = atomic_load_explicit(&sl->refcount, memory_order_acquire);
  if (atomic_load_explicit(&sl->generation, memory_order_acquire) != gen ||
      atomic_load_explicit(&sl->state, memory_order_acquire) != HORUS__SLOT_USED)
    return 0;
  return rc;
}

uint64_t horus_pool_block_size(horus_pool *p, uint32_t s, uint32_t gen) {
  if (s >= p->max_slots) return 0;
  horus__slot *sl = &p->slots[s];
  uint64_t size = sl->size;
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
  out->total_refs = h->total_refs;
  for (uint32_t hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++)
    if (p->holders[hi].kind != HORUS__HOLDER_FREE) out->holders++;
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
      o->refs = h->refs;
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
  if (p) p->refs++;
  pthread_mutex_unlock(&registry_lock);
  if (!p) return horus__err(HORUS_ENOENT, "address is in no open pool");
  uint64_t off = (uint64_t)(q - p->data);
  for (uint32_t s = 0; s < p->max_slots; s++) {
    horus__slot *sl = &p->slots[s];
    if (atomic_load_explicit(&sl->state, memory_order_acquire) != HORUS__SLOT_USED) continue;
    uint32_t g = atomic_load_explicit(&sl->generation, memory_order_acquire);
    uint64_t o = sl->offset, sz = sl->size;
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
  unsigned epoch = atomic_load(&horus__fork_epoch);
  for (horus_pool *p = registry; p; p = p->next) {
    if (p->holder == NIL || p->epoch != epoch) continue;
    if (pool_lock(p) == 0) {
      reclaim_holder_locked(p, p->holder, true);
      pool_unlock(p);
    }
    p->holder = NIL;
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
  p->holder = NIL;
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
        p->holder = NIL;
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
    p->refs = 1;
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
      p->refs++;
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
    p->refs++;
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
    if (p->holders[hi].kind != HORUS__HOLDER_FREE && hi != p->holder &&
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
  bool open = p && p->refs > 0;
  pthread_mutex_unlock(&registry_lock);
  return open;
}

void horus__pool_ref(horus_pool *p) {
  pthread_mutex_lock(&registry_lock);
  p->refs++;
  pthread_mutex_unlock(&registry_lock);
}

void horus_pool_close(horus_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&registry_lock);
  if (--p->refs > 0 || process_exiting) {
    pthread_mutex_unlock(&registry_lock);
    return;
  }
  for (horus_pool **pp = &registry; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  if (p->holder != NIL && p->epoch == atomic_load(&horus__fork_epoch) &&
      pool_lock(p) == 0) {
    reclaim_holder_locked(p, p->holder, true);
    pool_unlock(p);
  }
  pthread_mutex_unlock(&registry_lock);
  unmap_pool(p);
  free(p);
}
