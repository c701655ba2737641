/* horus/msg.h - what a message is: a message type, a tensor descriptor and
 * the sensor metadata that travels with it.  Plain data without pointers, so
 * topics copy it into shared memory and another process turns it back into
 * an image, point cloud, depth image or tensor. */
#ifndef HORUS_MSG_H
#define HORUS_MSG_H

#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum horus_msg_type {
  HORUS_MSG_NONE = 0,
  HORUS_MSG_TENSOR = 1,     /* a tensor (horus_tensor) */
  HORUS_MSG_IMAGE = 2,      /* an image (horus_image) */
  HORUS_MSG_POINTCLOUD = 3, /* a point cloud (horus_pointcloud) */
  HORUS_MSG_DEPTH = 4,      /* a depth image (horus_depth) */
  HORUS_MSG_BYTES = 5,      /* small blobs: raw, JSON or pickled values (horus_bytes_kind) */
} horus_msg_type;

#define HORUS_FRAME_ID_MAX 63 /* bytes of UTF-8, without the NUL */

/* Metadata of a sensor message.  `kind_data` is type-specific: the image
 * encoding (horus_encoding), the point cloud's fields per point, the depth
 * unit.  depth_scale is meters per stored unit for depth images. */
typedef struct horus_frame_meta {
  int64_t timestamp_ns;
  uint32_t kind_data;
  uint32_t reserved;
  double depth_scale;
  char frame_id[HORUS_FRAME_ID_MAX + 1];
} horus_frame_meta;

/* A complete message as it sits in a topic ring. */
typedef struct horus_msg {
  uint32_t type; /* horus_msg_type */
  uint32_t flags;
  uint64_t sequence; /* assigned by the topic on send */
  horus_tensor_desc tensor;
  horus_frame_meta meta;
} horus_msg;

/* The type's name in C terms, as horus_image & co. spell it: "tensor",
 * "image", "pointcloud", "depth_image", "bytes" ("none" otherwise).  Each
 * language binding maps it to its own class names. */
HORUS_API const char *horus_msg_type_name(horus_msg_type type);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_MSG_H */
