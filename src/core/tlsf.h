/* tlsf.h - Two-Level Segregated Fit allocator over a region of offsets.
 *
 * The allocator's metadata lives apart from the data it manages (block
 * records in an array, linked by index), so it can sit in shared memory at
 * any address and a tensor written past its end cannot corrupt it.  All
 * sizes and offsets are multiples of HORUS__TLSF_ALIGN.  O(1) alloc and free;
 * good fit with bounded fragmentation.  Not thread-safe: the pool's lock
 * guards it. */
#ifndef HORUS_TLSF_H
#define HORUS_TLSF_H

#include <stdint.h>

#define HORUS__TLSF_ALIGN 64u
#define HORUS__TLSF_SL_LOG2 5
#define HORUS__TLSF_SL_COUNT (1u << HORUS__TLSF_SL_LOG2)
#define HORUS__TLSF_FL_SHIFT (HORUS__TLSF_SL_LOG2 + 6) /* 2^11: first FL class */
#define HORUS__TLSF_FL_COUNT 40                         /* sizes below 2^50 */
#define HORUS__TLSF_NIL UINT32_MAX

typedef struct horus__tlsf_block {
  uint64_t offset;
  uint64_t size;
  uint32_t prev_phys, next_phys; /* neighbours in address order */
  uint32_t prev_free, next_free; /* free list of its class, or record list */
  uint32_t is_free;
  uint32_t reserved;
} horus__tlsf_block;

typedef struct horus__tlsf {
  uint64_t region_size;
  uint64_t used_bytes;
  uint32_t nrec;      /* records available */
  uint32_t spare_rec; /* head of unused records */
  uint32_t corrupt;   /* set when an index or size read back was impossible */
  uint32_t reserved;
  uint64_t fl_bitmap;
  uint32_t sl_bitmap[HORUS__TLSF_FL_COUNT];
  uint32_t heads[HORUS__TLSF_FL_COUNT][HORUS__TLSF_SL_COUNT];
} horus__tlsf;

/* How one process sees an allocator: the control block and the record
 * array (both in shared memory, which another process may have scribbled
 * over) and the bounds this process validated when it mapped them.  Every
 * index and size the allocator follows is checked against these bounds, not
 * against the copies in t; on the first impossible one it sets t->corrupt
 * and gives up on the operation (alloc returns NIL, free does nothing).
 * The pool then rebuilds it from the slot table with horus__tlsf_rebuild(),
 * which clears the flag. */
typedef struct horus__tlsf_view {
  horus__tlsf *t;
  horus__tlsf_block *recs;
  uint32_t nrec;        /* records; at least 2 * (max live blocks) + 2 */
  uint64_t region_size; /* bytes managed, a multiple of the alignment */
} horus__tlsf_view;

/* One free block spanning the whole region. */
void horus__tlsf_init(const horus__tlsf_view *v);

/* Record index of a block of at least `size` bytes, or HORUS__TLSF_NIL.
 * `size` is rounded up to the alignment (0 takes one granule). */
uint32_t horus__tlsf_alloc(const horus__tlsf_view *v, uint64_t size);

/* Free the block of record `rec`, merging it with free neighbours. */
void horus__tlsf_free(const horus__tlsf_view *v, uint32_t rec);

/* The largest single allocation that would succeed now. */
uint64_t horus__tlsf_largest_free(const horus__tlsf_view *v);

/* Rebuild after a crash: the `n` used blocks given as (offset, size) pairs,
 * sorted by offset and non-overlapping, are the truth; everything else is
 * free.  Writes each used block's new record index to rec_out[i]. */
void horus__tlsf_rebuild(const horus__tlsf_view *v, const uint64_t *offsets,
                         const uint64_t *sizes, uint32_t n, uint32_t *rec_out);

#endif /* HORUS_TLSF_H */
