/* tlsf.c - see tlsf.h.  Classic TLSF (Masmano et al.) with out-of-band block
 * records: first level by power of two, second level 32 linear steps.
 *
 * Every link read back from shared memory goes through link(), which turns
 * an impossible index into NIL and marks the allocator corrupt, so damaged
 * state can make an operation wrong (and trigger a rebuild) but never make it
 * touch memory outside the record array.  The bounds links are checked
 * against (record count, region size) come from the caller's validated
 * view, never from the shared control block. */
#include "tlsf.h"

#include <stdbool.h>
#include <stddef.h>

#define NIL HORUS__TLSF_NIL
#define SMALL_LIMIT (1ull << HORUS__TLSF_FL_SHIFT)

static inline int fls64(uint64_t v) { return 63 - __builtin_clzll(v); }

static inline uint32_t link(const horus__tlsf_view *v, uint32_t r) {
  if (r < v->nrec || r == NIL) return r;
  v->t->corrupt = 1;
  return NIL;
}

/* Class of a block of `size` bytes (for insertion); false if none fits. */
static bool mapping(const horus__tlsf_view *v, uint64_t size, int *fl, int *sl) {
  horus__tlsf *t = v->t;
  if (size < SMALL_LIMIT) {
    *fl = 0;
    *sl = (int)(size / (SMALL_LIMIT / HORUS__TLSF_SL_COUNT));
  } else {
    int f = fls64(size);
    *sl = (int)((size >> (f - HORUS__TLSF_SL_LOG2)) ^ HORUS__TLSF_SL_COUNT);
    *fl = f - (HORUS__TLSF_FL_SHIFT - 1);
  }
  if (*fl < HORUS__TLSF_FL_COUNT) return true;
  t->corrupt = 1;
  return false;
}

static void list_remove(const horus__tlsf_view *v, uint32_t r) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  horus__tlsf_block *b = &recs[r];
  int fl, sl;
  if (!mapping(v, b->size, &fl, &sl)) return;
  uint32_t prev = link(v, b->prev_free), next = link(v, b->next_free);
  if (prev != NIL) recs[prev].next_free = next;
  else t->heads[fl][sl] = next;
  if (next != NIL) recs[next].prev_free = prev;
  if (t->heads[fl][sl] == NIL) {
    t->sl_bitmap[fl] &= ~(1u << sl);
    if (!t->sl_bitmap[fl]) t->fl_bitmap &= ~(1ull << fl);
  }
  b->prev_free = b->next_free = NIL;
}

static void list_insert(const horus__tlsf_view *v, uint32_t r) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  horus__tlsf_block *b = &recs[r];
  int fl, sl;
  if (!mapping(v, b->size, &fl, &sl)) return;
  uint32_t head = link(v, t->heads[fl][sl]);
  b->prev_free = NIL;
  b->next_free = head;
  if (head != NIL) recs[head].prev_free = r;
  t->heads[fl][sl] = r;
  t->sl_bitmap[fl] |= 1u << sl;
  t->fl_bitmap |= 1ull << fl;
  b->is_free = 1;
}

static uint32_t rec_take(const horus__tlsf_view *v) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  uint32_t r = link(v, t->spare_rec);
  if (r == NIL) return NIL;
  /* A spare record is one rec_give left: not free, size 0.  Anything else
   * is a block in use that a damaged spare list points at. */
  if (recs[r].is_free || recs[r].size != 0) {
    t->corrupt = 1;
    return NIL;
  }
  t->spare_rec = link(v, recs[r].next_free);
  return r;
}

static void rec_give(const horus__tlsf_view *v, uint32_t r) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  recs[r].is_free = 0;
  recs[r].size = 0;
  recs[r].next_free = t->spare_rec;
  t->spare_rec = r;
}

static void reset(const horus__tlsf_view *v) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  uint32_t nrec = v->nrec;
  t->region_size = v->region_size;
  t->used_bytes = 0;
  t->nrec = nrec;
  t->fl_bitmap = 0;
  for (int f = 0; f < HORUS__TLSF_FL_COUNT; f++) {
    t->sl_bitmap[f] = 0;
    for (unsigned s = 0; s < HORUS__TLSF_SL_COUNT; s++) t->heads[f][s] = NIL;
  }
  t->spare_rec = NIL;
  t->corrupt = 0;
  for (uint32_t i = nrec; i-- > 0;) {
    recs[i].prev_phys = recs[i].next_phys = recs[i].prev_free = NIL;
    rec_give(v, i);
  }
}

/* Append a block after `prev` in address order; returns its record. */
static uint32_t append(const horus__tlsf_view *v, uint32_t prev,
                       uint64_t offset, uint64_t size, bool is_free) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  uint32_t r = rec_take(v);
  if (r == NIL) return NIL;
  horus__tlsf_block *b = &recs[r];
  b->offset = offset;
  b->size = size;
  b->prev_phys = prev;
  b->next_phys = NIL;
  b->prev_free = b->next_free = NIL;
  b->is_free = 0;
  if (prev != NIL) recs[prev].next_phys = r;
  if (is_free) list_insert(v, r);
  else t->used_bytes += size;
  return r;
}

void horus__tlsf_init(const horus__tlsf_view *v) {
  reset(v);
  if (v->region_size) append(v, NIL, 0, v->region_size, true);
}

/* A free block of at least `size` bytes that really is free and inside the
 * region, or NIL. */
static uint32_t checked_free(const horus__tlsf_view *v, uint32_t r,
                             uint64_t size) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  r = link(v, r);
  if (r == NIL) return NIL;
  horus__tlsf_block *b = &recs[r];
  if (!b->is_free || b->size < size || b->offset > v->region_size ||
      b->size > v->region_size - b->offset) {
    t->corrupt = 1;
    return NIL;
  }
  return r;
}

static uint32_t find_free(const horus__tlsf_view *v, uint64_t size) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  int fl, sl;
  uint64_t rounded = size;
  if (rounded >= SMALL_LIMIT) rounded += (1ull << (fls64(rounded) - HORUS__TLSF_SL_LOG2)) - 1;
  if (mapping(v, rounded, &fl, &sl)) {
    uint32_t sl_map = t->sl_bitmap[fl] & (~0u << sl);
    if (!sl_map) {
      uint64_t fl_map = fl + 1 < 64 ? t->fl_bitmap & (~0ull << (fl + 1)) : 0;
      if (fl_map) {
        fl = __builtin_ctzll(fl_map);
        if (fl >= HORUS__TLSF_FL_COUNT) {
          t->corrupt = 1;
          return NIL;
        }
        sl_map = t->sl_bitmap[fl];
      }
    }
    if (sl_map) return checked_free(v, t->heads[fl][__builtin_ctz(sl_map)], size);
  }
  /* Good fit rounds the request up to a class boundary; before giving up,
   * look through the request's own class for a block that fits exactly. */
  if (!mapping(v, size, &fl, &sl)) return NIL;
  uint32_t steps = 0;
  for (uint32_t r = link(v, t->heads[fl][sl]); r != NIL; r = link(v, recs[r].next_free)) {
    if (++steps > v->nrec) {
      t->corrupt = 1;
      return NIL;
    }
    if (recs[r].size >= size) return checked_free(v, r, size);
  }
  return NIL;
}

/* The two bitmaps are a summary of which free lists are non-empty; another
 * process writing over them would make free blocks invisible and every
 * allocation fail for good.  Checked when an allocation fails (a few
 * hundred loads), so a lying summary is found and rebuilt. */
static bool maps_consistent(const horus__tlsf *t) {
  for (int fl = 0; fl < HORUS__TLSF_FL_COUNT; fl++) {
    uint32_t sl_map = 0;
    for (int sl = 0; sl < (int)HORUS__TLSF_SL_COUNT; sl++)
      if (t->heads[fl][sl] != NIL) sl_map |= 1u << sl;
    if (sl_map != t->sl_bitmap[fl] || !!(t->fl_bitmap & (1ull << fl)) != !!sl_map) return false;
  }
  return (t->fl_bitmap >> HORUS__TLSF_FL_COUNT) == 0;
}

uint32_t horus__tlsf_alloc(const horus__tlsf_view *v, uint64_t size) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  if (t->corrupt || size > v->region_size) return NIL;
  size = size ? (size + HORUS__TLSF_ALIGN - 1) & ~(uint64_t)(HORUS__TLSF_ALIGN - 1)
              : HORUS__TLSF_ALIGN;
  uint32_t r = find_free(v, size);
  if (r == NIL) {
    if (!maps_consistent(t)) t->corrupt = 1;
    return NIL;
  }
  list_remove(v, r);
  horus__tlsf_block *b = &recs[r];
  b->is_free = 0;
  uint32_t next = link(v, b->next_phys);
  if (b->size > size && t->spare_rec != NIL) {
    uint32_t rest = rec_take(v);
    if (rest != NIL) {
      horus__tlsf_block *rb = &recs[rest];
      rb->offset = b->offset + size;
      rb->size = b->size - size;
      rb->prev_phys = r;
      rb->next_phys = next;
      if (next != NIL) recs[next].prev_phys = rest;
      b->next_phys = rest;
      b->size = size;
      list_insert(v, rest);
    }
  }
  t->used_bytes += b->size;
  return t->corrupt ? NIL : r;
}

void horus__tlsf_free(const horus__tlsf_view *v, uint32_t r) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  if (t->corrupt || link(v, r) == NIL) return;
  horus__tlsf_block *b = &recs[r];
  if (b->is_free) {
    t->corrupt = 1;
    return;
  }
  uint32_t prev = link(v, b->prev_phys), next = link(v, b->next_phys);
  t->used_bytes -= b->size;
  if (prev != NIL && recs[prev].is_free) {
    list_remove(v, prev);
    recs[prev].size += b->size;
    recs[prev].next_phys = next;
    if (next != NIL) recs[next].prev_phys = prev;
    rec_give(v, r);
    r = prev;
    b = &recs[r];
  }
  if (next != NIL && recs[next].is_free) {
    list_remove(v, next);
    b->size += recs[next].size;
    uint32_t after = link(v, recs[next].next_phys);
    b->next_phys = after;
    if (after != NIL) recs[after].prev_phys = r;
    rec_give(v, next);
  }
  list_insert(v, r);
}

uint64_t horus__tlsf_largest_free(const horus__tlsf_view *v) {
  horus__tlsf *t = v->t;
  horus__tlsf_block *recs = v->recs;
  if (t->corrupt || !t->fl_bitmap) return 0;
  int fl = fls64(t->fl_bitmap);
  if (fl >= HORUS__TLSF_FL_COUNT || !t->sl_bitmap[fl]) return 0;
  int sl = 31 - __builtin_clz(t->sl_bitmap[fl]);
  uint64_t best = 0;
  uint32_t steps = 0;
  for (uint32_t r = t->heads[fl][sl]; r < v->nrec && steps++ < v->nrec; r = recs[r].next_free)
    if (recs[r].size > best) best = recs[r].size;
  return best;
}

void horus__tlsf_rebuild(const horus__tlsf_view *v, const uint64_t *offsets,
                         const uint64_t *sizes, uint32_t n, uint32_t *rec_out) {
  uint64_t region_size = v->region_size;
  reset(v);
  uint32_t prev = NIL;
  uint64_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (offsets[i] > at) prev = append(v, prev, at, offsets[i] - at, true);
    prev = rec_out[i] = append(v, prev, offsets[i], sizes[i], false);
    at = offsets[i] + sizes[i];
  }
  if (at < region_size) append(v, prev, at, region_size - at, true);
}
