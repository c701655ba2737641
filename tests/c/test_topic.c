/* test_topic.c - topics between processes: delivery, order and loss
 * accounting, several publishers, blocking receive, dead participants,
 * type safety and cleaning. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MB (1ull << 20)

static horus_pool *pool;

/* A small tensor message carrying (publisher, counter) and a checksum. */
static int send_counter(horus_topic *t, uint32_t who, uint64_t n) {
  int64_t shape[1] = {4};
  horus_tensor *x;
  int r = horus_tensor_alloc(pool, shape, 1, HORUS_UINT64, &x);
  if (r) return r;
  uint64_t *v = horus_tensor_data(x);
  v[0] = who;
  v[1] = n;
  v[2] = who * 1000003u + n * 7919u;
  v[3] = ~v[2];
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor = *horus_tensor_get_desc(x);
  m.meta.timestamp_ns = (int64_t)n;
  r = horus_topic_send(t, &m, x, NULL);
  horus_tensor_free(x);
  return r;
}

static bool intact(const uint64_t *v) {
  return v[2] == v[0] * 1000003u + v[1] * 7919u && v[3] == ~v[2];
}

static void test_same_process(void) {
  horus_topic *pub, *sub;
  CHECK_OK(horus_topic_open("same", HORUS_MSG_TENSOR, 8, &pub));
  CHECK_OK(horus_topic_open("same", HORUS_MSG_TENSOR, 0, &sub));
  CHECK_OK(horus_topic_subscribe(sub));
  horus_msg m;
  horus_tensor *x;
  CHECK_RC(horus_topic_recv(sub, 0, &m, &x), HORUS_EAGAIN);
  for (uint64_t i = 0; i < 5; i++) CHECK_OK(send_counter(pub, 1, i));
  for (uint64_t i = 0; i < 5; i++) {
    CHECK_OK(horus_topic_recv(sub, 0, &m, &x));
    const uint64_t *v = horus_tensor_data(x);
    CHECK(v[1] == i && intact(v) && m.sequence == i && m.meta.timestamp_ns == (int64_t)i);
    horus_tensor_free(x);
  }
  /* Overrun: 20 sent into a ring of 8; the subscriber gets the newest 8. */
  for (uint64_t i = 5; i < 25; i++) CHECK_OK(send_counter(pub, 1, i));
  int got = 0;
  uint64_t first = 0;
  while (horus_topic_recv(sub, 0, &m, &x) == 0) {
    if (!got) first = ((uint64_t *)horus_tensor_data(x))[1];
    got++;
    horus_tensor_free(x);
  }
  horus_topic_stats st;
  CHECK_OK(horus_topic_stats_get(sub, &st));
  CHECK(got == 8 && first == 17 && st.dropped == 12 && st.received == 13 && st.sent == 25);
  CHECK(st.capacity == 8 && st.publishers == 1 && st.subscribers == 1);
  /* recv_latest skips to the newest. */
  for (uint64_t i = 25; i < 28; i++) CHECK_OK(send_counter(pub, 1, i));
  CHECK_OK(horus_topic_recv_latest(sub, &m, &x));
  CHECK(((uint64_t *)horus_tensor_data(x))[1] == 27);
  horus_tensor_free(x);
  /* Type safety and bad input. */
  horus_topic *other;
  CHECK_RC(horus_topic_open("same", HORUS_MSG_IMAGE, 0, &other), HORUS_ETYPE);
  CHECK(strstr(horus_errmsg(), "tensor") && strstr(horus_errmsg(), "image"));
  CHECK_RC(horus_topic_open("../etc", HORUS_MSG_TENSOR, 0, &other), HORUS_EINVAL);
  CHECK_RC(horus_topic_open("", HORUS_MSG_TENSOR, 0, &other), HORUS_EINVAL);
  m.type = HORUS_MSG_IMAGE;
  CHECK_RC(horus_topic_send(pub, &m, NULL, NULL), HORUS_ETYPE);
  /* A released block cannot be sent. */
  int64_t shape[1] = {4};
  horus_tensor *gone;
  CHECK_OK(horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &gone));
  horus_msg stale;
  memset(&stale, 0, sizeof stale);
  stale.type = HORUS_MSG_TENSOR;
  stale.tensor = *horus_tensor_get_desc(gone);
  horus_tensor_free(gone);
  CHECK_RC(horus_topic_send(pub, &stale, NULL, NULL), HORUS_ESTALE);
  CHECK_OK(send_counter(pub, 1, 99)); /* still works */
  horus_topic_close(sub);
  horus_topic_close(pub);
}

/* Subscriber child: receives up to the publisher's last message (blocking),
 * checks order and content, and exits with 0 only if all was well; it
 * writes {received, dropped, stalled} to `fd_result`.  A stalled subscriber
 * (fd_go >= 0) reads nothing until the parent writes to fd_go, i.e. until
 * everything is published: it must lose all but what the ring holds. */
static pid_t spawn_subscriber(const char *name, uint64_t n, int fd_go, int fd_ready,
                              int fd_result) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  horus_topic *t;
  if (horus_topic_open(name, HORUS_MSG_TENSOR, 0, &t) || horus_topic_subscribe(t)) _exit(10);
  if (write(fd_ready, "r", 1) != 1) _exit(11);
  char go;
  if (fd_go >= 0 && read(fd_go, &go, 1) != 1) _exit(14);
  uint64_t last[2] = {0, 0}, got = 0;
  bool ok = true;
  for (;;) {
    horus_msg m;
    horus_tensor *x;
    /* The newest message ends the loop (it cannot be overwritten: nothing
     * is sent after it); the timeout is only there so a broken build fails
     * instead of hanging, long enough for any stall of a loaded machine. */
    int r = horus_topic_recv(t, 60000000000ll, &m, &x);
    if (r == HORUS_EINTR) continue;
    if (r) break;
    const uint64_t *v = horus_tensor_data(x);
    ok &= intact(v) && v[0] < 2 && (got == 0 || v[1] >= last[v[0]]);
    last[v[0]] = v[1];
    got++;
    bool newest = v[1] + 1 == n;
    horus_tensor_free(x);
    if (newest) break;
  }
  horus_topic_stats st;
  horus_topic_stats_get(t, &st);
  uint64_t out[3] = {st.received, st.dropped, fd_go >= 0};
  if (write(fd_result, out, sizeof out) != (ssize_t)sizeof out) _exit(12);
  _exit(ok && st.received == got && last[0] + 1 == n ? 0 : 13);
}

/* One publisher, three subscribers reading as fast as they can and one
 * that reads nothing until the end.  Whatever the scheduling (sanitizers,
 * a loaded machine), every subscriber sees its messages intact and in
 * order, ends with the newest, and received + dropped is exactly what was
 * sent; the stalled one keeps only what the ring held. */
static void test_fanout_and_loss(void) {
  const uint64_t N = 20000, CAPACITY = 1024;
  horus_topic *pub;
  CHECK_OK(horus_topic_open("fanout", HORUS_MSG_TENSOR, (uint32_t)CAPACITY, &pub));
  int ready[2], result[2], go[2];
  CHECK(pipe(ready) == 0 && pipe(result) == 0 && pipe(go) == 0);
  pid_t kids[4];
  for (int i = 0; i < 3; i++) kids[i] = spawn_subscriber("fanout", N, -1, ready[1], result[1]);
  kids[3] = spawn_subscriber("fanout", N, go[0], ready[1], result[1]);
  char c;
  for (int i = 0; i < 4; i++) CHECK(read(ready[0], &c, 1) == 1);
  /* Paced, so that subscribers that keep up usually lose nothing. */
  for (uint64_t i = 0; i < N; i++) {
    CHECK_OK(send_counter(pub, 0, i));
    if (i % 256 == 255) usleep(2000);
  }
  CHECK(write(go[1], "g", 1) == 1);
  for (int i = 0; i < 4; i++) {
    int status;
    waitpid(kids[i], &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  uint64_t totals[4][3], lost_by_readers = 0, kept_by_stalled = 0;
  for (int i = 0; i < 4; i++) CHECK(read(result[0], totals[i], sizeof totals[i]) == 24);
  for (int i = 0; i < 4; i++) {
    CHECK(totals[i][0] + totals[i][1] == N); /* received + dropped accounts for all */
    if (totals[i][2]) {
      CHECK(totals[i][0] >= 1 && totals[i][0] <= CAPACITY);
      kept_by_stalled = totals[i][0];
    } else {
      lost_by_readers += totals[i][1];
    }
  }
  printf("fan-out: 4 subscribers x %llu messages, received+dropped exact; the stalled one "
         "kept the newest %llu; the three readers dropped %llu\n",
         (unsigned long long)N, (unsigned long long)kept_by_stalled,
         (unsigned long long)lost_by_readers);
  fflush(stdout); /* before the next fork, so no child repeats it */
  close(ready[0]), close(ready[1]), close(result[0]), close(result[1]);
  close(go[0]), close(go[1]);
  horus_topic_close(pub);
}

/* Two publishers interleave on one ring: each one's messages arrive intact
 * and in its own order, the newest of each arrives, and what a subscriber
 * starved of CPU (sanitizers, a loaded machine) lost is counted exactly:
 * the ring drops the oldest by design rather than stalling a publisher. */
static void test_two_publishers(void) {
  const uint64_t N = 5000;
  horus_topic *sub;
  CHECK_OK(horus_topic_open("twopub", HORUS_MSG_TENSOR, 1024, &sub));
  CHECK_OK(horus_topic_subscribe(sub));
  pid_t kids[2];
  for (uint32_t w = 0; w < 2; w++) {
    if ((kids[w] = fork()) == 0) {
      horus_topic *t;
      if (horus_topic_open("twopub", HORUS_MSG_TENSOR, 0, &t)) _exit(2);
      for (uint64_t i = 0; i < N; i++)
        if ((i % 128 == 127 && usleep(2000) != 0) || send_counter(t, w, i)) {
          fprintf(stderr, "publisher %u: %s\n", w, horus_errmsg());
          _exit(3);
        }
      _exit(0);
    }
  }
  uint64_t next[2] = {0, 0}, got = 0, bad = 0;
  int exited = 0, status[2] = {0, 0};
  bool done[2] = {false, false};
  /* Until both publishers have exited and the ring is drained: their exit,
   * not a quiet spell, says that nothing more is coming. */
  for (;;) {
    horus_msg m;
    horus_tensor *x;
    int r = horus_topic_recv(sub, exited == 2 ? 0 : 100000000ll, &m, &x);
    if (r == HORUS_EAGAIN && exited == 2) break;
    if (r == HORUS_ETIMEDOUT || r == HORUS_EAGAIN || r == HORUS_EINTR) {
      for (int w = 0; w < 2; w++)
        if (!done[w] && waitpid(kids[w], &status[w], WNOHANG) == kids[w]) done[w] = true, exited++;
      continue;
    }
    if (r) {
      bad++;
      break;
    }
    const uint64_t *v = horus_tensor_data(x);
    if (!intact(v) || v[0] > 1 || v[1] < next[v[0]]) bad++;
    else next[v[0]] = v[1] + 1;
    got++;
    horus_tensor_free(x);
  }
  for (int w = 0; w < 2; w++) CHECK(WIFEXITED(status[w]) && WEXITSTATUS(status[w]) == 0);
  horus_topic_stats st;
  CHECK_OK(horus_topic_stats_get(sub, &st));
  /* Each publisher's newest arrives unless a lap overwrote it, which only a
   * subscriber starved for 1024 messages sees, and then it was counted. */
  CHECK(bad == 0 && ((next[0] == N && next[1] == N) || st.dropped > 0));
  CHECK(got == st.received && got + st.dropped == 2 * N);
  printf("two publishers: %llu received in order, %llu dropped and counted\n",
         (unsigned long long)got, (unsigned long long)st.dropped);
  fflush(stdout);
  horus_topic_close(sub);
}

static void test_blocking_and_dead(void) {
  horus_topic *sub;
  CHECK_OK(horus_topic_open("block", HORUS_MSG_TENSOR, 4, &sub));
  horus_msg m;
  horus_tensor *x;
  uint64_t t0 = 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  CHECK_RC(horus_topic_recv(sub, 100000000ll, &m, &x), HORUS_ETIMEDOUT);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t waited = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - t0;
  CHECK(waited >= 95000000ull && waited < 60000000000ull); /* not early; and no hang */
  /* A child publishes after 50 ms; the blocked receive wakes for it. */
  pid_t pid = fork();
  if (pid == 0) {
    horus_topic *t;
    usleep(50000);
    if (horus_topic_open("block", HORUS_MSG_TENSOR, 0, &t) || send_counter(t, 0, 7)) _exit(2);
    _exit(0); /* the publisher exits: its message stays valid */
  }
  CHECK_OK(horus_topic_recv(sub, 5000000000ll, &m, &x));
  waitpid(pid, NULL, 0);
  CHECK(((uint64_t *)horus_tensor_data(x))[1] == 7 && intact(horus_tensor_data(x)));
  horus_tensor_free(x);

  /* A subscriber killed while holding received messages leaks nothing. */
  horus_pool_stats before, after;
  CHECK_OK(horus_pool_stats_get(pool, &before));
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid = fork();
  if (pid == 0) {
    horus_topic *t;
    horus_tensor *held[3];
    if (horus_topic_open("block", HORUS_MSG_TENSOR, 0, &t) || horus_topic_subscribe(t)) _exit(2);
    if (write(fds[1], "s", 1) != 1) _exit(3);
    for (int i = 0; i < 3; i++)
      if (horus_topic_recv(t, 5000000000ll, &m, &held[i])) _exit(4);
    if (write(fds[1], "h", 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  char c;
  CHECK(read(fds[0], &c, 1) == 1);
  horus_topic *pub;
  CHECK_OK(horus_topic_open("block", HORUS_MSG_TENSOR, 0, &pub));
  for (uint64_t i = 0; i < 3; i++) CHECK_OK(send_counter(pub, 0, i));
  CHECK(read(fds[0], &c, 1) == 1 && c == 'h');
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  horus_pool_reclaim(pool);
  /* The publisher is not stalled by the dead subscriber. */
  for (uint64_t i = 3; i < 100; i++) CHECK_OK(send_counter(pub, 0, i));
  horus_pool_reclaim(pool);
  CHECK_OK(horus_pool_stats_get(pool, &after));
  /* What remains is exactly the ring's 4 messages (one granule each). */
  CHECK(after.allocated_slots == before.allocated_slots + 3);
  close(fds[0]), close(fds[1]);
  horus_topic_close(pub);
  horus_topic_close(sub);
}

static void removed_cb(const char *path, void *arg) {
  (void)path;
  ++*(int *)arg;
}

static void test_clean(void) {
  horus_topic_info info[16];
  int n = horus_topic_list(info, 16);
  CHECK(n >= 4);
  bool seen = false;
  for (int i = 0; i < n && i < 16; i++)
    if (strcmp(info[i].name, "fanout") == 0)
      seen = info[i].sent == 20000 && info[i].type == HORUS_MSG_TENSOR;
  CHECK(seen);
  horus_pool_stats st;
  /* Everyone is gone: clean removes the topics, whose ring references the
   * pool then reclaims. */
  int count = 0;
  CHECK(horus_clean(false, removed_cb, &count) >= 4 && count >= 4);
  CHECK(horus_topic_list(info, 16) == 0);
  horus_pool_reclaim(pool);
  CHECK_OK(horus_pool_stats_get(pool, &st));
  CHECK(st.used_bytes == 0 && st.allocated_slots == 0);
}

/* Late joiners: by default a new handle sees only what is sent after it
 * opened; with history it starts with the newest n still in the ring. */
static void test_history(void) {
  horus_topic *pub, *late, *later, *none;
  CHECK_OK(horus_topic_open("history", HORUS_MSG_TENSOR, 8, &pub));
  for (uint64_t i = 0; i < 12; i++) CHECK_OK(send_counter(pub, 2, i));
  CHECK_OK(horus_topic_open("history", HORUS_MSG_TENSOR, 0, &late));
  CHECK_OK(horus_topic_open("history", HORUS_MSG_TENSOR, 0, &later));
  CHECK_OK(horus_topic_open("history", HORUS_MSG_TENSOR, 0, &none));
  CHECK_OK(horus_topic_set_history(late, 3));
  CHECK_OK(horus_topic_set_history(later, 100)); /* capped at the ring's 8 */
  horus_msg m;
  horus_tensor *x;
  for (uint64_t i = 9; i < 12; i++) {
    CHECK_OK(horus_topic_recv(late, 0, &m, &x));
    CHECK(((uint64_t *)horus_tensor_data(x))[1] == i && intact(horus_tensor_data(x)));
    horus_tensor_free(x);
  }
  CHECK_RC(horus_topic_recv(late, 0, &m, &x), HORUS_EAGAIN);
  for (uint64_t i = 4; i < 12; i++) {
    CHECK_OK(horus_topic_recv(later, 0, &m, &x));
    CHECK(((uint64_t *)horus_tensor_data(x))[1] == i);
    horus_tensor_free(x);
  }
  CHECK_RC(horus_topic_recv(none, 0, &m, &x), HORUS_EAGAIN);
  CHECK_RC(horus_topic_set_history(late, 1), HORUS_EINVAL); /* after receiving */
  horus_topic_close(none);
  horus_topic_close(later);
  horus_topic_close(late);
  horus_topic_close(pub);
}

/* Messages from more pools than a topic handle keeps open (16,
 * MAX_POOLS_CACHED in src/core/topic.c): each is received, and each block
 * the ring lets go of goes back to its pool.  A handle used to refuse the
 * pool after its last and, on send, to keep the ring's reference to an
 * overwritten message of a pool it could not look up. */
#define MANY_POOLS 19
static void test_many_pools(void) {
  horus_pool *pools[MANY_POOLS];
  for (int i = 0; i < MANY_POOLS; i++)
    CHECK_OK(horus_pool_open(200 + (uint32_t)i, 1 * MB, 16, HORUS_POOL_CREATE, &pools[i]));
  horus_topic *pub, *sub;
  CHECK_OK(horus_topic_open("many.pools", HORUS_MSG_TENSOR, 4, &pub));
  CHECK_OK(horus_topic_open("many.pools", HORUS_MSG_TENSOR, 0, &sub));
  CHECK_OK(horus_topic_subscribe(sub));
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < MANY_POOLS; i++) {
      int64_t shape[1] = {2};
      horus_tensor *x, *y = NULL;
      CHECK_OK(horus_tensor_alloc(pools[i], shape, 1, HORUS_UINT64, &x));
      ((uint64_t *)horus_tensor_data(x))[0] = (uint64_t)(round * 100 + i);
      horus_msg m;
      memset(&m, 0, sizeof m);
      m.type = HORUS_MSG_TENSOR;
      m.tensor = *horus_tensor_get_desc(x);
      CHECK_OK(horus_topic_send(pub, &m, x, NULL));
      horus_tensor_free(x);
      CHECK_OK(horus_topic_recv(sub, 0, &m, &y));
      CHECK(y && m.tensor.pool_id == 200 + (uint32_t)i &&
            ((uint64_t *)horus_tensor_data(y))[0] == (uint64_t)(round * 100 + i));
      horus_tensor_free(y);
    }
  }
  /* The ring (capacity 4) holds the last four messages; every other block
   * is back in its pool. */
  for (int i = 0; i < MANY_POOLS; i++) {
    horus_pool_stats st;
    CHECK_OK(horus_pool_stats_get(pools[i], &st));
    CHECK(st.allocated_slots == (i >= MANY_POOLS - 4 ? 1u : 0u));
  }
  horus_topic_close(sub);
  horus_topic_close(pub);
  for (int i = 0; i < MANY_POOLS; i++) horus_pool_close(pools[i]);
}

/* Small byte messages: a publishing handle fills the blocks of its earlier
 * messages again, but never one a receiver still holds, and what a
 * receiver reads is the message with zeros after it, whatever longer
 * message the block carried before. */
static uint8_t pattern(int msg, size_t i) { return (uint8_t)(msg * 31 + (int)i * 7 + 1); }

static void test_bytes_blocks(void) {
  horus_topic *pub, *sub;
  CHECK_OK(horus_topic_open("bytes.blocks", HORUS_MSG_BYTES, 2, &pub));
  CHECK_OK(horus_topic_open("bytes.blocks", HORUS_MSG_BYTES, 0, &sub));
  CHECK_OK(horus_topic_subscribe(sub));
  horus_pool_stats before, st;
  CHECK_OK(horus_pool_stats_get(pool, &before));
  static const char held_text[] = "held while 300 more go by";
  horus_msg m, held_msg;
  horus_tensor *held, *x;
  CHECK_OK(horus_topic_send_bytes(pub, held_text, sizeof held_text, HORUS_BYTES_RAW, NULL));
  CHECK_OK(horus_topic_recv(sub, 0, &held_msg, &held));
  bool all_match = true, tails_zero = true, held_untouched = true;
  for (int k = 0; k < 300; k++) {
    uint8_t buf[120];
    /* 0 to 119 bytes, long and short mixed; short first, so that the held
     * message's block is the oldest when a message of its size comes. */
    size_t len = k < 8 ? (size_t)(k * 7) % 60 : (size_t)(k * 37) % sizeof buf;
    for (size_t i = 0; i < len; i++) buf[i] = pattern(k, i);
    CHECK_OK(horus_topic_send_bytes(pub, buf, len, HORUS_BYTES_RAW, NULL));
    CHECK_OK(horus_topic_recv(sub, 0, &m, &x));
    if (!x) continue;
    all_match &= horus_tensor_nbytes(x) == len && memcmp(horus_tensor_data(x), buf, len) == 0;
    /* The block is 64 or 128 bytes: the rest of it must read as zeros. */
    const uint8_t *block = horus_pool_data(pool, m.tensor.offset);
    for (size_t i = len; i < (len <= 64 ? 64u : 128u); i++) tails_zero &= block[i] == 0;
    held_untouched &= !(m.tensor.slot == held_msg.tensor.slot &&
                        m.tensor.offset == held_msg.tensor.offset);
    horus_tensor_free(x);
  }
  CHECK(all_match && tails_zero && held_untouched);
  CHECK(memcmp(horus_tensor_data(held), held_text, sizeof held_text) == 0);
  horus_tensor_free(held);
  /* The ring's two messages are among the handle's three kept blocks. */
  CHECK_OK(horus_pool_stats_get(pool, &st));
  CHECK(st.allocated_slots <= before.allocated_slots + 3);

  /* A forked child's handle leaves the parent's kept blocks alone, and
   * drops none of the child's own references with them. */
  horus_tensor_desc desc = m.tensor; /* the last message: one of the kept blocks */
  pid_t pid = fork();
  if (pid == 0) {
    horus_tensor *mine;
    if (horus_tensor_open(&desc, &mine)) _exit(2);
    if (horus_topic_send_bytes(pub, "child", 5, HORUS_BYTES_RAW, NULL)) _exit(3);
    /* Still exactly the one reference horus_tensor_open took. */
    if (horus_pool_release(pool, desc.slot, desc.generation)) _exit(4);
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_OK(horus_topic_recv(sub, 0, &m, &x));
  CHECK(x && horus_tensor_nbytes(x) == 5 && memcmp(horus_tensor_data(x), "child", 5) == 0);
  horus_tensor_free(x);
  for (int k = 0; k < 10; k++) {
    CHECK_OK(horus_topic_send_bytes(pub, &k, sizeof k, HORUS_BYTES_RAW, NULL));
    CHECK_OK(horus_topic_recv(sub, 0, &m, &x));
    CHECK(x && memcmp(horus_tensor_data(x), &k, sizeof k) == 0);
    horus_tensor_free(x);
  }
  /* A publisher killed with its kept blocks: once nobody is left, the
   * topic can be opened with another type (its references are reclaimed,
   * not taken for a receiver still holding a message). */
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid = fork();
  if (pid == 0) {
    horus_topic *t;
    if (horus_topic_open("bytes.killed", HORUS_MSG_BYTES, 4, &t)) _exit(2);
    for (int k = 0; k < 3; k++)
      if (horus_topic_send_bytes(t, "kept", 4, HORUS_BYTES_RAW, NULL)) _exit(3);
    if (write(fds[1], "k", 1) != 1) _exit(4);
    pause();
    _exit(0);
  }
  char c;
  CHECK(read(fds[0], &c, 1) == 1 && c == 'k');
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(fds[0]), close(fds[1]);
  horus_topic *retyped = NULL;
  CHECK_OK(horus_topic_open("bytes.killed", HORUS_MSG_TENSOR, 4, &retyped));
  horus_topic_close(retyped);

  /* Closed, the handle lets its blocks go: the ring's two remain (once the
   * child's own kept block, which its exit left, is reclaimed). */
  horus_topic_close(pub);
  horus_pool_reclaim(pool);
  CHECK_OK(horus_pool_stats_get(pool, &st));
  CHECK(st.allocated_slots == before.allocated_slots + 2);
  horus_topic_close(sub);
}

int main(void) {
  CHECK_OK(horus_pool_global(&pool));
  test_same_process();
  test_history();
  test_many_pools();
  test_bytes_blocks();
  test_fanout_and_loss();
  test_two_publishers();
  test_blocking_and_dead();
  test_clean();
  horus_pool_close(pool);
  check_remove_namespace();
  return check_report("test_topic");
}
