/* error.c - error names, messages and the per-thread failure detail. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char errmsg_buf[512];

const char *horus_strerror(int err) {
  switch (err) {
    case 0:
      return "success";
#define HORUS__ERR_CASE(name, value, msg) \
  case value:                             \
    return msg;
      HORUS_ERRNO_MAP(HORUS__ERR_CASE)
#undef HORUS__ERR_CASE
    default:
      return "unknown error";
  }
}

const char *horus_err_name(int err) {
  switch (err) {
    case 0:
      return "HORUS_OK";
#define HORUS__ERR_CASE(name, value, msg) \
  case value:                             \
    return "HORUS_" #name;
      HORUS_ERRNO_MAP(HORUS__ERR_CASE)
#undef HORUS__ERR_CASE
    default:
      return "HORUS_EUNKNOWN";
  }
}

const char *horus_errmsg(void) { return errmsg_buf; }

int horus__err(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errmsg_buf, sizeof errmsg_buf, fmt, ap);
  va_end(ap);
  return err;
}
