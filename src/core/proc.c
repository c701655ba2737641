/* proc.c - process identity and liveness, fork tracking, fault injection. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

_Atomic unsigned horus__fork_epoch = 0;
const char *horus__fault_point = NULL;

static horus__proc self_cache;
static unsigned self_epoch = ~0u;
static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;

/* Field 22 of /proc/<pid>/stat (starttime), or 0 if the process is gone.
 * The command name (field 2) may hold spaces and parentheses, so parse from
 * the last ')'.  Also reports zombies, which hold no references any more. */
static uint64_t read_start_time(int32_t pid, bool *zombie) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return 0;
  p += 2; /* field 3: state */
  if (zombie) *zombie = (*p == 'Z' || *p == 'X');
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p) return 0;
    p++;
  }
  return strtoull(p, NULL, 10);
}

static void on_fork_child(void) {
  atomic_fetch_add(&horus__fork_epoch, 1);
}

static void init_once(void) {
  pthread_atfork(NULL, NULL, on_fork_child);
  const char *f = getenv("HORUS_FAULT");
  if (f && *f) horus__fault_point = f;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

void horus__proc_self(horus__proc *out) {
  pthread_once(&once, init_once);
  unsigned epoch = atomic_load(&horus__fork_epoch);
  pthread_mutex_lock(&self_lock);
  if (self_epoch != epoch) {
    self_cache.pid = (int32_t)getpid();
    self_cache.start_time = read_start_time(self_cache.pid, NULL);
    self_epoch = epoch;
  }
  *out = self_cache;
  pthread_mutex_unlock(&self_lock);
}

bool horus__proc_alive(const horus__proc *p) {
  if (p->pid <= 0) return false;
  if (kill(p->pid, 0) != 0 && errno == ESRCH) return false;
  bool zombie = false;
  uint64_t st = read_start_time(p->pid, &zombie);
  if (st == 0) {
    /* /proc unreadable (hidepid, another pid namespace): trust kill(). */
    return kill(p->pid, 0) == 0 || errno == EPERM;
  }
  return !zombie && st == p->start_time;
}

void horus__fault_slow(const char *point) {
  if (strcmp(horus__fault_point, point) == 0) {
    raise(SIGKILL);
  }
}

uint64_t horus__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t horus__random64(void) {
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v) return v;
  return horus__now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&v;
}

/* Constructor: read HORUS_FAULT early so the fault points in hot paths stay
 * a single load, and register the fork handler before any pool is opened. */
__attribute__((constructor)) static void proc_ctor(void) {
  pthread_once(&once, init_once);
}
