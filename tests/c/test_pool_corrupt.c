/* test_pool_corrupt.c - a pool whose shared state another process scribbles
 * over must never crash this one.  Random bytes land in the allocator's
 * control block, its block records, the slot table and the holder table
 * while this process keeps allocating and releasing; every call must return
 * 0 or a HORUS_E* code (AddressSanitizer, in the sanitized CI run, catches
 * any out-of-bounds access the checks missed). */
#include <string.h>

#include "check.h"
#include "pool_internal.h"

static void scribble(uint8_t *base, size_t len) {
  size_t at = (size_t)(check_rand() % len);
  size_t n = 1 + (size_t)(check_rand() % 8);
  for (size_t i = 0; i < n && at + i < len; i++) base[at + i] = (uint8_t)check_rand();
}

int main(void) {
  horus_pool *p;
  CHECK_OK(horus_pool_open(11, 8u << 20, 64, HORUS_POOL_CREATE, &p));
  uint32_t live_slot[64], live_gen[64];
  int nlive = 0, bad_codes = 0, calls = 0;
  for (int iter = 0; iter < 20000; iter++) {
    if (iter % 4 == 0) {
      switch (check_rand() % 4) {
        case 0: scribble((uint8_t *)&p->hdr->tlsf, sizeof p->hdr->tlsf); break;
        case 1: scribble((uint8_t *)p->recs, p->nrec * sizeof *p->recs); break;
        case 2: scribble((uint8_t *)p->slots, p->max_slots * sizeof *p->slots); break;
        default:
          scribble((uint8_t *)&p->hdr->slot_free_head, 2 * sizeof(uint32_t));
          break;
      }
    }
    int r;
    if (nlive < 64 && check_rand() % 2) {
      uint32_t s, g;
      uint64_t off;
      r = horus_pool_alloc(p, 1 + check_rand() % (256u << 10), &s, &g, &off);
      if (r == 0) {
        CHECK(off < (8u << 20));
        live_slot[nlive] = s;
        live_gen[nlive++] = g;
      }
    } else if (nlive) {
      int i = (int)(check_rand() % (uint64_t)nlive);
      r = horus_pool_release(p, live_slot[i], live_gen[i]);
      live_slot[i] = live_slot[--nlive];
      live_gen[i] = live_gen[nlive];
    } else {
      horus_pool_stats st;
      r = horus_pool_stats_get(p, &st);
    }
    calls++;
    if (r > 0 || r < HORUS_ERRNO_MIN) bad_codes++;
  }
  CHECK(bad_codes == 0);
  printf("%d calls on a pool under random corruption, no crash\n", calls);

  /* Once the scribbling stops, repairs leave a working pool. */
  while (nlive) {
    nlive--;
    horus_pool_release(p, live_slot[nlive], live_gen[nlive]);
  }
  uint32_t s, g;
  uint64_t off;
  CHECK_OK(horus_pool_alloc(p, 4096, &s, &g, &off));
  CHECK_OK(horus_pool_release(p, s, g));
  horus_pool_close(p);
  check_remove_namespace();
  return check_report("test_pool_corrupt");
}
