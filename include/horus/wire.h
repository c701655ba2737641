/* horus/wire.h - a message as bytes for another machine: a fixed 176-byte
 * little-endian header with the metadata, and the payload, the tensor's
 * bytes packed row-major.  `horus bridge` carries the header as a Zenoh
 * attachment and the payload as the sample's payload, so a program without
 * horus can read and write our images (README, "Bridging over Zenoh").
 *
 *   offset size  field
 *        0    4  magic "HRS1"
 *        4    1  version (1)
 *        5    1  message type: 1 tensor, 2 image, 3 point cloud, 4 depth image
 *        6    1  dtype (horus_dtype: 0 bool, 1 int8, 2 int16, 3 int32, 4 int64,
 *                5 uint8, 6 uint16, 7 uint32, 8 uint64, 9 float16,
 *                10 bfloat16, 11 float32, 12 float64)
 *        7    1  ndim (0..8)
 *        8    8  sequence (u64, per key, from the sender; gaps mean loss)
 *       16    8  timestamp_ns (i64)
 *       24    4  kind_data (u32): image encoding (horus_encoding), point
 *                fields per point; 0 otherwise
 *       28    4  reserved, 0
 *       32    8  depth_scale (f64, meters per stored unit; 0 if not depth)
 *       40   64  shape (8 x i64; entries past ndim are 0)
 *      104   64  frame_id (UTF-8, NUL-padded, at most 63 bytes)
 *      168    8  payload length in bytes (u64) = product(shape) * itemsize
 */
#ifndef HORUS_WIRE_H
#define HORUS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HORUS_WIRE_HEADER_SIZE 176
#define HORUS_WIRE_VERSION 1

/* Write the header for `msg` (its tensor descriptor gives dtype and shape;
 * the payload is sent packed whatever its strides) and `sequence` into
 * out.  Errors: HORUS_EINVAL for a message type that has no wire form, or a
 * descriptor no tensor could have (dtype, ndim, a shape decode refuses). */
HORUS_API int horus_wire_encode(const horus_msg *msg, uint64_t sequence,
                                uint8_t out[HORUS_WIRE_HEADER_SIZE]);

/* Read a header that arrived from the network.  Fills msg->type, the
 * descriptor's dtype, ndim, shape and compact strides (pool, slot and
 * offset are left 0) and msg->meta; *sequence and *payload_len.  Checks
 * everything a header can get wrong on its own: length, magic, version,
 * type, dtype, ndim, negative or overflowing shape (the nonzero dimensions
 * times the item size must fit 2**62 bytes even when another dimension is
 * 0, as for any tensor: horus_tensor_alloc), a payload length that
 * disagrees with the shape, a frame_id without its NUL.  Whether the
 * metadata fits the type (encoding vs channels...) is checked when the
 * frame is rebuilt (horus_frame_from_msg).  Errors: HORUS_EINVAL,
 * HORUS_EVERSION. */
HORUS_API int horus_wire_decode(const uint8_t *header, size_t len, horus_msg *msg,
                                uint64_t *sequence, uint64_t *payload_len);

/* The payload for a message whose tensor is t: t's elements packed
 * row-major into `payload`, the caller's buffer of `len` bytes, which must
 * be horus_tensor_nbytes(t).  Needs no lock, so bindings run it without
 * their interpreter lock.  Errors: HORUS_EINVAL for a wrong `len`. */
HORUS_API int horus_wire_pack(const horus_tensor *t, void *payload, size_t len);

/* Rebuild a message that arrived from the network: checks the header as
 * horus_wire_decode does and that `payload_len` is exactly what its shape
 * needs, copies the payload into a new compact tensor in `pool` (*out, the
 * caller's: horus_tensor_free) and points msg->tensor at it; *sequence is
 * the sender's.  Whether the metadata fits the type is left to
 * horus_frame_from_msg, as for horus_wire_decode.  Nothing is left
 * allocated on failure.  Errors: those of horus_wire_decode, HORUS_EINVAL
 * for a payload of the wrong size, those of horus_tensor_alloc
 * (HORUS_ENOMEM when the pool is full). */
HORUS_API int horus_wire_rebuild(horus_pool *pool, const uint8_t *header, size_t header_len,
                                 const void *payload, size_t payload_len, horus_msg *msg,
                                 uint64_t *sequence, horus_tensor **out);

#ifdef __cplusplus
}
#endif
#endif /* HORUS_WIRE_H */
