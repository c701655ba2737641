/* test_trust.c - locks and shared state that someone else damaged (issue 13,
 * items 7 and 8).  A lock word naming a thread that does not exist and a
 * mutex whose bytes were scribbled over are repaired at once, so the next
 * pool allocation and topic send succeed; an owner that is alive but stopped
 * gets HORUS_ETIMEDOUT naming its pid (this one costs the 10 s lock timeout
 * once); a zeroed allocator bitmap is rebuilt rather than making every
 * allocation fail for good. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "pool_internal.h"
#include "topic_internal.h"

#define MB (1ull << 20)

/* A thread id that names no thread: a child's, once it has been reaped. */
static int32_t vanished_tid(void) {
  for (;;) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) return 0;
    waitpid(pid, NULL, 0);
    if (kill(pid, 0) != 0 && errno == ESRCH) return (int32_t)pid;
  }
}

/* The header of topic `name` as another process sees it (the mapping is the
 * test's own; unmap with munmap(hdr, *size)). */
static horus__topic_header *map_topic(const char *name, size_t *size) {
  char dir[512], path[700];
  if (horus_namespace_dir(dir, sizeof dir, true)) return NULL;
  snprintf(path, sizeof path, "%s/topic.%s", dir, name);
  int fd = open(path, O_RDWR);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  void *seg = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  *size = (size_t)st.st_size;
  return seg == MAP_FAILED ? NULL : seg;
}

/* Send 64 bytes of `value` from `pool` on `pub`. */
static int send_bytes(horus_pool *pool, horus_topic *pub, uint8_t value) {
  int64_t shape[1] = {64};
  horus_tensor *x;
  int r = horus_tensor_alloc(pool, shape, 1, HORUS_UINT8, &x);
  if (r) return r;
  memset(horus_tensor_data(x), value, 64);
  horus_msg m;
  memset(&m, 0, sizeof m);
  m.type = HORUS_MSG_TENSOR;
  m.tensor = *horus_tensor_get_desc(x);
  r = horus_topic_send(pub, &m, x, NULL);
  horus_tensor_free(x);
  return r;
}

/* Receive on `sub` and check the message is 64 bytes of `value`. */
static int recv_bytes(horus_topic *sub, uint8_t value) {
  horus_msg m;
  horus_tensor *x;
  int r = horus_topic_recv(sub, 0, &m, &x);
  if (r) return r;
  const uint8_t *b = horus_tensor_data(x);
  int bad = 0;
  for (int i = 0; i < 64; i++) bad |= b[i] != value;
  horus_tensor_free(x);
  return bad ? HORUS_ECORRUPT : 0;
}

/* An allocation and a release, and the accounting adds up afterwards. */
static void check_pool_works(horus_pool *pool) {
  horus_pool_stats before, after;
  CHECK_OK(horus_pool_stats_get(pool, &before));
  uint32_t s, g;
  uint64_t off;
  CHECK_OK(horus_pool_alloc(pool, MB, &s, &g, &off));
  CHECK_OK(horus_pool_release(pool, s, g));
  CHECK_OK(horus_pool_stats_get(pool, &after));
  CHECK(after.used_bytes == before.used_bytes && after.allocated_slots == before.allocated_slots);
}

/* Each case works on a pool and a topic of its own, so that one left broken
 * (as they all were before the repairs) does not fail the next. */
typedef struct fixture {
  horus_pool *pool;
  horus_topic *pub, *sub;
  horus__topic_header *th; /* the topic's header, mapped as another process would */
  size_t th_size;
} fixture;

static bool fixture_open(fixture *f, uint32_t pool_id, const char *topic) {
  memset(f, 0, sizeof *f);
  CHECK_OK(horus_pool_open(pool_id, 16 * MB, 64, HORUS_POOL_CREATE, &f->pool));
  CHECK_OK(horus_topic_open(topic, HORUS_MSG_TENSOR, 8, &f->pub));
  CHECK_OK(horus_topic_open(topic, HORUS_MSG_TENSOR, 0, &f->sub));
  if (!f->pool || !f->pub || !f->sub) return false;
  CHECK_OK(horus_topic_subscribe(f->sub));
  f->th = map_topic(topic, &f->th_size);
  CHECK(f->th != NULL);
  return f->th != NULL;
}

static void fixture_close(fixture *f) {
  if (f->th) munmap(f->th, f->th_size);
  horus_topic_close(f->sub);
  horus_topic_close(f->pub);
  horus_pool_close(f->pool);
}

/* Item 7: a lock word naming a thread that does not exist (no owner ever
 * took the lock) costs neither the 10 s timeout nor an error: the pool's,
 * then a topic's. */
static void test_lock_word_naming_no_thread(void) {
  fixture f;
  if (fixture_open(&f, 1, "trust.pool_word")) {
    int32_t tid = vanished_tid();
    CHECK(tid > 0);
    *(volatile uint32_t *)(void *)&f.pool->hdr->lock = (uint32_t)tid;
    check_pool_works(f.pool);
    CHECK_OK(send_bytes(f.pool, f.pub, 0x16));
    CHECK_OK(recv_bytes(f.sub, 0x16));
  }
  fixture_close(&f);
  if (fixture_open(&f, 6, "trust.topic_word")) {
    int32_t tid = vanished_tid();
    CHECK(tid > 0);
    *(volatile uint32_t *)(void *)&f.th->lock = (uint32_t)tid;
    CHECK_OK(send_bytes(f.pool, f.pub, 0x17));
    CHECK_OK(recv_bytes(f.sub, 0x17));
  }
  fixture_close(&f);
}

/* Item 7: a pool mutex whose bytes were overwritten (pthread answers
 * EINVAL) is initialised again. */
static void test_scribbled_pool_mutex(void) {
  fixture f;
  if (fixture_open(&f, 2, "trust.pool_mutex")) {
    memset((void *)&f.pool->hdr->lock, 0xff, sizeof(pthread_mutex_t));
    check_pool_works(f.pool);
    check_pool_works(f.pool); /* and stays working */
    CHECK_OK(send_bytes(f.pool, f.pub, 0x21));
    CHECK_OK(recv_bytes(f.sub, 0x21));
  }
  fixture_close(&f);
}

/* Item 8: likewise a topic's mutex. */
static void test_scribbled_topic_mutex(void) {
  fixture f;
  if (fixture_open(&f, 3, "trust.topic_mutex")) {
    memset((void *)&f.th->lock, 0xff, sizeof(pthread_mutex_t));
    CHECK_OK(send_bytes(f.pool, f.pub, 0x29));
    CHECK_OK(recv_bytes(f.sub, 0x29));
    CHECK_OK(send_bytes(f.pool, f.pub, 0x2a));
    CHECK_OK(recv_bytes(f.sub, 0x2a));
  }
  fixture_close(&f);
}

/* A lock whose repair was abandoned half way (repair_seq left odd by a
 * process killed while re-initialising it) is waited for a while, then
 * taken over: the pool and the topic work again, and go on working. */
static void test_abandoned_lock_repair(void) {
  fixture f;
  if (fixture_open(&f, 7, "trust.abandoned_repair")) {
    atomic_store(&f.pool->hdr->lock.repair_seq, 7);
    atomic_store(&f.th->lock.repair_seq, 3);
    check_pool_works(f.pool);
    CHECK_OK(send_bytes(f.pool, f.pub, 0x31));
    CHECK_OK(recv_bytes(f.sub, 0x31));
    CHECK((atomic_load(&f.pool->hdr->lock.repair_seq) & 1) == 0);
    CHECK((atomic_load(&f.th->lock.repair_seq) & 1) == 0);
    check_pool_works(f.pool);
    CHECK_OK(send_bytes(f.pool, f.pub, 0x32));
    CHECK_OK(recv_bytes(f.sub, 0x32));
  }
  fixture_close(&f);
}

/* A receiver that cannot take its reference because the pool's holder
 * table is full of live holders (the forked receiver gets no entry) is told
 * so once, and the message is counted lost; its next receive goes on with
 * what follows, not held on that message (which a full table may refuse
 * for as long as its holders live). */
static void test_receiver_out_of_holders(void) {
  fixture f;
  if (fixture_open(&f, 8, "trust.holders_full")) {
    CHECK_OK(send_bytes(f.pool, f.pub, 0x41));
    uint64_t node = 0;
    CHECK_OK(horus__node_self(f.pool->user_dir, &node));
    int first_fake = -1;
    for (int hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
      horus__holder *h = &f.pool->holders[hi];
      if (h->kind != HORUS__HOLDER_FREE) continue;
      memset(h, 0, sizeof *h);
      h->pid = getpid(); /* alive: this process's node */
      h->node = node;
      h->kind = HORUS__HOLDER_PROCESS;
      if (first_fake < 0) first_fake = hi;
    }
    pid_t pid = fork();
    if (pid == 0) {
      horus_msg m;
      horus_tensor *x = NULL;
      horus_topic_stats st;
      if (horus_topic_recv(f.sub, 0, &m, &x) != HORUS_EBUSY) _exit(2);
      if (horus_topic_stats_get(f.sub, &st) || st.dropped != 1 || st.received != 0) _exit(3);
      f.pool->holders[first_fake].kind = HORUS__HOLDER_FREE; /* room again */
      if (horus_topic_recv(f.sub, 0, &m, &x) != HORUS_EAGAIN) _exit(4); /* nothing left */
      _exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    if (WIFEXITED(status) && WEXITSTATUS(status)) fprintf(stderr, "child exited %d\n", WEXITSTATUS(status));
    for (int hi = 0; hi < HORUS_POOL_MAX_HOLDERS; hi++) {
      horus__holder *h = &f.pool->holders[hi];
      if (h->kind == HORUS__HOLDER_PROCESS && h->pid == getpid() && h->start_time == 0)
        h->kind = HORUS__HOLDER_FREE;
    }
    CHECK_OK(recv_bytes(f.sub, 0x41)); /* the parent's handle has it still */
    check_pool_works(f.pool);
  }
  fixture_close(&f);
}

/* A message in a pool this process cannot use (its file now says another
 * layout version, as after an upgrade on one side of a shared /dev/shm) is
 * reported once and counted lost; the receiver goes on to the next one
 * instead of being held on it until the ring laps. */
static void test_message_in_an_unusable_pool_is_skipped(void) {
  fixture f;
  if (fixture_open(&f, 10, "trust.bad_pool")) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) { /* a publisher with a pool of its own: this process never opens it */
      horus_pool *p;
      horus_topic *t;
      if (horus_pool_open(43, 4 * MB, 16, HORUS_POOL_CREATE, &p)) _exit(2);
      if (horus_topic_open("trust.bad_pool", HORUS_MSG_TENSOR, 0, &t)) _exit(3);
      if (send_bytes(p, t, 0x61)) _exit(4);
      char path[600];
      snprintf(path, sizeof path, "%s", horus_pool_path(p));
      if (write(fds[1], path, strlen(path) + 1) < 0) _exit(5);
      _exit(0); /* the ring keeps the block, and so the pool's file */
    }
    close(fds[1]);
    char path[600] = "";
    CHECK(read(fds[0], path, sizeof path) > 0);
    close(fds[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    if (fd >= 0) { /* another layout version, from now on */
      uint32_t version = 999;
      CHECK(pwrite(fd, &version, sizeof version, offsetof(horus__seg_header, version)) == 4);
      close(fd);
    }
    CHECK_OK(send_bytes(f.pool, f.pub, 0x62));
    horus_msg m;
    horus_tensor *x = NULL;
    CHECK_RC(horus_topic_recv(f.sub, 0, &m, &x), HORUS_EVERSION);
    CHECK_OK(recv_bytes(f.sub, 0x62)); /* the next one, not the same again */
    horus_topic_stats st;
    CHECK_OK(horus_topic_stats_get(f.sub, &st));
    CHECK(st.dropped == 1 && st.received == 1);
    unlink(path);
  }
  fixture_close(&f);
}

/* Item 7: a live owner that does not let go (stopped) is named, with its
 * pid, after the lock timeout; once it is gone the lock works again. */
static void test_stopped_owner(void) {
  horus_pool *pool = NULL;
  CHECK_OK(horus_pool_open(4, 16 * MB, 64, HORUS_POOL_CREATE, &pool));
  if (!pool) return;
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test that failed */
    uint64_t node = 0;
    if (horus__node_self(pool->user_dir, &node)) _exit(2);
    if (horus__lock_acquire(&pool->hdr->lock, pool->user_dir, node, HORUS__LOCK_TIMEOUT_S,
                            "test") < 0)
      _exit(3);
    if (write(fds[1], "l", 1) != 1) _exit(4);
    raise(SIGSTOP);
    _exit(5); /* killed before it gets here */
  }
  close(fds[1]);
  char c = 0;
  CHECK(read(fds[0], &c, 1) == 1 && c == 'l');
  close(fds[0]);
  uint32_t s, g;
  uint64_t off;
  CHECK_RC(horus_pool_alloc(pool, MB, &s, &g, &off), HORUS_ETIMEDOUT);
  char who[32];
  snprintf(who, sizeof who, "process %d", (int)pid);
  CHECK(strstr(horus_errmsg(), who) != NULL);
  kill(pid, SIGKILL);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  check_pool_works(pool); /* its death hands the lock over */
  horus_pool_close(pool);
}

/* Item 8: the allocator's first-level bitmap zeroed (every free list looks
 * empty) is found and rebuilt from the slot table: allocations succeed
 * again, inside the region, clear of the live blocks, which keep their
 * bytes. */
static void test_allocator_bitmap_zeroed(void) {
  horus_pool *p = NULL;
  CHECK_OK(horus_pool_open(5, 16 * MB, 64, HORUS_POOL_CREATE, &p));
  if (!p) return;
  uint32_t s[3], g[3];
  uint64_t off[3];
  for (int i = 0; i < 3; i++) {
    CHECK_OK(horus_pool_alloc(p, MB, &s[i], &g[i], &off[i]));
    memset(horus_pool_data(p, off[i]), 0x50 + i, MB);
  }
  CHECK_OK(horus_pool_release(p, s[1], g[1])); /* a hole between live blocks */

  memset(&p->hdr->tlsf.fl_bitmap, 0, sizeof p->hdr->tlsf.fl_bitmap);
  uint32_t ns, ng;
  uint64_t noff;
  int r = horus_pool_alloc(p, 4 * MB, &ns, &ng, &noff);
  CHECK_OK(r);
  if (r == 0) {
    CHECK(noff + 4 * MB <= 16 * MB);
    for (int i = 0; i < 3; i += 2) CHECK(noff + 4 * MB <= off[i] || off[i] + MB <= noff);
    CHECK_OK(horus_pool_release(p, ns, ng));
  }
  for (int i = 0; i < 3; i += 2) {
    const uint8_t *b = horus_pool_data(p, off[i]);
    CHECK(b[0] == 0x50 + i && b[MB - 1] == 0x50 + i);
  }
  CHECK_OK(horus_pool_release(p, s[0], g[0]));
  CHECK_OK(horus_pool_release(p, s[2], g[2]));
  horus_pool_stats st;
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.used_bytes == 0 && st.allocated_slots == 0 && st.largest_free_block == 16 * MB);
  horus_pool_close(p);
}

/* Blocks are cleared when handed out, not when freed: whatever the last
 * owner wrote, a new block reads as zeros, and one filled by a copy (which
 * skips the clearing) holds the copy and zeros after it, to the end of its
 * block: never the old bytes. */
/* Every byte of the (4 MB) pool written with 0xC8 and freed. */
static void soil(horus_pool *p) {
  uint32_t s[64], g[64];
  uint64_t off[64];
  int n = 0;
  while (n < 64 && horus_pool_alloc(p, 64 << 10, &s[n], &g[n], &off[n]) == 0) {
    memset(horus_pool_data(p, off[n]), 0xC8, 64 << 10);
    n++;
  }
  CHECK(n == 64);
  for (int i = 0; i < n; i++) CHECK_OK(horus_pool_release(p, s[i], g[i]));
}

static void test_new_blocks_never_show_old_bytes(void) {
  horus_pool *p = NULL;
  CHECK_OK(horus_pool_open(17, 4 * MB, 256, HORUS_POOL_CREATE, &p));
  if (!p) return;
  soil(p);
  /* Cleared allocations. */
  uint32_t ns, ng;
  uint64_t noff;
  CHECK_OK(horus_pool_alloc(p, 3 * MB, &ns, &ng, &noff));
  const uint8_t *b = horus_pool_data(p, noff);
  uint64_t size = horus_pool_block_size(p, ns, ng), nonzero = 0;
  for (uint64_t i = 0; i < size; i++) nonzero += b[i] != 0;
  CHECK(size >= 3 * MB && nonzero == 0);
  CHECK_OK(horus_pool_release(p, ns, ng));
  /* Copies of odd sizes: the copy, then zeros to the end of the block. */
  int64_t sizes[] = {1, 63, 100, 4097, 70001};
  for (int k = 0; k < 5; k++) {
    horus_tensor *src, *copy;
    int64_t shape[1] = {sizes[k]};
    soil(p);
    CHECK_OK(horus_tensor_alloc(p, shape, 1, HORUS_UINT8, &src));
    memset(horus_tensor_data(src), 0x11, (size_t)sizes[k]);
    CHECK_OK(horus_tensor_clone(p, src, &copy));
    const horus_tensor_desc *d = horus_tensor_get_desc(copy);
    const uint8_t *c = horus_pool_data(p, d->offset);
    uint64_t bs = horus_pool_block_size(p, d->slot, d->generation), bad = 0;
    for (uint64_t i = 0; i < bs; i++) bad += c[i] != ((int64_t)i < sizes[k] ? 0x11 : 0);
    CHECK(bs >= (uint64_t)sizes[k] && bad == 0);
    horus_tensor_free(copy);
    horus_tensor_free(src);
  }
  horus_pool_close(p);
}

int main(void) {
  test_lock_word_naming_no_thread();
  test_scribbled_pool_mutex();
  test_scribbled_topic_mutex();
  test_abandoned_lock_repair();
  test_receiver_out_of_holders();
  test_message_in_an_unusable_pool_is_skipped();
  test_stopped_owner();
  test_allocator_bitmap_zeroed();
  test_new_blocks_never_show_old_bytes();
  check_remove_namespace();
  return check_report("test_trust");
}
