/* test_threads.c - several threads of one process sharing a pool and a
 * topic: allocations, references, and a publisher and subscribers on their
 * own handles.  Correct under any interleaving (and race-free under
 * ThreadSanitizer, which CI runs this with). */
#include <pthread.h>
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
  horus_clean(false, NULL, NULL);
  horus_pool_reclaim(pool);
  horus_pool_stats st;
  CHECK_OK(horus_pool_stats_get(pool, &st));
  CHECK(st.used_bytes == 0 && st.total_refs == 0);
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_threads");
}
