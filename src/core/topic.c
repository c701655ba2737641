/* topic.c - typed publish/subscribe over a shared-memory ring.  See
 * horus/topic.h for the contract.
 *
 * Layout of topic.<name>: a header (geometry, counters, the publish lock and
 * its journal), a subscriber table, a publisher table, then `capacity` ring
 * entries.  Entry i holds the message of sequence s when its stamp is
 * 2*s + 2 (odd while being written).  Publishers serialise on a robust
 * mutex held for a few stores; subscribers never lock: they read entries
 * optimistically and re-check the stamp (a seqlock), then take their own
 * pool reference, which the generation check makes safe against a block
 * freed meanwhile.
 *
 * The ring's references belong to the topic, as a segment holder of each
 * pool (horus__pool_holder_add), so they outlive publishers and are
 * reclaimed when the topic segment is removed.  A publisher that dies
 * holding the lock leaves a journal the next locker completes. */
#include <errno.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "horus/namespace.h"
#include "horus/topic.h"
#include "pool_internal.h"
#include "topic_internal.h"

#define NIL HORUS__NIL
/* Pools a topic handle keeps open; past that, each new one replaces the
 * oldest (first in, first out: a topic fed from more pools than this in
 * rotation opens a pool per message, slow but correct). */
#define MAX_POOLS_CACHED 16
/* send_bytes keeps the blocks of its small messages to fill them again
 * (see "byte messages" below): messages up to this many bytes, on topics of up to
 * this capacity (it keeps capacity + 1 blocks). */
#define REUSE_MAX_BYTES 4096u
#define REUSE_MAX_CAPACITY 64u


struct horus_topic {
  char name[HORUS_TOPIC_NAME_MAX + 1];
  char seg_name[HORUS_NAME_MAX + 1]; /* "topic.<name>" */
  char dir[HORUS__PATH_MAX];
  char user_dir[HORUS__PATH_MAX];
  uint64_t node; /* this process's node, from node_epoch */
  unsigned node_epoch;
  int fd;        /* the segment, to tell whether it is still linked */
  struct shared_map *map; /* the process's one mapping of the segment, or NULL */
  uint8_t *base;
  uint64_t size;
  horus__topic_header *hdr;
  horus__topic_participant *subs, *pubs;
  horus__topic_entry *ring;
  uint32_t capacity, mask; /* validated copies */
  horus_msg_type type;
  int sub, pub;            /* our table entries, -1 until registered */
  unsigned epoch;          /* fork epoch of the registrations */
  uint64_t cursor;         /* next sequence to read */
  uint64_t received, dropped;
  struct {
    horus_pool *pool;
    uint32_t holder;
  } pools[MAX_POOLS_CACHED]; /* pools of messages sent or received here */
  int npools;
  int evict; /* the entry a full cache replaces next */
  int hit;   /* the entry the last lookup found */
  /* send_bytes's blocks, oldest first: each holds one reference of this
   * process. */
  struct {
    horus_pool *pool; /* the global pool as of the first send_bytes */
    unsigned epoch;   /* the fork epoch whose references these are */
    uint32_t head, count;
    struct {
      uint32_t slot, generation;
      uint64_t offset, size;
    } block[REUSE_MAX_CAPACITY + 1];
  } sent;
};

static void sent_blocks_drop(horus_topic *t);

static uint64_t layout(uint32_t capacity, uint64_t *subs, uint64_t *pubs, uint64_t *ring) {
  uint64_t off = (sizeof(horus__topic_header) + 4095) / 4096 * 4096;
  *subs = off;
  off += HORUS_TOPIC_MAX_SUBSCRIBERS * sizeof(horus__topic_participant);
  *pubs = off;
  off += HORUS_TOPIC_MAX_PUBLISHERS * sizeof(horus__topic_participant);
  *ring = off;
  off += (uint64_t)capacity * sizeof(horus__topic_entry);
  return off;
}

/* ---- ring entries -------------------------------------------------------- */

/* An entry's message is copied in and out a word at a time with relaxed
 * atomics: readers copy it while a publisher may be overwriting it and keep
 * the copy only if the stamp did not move (a seqlock), which the C memory
 * model allows only for atomic accesses.  On x86-64 and arm64 these are the
 * plain loads and stores of a memcpy. */
_Static_assert(offsetof(horus_msg, sequence) % sizeof(uint64_t) == 0 &&
                   sizeof(((horus_msg *)0)->sequence) == sizeof(uint64_t),
               "entry_store replaces the sequence as one whole word");

/* Stores `m` with its sequence set to `sequence`, storing only the words
 * that differ from what the entry holds (only the publish lock's owner
 * writes entries, so what it reads there stays true).  Messages a lap
 * apart mostly differ in the few words on the stamp's line
 * (topic_internal.h); a line not stored to stays valid in the readers'
 * caches, so they pull one line from this core per message instead of
 * five, and this core claims only that one.  The seqlock is unaffected: a
 * skipped word already reads as the new message. */
static void entry_store(horus__topic_entry *e, const horus_msg *m, uint64_t sequence) {
  const char *src = (const char *)m;
#pragma GCC unroll 64 /* straight-line moves: a loop costs 3x their count */
  for (size_t i = 0; i < HORUS__MSG_WORDS; i++) {
    _Atomic uint64_t *dst = &e->words[horus__entry_pos(i)];
    uint64_t w;
    memcpy(&w, src + i * sizeof w, sizeof w);
    if (i == HORUS__MSG_WORD(sequence)) w = sequence;
    /* The stamp's line is claimed anyway: its words need no comparing. */
    if (horus__entry_pos(i) < HORUS__ENTRY_HOT_WORDS ||
        atomic_load_explicit(dst, memory_order_relaxed) != w)
      atomic_store_explicit(dst, w, memory_order_relaxed);
  }
}

/* One field of the message an entry holds, by its offset in horus_msg
 * (whole words only: a field never straddles two). */
#define ENTRY_FIELD(e, field, out)                                                        \
  do {                                                                                    \
    _Static_assert(offsetof(horus_msg, field) % sizeof(uint64_t) + sizeof(out) <=         \
                       sizeof(uint64_t), #field " lies within one word");               \
    uint64_t w_ = atomic_load_explicit(                                                   \
        &(e)->words[horus__entry_pos(HORUS__MSG_WORD(field))], memory_order_relaxed);     \
    memcpy(&(out), (const char *)&w_ + offsetof(horus_msg, field) % sizeof w_, sizeof(out)); \
  } while (0)

static void entry_load(horus__topic_entry *e, horus_msg *m) {
  char *dst = (char *)m;
#pragma GCC unroll 64
  for (size_t i = 0; i < HORUS__MSG_WORDS; i++) {
    uint64_t w = atomic_load_explicit(&e->words[horus__entry_pos(i)], memory_order_relaxed);
    memcpy(dst + i * sizeof w, &w, sizeof w);
  }
}

/* Recovery: the entry's message type becomes HORUS_MSG_NONE (a hole). */
static void entry_make_hole(horus__topic_entry *e) {
  _Atomic uint64_t *word = &e->words[horus__entry_pos(HORUS__MSG_WORD(type))];
  uint64_t w = atomic_load_explicit(word, memory_order_relaxed);
  uint32_t none = HORUS_MSG_NONE;
  memcpy((char *)&w + offsetof(horus_msg, type) % sizeof w, &none, sizeof none);
  atomic_store_explicit(word, w, memory_order_relaxed);
}

/* ---- futex ------------------------------------------------------------ */

static int futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *rel) {
  return (int)syscall(SYS_futex, addr, FUTEX_WAIT, val, rel, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
  syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ---- pools the topic's messages live in --------------------------------- */

/* The open pool `pool_id` of incarnation `nonce`, from the handle's cache
 * (opened on first use and kept while it is among the last MAX_POOLS_CACHED
 * opened, so receiving does not look pools up).  An error when it cannot be
 * opened (HORUS_ESTALE: that incarnation is gone).  The entry is valid only
 * until the next lookup, which may replace it. */
static __attribute__((noinline)) int cached_pool_find(horus_topic *t, uint32_t pool_id,
                                                      uint64_t nonce, int *slot) {
  for (int i = 0; i < t->npools; i++) {
    if (t->pools[i].pool->id == pool_id && t->pools[i].pool->nonce == nonce) {
      *slot = t->hit = i;
      return 0;
    }
  }
  horus_pool *p;
  int r = horus__pool_open_incarnation(pool_id, nonce, &p);
  if (r) return r;
  int i;
  if (t->npools < MAX_POOLS_CACHED) {
    i = t->npools++;
  } else {
    /* Full: the oldest entry goes.  Nothing is lost: a received tensor
     * holds its own pool handle, and the ring's holder registration lives
     * in the pool (horus__pool_holder_add finds it again).  Callers use an
     * entry at once and never keep its index across another lookup. */
    i = t->evict;
    t->evict = (t->evict + 1) % MAX_POOLS_CACHED;
    horus_pool_close(t->pools[i].pool);
  }
  t->pools[i].pool = p;
  t->pools[i].holder = NIL; /* registered when the ring first needs it */
  *slot = t->hit = i;
  return 0;
}

/* The same, trying first the entry the last lookup found: a topic's
 * messages nearly always live in one pool, so a send and a receive each
 * find it with two compares. */
static inline int cached_pool(horus_topic *t, uint32_t pool_id, uint64_t nonce, int *slot) {
  int i = t->hit;
  if (i < t->npools && t->pools[i].pool->id == pool_id && t->pools[i].pool->nonce == nonce) {
    *slot = i;
    return 0;
  }
  return cached_pool_find(t, pool_id, nonce, slot);
}

/* The pool of `pool_id` and the topic's segment-holder index in it,
 * registering the topic as a holder there on first use.  The registration
 * belongs to the segment, not the process, so it survives fork. */
static inline int ring_pool(horus_topic *t, uint32_t pool_id, uint64_t nonce, horus_pool **pool,
                     uint32_t *holder) {
  int i = 0, r = cached_pool(t, pool_id, nonce, &i);
  if (r) return r;
  if (t->pools[i].holder == NIL &&
      (r = horus__pool_holder_add(t->pools[i].pool, t->seg_name, t->hdr->seg.nonce,
                                  &t->pools[i].holder)))
    return r;
  *pool = t->pools[i].pool;
  *holder = t->pools[i].holder;
  return 0;
}

/* The ring's reference count on a block of pool `pool_id` (0 if that pool
 * cannot be opened). */
static uint32_t ring_count(horus_topic *t, uint32_t pool_id, uint64_t nonce, uint32_t slot) {
  horus_pool *p;
  uint32_t h;
  return ring_pool(t, pool_id, nonce, &p, &h) == 0 ? horus__pool_count_as(p, h, slot) : 0;
}

/* Recovery: make the ring's count on a block `count`, whatever instant of a
 * retain or release the dead publisher stopped at (the pool makes the holder
 * mask agree and frees the block if that was its last reference). */
static void ring_settle(horus_topic *t, uint32_t pool_id, uint64_t nonce, uint32_t slot,
                        uint32_t gen, uint32_t count) {
  horus_pool *p;
  uint32_t h;
  if (ring_pool(t, pool_id, nonce, &p, &h) == 0) horus__pool_settle_as(p, h, slot, gen, count);
}

/* ---- locking and journal recovery ---------------------------------------- */

/* Move the journal to `stage`.  What a SIGKILL leaves is this thread's
 * stores in the order the compiler emitted them (the kernel's handling of
 * the death orders them for the next lock owner), and the journal's fields
 * are plain: the compiler fences keep every store before a stage change
 * (the journal's fields, the entry, write_seq) before it, and every store
 * after it after, as recover() assumes.  They cost no instruction. */
static inline void journal_stage(horus__topic_journal *j, horus__topic_stage stage) {
  atomic_signal_fence(memory_order_seq_cst);
  j->stage = stage;
  atomic_signal_fence(memory_order_seq_cst);
}

/* The previous publisher died inside send (or inside this very recovery):
 * finish or undo its step.  Every step is idempotent given the journal, and
 * the journal moves on only after its step is done, so dying here too is
 * recovered by the next owner. */
static void recover(horus_topic *t) {
  horus__topic_header *h = t->hdr;
  horus__topic_journal *j = &h->jn;
  h->repairs++;
  for (;;) {
    horus__topic_entry *e = &t->ring[j->seq & t->mask];
    switch (j->stage) {
      case HORUS__STAGE_RETAINING: /* undo: the entry was not touched */
        ring_settle(t, j->new_pool, j->new_nonce, j->new_slot, j->new_gen, j->count_before);
        horus__fault("recover_step");
        journal_stage(j, HORUS__STAGE_IDLE);
        break;
      case HORUS__STAGE_RETAINED:
        /* Stamped 2s+2, the entry was written whole, and readers may
         * already have received it (they go by the stamp alone): finish
         * the send, so that every reader sees the message. */
        if (atomic_load_explicit(&e->stamp, memory_order_acquire) == 2 * j->seq + 2) {
          journal_stage(j, HORUS__STAGE_WRITTEN);
          break;
        }
        /* The entry may be half written: make it a hole readers skip, and
         * give back both the new message's reference and the old one's. */
        entry_make_hole(e);
        atomic_store_explicit(&e->stamp, 2 * j->seq + 2, memory_order_release);
        j->count_before = ring_count(t, j->new_pool, j->new_nonce, j->new_slot);
        journal_stage(j, HORUS__STAGE_UNDOING);
        break;
      case HORUS__STAGE_UNDOING:
        ring_settle(t, j->new_pool, j->new_nonce, j->new_slot, j->new_gen,
                    j->count_before ? j->count_before - 1 : 0);
        journal_stage(j, HORUS__STAGE_WRITTEN);
        break;
      case HORUS__STAGE_WRITTEN:
        if (atomic_load(&h->write_seq) <= j->seq) atomic_store(&h->write_seq, j->seq + 1);
        if (!j->has_old) {
          journal_stage(j, HORUS__STAGE_IDLE);
          break;
        }
        j->count_before = ring_count(t, j->old_pool, j->old_nonce, j->old_slot);
        journal_stage(j, HORUS__STAGE_RELEASING);
        break;
      case HORUS__STAGE_RELEASING:
        ring_settle(t, j->old_pool, j->old_nonce, j->old_slot, j->old_gen,
                    j->count_before ? j->count_before - 1 : 0);
        journal_stage(j, HORUS__STAGE_IDLE);
        break;
      default: /* idle, or a stage no publisher writes */
        journal_stage(j, HORUS__STAGE_IDLE);
        return;
    }
  }
}

/* This process's node, made anew after fork (0 if it cannot be made). */
static uint64_t self_node(horus_topic *t) {
  unsigned epoch = atomic_load(&horus__fork_epoch);
  if (t->node == 0 || t->node_epoch != epoch) {
    uint64_t id = 0;
    if (horus__node_self(t->user_dir, &id) == 0) {
      t->node = id;
      t->node_epoch = epoch;
    }
  }
  return t->node;
}

static int topic_lock(horus_topic *t) {
  int r = horus__lock_acquire(&t->hdr->lock, t->user_dir, self_node(t),
                              HORUS__LOCK_TIMEOUT_S, t->name);
  if (r == HORUS__OWNER_DIED) {
    recover(t);
    horus__lock_consistent(&t->hdr->lock);
    return 0;
  }
  return r;
}

static void topic_unlock(horus_topic *t) { horus__lock_release(&t->hdr->lock); }

/* ---- participants ------------------------------------------------------ */

/* Alive unless its node is certainly dead (see horus__node_alive). */
static bool participant_alive(const horus_topic *t, const horus__topic_participant *p) {
  if (atomic_load(&p->state) != 1) return false;
  uint64_t node = p->node;
  if (node == 0) return false;
  if (node == t->node && t->node_epoch == atomic_load(&horus__fork_epoch)) return true;
  return horus__node_alive(t->user_dir, node) != HORUS__NODE_DEAD;
}

/* Claim an entry of `table` for this process (reusing a dead one's). */
static int claim(horus_topic *t, horus__topic_participant *table, int n, const char *what, int *out) {
  horus__proc self;
  horus__proc_self(&self);
  uint64_t node = self_node(t);
  if (node == 0)
    return horus__err(HORUS_EIO, "topic %s: cannot create this process's node file in %s",
                      t->name, t->user_dir);
  int r = topic_lock(t);
  if (r) return r;
  int found = -1;
  for (int pass = 0; pass < 2 && found < 0; pass++) {
    for (int i = 0; i < n && found < 0; i++) {
      horus__topic_participant *p = &table[i];
      if (atomic_load(&p->state) == 0 || (pass == 1 && !participant_alive(t, p))) found = i;
    }
  }
  if (found >= 0) {
    horus__topic_participant *p = &table[found];
    p->pid = self.pid;
    p->start_time = self.start_time;
    p->node = node;
    atomic_store(&p->count, 0);
    atomic_store(&p->dropped, 0);
    atomic_store(&p->cursor, 0);
    atomic_store(&p->receiving, 0);
    atomic_store(&p->state, 1);
    *out = found;
  } else {
    r = horus__err(HORUS_EBUSY, "topic %s: all %d %s entries are taken by live "
                   "processes", t->name, n, what);
  }
  topic_unlock(t);
  return r;
}

/* Registrations made before a fork belong to the parent. */
static void check_fork(horus_topic *t) {
  unsigned epoch = atomic_load(&horus__fork_epoch);
  if (t->epoch != epoch) {
    t->sub = t->pub = -1;
    t->epoch = epoch;
  }
}

/* ---- open / close -------------------------------------------------------- */

typedef struct create_args {
  const char *name;
  horus_msg_type type;
  uint32_t capacity;
} create_args;

static int init_segment(void *base, uint64_t size, void *arg) {
  create_args *a = arg;
  horus__topic_header *h = base;
  uint64_t subs, pubs, ring;
  if (layout(a->capacity, &subs, &pubs, &ring) != size)
    return horus__err(HORUS_EINVAL, "topic layout mismatch");
  h->msg_type = a->type;
  h->capacity = a->capacity;
  h->max_subs = HORUS_TOPIC_MAX_SUBSCRIBERS;
  h->max_pubs = HORUS_TOPIC_MAX_PUBLISHERS;
  h->off_subs = subs;
  h->off_pubs = pubs;
  h->off_ring = ring;
  snprintf(h->name, sizeof h->name, "%s", a->name);
  return horus__lock_init(&h->lock);
}

static int validate(horus_topic *t) {
  horus__topic_header *h = t->hdr;
  uint64_t subs, pubs, ring;
  if (t->size < sizeof *h)
    return horus__err(HORUS_ECORRUPT, "%s/%s: too short", t->dir, t->seg_name);
  uint32_t cap = h->capacity;
  if (cap == 0 || cap > HORUS_TOPIC_MAX_CAPACITY || (cap & (cap - 1)) ||
      h->max_subs != HORUS_TOPIC_MAX_SUBSCRIBERS || h->max_pubs != HORUS_TOPIC_MAX_PUBLISHERS ||
      h->msg_type == HORUS_MSG_NONE || h->msg_type > HORUS_MSG_BYTES ||
      layout(cap, &subs, &pubs, &ring) != t->size || subs != h->off_subs ||
      pubs != h->off_pubs || ring != h->off_ring)
    return horus__err(HORUS_ECORRUPT, "%s/%s: header geometry is inconsistent "
                      "(capacity %u, %" PRIu64 " bytes)", t->dir, t->seg_name, cap, t->size);
  t->capacity = cap;
  t->mask = cap - 1;
  t->subs = (horus__topic_participant *)(t->base + subs);
  t->pubs = (horus__topic_participant *)(t->base + pubs);
  t->ring = (horus__topic_entry *)(t->base + ring);
  return 0;
}

static bool anyone_alive(horus_topic *t) {
  for (int i = 0; i < HORUS_TOPIC_MAX_SUBSCRIBERS; i++)
    if (participant_alive(t, &t->subs[i])) return true;
  for (int i = 0; i < HORUS_TOPIC_MAX_PUBLISHERS; i++)
    if (participant_alive(t, &t->pubs[i])) return true;
  return false;
}

/* True while the segment we mapped is still the one at its path. */
static bool still_linked(horus_topic *t) {
  char path[HORUS__PATH_MAX + 80];
  snprintf(path, sizeof path, "%s/%s", t->dir, t->seg_name);
  struct stat a, b;
  if (fstat(t->fd, &a) != 0 || stat(path, &b) != 0) return false;
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* One mapping of a topic segment per process, shared by all its handles:
 * a publisher's release store and a subscriber's acquire load in one
 * process are then on one address (which is what the memory model, and
 * ThreadSanitizer, can follow), and a process opening a topic many times
 * maps it once.  Keyed by the file's identity; every user keeps the file
 * open, so its inode cannot be reused while the entry exists. */
typedef struct shared_map {
  struct shared_map *next;
  dev_t dev;
  ino_t ino;
  uint8_t *base;
  uint64_t size;
  int refs;
} shared_map;

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_map *maps;

/* Swap the mapping just made for t->fd for the process's existing one of
 * the same file, or register it as that one.  Out of memory or fstat
 * failing leave the handle its own mapping, which works as well. */
static void share_mapping(horus_topic *t) {
  struct stat st;
  if (fstat(t->fd, &st) != 0) return;
  pthread_mutex_lock(&maps_lock);
  shared_map *m = maps;
  while (m && !(m->dev == st.st_dev && m->ino == st.st_ino && m->size == t->size)) m = m->next;
  if (m) {
    horus__seg_unmap(t->base, t->size);
    t->base = m->base;
    m->refs++;
  } else if ((m = malloc(sizeof *m))) {
    *m = (shared_map){maps, st.st_dev, st.st_ino, t->base, t->size, 1};
    maps = m;
  }
  t->map = m;
  pthread_mutex_unlock(&maps_lock);
}

static void unmap_topic(horus_topic *t) {
  if (t->map) {
    pthread_mutex_lock(&maps_lock);
    shared_map *m = t->map;
    if (--m->refs == 0) {
      for (shared_map **pp = &maps; *pp; pp = &(*pp)->next)
        if (*pp == m) {
          *pp = m->next;
          break;
        }
      horus__seg_unmap(m->base, m->size);
      free(m);
    }
    pthread_mutex_unlock(&maps_lock);
  } else if (t->base) {
    horus__seg_unmap(t->base, t->size);
  }
  if (t->fd >= 0) close(t->fd);
  t->map = NULL;
  t->base = NULL;
  t->fd = -1;
}

/* True while any message in the ring is also held outside it (a receiver
 * still has it): its type must not change under that receiver.  Under the
 * topic lock; the pools are opened into the handle's cache. */
static bool messages_held(horus_topic *t) {
  for (uint32_t i = 0; i < t->capacity; i++) {
    horus__topic_entry *e = &t->ring[i];
    uint64_t stamp = atomic_load_explicit(&e->stamp, memory_order_acquire);
    if (stamp == 0 || (stamp & 1)) continue;
    horus_msg m;
    entry_load(e, &m);
    if (m.type == HORUS_MSG_NONE) continue;
    const horus_tensor_desc *d = &m.tensor;
    int pi = 0;
    if (cached_pool(t, d->pool_id, d->pool_nonce, &pi) != 0) continue; /* pool gone */
    /* Beyond the ring's own references, one per entry holding the block
     * (a frame sent twice is in two); not knowing them, assume held. */
    horus_pool *p;
    uint32_t ring_holder;
    if (ring_pool(t, d->pool_id, d->pool_nonce, &p, &ring_holder) != 0) return true;
    uint32_t own = horus__pool_count_as(p, ring_holder, d->slot);
    /* A killed process's (what it had received, or a publisher's kept
     * blocks) hold nothing back.  The count of everyone first: it takes no
     * lock and looks at no holder's liveness. */
    if (horus_pool_refcount(p, d->slot, d->generation) > own &&
        horus__pool_live_refcount(p, d->slot, d->generation) > own)
      return true;
  }
  return false;
}

static uint32_t round_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

static bool topic_name_valid(const char *name) {
  return horus__name_valid(name) && strlen(name) <= HORUS_TOPIC_NAME_MAX;
}

int horus_topic_open(const char *name, horus_msg_type type, uint32_t capacity,
                     horus_topic **out) {
  if (!name || !topic_name_valid(name))
    return horus__err(HORUS_EINVAL, "invalid topic name '%.80s': use 1-%d characters "
                      "of [A-Za-z0-9._-], not starting with '.'", name ? name : "(null)",
                      HORUS_TOPIC_NAME_MAX);
  if (type <= HORUS_MSG_NONE || type > HORUS_MSG_BYTES)
    return horus__err(HORUS_EINVAL, "invalid message type %d", (int)type);
  if (capacity > HORUS_TOPIC_MAX_CAPACITY)
    return horus__err(HORUS_EINVAL, "capacity %u: at most %d", capacity,
                      HORUS_TOPIC_MAX_CAPACITY);
  capacity = round_pow2(capacity ? capacity : HORUS_TOPIC_DEFAULT_CAPACITY);
  horus_topic *t = calloc(1, sizeof *t);
  if (!t) return horus__err(HORUS_ENOMEM, "out of process memory");
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(t->seg_name, sizeof t->seg_name, HORUS__TOPIC_PREFIX "%s", name);
  t->sub = t->pub = -1;
  t->epoch = atomic_load(&horus__fork_epoch);
  t->fd = -1;
  int r = horus__ns_dir(t->dir, sizeof t->dir);
  if (r == 0) r = horus__user_dir_of(t->dir, t->user_dir, sizeof t->user_dir);
  if (r) goto fail;
  for (int attempt = 0; attempt < 4; attempt++) {
    void *base;
    uint64_t size;
    r = horus__seg_open(t->dir, t->seg_name, HORUS__SEG_TOPIC, &base, &size, &t->fd);
    if (r == HORUS_ENOENT) {
      create_args a = {name, type, capacity};
      uint64_t s1, s2, s3;
      size = layout(capacity, &s1, &s2, &s3);
      r = horus__seg_create(t->dir, t->seg_name, HORUS__SEG_TOPIC, size, size, init_segment,
                            &a, &base, &t->fd);
      if (r == HORUS_EAGAIN) continue; /* created meanwhile: open it */
    }
    if (r) goto fail;
    t->base = base;
    t->size = size;
    share_mapping(t);
    t->hdr = (horus__topic_header *)t->base;
    if ((r = validate(t))) {
      unmap_topic(t);
      goto fail;
    }
    if (t->hdr->msg_type != (uint32_t)type) {
      /* A stale topic of another type: nobody uses it, so replace it (under
       * its lock, so no one joins it meanwhile). */
      bool replaced = false;
      if ((r = topic_lock(t))) {
        unmap_topic(t);
        goto fail;
      }
      bool held = messages_held(t);
      if (!anyone_alive(t) && !held) {
        char path[HORUS__PATH_MAX + 80];
        snprintf(path, sizeof path, "%s/%s", t->dir, t->seg_name);
        replaced = !still_linked(t) || unlink(path) == 0;
      }
      topic_unlock(t);
      for (int i = 0; i < t->npools; i++) horus_pool_close(t->pools[i].pool);
      t->npools = t->evict = 0;
      if (replaced) {
        unmap_topic(t);
        continue;
      }
      r = held ? horus__err(HORUS_ETYPE, "topic '%s' carries %s messages that are still held "
                            "by a receiver; not retyped to %s", name,
                            horus_msg_type_name((horus_msg_type)t->hdr->msg_type),
                            horus_msg_type_name(type))
               : horus__err(HORUS_ETYPE, "topic '%s' carries %s messages, not %s", name,
                            horus_msg_type_name((horus_msg_type)t->hdr->msg_type),
                            horus_msg_type_name(type));
      unmap_topic(t);
      goto fail;
    }
    t->type = type;
    /* Every open handle has an entry, so a topic in use is never mistaken
     * for a stale one; it counts as a subscriber once it receives.  It
     * receives what is sent after this point (its own sends included). */
    if ((r = claim(t, t->subs, HORUS_TOPIC_MAX_SUBSCRIBERS, "handle", &t->sub))) {
      unmap_topic(t);
      goto fail;
    }
    /* horus_clean unlinks a topic only under its lock and only when no entry
     * is alive: either it saw ours, or we see the file gone and start over. */
    if (!still_linked(t)) {
      atomic_store(&t->subs[t->sub].state, 0);
      t->sub = -1;
      unmap_topic(t);
      continue;
    }
    t->cursor = atomic_load_explicit(&t->hdr->write_seq, memory_order_acquire);
    *out = t;
    return 0;
  }
  r = horus__err(HORUS_EIO, "topic %s: could not open or create", name);
fail:
  free(t);
  return r;
}

void horus_topic_close(horus_topic *t) {
  if (!t) return;
  check_fork(t);
  if (t->sub >= 0) atomic_store(&t->subs[t->sub].state, 0);
  if (t->pub >= 0) atomic_store(&t->pubs[t->pub].state, 0);
  for (int i = 0; i < t->npools; i++) horus_pool_close(t->pools[i].pool);
  sent_blocks_drop(t);
  unmap_topic(t);
  free(t);
}

const char *horus_topic_name(const horus_topic *t) { return t->name; }
horus_msg_type horus_topic_type(const horus_topic *t) { return t->type; }

/* ---- send ------------------------------------------------------------------ */

int horus_topic_send(horus_topic *t, const horus_msg *msg, const horus_tensor *tensor,
                     uint64_t *sequence) {
  check_fork(t);
  if (msg->type != (uint32_t)t->type)
    return horus__err(HORUS_ETYPE, "topic '%s' carries %s messages, not %s", t->name,
                      horus_msg_type_name(t->type),
                      horus_msg_type_name((horus_msg_type)msg->type));
  const horus_tensor_desc *d = &msg->tensor;
  if (tensor && memcmp(d, horus_tensor_get_desc(tensor), sizeof *d) != 0)
    return horus__err(HORUS_EINVAL, "message descriptor does not match its tensor");
  int r;
  if (t->pub < 0 && (r = claim(t, t->pubs, HORUS_TOPIC_MAX_PUBLISHERS, "publisher", &t->pub)))
    return r;
  horus__topic_header *h = t->hdr;
  if ((r = topic_lock(t))) return r;
  /* Looked up under the lock: taking it may recover a dead publisher's
   * send, whose lookups can replace cache entries (cached_pool). */
  horus_pool *pool;
  uint32_t holder;
  if ((r = ring_pool(t, d->pool_id, d->pool_nonce, &pool, &holder))) {
    topic_unlock(t);
    return r;
  }
  uint64_t s = atomic_load_explicit(&h->write_seq, memory_order_relaxed);
  horus__topic_entry *e = &t->ring[s & t->mask];
  horus__topic_journal *j = &h->jn;
  /* What the entry holds now is the oldest message: its reference goes. */
  uint64_t old_stamp = atomic_load_explicit(&e->stamp, memory_order_relaxed);
  uint32_t old_type;
  ENTRY_FIELD(e, type, old_type);
  j->has_old = old_stamp != 0 && !(old_stamp & 1) && old_type != HORUS_MSG_NONE;
  ENTRY_FIELD(e, tensor.pool_id, j->old_pool);
  ENTRY_FIELD(e, tensor.slot, j->old_slot);
  ENTRY_FIELD(e, tensor.generation, j->old_gen);
  ENTRY_FIELD(e, tensor.pool_nonce, j->old_nonce);
  j->seq = s;
  j->new_pool = d->pool_id;
  j->new_slot = d->slot;
  j->new_gen = d->generation;
  j->new_nonce = d->pool_nonce;
  j->count_before = horus__pool_count_as(pool, holder, d->slot);
  journal_stage(j, HORUS__STAGE_RETAINING);
  if ((r = horus__pool_retain_as(pool, holder, d->slot, d->generation))) {
    journal_stage(j, HORUS__STAGE_IDLE);
    topic_unlock(t);
    return r;
  }
  journal_stage(j, HORUS__STAGE_RETAINED);
  horus__fault("send_locked");
  atomic_store_explicit(&e->stamp, 2 * s + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  entry_store(e, msg, s);
  atomic_store_explicit(&e->stamp, 2 * s + 2, memory_order_release);
  horus__fault("send_stamped");
  atomic_store_explicit(&h->write_seq, s + 1, memory_order_release);
  journal_stage(j, HORUS__STAGE_WRITTEN);
  atomic_store_explicit(&h->last_send_ns, horus__coarse_ns(), memory_order_relaxed);
  /* Ours alone, and under the lock: no locked add needed. */
  _Atomic uint64_t *sent = &t->pubs[t->pub].count;
  atomic_store_explicit(sent, atomic_load_explicit(sent, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  atomic_fetch_add(&h->futex_word, 1); /* seq_cst: pairs with waiters below */
  if (atomic_load(&h->waiters)) futex_wake_all(&h->futex_word);
  if (j->has_old) {
    horus_pool *old = pool; /* nearly always the pool of the new message */
    uint32_t old_holder = holder;
    if ((j->old_pool == d->pool_id && j->old_nonce == d->pool_nonce) ||
        ring_pool(t, j->old_pool, j->old_nonce, &old, &old_holder) == 0) {
      j->count_before = horus__pool_count_as(old, old_holder, j->old_slot);
      journal_stage(j, HORUS__STAGE_RELEASING);
      horus__pool_release_as(old, old_holder, j->old_slot, j->old_gen);
    }
  }
  journal_stage(j, HORUS__STAGE_IDLE);
  topic_unlock(t);
  if (sequence) *sequence = s;
  return 0;
}

/* ---- byte messages --------------------------------------------------------- */

/* A byte message is copied into a block of the global pool.  Allocating and
 * freeing one per message (two trips through the pool lock and its
 * allocator) is most of what a small message costs, so a handle keeps the
 * blocks of its small messages, oldest first, and fills the oldest again
 * once the ring has moved past it and no receiver holds it any more (it
 * moves to a new generation, as horus_tensor_recycle does: a lapped reader's
 * descriptor no longer resolves).  A ring of capacity c still holds the
 * last c messages, so c + 1 blocks are kept.  Small messages go in blocks of
 * a power-of-two size from 64 bytes, so that messages of other lengths fit
 * them too; bytes past a message are zero, as in any new block.  Out of
 * room in the pool, the kept blocks are given back first. */
#define SENT_RING (REUSE_MAX_CAPACITY + 1)

/* Let go of every kept block.  In a forked child they are the parent's
 * references, not the child's to drop: only forgotten. */
static void sent_blocks_release(horus_topic *t) {
  bool ours = t->sent.epoch == atomic_load_explicit(&horus__fork_epoch, memory_order_relaxed);
  for (uint32_t i = 0; ours && i < t->sent.count; i++) {
    uint32_t k = (t->sent.head + i) % SENT_RING;
    horus_pool_release(t->sent.pool, t->sent.block[k].slot, t->sent.block[k].generation);
  }
  t->sent.head = t->sent.count = 0;
}

/* ... and the pool. */
static void sent_blocks_drop(horus_topic *t) {
  sent_blocks_release(t);
  horus_pool_close(t->sent.pool);
  t->sent.pool = NULL;
}

/* The global pool, opened once per handle (and again after fork, or after
 * this process's horus_clean removed it). */
static int bytes_pool(horus_topic *t, horus_pool **out) {
  unsigned epoch = atomic_load_explicit(&horus__fork_epoch, memory_order_relaxed);
  if (t->sent.pool && (t->sent.epoch != epoch ||
                       atomic_load_explicit(&t->sent.pool->retired, memory_order_relaxed)))
    sent_blocks_drop(t);
  if (!t->sent.pool) {
    int r = horus_pool_global(&t->sent.pool);
    if (r) {
      t->sent.pool = NULL;
      return r;
    }
    t->sent.epoch = epoch;
  }
  *out = t->sent.pool;
  return 0;
}

/* Take the oldest kept block off the list once c + 1 are kept.  True when
 * it can carry a message of class `size` (a block of that size that nobody
 * else holds), moved to a new generation in *d; else it is let go. */
static bool reuse_oldest(horus_topic *t, horus_pool *pool, uint64_t size,
                         horus_tensor_desc *d) {
  if (t->sent.count <= t->capacity) return false;
  uint32_t k = t->sent.head;
  t->sent.head = (k + 1) % SENT_RING;
  t->sent.count--;
  uint32_t gen;
  if (t->sent.block[k].size == size &&
      horus__pool_recycle(pool, t->sent.block[k].slot, t->sent.block[k].generation, &gen) == 0) {
    d->slot = t->sent.block[k].slot;
    d->generation = gen;
    d->offset = t->sent.block[k].offset;
    return true;
  }
  horus_pool_release(pool, t->sent.block[k].slot, t->sent.block[k].generation);
  return false;
}

int horus_topic_send_bytes(horus_topic *t, const void *data, size_t len, uint32_t kind,
                           uint64_t *sequence) {
  if (t->type != HORUS_MSG_BYTES)
    return horus__err(HORUS_ETYPE, "topic '%s' carries %s messages, not bytes", t->name,
                      horus_msg_type_name(t->type));
  if (len > HORUS_BYTES_MAX)
    return horus__err(HORUS_EINVAL, "message of %zu bytes: topics carry at most %u "
                      "bytes per message (send large data as a tensor)", len,
                      HORUS_BYTES_MAX);
  bool keep = len <= REUSE_MAX_BYTES && t->capacity <= REUSE_MAX_CAPACITY;
  uint64_t size = !keep ? len : len <= 64 ? 64 : round_pow2((uint32_t)len);
  horus_pool *pool;
  int r = bytes_pool(t, &pool);
  if (r) return r;
  horus_msg msg;
  memset(&msg, 0, sizeof msg);
  msg.type = HORUS_MSG_BYTES;
  msg.meta.kind_data = kind;
  horus_tensor_desc *d = &msg.tensor;
  d->pool_id = pool->id;
  d->pool_nonce = pool->nonce;
  d->dtype = HORUS_UINT8;
  d->ndim = 1;
  d->shape[0] = (int64_t)len;
  d->strides[0] = 1;
  if (!keep || !reuse_oldest(t, pool, size, d)) {
    /* Not cleared: the message is written over it, and the rest of a block
     * of `size` bytes is cleared by the allocator.  Out of room, the kept
     * blocks are given back and the allocation tried once more. */
    r = horus__pool_alloc_uninit(pool, size, &d->slot, &d->generation, &d->offset);
    if ((r == HORUS_ENOMEM || r == HORUS_ENOSLOT) && keep && t->sent.count) {
      sent_blocks_release(t);
      r = horus__pool_alloc_uninit(pool, size, &d->slot, &d->generation, &d->offset);
    }
    if (r) return r;
  }
  /* Every byte of the block: a kept one may hold a longer message, and a
   * receiver may have written into its view of one. */
  uint8_t *block = horus_pool_data(pool, d->offset);
  if (len) memcpy(block, data, len);
  if (size > len) memset(block + len, 0, size - len);
  r = horus_topic_send(t, &msg, NULL, sequence);
  if (!keep || r != 0) {
    horus_pool_release(pool, d->slot, d->generation);
    return r;
  }
  uint32_t k = (t->sent.head + t->sent.count++) % SENT_RING;
  t->sent.block[k].slot = d->slot;
  t->sent.block[k].generation = d->generation;
  t->sent.block[k].offset = d->offset;
  t->sent.block[k].size = size;
  return 0;
}

/* ---- receive ------------------------------------------------------------ */

static void account(horus_topic *t) {
  horus__topic_participant *p = &t->subs[t->sub];
  atomic_store_explicit(&p->count, t->received, memory_order_relaxed);
  atomic_store_explicit(&p->dropped, t->dropped, memory_order_relaxed);
  atomic_store_explicit(&p->cursor, t->cursor, memory_order_relaxed);
}

int horus_topic_subscribe(horus_topic *t) {
  check_fork(t);
  if (t->sub < 0) { /* a forked child: the handle's entry is the parent's */
    int r = claim(t, t->subs, HORUS_TOPIC_MAX_SUBSCRIBERS, "handle", &t->sub);
    if (r) return r;
  }
  if (!atomic_load_explicit(&t->subs[t->sub].receiving, memory_order_relaxed)) {
    atomic_store(&t->subs[t->sub].receiving, 1);
    account(t);
  }
  return 0;
}

int horus_topic_set_history(horus_topic *t, uint32_t n) {
  check_fork(t);
  if (t->received || t->dropped || (t->sub >= 0 && atomic_load(&t->subs[t->sub].receiving)))
    return horus__err(HORUS_EINVAL, "topic %s: history applies before the first receive",
                      t->name);
  uint64_t w = atomic_load_explicit(&t->hdr->write_seq, memory_order_acquire);
  uint64_t back = n < t->capacity ? n : t->capacity;
  t->cursor = w > back ? w - back : 0;
  return 0;
}

/* One attempt at the message at t->cursor: 0 and the message, HORUS_EAGAIN
 * when nothing is new; skipped messages are counted as dropped.
 *
 * The reader polls the stamp of the slot it expects next, not write_seq:
 * a stamp of 2s+2 alone proves message s is complete (the publisher stores
 * it with release after the entry), so a message costs the reader the
 * entry's lines and nothing else of the publisher's.  Polling write_seq
 * first put a second line, written by the publisher just after the stamp,
 * in series before them on every message.  write_seq is read only when the
 * stamp is not the expected one: nothing yet, lapped, or mid-store. */
static int try_recv(horus_topic *t, horus_msg *msg, horus_tensor **tensor) {
  horus__topic_header *h = t->hdr;
  for (;;) {
    uint64_t s = t->cursor;
    horus__topic_entry *e = &t->ring[s & t->mask];
    uint64_t before = atomic_load_explicit(&e->stamp, memory_order_acquire);
    if (before != 2 * s + 2) {
      uint64_t w = atomic_load_explicit(&h->write_seq, memory_order_acquire);
      if (s >= w) return HORUS_EAGAIN;
      if (w - s > t->capacity) { /* lapped: skip to the oldest still there */
        t->dropped += w - t->capacity - s;
        t->cursor = w - t->capacity;
        continue;
      }
      /* Loaded after write_seq (which the publisher stores after the
       * stamp), the stamp is now at least 2s+2: the first load may have
       * been older than the write_seq that says message s is out. */
      before = atomic_load_explicit(&e->stamp, memory_order_acquire);
      if (before == 2 * s + 2) continue;
      /* Overwritten by a newer lap since, or a slot whose stamp is
       * impossible: count it lost and move on. */
      if (before > 2 * s + 2 || (before & 1) == 0) {
        t->cursor = s + 1;
        t->dropped++;
        continue;
      }
      return HORUS_EAGAIN; /* being written right now: the publisher is mid-store */
    }
    entry_load(e, msg);
    atomic_thread_fence(memory_order_acquire);
    uint64_t after = atomic_load_explicit(&e->stamp, memory_order_relaxed);
    t->cursor = s + 1;
    if (after != before || msg->type != (uint32_t)t->type) {
      /* Overwritten while we read it, or a hole left by a dead publisher. */
      t->dropped++;
      continue;
    }
    int pi = 0, r = cached_pool(t, msg->tensor.pool_id, msg->tensor.pool_nonce, &pi);
    if (r == 0) r = horus__tensor_open_in(t->pools[pi].pool, &msg->tensor, tensor);
    if (r == 0) {
      horus__fault("recv_retained");
      t->received++;
      return 0;
    }
    /* A block freed under us (lapped), or a descriptor that does not hold
     * up (another process wrote garbage): the message is lost.  This
     * process out of memory for the handle: reported, and the message
     * tried again by the next call (neither received nor lost yet).
     * Anything else (a pool of another layout or geometry, one that
     * cannot be mapped, a full holder table, a pool lock held past its
     * timeout) is reported once and the message counted lost: it may fail
     * the same way for a long time, and a receiver held on it would lose
     * every message behind it as the ring laps. */
    if (r == HORUS_ENOMEM) {
      t->cursor = s;
      return r;
    }
    t->dropped++;
    if (r != HORUS_ESTALE && r != HORUS_EINVAL && r != HORUS_ENOENT && r != HORUS_ERANGE &&
        r != HORUS_EOVERFLOW && r != HORUS_ECORRUPT && r != HORUS_EPERM)
      return r;
  }
}

int horus_topic_recv(horus_topic *t, int64_t timeout_ns, horus_msg *msg,
                     horus_tensor **tensor) {
  int r = horus_topic_subscribe(t);
  if (r) return r;
  horus__topic_header *h = t->hdr;
  r = try_recv(t, msg, tensor);
  if (r != HORUS_EAGAIN || timeout_ns == 0) {
    account(t);
    return r;
  }
  /* Registered as a waiter once for the whole wait, not per wake-up: the
   * count's locked adds are on the header line the publisher reads. */
  uint64_t deadline = timeout_ns > 0 ? horus__now_ns() + (uint64_t)timeout_ns : UINT64_MAX;
  atomic_fetch_add(&h->waiters, 1);
  for (;;) {
    uint32_t v = atomic_load(&h->futex_word);
    r = try_recv(t, msg, tensor);
    if (r != HORUS_EAGAIN) break;
    struct timespec rel, *relp = NULL;
    if (deadline != UINT64_MAX) {
      uint64_t now = horus__now_ns(); /* only when there is nothing yet */
      if (now >= deadline) {
        r = horus__err(HORUS_ETIMEDOUT, "no message on '%s' within the timeout", t->name);
        break;
      }
      uint64_t left = deadline - now;
      rel.tv_sec = (time_t)(left / 1000000000u);
      rel.tv_nsec = (long)(left % 1000000000u);
      relp = &rel;
    }
    if (futex_wait(&h->futex_word, v, relp) != 0 && errno == EINTR) {
      r = horus__err(HORUS_EINTR, "interrupted");
      break;
    }
  }
  atomic_fetch_sub(&h->waiters, 1);
  account(t);
  return r;
}

int horus_topic_recv_latest(horus_topic *t, horus_msg *msg, horus_tensor **tensor) {
  int r = horus_topic_subscribe(t);
  if (r) return r;
  uint64_t w = atomic_load_explicit(&t->hdr->write_seq, memory_order_acquire);
  if (w > t->cursor + 1) { /* jump to the newest, counting what we skip */
    t->dropped += w - 1 - t->cursor;
    t->cursor = w - 1;
  }
  r = try_recv(t, msg, tensor);
  account(t);
  return r;
}

/* ---- stats, listing, cleaning ------------------------------------------------ */

/* Live entries; for the handle table, only those that receive. */
static void count_live(const horus_topic *t, const horus__topic_participant *table, int n,
                       bool receivers, uint32_t *out) {
  *out = 0;
  for (int i = 0; i < n; i++)
    *out += participant_alive(t, &table[i]) && (!receivers || atomic_load(&table[i].receiving));
}

int horus_topic_stats_get(horus_topic *t, horus_topic_stats *out) {
  check_fork(t);
  memset(out, 0, sizeof *out);
  out->sent = atomic_load(&t->hdr->write_seq);
  /* A reader sees a message by its stamp, a moment before write_seq moves
   * past it: what this handle has read was sent. */
  if (out->sent < t->cursor) out->sent = t->cursor;
  out->received = t->received;
  out->dropped = t->dropped;
  out->capacity = t->capacity;
  out->type = t->type;
  out->last_send_ns = atomic_load(&t->hdr->last_send_ns);
  count_live(t, t->pubs, HORUS_TOPIC_MAX_PUBLISHERS, false, &out->publishers);
  count_live(t, t->subs, HORUS_TOPIC_MAX_SUBSCRIBERS, true, &out->subscribers);
  return 0;
}

/* Map topic segment `seg` of `dir` enough to inspect it (unpeek_topic). */
static int peek_topic(const char *dir, const char *seg, horus_topic *t) {
  memset(t, 0, sizeof *t);
  t->fd = -1;
  snprintf(t->dir, sizeof t->dir, "%s", dir);
  snprintf(t->seg_name, sizeof t->seg_name, "%s", seg);
  int r = horus__user_dir_of(dir, t->user_dir, sizeof t->user_dir);
  if (r) return r;
  void *base;
  uint64_t size;
  if ((r = horus__seg_open(dir, seg, HORUS__SEG_TOPIC, &base, &size, &t->fd))) return r;
  t->base = base;
  t->size = size;
  t->hdr = base;
  if ((r = validate(t))) {
    unmap_topic(t);
    return r;
  }
  snprintf(t->name, sizeof t->name, "%s", seg + HORUS__PREFIX_LEN(HORUS__TOPIC_PREFIX));
  return 0;
}

static void unpeek_topic(horus_topic *t) { unmap_topic(t); }

int horus__topic_info_at(const char *dir, const char *seg, horus_topic_info *i) {
  horus_topic t;
  int r = peek_topic(dir, seg, &t);
  if (r) return r;
  memset(i, 0, sizeof *i);
  snprintf(i->name, sizeof i->name, "%s", t.name);
  i->type = (horus_msg_type)t.hdr->msg_type;
  i->capacity = t.capacity;
  i->sent = atomic_load(&t.hdr->write_seq);
  i->last_send_ns = atomic_load(&t.hdr->last_send_ns);
  count_live(&t, t.pubs, HORUS_TOPIC_MAX_PUBLISHERS, false, &i->publishers);
  count_live(&t, t.subs, HORUS_TOPIC_MAX_SUBSCRIBERS, true, &i->subscribers);
  for (int k = 0; k < HORUS_TOPIC_MAX_SUBSCRIBERS; k++)
    if (participant_alive(&t, &t.subs[k])) i->dropped += atomic_load(&t.subs[k].dropped);
  unpeek_topic(&t);
  return 0;
}

/* A topic is removed only under its lock and only when no participant is
 * alive; horus_topic_open claims its entry under the same lock and then
 * checks the file is still linked, so no live handle loses its topic.  A
 * file that cannot be opened as a topic is left alone unless `all`. */
int horus__topic_clean(const char *dir, const char *name, bool all,
                       void (*removed)(const char *, void *), void *arg) {
  horus_topic t;
  if (peek_topic(dir, name, &t) != 0)
    return all ? horus__unlink_reported(dir, name, removed, arg) : 0;
  int count = 0;
  if (topic_lock(&t) == 0) {
    if (all || !anyone_alive(&t)) count = horus__unlink_reported(dir, name, removed, arg);
    topic_unlock(&t);
  } else if (all) {
    count = horus__unlink_reported(dir, name, removed, arg);
  }
  unpeek_topic(&t);
  return count;
}

/* ---- participants, for `horus topic info` ---------------------------------- */

int horus_topic_participants(const char *name,
                             int (*visit)(const horus_topic_participant *p, void *arg),
                             void *arg) {
  if (!name || !topic_name_valid(name) || !visit)
    return horus__err(HORUS_EINVAL, "invalid topic name '%.80s' or no visitor",
                      name ? name : "(null)");
  char dir[HORUS__PATH_MAX], seg[HORUS_NAME_MAX + 1];
  /* Looked up without creating the namespace: a read-only question. */
  int r = horus_namespace_dir(dir, sizeof dir, false);
  if (r == HORUS_ENOENT) return horus__err(HORUS_ENOENT, "no topic '%s'", name);
  if (r) return r;
  snprintf(seg, sizeof seg, "topic.%s", name);
  horus_topic t;
  if ((r = peek_topic(dir, seg, &t))) return r;
  const struct {
    horus__topic_participant *table;
    horus_topic_role role;
    int n;
  } tables[2] = {{t.pubs, HORUS_TOPIC_PUBLISHER, HORUS_TOPIC_MAX_PUBLISHERS},
                 {t.subs, HORUS_TOPIC_SUBSCRIBER, HORUS_TOPIC_MAX_SUBSCRIBERS}};
  for (int k = 0; k < 2 && r == 0; k++) {
    for (int i = 0; i < tables[k].n && r == 0; i++) {
      horus__topic_participant *e = &tables[k].table[i];
      if (atomic_load(&e->state) != 1) continue;
      /* Every handle has a subscriber entry; it subscribes when it receives. */
      if (tables[k].role == HORUS_TOPIC_SUBSCRIBER && !atomic_load(&e->receiving)) continue;
      horus_topic_participant p = {
          .role = tables[k].role,
          .pid = e->pid,
          .node = e->node,
          .count = atomic_load(&e->count),
          .dropped = tables[k].role == HORUS_TOPIC_SUBSCRIBER ? atomic_load(&e->dropped) : 0,
          .alive = participant_alive(&t, e)};
      r = visit(&p, arg);
    }
  }
  unpeek_topic(&t);
  return r;
}
