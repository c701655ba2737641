/* test_pool.c - pools: accounting, geometry, hostile segments, and crash
 * recovery (a holder killed with references, a lock owner killed inside the
 * allocator and inside release). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "pool_internal.h"

#define MB (1ull << 20)

static void test_basics(void) {
  horus_pool *p, *again;
  CHECK_OK(horus_pool_open(5, 64 * MB, 256, HORUS_POOL_CREATE, &p));
  CHECK_OK(horus_pool_open(5, 0, 0, 0, &again));
  CHECK(p == again);
  horus_pool_close(again);
  horus_pool_stats st;
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.size_bytes == 64 * MB && st.max_slots == 256 && st.used_bytes == 0);
  CHECK(st.free_bytes == 64 * MB && st.largest_free_block == 64 * MB);

  uint32_t s, g;
  uint64_t off;
  CHECK_OK(horus_pool_alloc(p, 1000, &s, &g, &off));
  CHECK(off % HORUS_BLOCK_ALIGN == 0);
  CHECK(horus_pool_refcount(p, s, g) == 1);
  CHECK_OK(horus_pool_retain(p, s, g));
  CHECK(horus_pool_refcount(p, s, g) == 2);
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.allocated_slots == 1 && st.used_bytes == 1024 && st.total_refs == 2);
  memset(horus_pool_data(p, off), 0xab, 1000);
  CHECK_OK(horus_pool_release(p, s, g));
  CHECK_OK(horus_pool_release(p, s, g));
  CHECK(horus_pool_refcount(p, s, g) == 0);
  CHECK_RC(horus_pool_retain(p, s, g), HORUS_ESTALE);
  CHECK_RC(horus_pool_release(p, s, g), HORUS_ESTALE);
  CHECK_RC(horus_pool_retain(p, 100000, 1), HORUS_ERANGE);
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.allocated_slots == 0 && st.used_bytes == 0 && st.total_refs == 0);

  /* Exhaustion: bytes and slots, with the numbers in the message. */
  CHECK_RC(horus_pool_alloc(p, 65 * MB, &s, &g, &off), HORUS_ENOMEM);
  CHECK(strstr(horus_errmsg(), "requested") != NULL);
  uint32_t slots[256], gens[256];
  for (int i = 0; i < 256; i++) CHECK_OK(horus_pool_alloc(p, 64, &slots[i], &gens[i], &off));
  CHECK_RC(horus_pool_alloc(p, 64, &s, &g, &off), HORUS_ENOSLOT);
  for (int i = 0; i < 256; i++) CHECK_OK(horus_pool_release(p, slots[i], gens[i]));

  /* Geometry is the creator's; a mismatch names both. */
  CHECK_RC(horus_pool_open(5, 128 * MB, 256, HORUS_POOL_CREATE, &again), HORUS_EGEOMETRY);
  CHECK(strstr(horus_errmsg(), "67108864") && strstr(horus_errmsg(), "134217728"));
  CHECK_RC(horus_pool_open(6, 0, 0, 0, &again), HORUS_ENOENT);
  CHECK_RC(horus_pool_open(6, 0, 16, HORUS_POOL_CREATE, &again), HORUS_EINVAL);
  horus_pool_close(p);
}

static void write_file(const char *name, const void *buf, size_t n, mode_t mode) {
  char dir[512], path[600];
  CHECK_OK(horus__ns_dir(dir, sizeof dir));
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(path);
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
  CHECK(fd >= 0);
  CHECK(write(fd, buf, n) == (ssize_t)n);
  fchmod(fd, mode);
  close(fd);
}

static void test_hostile_segments(void) {
  horus_pool *p;
  char junk[8192];
  memset(junk, 0x5a, sizeof junk);
  write_file("pool.70", junk, 10, 0600);
  CHECK_RC(horus_pool_open(70, 0, 0, 0, &p), HORUS_ECORRUPT);
  write_file("pool.71", junk, sizeof junk, 0600);
  CHECK_RC(horus_pool_open(71, 0, 0, 0, &p), HORUS_ECORRUPT);
  write_file("pool.72", junk, sizeof junk, 0644);
  CHECK_RC(horus_pool_open(72, 0, 0, 0, &p), HORUS_EPERM);

  /* A real pool whose header was damaged after creation. */
  CHECK_OK(horus_pool_open(73, MB, 16, HORUS_POOL_CREATE, &p));
  char path[600];
  snprintf(path, sizeof path, "%s", horus_pool_path(p));
  horus_pool_close(p);
  int fd = open(path, O_RDWR);
  uint32_t bad = 0xffffffffu;
  CHECK(pwrite(fd, &bad, sizeof bad, offsetof(horus__pool_header, max_slots)) == 4);
  close(fd);
  CHECK_RC(horus_pool_open(73, 0, 0, 0, &p), HORUS_ECORRUPT);
  fd = open(path, O_RDWR);
  uint32_t version = 99;
  CHECK(pwrite(fd, &version, 4, offsetof(horus__seg_header, version)) == 4);
  close(fd);
  CHECK_RC(horus_pool_open(73, 0, 0, 0, &p), HORUS_EVERSION);
  fd = open(path, O_RDWR);
  version = HORUS__LAYOUT_VERSION;
  CHECK(pwrite(fd, &version, 4, offsetof(horus__seg_header, version)) == 4);
  close(fd);
  CHECK(truncate(path, 100) == 0);
  CHECK_RC(horus_pool_open(73, 0, 0, 0, &p), HORUS_ECORRUPT);

  char ns[128];
  snprintf(ns, sizeof ns, "%s", getenv("HORUS_NAMESPACE") ? getenv("HORUS_NAMESPACE") : "");
  setenv("HORUS_NAMESPACE", "../escape", 1);
  CHECK_RC(horus_pool_open(1, MB, 16, HORUS_POOL_CREATE, &p), HORUS_EINVAL);
  setenv("HORUS_NAMESPACE", ns, 1);
}

/* Child: allocate `n` blocks (optionally dying inside the allocator's
 * critical section on the last), tell the parent, wait to be killed. */
static pid_t spawn_holder(int n, const char *fault, int *ready_fd) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    horus_pool *p;
    if (horus_pool_open(9, 0, 0, 0, &p)) _exit(2);
    for (int i = 0; i < n; i++) {
      uint32_t s, g;
      uint64_t off;
      if (fault && i == n - 1) {
        if (strcmp(fault, "release_locked") == 0) {
          if (horus_pool_alloc(p, MB, &s, &g, &off)) _exit(3);
          if (write(fds[1], "r", 1) != 1) _exit(4); /* about to die */
          horus__fault_point = fault;
          horus_pool_release(p, s, g);
          _exit(5); /* not reached */
        }
        if (write(fds[1], "a", 1) != 1) _exit(4);
        horus__fault_point = fault;
      }
      if (horus_pool_alloc(p, MB, &s, &g, &off)) _exit(3);
      memset(horus_pool_data(p, off), i, MB);
    }
    if (write(fds[1], "k", 1) != 1) _exit(4);
    pause();
    _exit(0);
  }
  close(fds[1]);
  *ready_fd = fds[0];
  return pid;
}

static void test_crash_recovery(void) {
  horus_pool *p;
  CHECK_OK(horus_pool_open(9, 64 * MB, 64, HORUS_POOL_CREATE, &p));
  horus_pool_stats base, st;
  CHECK_OK(horus_pool_stats_get(p, &base));

  /* 1. A process killed while holding references. */
  int fd;
  pid_t pid = spawn_holder(5, NULL, &fd);
  char c;
  CHECK(read(fd, &c, 1) == 1 && c == 'k');
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.used_bytes == base.used_bytes + 5 * MB && st.holders == base.holders + 1);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(fd);
  CHECK(horus_pool_reclaim(p) == 5);
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.used_bytes == base.used_bytes && st.holders == base.holders);

  /* 2. Killed inside alloc while holding the pool lock. */
  uint64_t repairs0, repairs1;
  CHECK_OK(horus__pool_repairs(p, &repairs0));
  pid = spawn_holder(3, "alloc_locked", &fd);
  int status;
  waitpid(pid, &status, 0);
  close(fd);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  CHECK_OK(horus__pool_repairs(p, &repairs1));
  CHECK(repairs1 == repairs0 + 1);
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.used_bytes == base.used_bytes && st.allocated_slots == base.allocated_slots);
  uint32_t s, g;
  uint64_t off;
  CHECK_OK(horus_pool_alloc(p, 60 * MB, &s, &g, &off)); /* the room is really back */
  CHECK_OK(horus_pool_release(p, s, g));

  /* 3. Killed inside release, after its ledger dropped the last reference
   * but before the block was freed. */
  pid = spawn_holder(2, "release_locked", &fd);
  waitpid(pid, &status, 0);
  close(fd);
  CHECK(WIFSIGNALED(status));
  CHECK_OK(horus_pool_reclaim(p) >= 0 ? 0 : -1);
  CHECK_OK(horus_pool_stats_get(p, &st));
  CHECK(st.used_bytes == base.used_bytes && st.total_refs == base.total_refs);
  CHECK_OK(horus_pool_alloc(p, 60 * MB, &s, &g, &off));
  CHECK_OK(horus_pool_release(p, s, g));
  horus_pool_close(p);
}

int main(void) {
  test_basics();
  test_hostile_segments();
  test_crash_recovery();
  check_remove_namespace();
  return check_report("test_pool");
}
