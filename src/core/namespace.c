/* namespace.c - a namespace: the private directory of one user's segments
 * for one HORUS_NAMESPACE, what lives in it, and cleaning it.  See
 * horus/namespace.h for the contract.
 *
 * Segments are plain files in <shm>/horus-<uid>/<namespace>/: pool.<id>,
 * topic.<name>, and creators' temporaries ".<segment>.<pid>.<random>".  Node
 * files (node.<id>, proc.c) live one level up, in the per-user directory,
 * since a process takes part in every namespace it opens.  Both directories
 * are mode 0700 and must belong to us, so another user can neither read our
 * segments nor plant one for us to trust. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "horus/namespace.h"
#include "pool_internal.h"
#include "topic_internal.h"

/* ---- names and directories ------------------------------------------------ */

bool horus__name_valid(const char *name) {
  if (!name || !*name || name[0] == '.') return false;
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok || n >= HORUS_NAME_MAX) return false;
  }
  return true;
}

bool horus__name_eq(const char *a, const char *b) {
  for (;; a++, b++) {
    char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
    char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
    if (x != y) return false;
    if (!x) return true;
  }
}

int horus__ns_name(const char **out) {
  const char *ns = getenv("HORUS_NAMESPACE");
  if (!ns || !*ns) ns = "default";
  if (!horus__name_valid(ns))
    return horus__err(HORUS_EINVAL,
                      "invalid namespace '%.80s' (HORUS_NAMESPACE): use 1-%d "
                      "characters of [A-Za-z0-9._-], not starting with '.'",
                      ns, HORUS_NAME_MAX);
  *out = ns;
  return 0;
}

/* mkdir -m 0700 if missing (and `create`), then insist it is our own
 * private directory.  HORUS_ENOENT when missing and not to be created. */
static int private_dir(const char *path, bool create) {
  if (create && mkdir(path, 0700) != 0 && errno != EEXIST)
    return horus__err(HORUS_EIO, "mkdir %s: %s", path, strerror(errno));
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return horus__err(HORUS_ENOENT, "%s does not exist", path);
    return horus__err(HORUS_EIO, "stat %s: %s", path, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return horus__err(HORUS_EPERM, "%s is not a directory (a symlink?)", path);
  if (st.st_uid != geteuid())
    return horus__err(HORUS_EPERM, "%s belongs to uid %u, not to us (uid %u)",
                      path, (unsigned)st.st_uid, (unsigned)geteuid());
  if (st.st_mode & 077)
    return horus__err(HORUS_EPERM, "%s has mode %03o: must be 0700", path,
                      (unsigned)(st.st_mode & 0777));
  return 0;
}

/* True when `path` is a directory that another user made (in a sticky
 * /dev/shm anyone can create any name, so one user can squat another's). */
static bool squatted(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && st.st_uid != geteuid();
}

/* The per-user directory, <base>/horus-<uid>.  When HORUS_SHM_DIR is not
 * set and another user squats /dev/shm/horus-<uid>, the segments go to
 * $XDG_RUNTIME_DIR/horus-<uid> instead (a tmpfs that only we can write,
 * made by the system at login), with a warning naming the squatter: another
 * user can make us move, never stop us or feed us their files. */
static int user_dir(char *buf, size_t len, bool create) {
  const char *base = getenv("HORUS_SHM_DIR");
  bool chosen = base && *base;
  if (!chosen) base = "/dev/shm";
  int n = snprintf(buf, len, "%s/horus-%u", base, (unsigned)geteuid());
  if (n < 0 || (size_t)n >= len) return horus__err(HORUS_EINVAL, "HORUS_SHM_DIR is too long");
  int r = private_dir(buf, create);
  if (r != HORUS_EPERM || chosen || !squatted(buf)) return r;

  char squat[HORUS__PATH_MAX];
  snprintf(squat, sizeof squat, "%s", buf);
  struct stat st;
  unsigned owner = lstat(squat, &st) == 0 ? (unsigned)st.st_uid : 0;
  const char *rt = getenv("XDG_RUNTIME_DIR");
  char rtbuf[64];
  if (!rt || !*rt) {
    snprintf(rtbuf, sizeof rtbuf, "/run/user/%u", (unsigned)geteuid());
    rt = rtbuf;
  }
  if (lstat(rt, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
    return horus__err(HORUS_EPERM, "%s belongs to uid %u, not to us (uid %u): another user "
                      "made it, and there is no private runtime directory to use instead. "
                      "Ask root to remove it, or set HORUS_SHM_DIR to a directory of yours",
                      squat, owner, (unsigned)geteuid());
  n = snprintf(buf, len, "%s/horus-%u", rt, (unsigned)geteuid());
  if (n < 0 || (size_t)n >= len) return horus__err(HORUS_EINVAL, "XDG_RUNTIME_DIR is too long");
  if ((r = private_dir(buf, create))) return r;
  static _Atomic bool warned;
  if (!atomic_exchange(&warned, true))
    fprintf(stderr, "horus: %s belongs to uid %u, not to us: using %s instead "
            "(every process of yours does the same)\n", squat, owner, buf);
  return 0;
}

static int ns_dir(char *buf, size_t len, bool create) {
  const char *ns = NULL;
  int r = horus__ns_name(&ns);
  if (r) return r;
  if ((r = user_dir(buf, len, create))) return r;
  size_t used = strlen(buf);
  int n = snprintf(buf + used, len - used, "/%s", ns);
  if (n < 0 || (size_t)n >= len - used) return horus__err(HORUS_EINVAL, "HORUS_SHM_DIR is too long");
  return private_dir(buf, create);
}

int horus__ns_dir(char *buf, size_t len) { return ns_dir(buf, len, true); }

int horus_namespace_dir(char *buf, size_t len, bool create) { return ns_dir(buf, len, create); }


/* ---- listing ------------------------------------------------------------------ */

/* Calls visit(name) for each entry of the namespace directory starting with
 * `prefix`; a namespace that does not exist yet has none (and is not made). */
static int each_entry(const char *prefix, int (*visit)(const char *dir, const char *name,
                                                       void *arg), void *arg) {
  char dir[HORUS__PATH_MAX];
  int r = ns_dir(dir, sizeof dir, false);
  if (r == HORUS_ENOENT) return 0;
  if (r) return r;
  DIR *d = opendir(dir);
  if (!d) return horus__err(HORUS_EIO, "opendir %s: %s", dir, strerror(errno));
  size_t plen = strlen(prefix);
  struct dirent *de;
  r = 0;
  while (r == 0 && (de = readdir(d)))
    if (strncmp(de->d_name, prefix, plen) == 0 && horus__name_valid(de->d_name))
      r = visit(dir, de->d_name, arg);
  closedir(d);
  return r < 0 ? r : 0;
}

typedef struct topic_visit {
  int (*visit)(const horus_topic_info *, void *);
  void *arg;
} topic_visit;

static int visit_topic(const char *dir, const char *name, void *arg) {
  topic_visit *v = arg;
  horus_topic_info info;
  if (horus__topic_info_at(dir, name, &info) != 0) return 0; /* unreadable: skipped */
  return v->visit(&info, v->arg);
}

int horus_namespace_topics(int (*visit)(const horus_topic_info *info, void *arg), void *arg) {
  topic_visit v = {visit, arg};
  return each_entry(HORUS__TOPIC_PREFIX, visit_topic, &v);
}

typedef struct pool_visit {
  int (*visit)(uint32_t, const char *, void *);
  void *arg;
} pool_visit;

static int visit_pool(const char *dir, const char *name, void *arg) {
  pool_visit *v = arg;
  char *end;
  unsigned long id = strtoul(name + HORUS__PREFIX_LEN(HORUS__POOL_PREFIX), &end, 10);
  if (*end || name[HORUS__PREFIX_LEN(HORUS__POOL_PREFIX)] == '\0' || id > UINT32_MAX) return 0;
  char path[HORUS__PATH_MAX + 260];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return v->visit((uint32_t)id, path, v->arg);
}

int horus_namespace_pools(int (*visit)(uint32_t pool_id, const char *path, void *arg),
                          void *arg) {
  pool_visit v = {visit, arg};
  return each_entry(HORUS__POOL_PREFIX, visit_pool, &v);
}

int horus_namespaces(int (*visit)(const char *name, void *arg), void *arg) {
  char dir[HORUS__PATH_MAX];
  int r = user_dir(dir, sizeof dir, false);
  if (r == HORUS_ENOENT) return 0;
  if (r) return r;
  DIR *d = opendir(dir);
  if (!d) return horus__err(HORUS_EIO, "opendir %s: %s", dir, strerror(errno));
  struct dirent *de;
  r = 0;
  while (r == 0 && (de = readdir(d))) {
    if (!horus__name_valid(de->d_name) || strncmp(de->d_name, HORUS__NODE_PREFIX, HORUS__PREFIX_LEN(HORUS__NODE_PREFIX)) == 0) continue;
    char path[HORUS__PATH_MAX + 260];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) r = visit(de->d_name, arg);
  }
  closedir(d);
  return r < 0 ? r : 0;
}

typedef struct list_into {
  horus_topic_info *out;
  int max, n;
} list_into;

static int collect_topic(const horus_topic_info *info, void *arg) {
  list_into *l = arg;
  if (l->n < l->max) l->out[l->n] = *info;
  l->n++;
  return 0;
}

int horus_topic_list(horus_topic_info *out, int max) {
  list_into l = {out, max, 0};
  int r = horus_namespace_topics(collect_topic, &l);
  return r ? r : l.n;
}

/* ---- cleaning ------------------------------------------------------------------ */

int horus__unlink_reported(const char *dir, const char *name,
                           void (*removed)(const char *, void *), void *arg) {
  char path[HORUS__PATH_MAX + 260];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (unlink(path) != 0) return 0;
  if (removed) removed(path, arg);
  return 1;
}

/* A creator's temporary, ".<segment>.<pid>.<random>", lives for the moment
 * of its creation; one older than a minute was left by a creator that died.
 * (Its pid means nothing in another PID namespace, so age decides.) */
static bool stale_temporary(const char *dir, const char *name) {
  char path[HORUS__PATH_MAX + 260];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct stat st;
  return lstat(path, &st) == 0 && time(NULL) - st.st_mtime > 60;
}

int horus_clean(bool all, void (*removed)(const char *path, void *arg), void *arg) {
  char dir[HORUS__PATH_MAX], udir[HORUS__PATH_MAX];
  const char *ns = NULL;
  int r = horus__ns_name(&ns);
  if (r == 0) r = ns_dir(dir, sizeof dir, false);
  if (r == HORUS_ENOENT) { /* nothing of this namespace; dead nodes may still lie about */
    if (user_dir(udir, sizeof udir, false) != 0) return 0;
    return horus__node_sweep(udir, removed, arg);
  }
  if (r == 0) r = horus__user_dir_of(dir, udir, sizeof udir);
  if (r) return r;
  int count = 0;
  /* Two passes: topics first, so that the pools they held references in
   * see those holders gone when they are examined. */
  for (int pass = 0; pass < 2; pass++) {
    DIR *d = opendir(dir);
    if (!d) return horus__err(HORUS_EIO, "opendir %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
      const char *n = de->d_name;
      if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0) continue;
      if (pass == 0 && n[0] == '.') {
        if (all || stale_temporary(dir, n))
          count += horus__unlink_reported(dir, n, removed, arg);
      } else if (pass == 0 && strncmp(n, HORUS__TOPIC_PREFIX, HORUS__PREFIX_LEN(HORUS__TOPIC_PREFIX)) == 0) {
        count += horus__topic_clean(dir, n, all, removed, arg);
      } else if (pass == 1 && strncmp(n, HORUS__POOL_PREFIX, HORUS__PREFIX_LEN(HORUS__POOL_PREFIX)) == 0) {
        char *end;
        unsigned long id = strtoul(n + HORUS__PREFIX_LEN(HORUS__POOL_PREFIX), &end, 10);
        if (*end || id > UINT32_MAX) continue;
        if (all) {
          count += horus__unlink_reported(dir, n, removed, arg);
          continue;
        }
        if (horus__pool_is_open((uint32_t)id)) continue; /* we use it ourselves */
        /* A pool that cannot be opened (holder table full, lock held by a
         * stopped process, another version) may be in use: never removed
         * on a guess. */
        horus_pool *p;
        if (horus_pool_open((uint32_t)id, 0, 0, 0, &p) != 0) continue;
        if (horus__pool_unlink_if_unused(p) == 1) {
          count++;
          if (removed) removed(horus_pool_path(p), arg);
        }
        horus_pool_close(p);
      }
    }
    closedir(d);
  }
  if (all) {
    horus__pool_retire_namespace(ns);
    rmdir(dir);
  }
  count += horus__node_sweep(udir, removed, arg);
  if (all) rmdir(udir); /* only when no other namespace or live node is left */
  return count;
}
