/* test_threads.c - several threads of one process sharing a pool and a
 * topic: allocations, references, and a publisher and subscribers on their
 * own handles.  Correct under any interleaving (and race-free under
 * ThreadSanitizer, which CI runs this with). */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "check.h"

#define THREADS 4
#define ROUNDS 20000
#define MESSAGES 20000

static horus_pool *pool;
static _Atomic int failures;

static void *allocator(void *arg) {
  (void)arg;
  horus_tensor *held[8] = {0};
  for (int i = 0; i < ROUNDS; i++) {
    int k = i % 8;
    horus_tensor_free(held[k]);
    held[k] = NULL;
    int64_t shape[1] = {(int64_t)(64 + (i % 4096))};
    if (horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &held[k]) != 0) failures++;
    else memset(horus_tensor_data(held[k]), k, (size_t)shape[0]);
    horus_tensor *again;
    if (held[k] && horus_tensor_ref(held[k], &again) == 0) horus_tensor_free(again);
  }
  for (int k = 0; k < 8; k++) horus_tensor_free(held[k]);
  return NULL;
}

static void *subscriber(void *arg) {
  horus_topic *t = arg;
  uint64_t next = 0, got = 0;
  while (got < MESSAGES) {
    horus_msg m;
    horus_tensor *x;
    int r = horus_topic_recv(t, 2000000000ll, &m, &x);
    if (r == HORUS_ETIMEDOUT) break;
    if (r) continue;
    uint64_t v = *(uint64_t *)horus_tensor_data(x);
    if (v < next) failures++; /* order within one publisher */
    if (v != m.sequence) failures++; /* the bytes of the message received */
    next = v + 1;
    got++;
    horus_tensor_free(x);
  }
  horus_topic_stats st;
  horus_topic_stats_get(t, &st);
  if (st.received + st.dropped != MESSAGES) failures++;
  return NULL;
}

/* Ping-pong: each side sends only after the other's message came back, so
 * nobody is ever lapped and no message may be lost.  A receiver spins on
 * recv, as a busy-polling one does, so its reads race the publisher's
 * stores message after message (yielding, so one vCPU still progresses);
 * a message it failed to see would leave both sides waiting, and the
 * blocking fallback's timeout reports it. */
#define PING_PONGS 20000

typedef struct {
  horus_topic *in, *out;
  int ponger;
  uint64_t got, dropped;
} pong_side;

static int recv_spin(horus_topic *t, horus_msg *m, horus_tensor **x) {
  for (int spins = 0; spins < 1000; spins++) {
    int r = horus_topic_recv(t, 0, m, x);
    if (r != HORUS_EAGAIN) return r;
    sched_yield();
  }
  return horus_topic_recv(t, 30000000000ll, m, x); /* only a lost message waits this long */
}

static void *pong_run(void *arg) {
  pong_side *side = arg;
  horus_tensor *payload = NULL;
  int64_t shape[1] = {64};
  if (!side->ponger && horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &payload)) {
    failures++;
    return NULL;
  }
  for (uint64_t i = 0; i < PING_PONGS; i++) {
    horus_msg m;
    horus_tensor *x;
    if (!side->ponger) {
      memset(&m, 0, sizeof m);
      m.type = HORUS_MSG_TENSOR;
      m.tensor = *horus_tensor_get_desc(payload);
      if (horus_topic_send(side->out, &m, payload, NULL)) break;
    }
    if (recv_spin(side->in, &m, &x)) break;
    if (m.sequence != i) failures++;
    side->got++;
    if (side->ponger && horus_topic_send(side->out, &m, x, NULL)) failures++;
    horus_tensor_free(x);
  }
  horus_tensor_free(payload);
  horus_topic_stats st;
  if (horus_topic_stats_get(side->in, &st) == 0) side->dropped = st.dropped;
  return NULL;
}

static void ping_pong(void) {
  pong_side sides[2] = {{0}, {0}};
  CHECK_OK(horus_topic_open("ping", HORUS_MSG_TENSOR, 4, &sides[1].in));
  CHECK_OK(horus_topic_open("pong", HORUS_MSG_TENSOR, 4, &sides[0].in));
  CHECK_OK(horus_topic_open("ping", HORUS_MSG_TENSOR, 0, &sides[0].out));
  CHECK_OK(horus_topic_open("pong", HORUS_MSG_TENSOR, 0, &sides[1].out));
  CHECK_OK(horus_topic_subscribe(sides[0].in));
  CHECK_OK(horus_topic_subscribe(sides[1].in));
  sides[1].ponger = 1;
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, pong_run, &sides[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK(sides[0].got == PING_PONGS && sides[1].got == PING_PONGS);
  CHECK(sides[0].dropped == 0 && sides[1].dropped == 0);
  printf("ping-pong: %llu of %d round trips, %llu + %llu messages dropped\n",
         (unsigned long long)sides[0].got, PING_PONGS, (unsigned long long)sides[0].dropped,
         (unsigned long long)sides[1].dropped);
  for (int i = 0; i < 2; i++) {
    horus_topic_close(sides[i].in);
    horus_topic_close(sides[i].out);
  }
}

int main(void) {
  CHECK_OK(horus_pool_open(13, 64u << 20, 1024, HORUS_POOL_CREATE, &pool));
  pthread_t th[THREADS + 2];
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, allocator, NULL);
  horus_topic *pub, *subs[2];
  CHECK_OK(horus_topic_open("threads", HORUS_MSG_TENSOR, 256, &pub));
  for (int i = 0; i < 2; i++) {
    CHECK_OK(horus_topic_open("threads", HORUS_MSG_TENSOR, 0, &subs[i]));
    CHECK_OK(horus_topic_subscribe(subs[i]));
    pthread_create(&th[THREADS + i], NULL, subscriber, subs[i]);
  }
  for (uint64_t i = 0; i < MESSAGES; i++) {
    int64_t shape[1] = {1};
    horus_tensor *x;
    if (horus_tensor_alloc(pool, shape, 1, HORUS_UINT64, &x)) {
      failures++;
      continue;
    }
    *(uint64_t *)horus_tensor_data(x) = i;
    horus_msg m;
    memset(&m, 0, sizeof m);
    m.type = HORUS_MSG_TENSOR;
    m.tensor = *horus_tensor_get_desc(x);
    if (horus_topic_send(pub, &m, x, NULL)) failures++;
    horus_tensor_free(x);
  }
  for (int i = 0; i < THREADS + 2; i++) pthread_join(th[i], NULL);
  CHECK(failures == 0);
  for (int i = 0; i < 2; i++) horus_topic_close(subs[i]);
  horus_topic_close(pub);
  ping_pong();
  CHECK(failures == 0);
  horus_clean(false, NULL, NULL);
  horus_pool_reclaim(pool);
  horus_pool_stats st;
  CHECK_OK(horus_pool_stats_get(pool, &st));
  CHECK(st.used_bytes == 0 && st.total_refs == 0);
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_threads");
}
