/* horus/topic.h - typed publish/subscribe between processes.
 *
 * A topic is a shared-memory ring of messages (horus/msg.h): a tensor
 * descriptor plus metadata, never the payload, which stays in its pool block.
 * The ring holds its own reference to every message it contains, so a
 * message outlives its publisher; a subscriber takes its own reference when
 * it receives, so what it received stays valid however far the ring moves on.
 *
 * send never blocks on subscribers: when the ring is full the oldest message
 * is overwritten, and a subscriber that falls more than `capacity` messages
 * behind skips ahead and counts what it lost.  Any number of publishers and
 * subscribers, in any processes of the namespace.  A handle is used by one
 * thread at a time; distinct handles are independent. */
#ifndef HORUS_TOPIC_H
#define HORUS_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct horus_topic horus_topic;

#define HORUS_TOPIC_NAME_MAX 56           /* [A-Za-z0-9._-], not starting with '.' */
#define HORUS_TOPIC_DEFAULT_CAPACITY 16
#define HORUS_TOPIC_MAX_CAPACITY 65536
#define HORUS_TOPIC_MAX_SUBSCRIBERS 64
#define HORUS_TOPIC_MAX_PUBLISHERS 64
#define HORUS_BYTES_MAX (64u << 20)       /* largest HORUS_MSG_BYTES payload */

/* Open topic `name` carrying messages of `type`, creating it with
 * `capacity` (rounded up to a power of two; 0 for the default) when it does
 * not exist.  An existing topic keeps its capacity.  One whose type differs
 * is HORUS_ETYPE (both type names in horus_errmsg()) unless no live process
 * uses it, in which case it is stale and replaced.  *out is owned by the
 * caller (horus_topic_close).  Errors: HORUS_EINVAL (name, type, capacity),
 * HORUS_ETYPE, HORUS_ECORRUPT, HORUS_EVERSION, HORUS_EPERM, HORUS_EIO. */
HORUS_API int horus_topic_open(const char *name, horus_msg_type type, uint32_t capacity,
                               horus_topic **out);

/* Unregister and free the handle.  Messages already sent stay in the ring. */
HORUS_API void horus_topic_close(horus_topic *t);

/* Publish `msg`, whose tensor descriptor names a block `tensor` refers to
 * (the caller keeps its own reference; the ring takes another).  msg->type
 * must be the topic's type (HORUS_ETYPE).  Assigns msg's sequence number
 * (returned through *sequence if not NULL).  Never waits for subscribers.
 * Errors: HORUS_ETYPE, HORUS_ESTALE (the block was freed), HORUS_EBUSY
 * (publisher table full), lock errors. */
HORUS_API int horus_topic_send(horus_topic *t, const horus_msg *msg,
                               const horus_tensor *tensor, uint64_t *sequence);

/* How the bytes of a HORUS_MSG_BYTES message are encoded, in
 * msg.meta.kind_data: a contract between languages (the horus command reads
 * and writes JSON; only Python reads pickles). */
typedef enum horus_bytes_kind {
  HORUS_BYTES_RAW = 0,    /* opaque bytes */
  HORUS_BYTES_PICKLE = 1, /* a Python pickle: for values JSON cannot hold exactly */
  HORUS_BYTES_JSON = 2,   /* UTF-8 JSON text (RFC 8259) */
} horus_bytes_kind;

/* Publish `len` bytes (<= HORUS_BYTES_MAX, HORUS_EINVAL beyond) on a
 * HORUS_MSG_BYTES topic: copied into a block of the global pool.  `kind`
 * (a horus_bytes_kind) says how they are encoded; receivers find it in
 * msg.meta.kind_data.  On a topic of capacity <= 64, the handle keeps the
 * blocks of its last capacity + 1 messages of up to 4 KiB (in 64-byte to
 * 4 KiB power-of-two sizes) and fills each again once no receiver holds it,
 * instead of allocating a block per message; horus_topic_close lets them
 * go. */
HORUS_API int horus_topic_send_bytes(horus_topic *t, const void *data, size_t len,
                                     uint32_t kind, uint64_t *sequence);

/* Receive the next message.  timeout_ns 0: return HORUS_EAGAIN at once when
 * there is none; > 0: wait up to that long (HORUS_ETIMEDOUT); < 0: wait
 * indefinitely.  A signal ends the wait with HORUS_EINTR so the caller can
 * handle it and call again.  On success *msg is filled and *tensor owns a new
 * reference (horus_tensor_free).  A handle receives the messages sent after
 * it was opened (its own included); the first call registers it in the
 * topic's subscriber table. */
HORUS_API int horus_topic_recv(horus_topic *t, int64_t timeout_ns, horus_msg *msg,
                               horus_tensor **tensor);

/* The newest message at once (HORUS_EAGAIN if none was ever sent, or none
 * newer than the last received); skips the rest, which count as dropped. */
HORUS_API int horus_topic_recv_latest(horus_topic *t, horus_msg *msg, horus_tensor **tensor);

/* Register as subscriber now (recv does it on first use). */
HORUS_API int horus_topic_subscribe(horus_topic *t);

/* Late joiners: make the next receives start with up to `n` of the most
 * recent messages still in the ring, oldest first (like ROS 2's
 * transient-local durability with depth n, or iceoryx2's history), instead
 * of only what is sent from now on.  Only before the handle's first receive
 * (HORUS_EINVAL after it); n is capped at the ring's capacity.  A message
 * the ring no longer holds is not replayed. */
HORUS_API int horus_topic_set_history(horus_topic *t, uint32_t n);

typedef struct horus_topic_stats {
  uint64_t sent;        /* by everyone, since the topic was created */
  uint64_t received;    /* by this handle */
  uint64_t dropped;     /* by this handle: overwritten before it read them */
  uint32_t publishers;  /* live, in all processes */
  uint32_t subscribers; /* live, in all processes */
  uint32_t capacity;
  horus_msg_type type;
  uint64_t last_send_ns; /* CLOCK_MONOTONIC time of the last send, 0 if none */
} horus_topic_stats;

HORUS_API int horus_topic_stats_get(horus_topic *t, horus_topic_stats *out);
HORUS_API const char *horus_topic_name(const horus_topic *t);
HORUS_API horus_msg_type horus_topic_type(const horus_topic *t);

/* One topic of the namespace, for `horus topic list`. */
typedef struct horus_topic_info {
  char name[HORUS_TOPIC_NAME_MAX + 1];
  horus_msg_type type;
  uint32_t capacity;
  uint32_t publishers, subscribers; /* live */
  uint64_t sent;
  uint64_t dropped; /* by live subscribers: overwritten before they read them */
  uint64_t last_send_ns;
} horus_topic_info;

/* One publisher or subscriber of a topic, for `horus topic info`. */
typedef enum horus_topic_role {
  HORUS_TOPIC_PUBLISHER = 1,
  HORUS_TOPIC_SUBSCRIBER = 2
} horus_topic_role;

typedef struct horus_topic_participant {
  horus_topic_role role;
  int32_t pid;      /* as the process recorded it (its PID namespace's) */
  uint64_t node;    /* the process's liveness node id */
  uint64_t count;   /* messages sent (publishers) or received (subscribers) */
  uint64_t dropped; /* subscribers: overwritten before they read them */
  bool alive;       /* false: the process died; its entry awaits reuse */
} horus_topic_participant;

/* Call visit(p, arg) for every publisher and every subscriber (a handle
 * that has received) of topic `name` in the namespace, publishers first,
 * stopping at the first non-zero return, which is returned.  Read-only: it
 * creates nothing and joins nothing; `p` is valid during the call only.
 * Errors: HORUS_EINVAL (name, visit), HORUS_ENOENT (no such topic),
 * HORUS_ECORRUPT or another negative code when the topic cannot be read. */
HORUS_API int horus_topic_participants(const char *name,
                                       int (*visit)(const horus_topic_participant *p,
                                                    void *arg),
                                       void *arg);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_TOPIC_H */
