/* c_pipeline.c - the spec's ML pipeline in C alone: a camera node publishing
 * 640x480 rgb8 images at 30 Hz and a "model" node receiving them through a
 * topic (mean brightness stands in for a network), run by the scheduler for
 * --seconds N (default 3) or until Ctrl-C. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "horus/horus.h"

static horus_pool *pool;
static horus_topic *pub, *sub;
static horus_sched *sched;
static long sent, received;

static void on_signal(int sig) {
  (void)sig;
  horus_sched_stop(sched);
}

static int camera_tick(horus_node *node, void *user) {
  (void)node, (void)user;
  horus_image img;
  int r = horus_image_create(pool, 480, 640, HORUS_ENC_RGB8, &img);
  if (r) return r;
  memset(horus_tensor_data(img.tensor), (int)(sent & 0xff), horus_tensor_nbytes(img.tensor));
  horus_frame_set_id(&img, "camera_front", 12);
  horus_msg msg;
  horus_frame_to_msg(&img, &msg);
  r = horus_topic_send(pub, &msg, img.tensor, NULL);
  horus_frame_clear(&img);
  sent++;
  return r;
}

static int model_tick(horus_node *node, void *user) {
  (void)node, (void)user;
  horus_msg msg;
  horus_tensor *t;
  int r;
  while ((r = horus_topic_recv(sub, 0, &msg, &t)) == 0) {
    horus_image img;
    if ((r = horus_frame_from_msg(&msg, t, &img))) {
      horus_tensor_free(t);
      return r;
    }
    const uint8_t *px = horus_tensor_data(img.tensor);
    uint64_t sum = 0, n = horus_tensor_nbytes(img.tensor);
    for (uint64_t i = 0; i < n; i += 4096) sum += px[i];
    received++;
    horus_frame_clear(&img);
  }
  return r == HORUS_EAGAIN ? 0 : r;
}

int main(int argc, char **argv) {
  double seconds = argc > 2 && strcmp(argv[1], "--seconds") == 0 ? atof(argv[2]) : 3.0;
  horus_node *camera, *model;
  int r;
  if ((r = horus_pool_global(&pool)) ||
      (r = horus_topic_open("c_pipeline", HORUS_MSG_IMAGE, 0, &pub)) ||
      (r = horus_topic_open("c_pipeline", HORUS_MSG_IMAGE, 0, &sub)) ||
      (r = horus_sched_create(&sched)) ||
      (r = horus_node_create("camera", 30, camera_tick, NULL, &camera)) ||
      (r = horus_node_create("model", 30, model_tick, NULL, &model)) ||
      (r = horus_sched_add(sched, camera, true, 0)) || (r = horus_sched_add(sched, model, true, 1))) {
    fprintf(stderr, "c_pipeline: %s\n", horus_errmsg());
    return 1;
  }
  signal(SIGINT, on_signal);
  r = horus_sched_run(sched, (int64_t)(seconds * 1e9));
  horus_node_stats st;
  horus_node_stats_get(model, &st);
  printf("c_pipeline: camera sent %ld frames, model received %ld (%.1f Hz ticks)\n", sent,
         received, st.actual_rate_hz);
  horus_sched_free(sched);
  horus_node_free(camera);
  horus_node_free(model);
  horus_topic_close(sub);
  horus_topic_close(pub);
  horus_pool_close(pool);
  return r ? 1 : 0;
}
