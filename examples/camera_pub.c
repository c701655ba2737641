/* camera_pub.c - a camera publisher in C: 640x480 rgb8 Images on topic
 * "image" at 30 Hz (a moving gradient), until Ctrl-C or --seconds N.
 * Any subscriber, C or Python (examples/topic_subscriber.py), receives the
 * frames without a byte of pixel data being copied.
 *
 *   example_camera_pub [--seconds N] [--rate HZ] [--count N] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "horus/horus.h"

#define W 640
#define H 480

static horus_sched *sched;
static horus_topic *topic;
static horus_pool *pool;
static long frames, max_frames = -1;

static void on_signal(int sig) {
  (void)sig;
  horus_sched_stop(sched);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int tick(horus_node *node, void *user) {
  (void)node, (void)user;
  horus_image img;
  int r = horus_image_create(pool, H, W, HORUS_ENC_RGB8, &img);
  if (r) return r;
  uint8_t *px = horus_tensor_data(img.tensor);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = px + ((size_t)y * W + (size_t)x) * 3;
      p[0] = (uint8_t)(x + frames * 4), p[1] = (uint8_t)y, p[2] = (uint8_t)frames;
    }
  horus_frame_set_id(&img, "camera_front", 12);
  img.meta.timestamp_ns = now_ns();
  horus_msg msg;
  horus_frame_to_msg(&img, &msg);
  r = horus_topic_send(topic, &msg, img.tensor, NULL);
  horus_frame_clear(&img); /* the topic holds its own reference */
  if (++frames == max_frames) horus_sched_stop(sched);
  return r;
}

int main(int argc, char **argv) {
  double seconds = -1, rate = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--rate") == 0) rate = atof(argv[i + 1]);
    else if (strcmp(argv[i], "--count") == 0) max_frames = atol(argv[i + 1]);
  }
  horus_node *node;
  int r;
  if ((r = horus_pool_global(&pool)) || (r = horus_topic_open("image", HORUS_MSG_IMAGE, 0, &topic)) ||
      (r = horus_sched_create(&sched)) || (r = horus_node_create("camera", rate, tick, NULL, &node)) ||
      (r = horus_sched_add(sched, node, false, 0))) {
    fprintf(stderr, "camera_pub: %s: %s\n", horus_strerror(r), horus_errmsg());
    return 1;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  r = horus_sched_run(sched, seconds < 0 ? -1 : (int64_t)(seconds * 1e9));
  printf("camera_pub: sent %ld frames\n", frames);
  horus_sched_free(sched);
  horus_node_free(node);
  horus_topic_close(topic);
  horus_pool_close(pool);
  if (r) fprintf(stderr, "camera_pub: %s: %s\n", horus_strerror(r), horus_errmsg());
  return r ? 1 : 0;
}
