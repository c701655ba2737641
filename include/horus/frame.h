/* horus/frame.h - what Image, PointCloud and DepthImage have in common: a
 * tensor in a pool block plus the sensor metadata that travels with it.
 *
 * A horus_frame is a small transparent struct the caller owns (embed it or
 * allocate it); it holds one block reference in `tensor`, dropped by
 * horus_frame_clear().  image.h, pointcloud.h and depth.h give the typed
 * operations; each checks that the frame is of its kind (HORUS_ETYPE). */
#ifndef HORUS_FRAME_H
#define HORUS_FRAME_H

#include <stdint.h>

#include "msg.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct horus_frame {
  horus_msg_type type;   /* HORUS_MSG_IMAGE, _POINTCLOUD or _DEPTH */
  horus_tensor *tensor;  /* owned: one block reference */
  horus_frame_meta meta; /* frame_id, timestamp_ns, kind_data, depth_scale */
} horus_frame;

/* Drop the frame's block reference and zero it.  Safe on a zeroed frame. */
HORUS_API void horus_frame_clear(horus_frame *f);

/* Set frame_id: valid UTF-8 of at most HORUS_FRAME_ID_MAX bytes, else
 * HORUS_EINVAL and the frame is unchanged (never silently cut). */
HORUS_API int horus_frame_set_id(horus_frame *f, const char *frame_id, size_t len);

/* The message that sends this frame (the tensor descriptor and metadata). */
HORUS_API void horus_frame_to_msg(const horus_frame *f, horus_msg *msg);

/* Rebuild a frame from a received message and the tensor opened from its
 * descriptor; `t`'s ownership passes to *out on success.  Everything is
 * validated (the message came from another process): a tensor whose shape or
 * dtype disagrees with the metadata is HORUS_EINVAL, an unknown message type
 * HORUS_ETYPE. */
HORUS_API int horus_frame_from_msg(const horus_msg *msg, horus_tensor *t,
                                   horus_frame *out);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_FRAME_H */
