/* horus/error.h - error codes shared by every libhorus function.
 *
 * Fallible functions return 0 on success or one of the negative HORUS_E*
 * codes below.  horus_strerror() names a code; horus_errmsg() gives the
 * detail of the last failure on the calling thread (path, sizes, names),
 * which is what the Python layer puts in its exception messages.
 */
#ifndef HORUS_ERROR_H
#define HORUS_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HORUS_API __attribute__((visibility("default")))
#else
#define HORUS_API
#endif

/* X(name, value, message).  Values are stable: they cross process and
 * language boundaries (the Python layer maps each to an exception; the
 * horus command exits 1 on any of them and prints its name and detail,
 * tools/cli.h). */
#define HORUS_ERRNO_MAP(X)                                                    \
  X(EINVAL, -1, "invalid argument")                                           \
  X(ENOMEM, -2, "out of memory (no pool block large enough, or no process memory)") \
  X(ENOSLOT, -3, "pool has no free slot")                                     \
  X(ERANGE, -4, "index or coordinate out of range")                           \
  X(ETYPE, -5, "wrong message or data type")                                  \
  X(ESTALE, -6, "descriptor refers to a block that was freed or reused")      \
  X(EGEOMETRY, -7, "segment exists with a different geometry")                \
  X(ECORRUPT, -8, "segment header is corrupt or truncated")                   \
  X(EVERSION, -9, "segment has another layout version")                       \
  X(EPERM, -10, "segment is not owned by this user or has unsafe mode")       \
  X(ENOENT, -11, "no such segment")                                           \
  X(EIO, -12, "system call failed")                                           \
  X(EOVERFLOW, -13, "size overflows")                                         \
  X(EBUSY, -14, "too many processes or holders attached")                     \
  X(ETIMEDOUT, -15, "timed out")                                              \
  X(EBUFFER, -16, "buffer or DLPack export refused")                          \
  X(ENOTSUP, -17, "not supported")                                            \
  X(EAGAIN, -18, "nothing available")                                         \
  X(EINTR, -19, "interrupted by a signal")

typedef enum {
#define HORUS__ERR_ENUM(name, value, msg) HORUS_##name = (value),
  HORUS_ERRNO_MAP(HORUS__ERR_ENUM)
#undef HORUS__ERR_ENUM
  HORUS_ERRNO_MIN = -19
} horus_errno;

/* Static description of an error code; never NULL ("unknown error" for codes
 * outside the list).  Thread-safe. */
HORUS_API const char *horus_strerror(int err);

/* Symbolic name of an error code ("HORUS_ENOMEM"); never NULL. */
HORUS_API const char *horus_err_name(int err);

/* Detail of the last failure on the calling thread, e.g. "pool 1: requested
 * 1228800 bytes, 4096 bytes free".  Valid until the next failing horus call on
 * the same thread; an empty string if there is none.  Thread-safe (per-thread
 * storage). */
HORUS_API const char *horus_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_ERROR_H */
