/* fuzz.h - what the fuzz harnesses share: a reader that turns the fuzzer's
 * bytes into an operation script, and a writer that lands bytes in a
 * shared-memory region the way a misbehaving process would.
 *
 * Each harness defines LLVMFuzzerTestOneInput.  Built with clang's
 * -fsanitize=fuzzer it is a coverage-guided fuzzer (tests/fuzz/README.md);
 * linked with replay.c instead it replays a corpus, which is how ctest runs
 * every committed seed and every crash regression under each sanitizer. */
#ifndef HORUS_FUZZ_H
#define HORUS_FUZZ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "horus/horus.h"
#include "namespace.h"

/* The script being read; reads past the end give zeros, so every input is
 * a valid script. */
typedef struct fuzz_in {
  const uint8_t *p;
  size_t n;
} fuzz_in;

static inline uint64_t fuzz_take(fuzz_in *in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) {
    uint8_t b = 0;
    if (in->n) {
      b = *in->p++;
      in->n--;
    }
    v |= (uint64_t)b << (8 * i);
  }
  return v;
}
#define fuzz_u8(in) ((uint8_t)fuzz_take((in), 1))
#define fuzz_u16(in) ((uint16_t)fuzz_take((in), 2))
#define fuzz_u32(in) ((uint32_t)fuzz_take((in), 4))
#define fuzz_u64(in) fuzz_take((in), 8)

/* Copy up to `len` script bytes to `dst` (zeros past the end). */
static inline void fuzz_bytes(fuzz_in *in, void *dst, size_t len) {
  size_t k = len < in->n ? len : in->n;
  memcpy(dst, in->p, k);
  memset((uint8_t *)dst + k, 0, len - k);
  in->p += k;
  in->n -= k;
}

/* A byte range of a region the scribbler leaves alone. */
typedef struct fuzz_hole {
  size_t off, len;
} fuzz_hole;

/* Overwrite 1-8 bytes of region [base, base+len) at an offset the script
 * chooses, except inside `hole`: the pthread mutex, whose corruption is a
 * liveness matter (a lock that looks held is waited for, bounded by the lock
 * timeout the tests exercise) rather than a memory-safety one, and would
 * only make the fuzzer slow. */
static inline void fuzz_scribble(fuzz_in *in, uint8_t *base, size_t len, fuzz_hole hole) {
  size_t at = (size_t)(fuzz_u32(in) % len);
  size_t n = 1 + fuzz_u8(in) % 8;
  uint8_t v[8];
  fuzz_bytes(in, v, n);
  for (size_t i = 0; i < n && at + i < len; i++)
    if (at + i < hole.off || at + i >= hole.off + hole.len) base[at + i] = v[i];
}

/* A thread that takes `lock` and ends without unlocking it: the next
 * locker sees the owner dead and runs the repair (the pool's rebuild, the
 * topic's journal recovery) over whatever the script has scribbled. */
static void *fuzz_die_holding(void *lock) {
  pthread_mutex_lock(lock);
  return NULL;
}

static inline void fuzz_lock_owner_dies(pthread_mutex_t *lock) {
#if defined(__SANITIZE_THREAD__)
  /* ThreadSanitizer does not model robust mutexes: it would report the
   * next lock as a double lock.  The tests that kill lock owners cover
   * this under TSan with real processes. */
  (void)lock;
  return;
#endif
  pthread_t th;
  if (pthread_create(&th, NULL, fuzz_die_holding, lock) == 0) pthread_join(th, NULL);
}

/* Read every byte of a tensor this process was handed, so AddressSanitizer
 * sees any access a bad descriptor would have made out of bounds. */
static inline unsigned fuzz_touch(const void *data, uint64_t nbytes) {
  const volatile uint8_t *b = data;
  unsigned sum = 0;
  if (nbytes) sum = b[0] + b[nbytes - 1] + b[nbytes / 2];
  return sum;
}

/* The same for a tensor that may be strided: its lowest and highest byte
 * and element 0.  A descriptor another process wrote may have a stride of
 * 0 (a broadcast view), whose numel x itemsize is not the bytes it spans:
 * horus checks the span, which is what a reader may touch. */
static inline unsigned fuzz_touch_tensor(const horus_tensor *t) {
  const horus_tensor_desc *d = horus_tensor_get_desc(t);
  if (horus_tensor_numel(t) == 0) return 0;
  int64_t item = (int64_t)horus_dtype_size((horus_dtype)d->dtype), lo = 0, hi = item;
  for (int i = 0; i < d->ndim; i++) {
    int64_t reach = (d->shape[i] - 1) * d->strides[i] * item; /* checked not to overflow */
    if (reach < 0) lo += reach;
    else hi += reach;
  }
  const volatile uint8_t *b = horus_tensor_data(t);
  return b[0] + b[lo] + b[hi - 1];
}

static inline void fuzz_remove_namespace(void) { check_remove_namespace(); }

/* Harnesses run in a namespace of their own under HORUS_SHM_DIR (default
 * /dev/shm), start it empty (a crashed run leaves its damaged segments
 * behind) and remove it at exit. */
static inline void fuzz_environment(const char *ns) {
  setenv("HORUS_NAMESPACE", ns, 0);
  setenv("HORUS_POOL_MB", "8", 0);
  fuzz_remove_namespace();
}

#endif /* HORUS_FUZZ_H */
