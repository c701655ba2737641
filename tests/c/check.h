/* check.h - the few assertions the C tests need.  A failed CHECK prints the
 * expression and location and counts; main() returns check_report(). */
#ifndef HORUS_TEST_CHECK_H
#define HORUS_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "horus/horus.h"

static int check_failures, check_count;

#define CHECK(expr)                                                          \
  do {                                                                       \
    check_count++;                                                           \
    if (!(expr)) {                                                           \
      check_failures++;                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
    }                                                                        \
  } while (0)

/* CHECK that a horus call returned `want`, printing the detail otherwise. */
#define CHECK_RC(call, want)                                                    \
  do {                                                                          \
    int rc_ = (call);                                                           \
    check_count++;                                                              \
    if (rc_ != (want)) {                                                        \
      check_failures++;                                                         \
      fprintf(stderr, "%s:%d: %s returned %s (%s), wanted %s\n", __FILE__,      \
              __LINE__, #call, horus_err_name(rc_), horus_errmsg(),             \
              horus_err_name(want));                                            \
    }                                                                           \
  } while (0)

#define CHECK_OK(call) CHECK_RC(call, 0)

/* A deterministic xorshift generator, so a failing run can be replayed. */
static uint64_t check_rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t check_rand(void) {
  check_rng_state ^= check_rng_state << 13;
  check_rng_state ^= check_rng_state >> 7;
  check_rng_state ^= check_rng_state << 17;
  return check_rng_state;
}

#include "namespace.h"

static inline int check_report(const char *name) {
  printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
  return check_failures ? 1 : 0;
}

#endif
