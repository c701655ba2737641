/* test_refs.c - lock-free references (docs/recovery.md): a process killed
 * between the two atomics of a retain or release, for a topic ring's
 * references and for a process's own, and threads of one process retaining
 * and releasing one block while its last other reference goes.  Every
 * assertion is on counts of live blocks, which hold under any scheduling. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "namespace.h"
#include "pool_internal.h"

#define POOL_ID 21
#define BLOCK (64u << 10)

static horus_pool *pool;

static uint32_t live_blocks(void) {
  horus_pool_reclaim(pool); /* hand the dead children's references back */
  horus_pool_stats st;
  CHECK_OK(horus_pool_stats_get(pool, &st));
  return st.allocated_slots;
}

/* Send a fresh block on `t`, dropping this process's handle: the ring keeps
 * the only reference. */
static int send_block(horus_topic *t, uint8_t fill) {
  int64_t shape[1] = {BLOCK};
  horus_tensor *x;
  int r = horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &x);
  if (r) return r;
  memset(horus_tensor_data(x), fill, BLOCK);
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor = *horus_tensor_get_desc(x);
  r = horus_topic_send(t, &m, x, NULL);
  horus_tensor_free(x);
  return r;
}

/* A child that sends `n` messages on `name` with `fault` armed (from the
 * start: opening the topic may already recover a dead publisher's send);
 * it must die there (SIGKILL from the fault point). */
static void child_dies_sending(const char *name, int n, const char *fault) {
  pid_t pid = fork();
  if (pid == 0) {
    horus_topic *t;
    horus__fault_point = fault;
    if (horus_topic_open(name, HORUS_MSG_TENSOR, 0, &t)) _exit(2);
    for (int i = 0; i < n; i++)
      if (send_block(t, (uint8_t)(i + 1))) _exit(3);
    _exit(4); /* the fault point was not reached */
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* A publisher killed after its ring's bit went into the block's mask but
 * before the ring's count: the next publisher's recovery undoes the retain
 * and the block, held by nobody, is freed while the topic lives on. */
static void test_ring_retain_killed(void) {
  horus_topic *t;
  CHECK_OK(horus_topic_open("refs.retain", HORUS_MSG_TENSOR, 4, &t));
  uint32_t base = live_blocks();
  child_dies_sending("refs.retain", 1, "ring_retain_bit");
  CHECK(live_blocks() == base + 1); /* the ring's bit alone keeps it */
  CHECK_OK(send_block(t, 9)); /* recovers first */
  CHECK(live_blocks() == base + 1); /* only this message */
  horus_topic_close(t);
}

/* A publisher sending a stale descriptor (its block freed, the slot since
 * handed to another block) killed after the ring's bit went into the mask
 * of the slot's new block, before the retain saw the generation move: the
 * recovery takes that bit out, and the new block is freed with its last
 * reference instead of leaking. */
static void test_ring_retain_stale_killed(void) {
  horus_topic *t;
  CHECK_OK(horus_topic_open("refs.stale", HORUS_MSG_TENSOR, 4, &t));
  uint32_t base = live_blocks();
  int64_t shape[1] = {BLOCK};
  horus_tensor *a, *b;
  CHECK_OK(horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &a));
  horus_tensor_desc stale = *horus_tensor_get_desc(a);
  horus_tensor_free(a);
  CHECK_OK(horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &b));
  const horus_tensor_desc *now = horus_tensor_get_desc(b);
  CHECK(now->slot == stale.slot && now->generation != stale.generation);
  pid_t pid = fork();
  if (pid == 0) {
    horus_topic *c;
    horus__fault_point = "ring_retain_bit";
    if (horus_topic_open("refs.stale", HORUS_MSG_TENSOR, 0, &c)) _exit(2);
    horus_msg m;
    memset(&m, 0, sizeof m);
    m.type = HORUS_MSG_TENSOR;
    m.tensor = stale;
    horus_topic_send(c, &m, NULL, NULL);
    _exit(4); /* the fault point was not reached */
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CHECK_OK(send_block(t, 9)); /* recovers first */
  horus_tensor_free(b);
  CHECK(live_blocks() == base + 1); /* the ring's message alone */
  horus_topic_close(t);
}

/* The same, killed one step later: the ring's bit was the last one on the
 * slot's new block when the retain took it out again (the block's other
 * holders let go meanwhile), so the mask is DYING | bit and the block was
 * the ring's to free.  Settling by the stale generation frees it.  The
 * state is set up by hand, as the dead publisher left it. */
static uint32_t allocated_slots(void) { /* without reclaiming anyone */
  horus_pool_stats st;
  CHECK_OK(horus_pool_stats_get(pool, &st));
  return st.allocated_slots;
}

static void test_ring_settle_frees_a_dying_block_of_its_own(void) {
  uint32_t base = live_blocks();
  /* A segment holder whose segment does not exist: the next reclaim would
   * take it, so none runs before the settle. */
  uint32_t ring = 0;
  CHECK_OK(horus__pool_holder_add(pool, "topic.refs.settle", 1, &ring));
  CHECK(ring < HORUS__FAST_HOLDERS);
  uint32_t s, g;
  uint64_t off;
  CHECK_OK(horus_pool_alloc(pool, BLOCK, &s, &g, &off));
  CHECK(allocated_slots() == base + 1);
  uint32_t me = (uint32_t)(atomic_load(&pool->self) & 0xffffffffu);
  atomic_store(&pool->ledger[(uint64_t)me * pool->max_slots + s], 0); /* we let go */
  atomic_store(&pool->masks[s].holders, HORUS__MASK_DYING | (1ull << ring));
  CHECK_OK(horus__pool_settle_as(pool, ring, s, g - 1 ? g - 1 : 7, 0)); /* a stale generation */
  CHECK(allocated_slots() == base);
  CHECK(live_blocks() == base);
}

/* Killed after the ring's count on an overwritten message went to zero but
 * before its bit left the mask: recovery finishes the release. */
static void test_ring_release_killed(void) {
  horus_topic *t;
  CHECK_OK(horus_topic_open("refs.release", HORUS_MSG_TENSOR, 4, &t));
  uint32_t base = live_blocks();
  child_dies_sending("refs.release", 5, "ring_release_bit");
  CHECK(live_blocks() == base + 5); /* four in the ring, one half released */
  CHECK_OK(send_block(t, 9));
  CHECK(live_blocks() == base + 4); /* the ring's four */
  horus_topic_close(t);
}

/* A publisher killed inside its retain, then the next one killed inside
 * the recovery from that: the third recovers both. */
static void test_recovery_killed(void) {
  horus_topic *t;
  CHECK_OK(horus_topic_open("refs.recover", HORUS_MSG_TENSOR, 4, &t));
  uint32_t base = live_blocks();
  child_dies_sending("refs.recover", 1, "ring_retain_bit");
  child_dies_sending("refs.recover", 1, "recover_step");
  CHECK_OK(send_block(t, 9));
  CHECK(live_blocks() == base + 1);
  horus_topic_close(t);
}

/* A process killed between its bit and its cell, retaining or releasing:
 * reclaiming it frees what it alone held. */
static void test_process_killed(const char *fault) {
  uint32_t base = live_blocks();
  uint32_t s, g;
  uint64_t off;
  CHECK_OK(horus_pool_alloc(pool, BLOCK, &s, &g, &off));
  pid_t pid = fork();
  if (pid == 0) {
    if (strcmp(fault, "retain_bit") == 0) {
      horus__fault_point = fault;
      horus_pool_retain(pool, s, g);
    } else {
      if (horus_pool_retain(pool, s, g)) _exit(2);
      horus__fault_point = fault;
      horus_pool_release(pool, s, g);
    }
    _exit(3);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CHECK(live_blocks() == base + 1);
  CHECK(horus_pool_refcount(pool, s, g) == 1); /* ours alone */
  CHECK_OK(horus_pool_release(pool, s, g));
  CHECK(live_blocks() == base);
}

/* Threads retain and release one block (reading it while they hold it)
 * while the main thread drops the last other reference.  A retain either
 * fails (the block is dying or gone) or holds bytes that are still the
 * block's; once all are done the block is free. */
typedef struct {
  uint32_t slot, gen;
  uint8_t *data;
  _Atomic int go;
  _Atomic int held, refused, torn, errors;
} shared_block;

static void *retainer(void *arg) {
  shared_block *b = arg;
  while (!atomic_load(&b->go)) {
  }
  for (int i = 0; i < 20000; i++) {
    int r = horus_pool_retain(pool, b->slot, b->gen);
    if (r == 0) {
      if (b->data[0] != 0xAB || b->data[BLOCK - 1] != 0xAB) atomic_fetch_add(&b->torn, 1);
      atomic_fetch_add(&b->held, 1);
      if (horus_pool_release(pool, b->slot, b->gen)) atomic_fetch_add(&b->errors, 1);
    } else if (r == HORUS_ESTALE) {
      atomic_fetch_add(&b->refused, 1);
    } else {
      atomic_fetch_add(&b->errors, 1);
    }
  }
  return NULL;
}

static void test_threads_race_the_last_release(void) {
  uint32_t base = live_blocks();
  shared_block b = {0};
  uint64_t off;
  CHECK_OK(horus_pool_alloc(pool, BLOCK, &b.slot, &b.gen, &off));
  b.data = horus_pool_data(pool, off);
  memset(b.data, 0xAB, BLOCK);
  pthread_t th[3];
  for (int i = 0; i < 3; i++) CHECK(pthread_create(&th[i], NULL, retainer, &b) == 0);
  atomic_store(&b.go, 1);
  CHECK_OK(horus_pool_release(pool, b.slot, b.gen)); /* somewhere in their loops */
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&b.torn) == 0 && atomic_load(&b.errors) == 0);
  CHECK(atomic_load(&b.held) + atomic_load(&b.refused) == 3 * 20000);
  CHECK(live_blocks() == base);
  CHECK_RC(horus_pool_retain(pool, b.slot, b.gen), HORUS_ESTALE);
}

/* Recycling gives a block held by this handle alone a new generation with
 * its bytes kept, and is refused while anything else holds it. */
static void test_recycle(void) {
  uint32_t base = live_blocks();
  int64_t shape[1] = {BLOCK};
  horus_tensor *x, *other;
  CHECK_OK(horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &x));
  memset(horus_tensor_data(x), 7, BLOCK);
  horus_tensor_desc old = *horus_tensor_get_desc(x);
  CHECK_OK(horus_tensor_recycle(x));
  const horus_tensor_desc *now = horus_tensor_get_desc(x);
  CHECK(now->slot == old.slot && now->generation != old.generation);
  CHECK(((uint8_t *)horus_tensor_data(x))[BLOCK - 1] == 7); /* kept, not cleared */
  CHECK_RC(horus_pool_retain(pool, old.slot, old.generation), HORUS_ESTALE);
  CHECK(horus_tensor_refcount(x) == 1 && live_blocks() == base + 1);

  /* Another handle of this process. */
  CHECK_OK(horus_tensor_ref(x, &other));
  CHECK_RC(horus_tensor_recycle(x), HORUS_EBUSY);
  horus_tensor_free(other);

  /* A topic's ring, until it lets go. */
  horus_topic *t;
  CHECK_OK(horus_topic_open("refs.recycle", HORUS_MSG_TENSOR, 2, &t));
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor = *horus_tensor_get_desc(x);
  CHECK_OK(horus_topic_send(t, &m, x, NULL));
  CHECK_RC(horus_tensor_recycle(x), HORUS_EBUSY);
  CHECK_OK(send_block(t, 1));
  CHECK_OK(send_block(t, 2)); /* the ring of 2 overwrote our message */
  CHECK_OK(horus_tensor_recycle(x));

  /* Another process, until it is gone. */
  int ready[2];
  CHECK(pipe(ready) == 0);
  horus_tensor_desc d = *horus_tensor_get_desc(x);
  pid_t pid = fork();
  if (pid == 0) {
    if (horus_pool_retain(pool, d.slot, d.generation)) _exit(2);
    if (write(ready[1], "h", 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  CHECK_RC(horus_tensor_recycle(x), HORUS_EBUSY);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  live_blocks(); /* reclaims the child */
  CHECK_OK(horus_tensor_recycle(x));
  close(ready[0]), close(ready[1]);
  horus_tensor_free(x);
  horus_topic_close(t);

  /* Killed in the middle of recycling: the block, dying and its alone, is
   * freed with it. */
  uint32_t before = live_blocks();
  pid = fork();
  if (pid == 0) {
    horus_tensor *y;
    if (horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &y)) _exit(2);
    horus__fault_point = "recycle";
    horus_tensor_recycle(y);
    _exit(3);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status));
  CHECK(live_blocks() == before);
}

int main(void) {
  CHECK_OK(horus_pool_open(POOL_ID, 16u << 20, 64, HORUS_POOL_CREATE, &pool));
  test_ring_retain_killed();
  test_ring_retain_stale_killed();
  test_ring_settle_frees_a_dying_block_of_its_own();
  test_ring_release_killed();
  test_recovery_killed();
  test_process_killed("retain_bit");
  test_process_killed("release_bit");
  test_threads_race_the_last_release();
  test_recycle();
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_refs");
}
