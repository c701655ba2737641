/* quickstart.c - the README's C quick start as a whole program, built by
 * tests/python/test_libhorus_install.py against an installed libhorus (pkg-config
 * and find_package) to show that a C user gets a working library: it
 * publishes `count` 480x640 rgb8 images on the topic named in argv[1], each
 * filled with its index, for a Python subscriber to check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <horus/horus.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: quickstart TOPIC COUNT\n");
    return 2;
  }
  horus_pool *pool;
  horus_image img;
  horus_topic *topic;
  int r = horus_pool_global(&pool);
  if (r == 0) r = horus_topic_open(argv[1], HORUS_MSG_IMAGE, 0, &topic);
  for (int i = 0; r == 0 && i < atoi(argv[2]); i++) {
    if ((r = horus_image_create(pool, 480, 640, HORUS_ENC_RGB8, &img))) break;
    memset(horus_tensor_data(img.tensor), i, horus_tensor_nbytes(img.tensor));
    horus_frame_set_id(&img, "installed", 9);
    horus_msg msg;
    horus_frame_to_msg(&img, &msg);
    r = horus_topic_send(topic, &msg, img.tensor, NULL); /* a Python Topic(Image) receives it */
    horus_frame_clear(&img);
  }
  if (r) fprintf(stderr, "quickstart: %s\n", horus_errmsg());
  printf("libhorus %s: sent\n", HORUS_VERSION_STRING);
  return r ? 1 : 0;
}
