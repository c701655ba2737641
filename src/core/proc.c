/* proc.c - process identity and liveness (nodes), fork tracking, fault
 * injection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
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

/* ---- nodes ----------------------------------------------------------------- */

#define MAX_NODES 8 /* user directories one process takes part in */

typedef struct node {
  int fd; /* holds the flock; -1 when unused */
  uint64_t id;
  char dir[HORUS__PATH_MAX];
} node;

static pthread_mutex_t node_lock = PTHREAD_MUTEX_INITIALIZER;
static node nodes[MAX_NODES];
static int nnodes;
static bool node_atexit_registered;

static int node_path(char *buf, size_t len, const char *dir, uint64_t id) {
  int n = snprintf(buf, len, "%s/" HORUS__NODE_PREFIX "%016llx", dir, (unsigned long long)id);
  if (n < 0 || (size_t)n >= len) return horus__err(HORUS_EINVAL, "path %s is too long", dir);
  return 0;
}

/* Normal exit: remove our node files (the locks go with the process). */
static void node_exit(void) {
  pthread_mutex_lock(&node_lock);
  for (int i = 0; i < nnodes; i++) {
    char path[HORUS__PATH_MAX + 32];
    if (node_path(path, sizeof path, nodes[i].dir, nodes[i].id) == 0) unlink(path);
    close(nodes[i].fd);
  }
  nnodes = 0;
  pthread_mutex_unlock(&node_lock);
}

int horus__node_self(const char *dir, uint64_t *id) {
  pthread_mutex_lock(&node_lock);
  for (int i = 0; i < nnodes; i++) {
    if (strcmp(nodes[i].dir, dir) == 0) {
      *id = nodes[i].id;
      pthread_mutex_unlock(&node_lock);
      return 0;
    }
  }
  int r = 0;
  if (nnodes == MAX_NODES) {
    r = horus__err(HORUS_EBUSY, "this process uses more than %d shared-memory "
                   "directories", MAX_NODES);
    goto out;
  }
  /* Created and locked under a temporary name, then renamed into place, so
   * no one ever sees the node file without its lock (and calls it dead). */
  node *n = &nodes[nnodes];
  n->id = horus__random64();
  snprintf(n->dir, sizeof n->dir, "%s", dir);
  char path[HORUS__PATH_MAX + 32], tmp[HORUS__PATH_MAX + 48];
  if ((r = node_path(path, sizeof path, dir, n->id))) goto out;
  snprintf(tmp, sizeof tmp, "%s/.node.%016llx.new", dir, (unsigned long long)n->id);
  int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    r = horus__err(HORUS_EIO, "create %s: %s", tmp, strerror(errno));
    goto out;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, path) != 0) {
    r = horus__err(HORUS_EIO, "node file %s: %s", path, strerror(errno));
    unlink(tmp);
    close(fd);
    goto out;
  }
  /* Who owns it, for people and tools: "<pid> <comm>\n". */
  char comm[64] = "", line[96];
  int cfd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
  if (cfd >= 0) {
    ssize_t k = read(cfd, comm, sizeof comm - 1);
    comm[k > 0 ? k : 0] = '\0';
    close(cfd);
    char *nl = strchr(comm, '\n');
    if (nl) *nl = '\0';
  }
  int len = snprintf(line, sizeof line, "%d %s\n", (int)getpid(), comm);
  if (len > 0 && write(fd, line, (size_t)len) < 0) { /* informative only */ }
  n->fd = fd;
  *id = n->id;
  nnodes++;
  if (!node_atexit_registered) {
    atexit(node_exit);
    node_atexit_registered = true;
  }
out:
  pthread_mutex_unlock(&node_lock);
  return r;
}

int horus__node_alive(const char *dir, uint64_t id) {
  char path[HORUS__PATH_MAX + 32];
  if (node_path(path, sizeof path, dir, id)) return HORUS__NODE_ALIVE;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? HORUS__NODE_DEAD : HORUS__NODE_ALIVE;
  int r = flock(fd, LOCK_SH | LOCK_NB) == 0 ? HORUS__NODE_DEAD : HORUS__NODE_ALIVE;
  close(fd); /* drops the shared lock we may have taken */
  return r;
}

int horus__node_sweep(const char *dir, void (*removed)(const char *, void *), void *arg) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int count = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    const char *name = de->d_name;
    char *end;
    if (strncmp(name, ".node.", 6) == 0) { /* a creator that died before renaming it */
      char tmp[HORUS__PATH_MAX + 260];
      struct stat st;
      snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
      if (lstat(tmp, &st) == 0 && time(NULL) - st.st_mtime > 60 && unlink(tmp) == 0) {
        count++;
        if (removed) removed(tmp, arg);
      }
      continue;
    }
    size_t plen = HORUS__PREFIX_LEN(HORUS__NODE_PREFIX);
    if (strncmp(name, HORUS__NODE_PREFIX, plen) != 0 || strlen(name) != plen + 16) continue;
    unsigned long long id = strtoull(name + plen, &end, 16);
    if (*end || horus__node_alive(dir, id) != HORUS__NODE_DEAD) continue;
    char path[HORUS__PATH_MAX + 32];
    if (node_path(path, sizeof path, dir, id) == 0 && unlink(path) == 0) {
      count++;
      if (removed) removed(path, arg);
    }
  }
  closedir(d);
  return count;
}

int horus__user_dir_of(const char *ns_dir, char *buf, size_t len) {
  const char *slash = strrchr(ns_dir, '/');
  size_t n = slash ? (size_t)(slash - ns_dir) : 0;
  if (!slash || n == 0 || n >= len)
    return horus__err(HORUS_EINVAL, "%s has no parent directory", ns_dir);
  memcpy(buf, ns_dir, n);
  buf[n] = '\0';
  return 0;
}

/* ---- fork ------------------------------------------------------------------ */

static void before_fork(void) { pthread_mutex_lock(&node_lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&node_lock); }

static void on_fork_child(void) {
  atomic_fetch_add(&horus__fork_epoch, 1);
  /* The parent's node locks are the parent's: a child that kept these
   * descriptors would keep a dead parent looking alive. */
  for (int i = 0; i < nnodes; i++) close(nodes[i].fd);
  nnodes = 0;
  pthread_mutex_unlock(&node_lock);
}

static void init_once(void) {
  pthread_atfork(before_fork, after_fork_parent, on_fork_child);
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

static uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t horus__now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

uint64_t horus__coarse_ns(void) { return clock_ns(CLOCK_MONOTONIC_COARSE); }

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
