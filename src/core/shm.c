/* shm.c - shared-memory segments: how they are created, published and
 * validated (where they live is namespace.c's business).
 *
 * A segment is written
 * under a temporary name and link()ed into place, so nobody ever opens a
 * half-initialised one; the header's magic is still stored last (release)
 * and checked first (acquire) for a segment from an older writer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "horus/pool.h"
#include "internal.h"

static int join(char *out, size_t len, const char *dir, const char *name) {
  int n = snprintf(out, len, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= len)
    return horus__err(HORUS_EINVAL, "path %s/%s is too long", dir, name);
  return 0;
}

int horus__seg_create(const char *dir, const char *name, uint32_t kind,
                      uint64_t size, uint64_t commit, horus__seg_init_fn init,
                      void *arg, void **base_out, int *fd_out) {
  char path[HORUS__PATH_MAX], tmp[HORUS__PATH_MAX];
  int r;
  if ((r = join(path, sizeof path, dir, name))) return r;
  int n = snprintf(tmp, sizeof tmp, "%s/.%s.%d.%llx", dir, name, (int)getpid(),
                   (unsigned long long)horus__random64());
  if (n < 0 || (size_t)n >= sizeof tmp)
    return horus__err(HORUS_EINVAL, "path %s is too long", path);
  if (size < sizeof(horus__seg_header) || size > (uint64_t)SIZE_MAX / 2)
    return horus__err(HORUS_EINVAL, "segment size %llu is invalid",
                      (unsigned long long)size);

  /* A sparse file larger than the tmpfs would SIGBUS when its pages are
   * touched; refuse up front with the numbers instead. */
  struct statvfs vfs;
  if (statvfs(dir, &vfs) == 0) {
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (size > avail)
      return horus__err(HORUS_ENOMEM,
                        "%s needs %llu bytes but %s has only %llu bytes free "
                        "(enlarge /dev/shm or ask for less)",
                        path, (unsigned long long)size, dir,
                        (unsigned long long)avail);
  }

  int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return horus__err(HORUS_EIO, "create %s: %s", tmp, strerror(errno));
  void *base = MAP_FAILED;
  if (ftruncate(fd, (off_t)size) != 0) {
    r = horus__err(HORUS_EIO, "ftruncate %s to %llu bytes: %s", tmp,
                   (unsigned long long)size, strerror(errno));
    goto fail;
  }
  /* What init writes, and what every opener reads, must have pages behind
   * it: a full tmpfs is an error here, never a SIGBUS later. */
  if (commit && (r = posix_fallocate(fd, 0, (off_t)(commit < size ? commit : size))) != 0 &&
      r != EOPNOTSUPP && r != EINVAL) {
    struct statvfs fs;
    uint64_t avail = statvfs(dir, &fs) == 0 ? (uint64_t)fs.f_bavail * fs.f_frsize : 0;
    r = horus__err(HORUS_ENOMEM, "%s needs %llu bytes of shared memory but %s has only "
                   "%llu bytes free: %s", path, (unsigned long long)commit, dir,
                   (unsigned long long)avail, strerror(r));
    goto fail;
  }
  base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    r = horus__err(HORUS_EIO, "mmap %s: %s", tmp, strerror(errno));
    goto fail;
  }
  horus__seg_header *h = base;
  h->version = HORUS__LAYOUT_VERSION;
  h->kind = kind;
  h->file_size = size;
  h->nonce = horus__random64();
  h->created_ns = horus__now_ns();
  h->creator_pid = (int32_t)getpid();
  if ((r = init(base, size, arg))) goto fail;
  atomic_store_explicit(&h->magic, HORUS__MAGIC, memory_order_release);

  if (link(tmp, path) != 0) {
    int e = errno;
    r = e == EEXIST ? HORUS_EAGAIN
                    : horus__err(HORUS_EIO, "link %s: %s", path, strerror(e));
    goto fail;
  }
  unlink(tmp);
  if (fd_out)
    *fd_out = fd;
  else
    close(fd);
  *base_out = base;
  return 0;

fail:
  if (base != MAP_FAILED) munmap(base, size);
  unlink(tmp);
  close(fd);
  return r;
}

static int open_checked(const char *dir, const char *name, int *fd_out,
                        struct stat *st, char *path, size_t pathlen) {
  int r;
  if ((r = join(path, pathlen, dir, name))) return r;
  int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return horus__err(HORUS_ENOENT, "%s does not exist", path);
    if (e == ELOOP) return horus__err(HORUS_EPERM, "%s is a symlink", path);
    if (e == EACCES) return horus__err(HORUS_EPERM, "open %s: %s", path, strerror(e));
    return horus__err(HORUS_EIO, "open %s: %s", path, strerror(e));
  }
  if (fstat(fd, st) != 0) {
    r = horus__err(HORUS_EIO, "fstat %s: %s", path, strerror(errno));
    close(fd);
    return r;
  }
  if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & 077)) {
    close(fd);
    return horus__err(HORUS_EPERM,
                      "%s is not a private regular file of uid %u "
                      "(owner %u, mode %03o): refusing to trust it",
                      path, (unsigned)geteuid(), (unsigned)st->st_uid,
                      (unsigned)(st->st_mode & 0777));
  }
  *fd_out = fd;
  return 0;
}

int horus__seg_peek(const char *dir, const char *name, horus__seg_header *out) {
  char path[HORUS__PATH_MAX];
  struct stat st;
  int fd, r;
  if ((r = open_checked(dir, name, &fd, &st, path, sizeof path))) return r;
  ssize_t n = pread(fd, out, sizeof *out, 0);
  close(fd);
  if (n != (ssize_t)sizeof *out)
    return horus__err(HORUS_ECORRUPT, "%s: header is truncated", path);
  return 0;
}

int horus__seg_open(const char *dir, const char *name, uint32_t kind,
                    void **base_out, uint64_t *size_out, int *fd_out) {
  char path[HORUS__PATH_MAX];
  struct stat st;
  int fd, r;
  if ((r = open_checked(dir, name, &fd, &st, path, sizeof path))) return r;
  uint64_t size = (uint64_t)st.st_size;
  if (size < sizeof(horus__seg_header)) {
    close(fd);
    return horus__err(HORUS_ECORRUPT, "%s: %llu bytes is too short for a header",
                      path, (unsigned long long)size);
  }
  void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    r = horus__err(HORUS_EIO, "mmap %s: %s", path, strerror(errno));
    close(fd);
    return r;
  }
  horus__seg_header *h = base;

  /* Segments are linked into place whole (horus__seg_create), so a bad
   * magic is never a segment still being written: refuse it at once rather
   * than stall on a file someone else planted. */
  uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
  if (magic != HORUS__MAGIC) {
    r = horus__err(HORUS_ECORRUPT, "%s: bad magic %016llx (not a horus segment)",
                   path, (unsigned long long)magic);
  } else if (h->version != HORUS__LAYOUT_VERSION) {
    r = horus__err(HORUS_EVERSION, "%s: layout version %u, this library reads %u",
                   path, h->version, HORUS__LAYOUT_VERSION);
  } else if (h->kind != kind) {
    r = horus__err(HORUS_ECORRUPT, "%s: segment kind %u, expected %u", path,
                   h->kind, kind);
  } else if (h->file_size != size) {
    r = horus__err(HORUS_ECORRUPT, "%s: header says %llu bytes, file has %llu",
                   path, (unsigned long long)h->file_size,
                   (unsigned long long)size);
  } else {
    *base_out = base;
    *size_out = size;
    if (fd_out)
      *fd_out = fd;
    else
      close(fd);
    return 0;
  }
  munmap(base, size);
  close(fd);
  return r;
}

void horus__seg_unmap(void *base, uint64_t size) {
  if (base) munmap(base, size);
}
