/* test_alloc.c - the TLSF allocator alone: correctness under a million
 * random operations, and no failure for want of contiguous room while live
 * bytes stay under half the region. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "tlsf.h"

#define REGION (1ull << 30) /* 1 GiB of offsets: nothing is touched */
#define MAX_LIVE 4096
#define OPS 1000000

/* Walk the address-ordered chain: blocks tile the region, no two free
 * neighbours, used bytes add up. */
static void check_chain(const horus__tlsf *t, const horus__tlsf_block *recs,
                        uint32_t first) {
  uint64_t at = 0, used = 0;
  int prev_free = 0, ok = 1;
  for (uint32_t r = first; r != HORUS__TLSF_NIL; r = recs[r].next_phys) {
    ok &= recs[r].offset == at && recs[r].size > 0 && recs[r].size % 64 == 0;
    ok &= !(prev_free && recs[r].is_free);
    prev_free = (int)recs[r].is_free;
    if (!recs[r].is_free) used += recs[r].size;
    at += recs[r].size;
  }
  CHECK(ok);
  CHECK(at == t->region_size);
  CHECK(used == t->used_bytes);
}

int main(void) {
  static horus__tlsf t;
  static horus__tlsf_block recs[2 * MAX_LIVE + 2];
  static uint32_t live[MAX_LIVE];
  static uint64_t live_size[MAX_LIVE];
  uint32_t nlive = 0;
  uint64_t live_bytes = 0, failures = 0, allocs = 0;
  horus__tlsf_view v = {&t, recs, 2 * MAX_LIVE + 2, REGION};
  horus__tlsf_init(&v);

  for (int op = 0; op < OPS; op++) {
    uint64_t size = 1024 + check_rand() % (8u << 20); /* 1 KB .. 8 MB */
    int do_alloc = nlive < MAX_LIVE && (nlive == 0 || check_rand() % 2) &&
                   live_bytes + size + 64 < REGION / 2;
    if (do_alloc) {
      uint32_t r = horus__tlsf_alloc(&v, size);
      if (r == HORUS__TLSF_NIL) {
        failures++;
        continue;
      }
      allocs++;
      if (recs[r].offset % 64 || recs[r].size < size) failures++;
      live[nlive] = r;
      live_size[nlive++] = recs[r].size;
      live_bytes += recs[r].size;
    } else if (nlive) {
      uint32_t i = (uint32_t)(check_rand() % nlive);
      horus__tlsf_free(&v, live[i]);
      live_bytes -= live_size[i];
      live[i] = live[--nlive];
      live_size[i] = live_size[nlive];
    }
    if (op % 100000 == 0) {
      uint32_t first = live[0];
      if (nlive) {
        while (recs[first].prev_phys != HORUS__TLSF_NIL) first = recs[first].prev_phys;
        check_chain(&t, recs, first);
      }
    }
  }
  printf("allocations: %llu, failures for want of room: %llu\n",
         (unsigned long long)allocs, (unsigned long long)failures);
  CHECK(failures == 0);
  CHECK(t.used_bytes == live_bytes);
  while (nlive) horus__tlsf_free(&v, live[--nlive]);
  CHECK(t.used_bytes == 0);
  CHECK(horus__tlsf_largest_free(&v) == REGION);

  /* Exact fits and exhaustion. */
  v.region_size = 64 * 1000;
  horus__tlsf_init(&v);
  uint32_t a = horus__tlsf_alloc(&v, 64 * 1000);
  CHECK(a != HORUS__TLSF_NIL);
  CHECK(horus__tlsf_alloc(&v, 1) == HORUS__TLSF_NIL);
  horus__tlsf_free(&v, a);
  CHECK(horus__tlsf_alloc(&v, 64 * 1000 + 1) == HORUS__TLSF_NIL);
  CHECK(horus__tlsf_alloc(&v, 0) != HORUS__TLSF_NIL);
  return check_report("test_alloc");
}
