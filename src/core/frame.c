/* frame.c - the metadata shared by images, point clouds and depth images,
 * and their conversion to and from topic messages. */
#include <inttypes.h>
#include <string.h>

#include "horus/depth.h"
#include "horus/image.h"
#include "horus/pointcloud.h"
#include "internal.h"

void horus_frame_clear(horus_frame *f) {
  horus_tensor_free(f->tensor);
  memset(f, 0, sizeof *f);
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) {
      if (c == 0) return false;
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

int horus_frame_set_id(horus_frame *f, const char *id, size_t len) {
  if (len > HORUS_FRAME_ID_MAX)
    return horus__err(HORUS_EINVAL, "frame_id is %zu bytes of UTF-8: at most %d",
                      len, HORUS_FRAME_ID_MAX);
  if (!utf8_valid((const unsigned char *)id, len))
    return horus__err(HORUS_EINVAL, "frame_id is not valid UTF-8 (or holds a NUL)");
  memset(f->meta.frame_id, 0, sizeof f->meta.frame_id);
  memcpy(f->meta.frame_id, id, len);
  return 0;
}

void horus_frame_to_msg(const horus_frame *f, horus_msg *msg) {
  memset(msg, 0, sizeof *msg);
  msg->type = f->type;
  if (f->tensor) msg->tensor = *horus_tensor_get_desc(f->tensor);
  msg->meta = f->meta;
}

int horus_frame_from_msg(const horus_msg *msg, horus_tensor *t, horus_frame *out) {
  horus_frame f;
  int r;
  switch (msg->type) {
    case HORUS_MSG_IMAGE:
      if (msg->meta.kind_data >= HORUS_ENC_COUNT)
        return horus__err(HORUS_EINVAL, "message names encoding %u", msg->meta.kind_data);
      r = horus_image_wrap(t, (horus_encoding)msg->meta.kind_data, &f);
      break;
    case HORUS_MSG_POINTCLOUD:
      r = horus_pointcloud_wrap(t, &f);
      break;
    case HORUS_MSG_DEPTH:
      r = horus_depth_wrap(t, &f);
      break;
    default:
      return horus__err(HORUS_ETYPE, "message of type %s is not a frame",
                        horus_msg_type_name((horus_msg_type)msg->type));
  }
  if (r) return r;
  /* Keep what wrap derived (kind_data, depth_scale); take the rest. */
  size_t n = strnlen(msg->meta.frame_id, sizeof msg->meta.frame_id);
  if (n > HORUS_FRAME_ID_MAX || !utf8_valid((const unsigned char *)msg->meta.frame_id, n)) {
    f.tensor = NULL; /* not ours to free on failure */
    return horus__err(HORUS_EINVAL, "message frame_id is not valid UTF-8");
  }
  memcpy(f.meta.frame_id, msg->meta.frame_id, n);
  f.meta.timestamp_ns = msg->meta.timestamp_ns;
  *out = f;
  return 0;
}
