/* test_topic_corrupt.c - a topic whose shared state another process
 * scribbles over (ring entries, stamps, descriptors, participant tables, the
 * write sequence) must never crash a publisher or a subscriber: every call
 * returns 0 or a HORUS_E* code, and every message received is one that was
 * really sent (checked by content).  Run under ASan in CI. */
#include <string.h>

#include "check.h"

/* The topic's mapping, found through its file: the test reaches into it
 * the way a misbehaving process would. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  horus_pool *pool;
  horus_topic *pub, *sub;
  CHECK_OK(horus_pool_open(12, 8u << 20, 256, HORUS_POOL_CREATE, &pool));
  CHECK_OK(horus_topic_open("scribbled", HORUS_MSG_TENSOR, 16, &pub));
  CHECK_OK(horus_topic_open("scribbled", HORUS_MSG_TENSOR, 0, &sub));
  CHECK_OK(horus_topic_subscribe(sub));
  char dir[512], path[600];
  CHECK_OK(horus_namespace_dir(dir, sizeof dir, true));
  snprintf(path, sizeof path, "%s/topic.scribbled", dir);
  int fd = open(path, O_RDWR);
  struct stat st;
  CHECK(fd >= 0 && fstat(fd, &st) == 0);
  uint8_t *seg = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  CHECK(seg != MAP_FAILED);
  /* Leave the first page (header with the robust mutex) alone except for
   * the counters at its end; scribble everywhere after it. */
  size_t hot_lo = 256, first_table = 4096;
  int bad_codes = 0, wrong_content = 0, received = 0, sent = 0;
  for (int iter = 0; iter < 20000; iter++) {
    if (iter % 3 == 0) {
      size_t span = (size_t)st.st_size - first_table;
      size_t at = first_table + (size_t)(check_rand() % span);
      if (check_rand() % 8 == 0) at = hot_lo + (size_t)(check_rand() % 64); /* counters */
      int n = 1 + (int)(check_rand() % 8);
      for (int i = 0; i < n && at + (size_t)i < (size_t)st.st_size; i++)
        seg[at + (size_t)i] = (uint8_t)check_rand();
    }
    int r;
    if (check_rand() % 2) {
      int64_t shape[1] = {2};
      horus_tensor *x;
      r = horus_tensor_alloc(pool, shape, 1, HORUS_UINT64, &x);
      if (r == 0) {
        uint64_t *v = horus_tensor_data(x);
        v[0] = (uint64_t)iter;
        v[1] = ~(uint64_t)iter;
        horus_msg m;
        memset(&m, 0, sizeof m);
        m.type = HORUS_MSG_TENSOR;
        m.tensor = *horus_tensor_get_desc(x);
        r = horus_topic_send(pub, &m, x, NULL);
        sent += r == 0;
        horus_tensor_free(x);
      }
    } else {
      horus_msg m;
      horus_tensor *x;
      r = horus_topic_recv(sub, 0, &m, &x);
      if (r == 0) {
        received++;
        const horus_tensor_desc *d = horus_tensor_get_desc(x);
        /* What arrives is a real block of ours; its content is what a
         * sender wrote unless the descriptor was redirected to another
         * live block, which must still be one of our messages.  A view
         * scribbled to start inside its block (an offset that is not a
         * block start: every block starts 64-aligned) stays within that
         * block, which is all validation promises: its bytes are shifted. */
        if (d->dtype == HORUS_UINT64 && horus_tensor_nbytes(x) >= 16 && d->offset % 64 == 0) {
          const uint64_t *v = horus_tensor_data(x);
          wrong_content += v[1] != ~v[0];
        }
        horus_tensor_free(x);
      }
      if (r == HORUS_EAGAIN) r = 0;
    }
    if (r > 0 || r < HORUS_ERRNO_MIN) bad_codes++;
  }
  printf("%d sent, %d received on a topic under random corruption, no crash (%d bad codes, %d wrong)\n", sent, received, bad_codes, wrong_content);
  CHECK(bad_codes == 0 && wrong_content == 0 && sent > 0);
  munmap(seg, (size_t)st.st_size);
  horus_topic_close(sub);
  horus_topic_close(pub);
  horus_pool_close(pool);
  horus_clean(true, NULL, NULL);
  check_remove_namespace();
  return check_report("test_topic_corrupt");
}
