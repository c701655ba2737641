/* test_namespace.c - the namespace module: listing looks without creating,
 * pools and topics are enumerated, and clean removes only what is provably
 * unused (never a segment it cannot open, never one a live process holds). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "namespace.h"

#define MB (1ull << 20)

static int count_topic(const horus_topic_info *info, void *arg) {
  if (strcmp(info->name, "ns.cam") == 0) ++*(int *)arg;
  return 0;
}

static int count_pool(uint32_t id, const char *path, void *arg) {
  if (id == 21 && strstr(path, "/pool.21")) ++*(int *)arg;
  return 0;
}

static int find_ns(const char *name, void *arg) {
  return strcmp(name, getenv("HORUS_NAMESPACE")) == 0 ? ++*(int *)arg, 1 : 0;
}

static void test_listing_does_not_create(void) {
  char dir[512], ns[128];
  snprintf(ns, sizeof ns, "%s", getenv("HORUS_NAMESPACE") ? getenv("HORUS_NAMESPACE") : "");
  setenv("HORUS_NAMESPACE", "ctest-namespace-never-made", 1);
  CHECK_RC(horus_namespace_dir(dir, sizeof dir, false), HORUS_ENOENT);
  int n = 0;
  CHECK_OK(horus_namespace_topics(count_topic, &n));
  CHECK_OK(horus_namespace_pools(count_pool, &n));
  CHECK(n == 0);
  CHECK(horus_clean(false, NULL, NULL) >= 0);
  struct stat st;
  CHECK(stat(dir, &st) != 0); /* still not there */
  setenv("HORUS_NAMESPACE", ns, 1);
}

static void test_enumerate(void) {
  horus_pool *p;
  horus_topic *t;
  CHECK_OK(horus_pool_open(21, MB, 16, HORUS_POOL_CREATE, &p));
  CHECK_OK(horus_topic_open("ns.cam", HORUS_MSG_TENSOR, 4, &t));
  int topics = 0, pools = 0, found = 0;
  CHECK_OK(horus_namespace_topics(count_topic, &topics));
  CHECK_OK(horus_namespace_pools(count_pool, &pools));
  CHECK_OK(horus_namespaces(find_ns, &found));
  CHECK(topics == 1 && pools == 1 && found == 1);
  horus_topic_info info[4];
  int n = horus_topic_list(info, 4);
  CHECK(n == 1 && info[0].type == HORUS_MSG_TENSOR && info[0].capacity == 4);
  horus_topic_close(t);
  horus_pool_close(p);
}

/* A pool held by a live process in another process survives clean; once
 * that process is gone it is removed. */
static void test_clean_spares_the_living(void) {
  int ready[2], go[2];
  CHECK(pipe(ready) == 0 && pipe(go) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    horus_pool *p;
    uint32_t s, g;
    uint64_t off;
    if (horus_pool_open(22, MB, 16, HORUS_POOL_CREATE, &p) || horus_pool_alloc(p, 64, &s, &g, &off))
      _exit(2);
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(3);
    if (read(go[0], &c, 1) != 1) _exit(4); /* wait until told */
    _exit(0);
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  char dir[512], path[600];
  CHECK_OK(horus_namespace_dir(dir, sizeof dir, false));
  snprintf(path, sizeof path, "%s/pool.22", dir);
  CHECK(horus_clean(false, NULL, NULL) >= 0);
  CHECK(access(path, F_OK) == 0); /* alive: kept */
  /* A pool that cannot be opened (here: another layout version) is kept too. */
  char other[600];
  snprintf(other, sizeof other, "%s/pool.23", dir);
  horus_pool *q;
  CHECK_OK(horus_pool_open(23, MB, 16, HORUS_POOL_CREATE, &q));
  horus_pool_close(q);
  int fd = open(other, O_RDWR);
  uint32_t version = 999;
  CHECK(pwrite(fd, &version, 4, offsetof(horus__seg_header, version)) == 4);
  close(fd);
  CHECK(horus_clean(false, NULL, NULL) >= 0);
  CHECK(access(other, F_OK) == 0);
  CHECK(write(go[1], &c, 1) == 1);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(horus_clean(false, NULL, NULL) >= 1);
  CHECK(access(path, F_OK) != 0); /* its holder is gone: removed */
  CHECK(access(other, F_OK) == 0);
  CHECK(horus_clean(true, NULL, NULL) >= 1);
  CHECK(access(other, F_OK) != 0);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
}

int main(void) {
  test_listing_does_not_create();
  test_enumerate();
  test_clean_spares_the_living();
  check_remove_namespace();
  return check_report("test_namespace");
}
