/* topic_internal.h - the shared-memory layout of a topic segment
 * (topic.<name>), for topic.c and for the tests and fuzzers that play a
 * misbehaving process writing over it.  See topic.c for the protocol. */
#ifndef HORUS_TOPIC_INTERNAL_H
#define HORUS_TOPIC_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "horus/topic.h"
#include "internal.h"

typedef struct horus__topic_participant {
  _Atomic uint32_t state; /* 0 free, 1 live */
  int32_t pid;
  uint64_t start_time;
  _Atomic uint64_t count;   /* messages sent (publishers) or received */
  _Atomic uint64_t dropped; /* subscribers: lost to overwriting */
  _Atomic uint64_t cursor;  /* subscribers: next sequence to read */
  _Atomic uint32_t receiving; /* handles: has received (counts as subscriber) */
  uint32_t reserved0;
  uint64_t node; /* liveness: the process's node (see internal.h) */
  uint64_t reserved;
} horus__topic_participant;

typedef enum horus__topic_stage {
  HORUS__STAGE_IDLE = 0,
  HORUS__STAGE_RETAINED = 1,  /* the ring holds the new block; entry being written */
  HORUS__STAGE_WRITTEN = 2,   /* entry written; the old block's reference to drop */
  HORUS__STAGE_RETAINING = 3, /* retaining the new block (count_before) */
  HORUS__STAGE_RELEASING = 4, /* releasing the old block (count_before) */
  HORUS__STAGE_UNDOING = 5,   /* recovery: dropping the new block (count_before) */
} horus__topic_stage;

typedef struct horus__topic_journal {
  /* What the publish lock's owner is doing, so the next owner can finish or
   * undo it if it dies (topic.c: recover()). */
  uint32_t stage; /* horus__topic_stage */
  uint32_t has_old;
  uint64_t seq;
  uint32_t new_pool, new_slot, new_gen;
  uint32_t old_pool, old_slot, old_gen;
  uint64_t new_nonce, old_nonce; /* pool incarnations */
  uint32_t count_before; /* the ring's count on the block being retained or released */
  uint32_t reserved;
} horus__topic_journal;

typedef struct horus__topic_header {
  horus__seg_header seg;
  uint32_t msg_type;
  uint32_t capacity;
  uint32_t max_subs, max_pubs;
  uint64_t off_subs, off_pubs, off_ring;
  char name[HORUS_TOPIC_NAME_MAX + 8];
  horus__lock lock __attribute__((aligned(64)));
  horus__topic_journal jn;
  uint64_t repairs;
  _Atomic uint64_t write_seq __attribute__((aligned(64))); /* next sequence */
  _Atomic uint64_t last_send_ns;
  _Atomic uint32_t futex_word __attribute__((aligned(64))); /* bumped per send */
  _Atomic uint32_t waiters;
} horus__topic_header;

#define HORUS__MSG_WORDS (sizeof(horus_msg) / sizeof(uint64_t))

/* A ring entry: the stamp, then the message's 64-bit words in the order of
 * horus__entry_pos.  The words most messages change (type and flags,
 * sequence, pool and slot, generation, offset, timestamp, kind) share the
 * stamp's cache line; shape, strides, pool incarnation, depth scale and
 * frame id, which repeat along a stream, fill the other four.  With send
 * storing only the words that change (topic.c: entry_store), a stream's
 * message moves one line from the publisher's core to each reader. */
typedef struct horus__topic_entry {
  _Atomic uint64_t stamp;
  _Atomic uint64_t words[HORUS__MSG_WORDS];
} __attribute__((aligned(64))) horus__topic_entry;

_Static_assert(sizeof(horus_msg) % sizeof(uint64_t) == 0, "message is whole words");
#define HORUS__MSG_WORD(field) (offsetof(horus_msg, field) / sizeof(uint64_t))

/* The words beside the stamp: type to offset (the words before the shape),
 * then timestamp and kind (the words before the depth scale). */
#define HORUS__HOT_A_END HORUS__MSG_WORD(tensor.shape)
#define HORUS__HOT_B HORUS__MSG_WORD(meta.timestamp_ns)
#define HORUS__HOT_B_END HORUS__MSG_WORD(meta.depth_scale)
#define HORUS__ENTRY_HOT_WORDS (HORUS__HOT_A_END + HORUS__HOT_B_END - HORUS__HOT_B)
_Static_assert(HORUS__ENTRY_HOT_WORDS == 64 / sizeof(uint64_t) - 1,
               "the hot words fill the stamp's cache line exactly");

/* Where word `i` of a horus_msg sits in an entry's words[]: the hot words
 * first, in message order, then the others in message order. */
static inline size_t horus__entry_pos(size_t i) {
  if (i < HORUS__HOT_A_END) return i;
  if (i < HORUS__HOT_B) return i + (HORUS__HOT_B_END - HORUS__HOT_B);
  if (i < HORUS__HOT_B_END) return i - HORUS__HOT_B + HORUS__HOT_A_END;
  return i;
}

_Static_assert(sizeof(horus__topic_participant) == 64, "participant is one cache line");

/* For namespace.c: the listing entry of topic segment `seg` of `dir`. */
int horus__topic_info_at(const char *dir, const char *seg, horus_topic_info *out);

/* For namespace.c: remove topic segment `name` of `dir` if no participant is
 * alive (or whatever if `all`; a segment that does not open only if `all`),
 * deciding and unlinking under its lock.  Returns 1 when removed, else 0. */
int horus__topic_clean(const char *dir, const char *name, bool all,
                       void (*removed)(const char *, void *), void *arg);

#endif /* HORUS_TOPIC_INTERNAL_H */
