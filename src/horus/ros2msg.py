"""ROS 2 messages in CDR for horus frames: sensor_msgs/msg/Image,
PointCloud2 and CompressedImage, and horus_msgs/msg/Tensor.

Used by recording (MCAP channels with the ``cdr`` message encoding and
``ros2msg`` schemas, as ``ros2 bag`` writes them) and meant for ROS 2 over
Zenoh.  Encoding builds the few header bytes with ``struct`` and appends the
payload from the pool block's buffer (one copy into the returned bytearray;
the ``*_parts`` functions give the header and a view of the block instead,
for writing without a copy); decoding checks every length against the message and makes a horus object
with one copy of the payload into a pool block.  Bad input is a ValueError
naming what disagrees.

CDR here is XCDR1 little endian (encapsulation 00 01 00 00, what ROS 2
middlewares send); decoding also takes big-endian CDR.  Alignment of a
primitive of size n is to a multiple of n counted from after the 4-byte
encapsulation header.
"""

from __future__ import annotations

import struct
from typing import Any, cast

import numpy as np

from . import _horus

# ---- schemas (ros2msg text, dependencies concatenated as `ros2 bag` does) ----

_SEP = "=" * 80 + "\n"
_HEADER_DEF = ("MSG: std_msgs/Header\n"
               "builtin_interfaces/Time stamp\n"
               "string frame_id\n")
_TIME_DEF = ("MSG: builtin_interfaces/Time\n"
             "int32 sec\n"
             "uint32 nanosec\n")

IMAGE = "sensor_msgs/msg/Image"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
TENSOR = "horus_msgs/msg/Tensor"

SCHEMAS: dict[str, str] = {
    IMAGE: ("std_msgs/Header header\n"
            "uint32 height\n"
            "uint32 width\n"
            "string encoding\n"
            "uint8 is_bigendian\n"
            "uint32 step\n"
            "uint8[] data\n" + _SEP + _HEADER_DEF + _SEP + _TIME_DEF),
    POINTCLOUD2: ("std_msgs/Header header\n"
                  "uint32 height\n"
                  "uint32 width\n"
                  "sensor_msgs/PointField[] fields\n"
                  "bool is_bigendian\n"
                  "uint32 point_step\n"
                  "uint32 row_step\n"
                  "uint8[] data\n"
                  "bool is_dense\n" + _SEP + _HEADER_DEF + _SEP + _TIME_DEF + _SEP +
                  "MSG: sensor_msgs/PointField\n"
                  "uint8 INT8=1\nuint8 UINT8=2\nuint8 INT16=3\nuint8 UINT16=4\n"
                  "uint8 INT32=5\nuint8 UINT32=6\nuint8 FLOAT32=7\nuint8 FLOAT64=8\n"
                  "string name\n"
                  "uint32 offset\n"
                  "uint8 datatype\n"
                  "uint32 count\n"),
    COMPRESSED_IMAGE: ("std_msgs/Header header\n"
                       "string format\n"
                       "uint8[] data\n" + _SEP + _HEADER_DEF + _SEP + _TIME_DEF),
    # Ours: a tensor's dtype (numpy spelling, or "bfloat16"), shape and its
    # bytes, packed row-major little endian.
    TENSOR: ("string dtype\n"
             "uint64[] shape\n"
             "uint8[] data\n"),
}

# horus Image encoding -> ROS encoding string (sensor_msgs/image_encodings.hpp).
# horus yuv422 is YUYV (Y0 U Y1 V, what V4L2 cameras give; horus also
# spells it "yuyv"), which ROS calls "yuv422_yuy2": its "yuv422" is UYVY.
ROS_ENCODING = {
    "mono8": "mono8", "mono16": "mono16", "rgb8": "rgb8", "bgr8": "bgr8",
    "rgba8": "rgba8", "bgra8": "bgra8", "yuv422": "yuv422_yuy2", "mono32f": "32FC1",
    "rgb32f": "32FC3", "bayer_rggb8": "bayer_rggb8", "depth16": "16UC1",
}
# ROS encoding -> horus Image encoding (the inverse, plus synonyms).
HORUS_ENCODING = {v: k for k, v in ROS_ENCODING.items()}
HORUS_ENCODING.update({"8UC1": "mono8", "8UC3": "bgr8", "8UC4": "bgra8", "16UC1": "depth16",
                       "yuyv": "yuv422", "yuv422": "yuv422", "uyvy": "yuv422"})
# ROS encodings that are UYVY (U Y0 V Y1): each byte pair is swapped into
# horus's YUYV on the way in.
_UYVY = frozenset({"yuv422", "uyvy"})
# ROS encodings whose 16/32-bit samples flip with is_bigendian.
_SAMPLE = {"mono16": "u2", "16UC1": "u2", "32FC1": "f4", "32FC3": "f4"}

_PF_DTYPE = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
_PF_CODE = {np.dtype(v).name: k for k, v in _PF_DTYPE.items()}

_ENCAP_LE = b"\x00\x01\x00\x00"


class _Out:
    """CDR little-endian writer for the few header fields."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray(_ENCAP_LE)

    def _align(self, n: int) -> None:
        pad = -(len(self.buf) - 4) % n
        if pad:
            self.buf += b"\0" * pad

    def u8(self, v: int) -> None:
        self.buf.append(v)

    def u32(self, v: int) -> None:
        self._align(4)
        self.buf += struct.pack("<I", v)

    def u64s(self, vs: list[int]) -> None:
        self.u32(len(vs))
        if vs:
            self._align(8)
            self.buf += struct.pack(f"<{len(vs)}Q", *vs)

    def string(self, s: str) -> None:
        b = s.encode()
        self.u32(len(b) + 1)
        self.buf += b + b"\0"

    def stamp_header(self, timestamp_ns: int, frame_id: str) -> None:
        sec, nsec = divmod(int(timestamp_ns), 1_000_000_000)
        if sec > 0x7FFFFFFF:
            raise ValueError(f"timestamp_ns {timestamp_ns} does not fit builtin_interfaces/Time")
        self._align(4)
        self.buf += struct.pack("<iI", sec, nsec)
        self.string(frame_id)

    def parts(self, payload: Any) -> list[Any]:
        """The message as buffers, not joined: these header bytes with a
        uint8[] length, then `payload` (a C-contiguous buffer) as a
        memoryview of its memory, not copied (a recorder hands it to the
        file as it is)."""
        mv = memoryview(payload).cast("B")
        self.u32(mv.nbytes)
        return [self.buf, mv]


def join(parts: list[Any]) -> bytearray:
    """One bytearray of a message's parts (one copy of each)."""
    out = bytearray(sum(memoryview(p).nbytes for p in parts))
    pos = 0
    for p in parts:
        n = memoryview(p).nbytes
        out[pos:pos + n] = p
        pos += n
    return out


class _In:
    """CDR reader with bounds checks; every overrun is a ValueError."""

    __slots__ = ("data", "pos", "end", "e")

    def __init__(self, data: Any, what: str) -> None:
        self.data = memoryview(data).cast("B")
        if self.data.nbytes < 4 or self.data[0] != 0 or self.data[1] not in (0, 1):
            raise ValueError(f"{what}: not a CDR message (encapsulation header "
                             f"{bytes(self.data[:4]).hex() or 'missing'})")
        self.e = "<" if self.data[1] == 1 else ">"
        self.pos = 4
        self.end = self.data.nbytes

    def _need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise ValueError(f"message truncated: {what} needs {n} bytes at offset "
                             f"{self.pos}, the message has {self.end}")

    def _align(self, n: int) -> None:
        self.pos += -(self.pos - 4) % n

    def u8(self, what: str) -> int:
        self._need(1, what)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u32(self, what: str) -> int:
        self._align(4)
        self._need(4, what)
        (v,) = struct.unpack_from(self.e + "I", self.data, self.pos)
        self.pos += 4
        return int(v)

    def i32(self, what: str) -> int:
        self._align(4)
        self._need(4, what)
        (v,) = struct.unpack_from(self.e + "i", self.data, self.pos)
        self.pos += 4
        return int(v)

    def u64s(self, what: str) -> list[int]:
        n = self.u32(what)
        if n == 0:
            return []
        self._align(8)
        self._need(8 * n, what)
        vs = struct.unpack_from(f"{self.e}{n}Q", self.data, self.pos)
        self.pos += 8 * n
        return list(vs)

    def string(self, what: str) -> str:
        n = self.u32(what)
        self._need(n, what)
        raw = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        if n and raw[-1] == 0:
            raw = raw[:-1]
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not UTF-8") from None

    def blob(self, what: str) -> memoryview:
        n = self.u32(what)
        self._need(n, what)
        mv = self.data[self.pos:self.pos + n]
        self.pos += n
        return mv

    def header(self) -> tuple[int, str]:
        sec = self.i32("header.stamp.sec")
        nsec = self.u32("header.stamp.nanosec")
        frame_id = self.string("header.frame_id")
        return sec * 1_000_000_000 + nsec, frame_id


def _flat(obj: Any) -> memoryview:
    """The bytes of a horus object, without a copy when it is contiguous."""
    try:
        return memoryview(obj).cast("B")
    except (BufferError, TypeError):
        # No buffer format (bfloat16): the packed bytes via the wire format.
        _, payload = _horus.wire_encode(obj, 0)
        return memoryview(payload)


# ---- encoding -------------------------------------------------------------


def encode_image(img: Any) -> bytearray:
    """sensor_msgs/msg/Image CDR of a horus Image or DepthImage."""
    return join(image_parts(img))


def image_parts(img: Any) -> list[Any]:
    """encode_image's message as [header bytes, the pixels' memoryview]:
    the pixels stay in the pool block (the caller keeps `img` alive while
    it uses them)."""
    out = _Out()
    out.stamp_header(img.timestamp_ns, img.frame_id)
    if isinstance(img, _horus.DepthImage):
        enc = "16UC1" if img.dtype == "uint16" else "32FC1"
        step = img.width * (2 if img.dtype == "uint16" else 4)
    else:
        enc = ROS_ENCODING[img.encoding]
        step = img.step
    out.u32(img.height)
    out.u32(img.width)
    out.string(enc)
    out.u8(0)  # little endian
    out.u32(step)
    return out.parts(_flat(img))


def pointfield_names(fields: int) -> list[str]:
    """Names of a horus cloud's per-point fields: x, y, z, then intensity
    (4 or 5 fields) or r, g, b (6 or more), then f<i>."""
    names = ["x", "y", "z"][:fields]
    if fields in (4, 5):
        names.append("intensity")
    elif fields >= 6:
        names += ["r", "g", "b"]
    names += [f"f{i}" for i in range(len(names), fields)]
    return names


def encode_pointcloud(pc: Any) -> bytearray:
    """sensor_msgs/msg/PointCloud2 CDR of a horus PointCloud: one row of
    point_count points, one field per value (all of the cloud's dtype)."""
    return join(pointcloud_parts(pc))


def pointcloud_parts(pc: Any) -> list[Any]:
    """encode_pointcloud's message as buffers, the points not copied."""
    dt = np.dtype(pc.dtype)
    code = _PF_CODE.get(dt.name)
    if code is None:
        raise ValueError(f"a PointCloud of {dt.name} has no sensor_msgs/PointField datatype")
    out = _Out()
    out.stamp_header(pc.timestamp_ns, pc.frame_id)
    f = pc.fields_per_point
    out.u32(1)
    out.u32(pc.point_count)
    names = pointfield_names(f)
    out.u32(len(names))
    for i, name in enumerate(names):
        out.string(name)
        out.u32(i * dt.itemsize)
        out.u8(code)
        out.u32(1)
    out.u8(0)  # is_bigendian
    out.u32(f * dt.itemsize)
    out.u32(f * dt.itemsize * pc.point_count)
    # is_dense follows the data (no padding before a bool); NaN-free is
    # not checked, so say False as drivers do for unorganised clouds.
    return out.parts(_flat(pc)) + [b"\0"]


def encode_tensor(t: Any) -> bytearray:
    """horus_msgs/msg/Tensor CDR of a TensorHandle (packed bytes)."""
    return join(tensor_parts(t))


def tensor_parts(t: Any) -> list[Any]:
    """encode_tensor's message as buffers (a contiguous tensor's bytes
    not copied)."""
    out = _Out()
    out.string(t.dtype)
    out.u64s(list(t.shape))
    if not t.is_contiguous():
        return out.parts(np.ascontiguousarray(t.numpy()))
    return out.parts(_flat(t))


# ---- decoding ---------------------------------------------------------------


def _check_size(got: int, want: int, what: str) -> None:
    if got != want:
        raise ValueError(f"{what}: data has {got} bytes, the header says {want}")


def _image_fields(r: Any) -> tuple[int, str, int, int, str, int, int]:
    """The fields of a sensor_msgs/msg/Image before its pixels: timestamp,
    frame_id, height, width, encoding, is_bigendian, step."""
    ts, frame_id = r.header()
    return (ts, frame_id, r.u32("height"), r.u32("width"), r.string("encoding"),
            r.u8("is_bigendian"), r.u32("step"))


def _image_kind(enc: str, depth: bool | None) -> tuple[Any, str, Any] | None:
    """What a ROS encoding becomes: (horus class, its encoding or depth dtype
    name, the sample dtype), or None when horus has no equivalent.  depth as
    decode_image takes it."""
    if enc in ("16UC1", "32FC1", "mono16") and depth is None:
        depth = enc != "mono16"
    if depth and enc in ("16UC1", "32FC1"):
        dt = np.dtype("u2" if enc == "16UC1" else "f4")
        return _horus.DepthImage, dt.name, dt
    henc = HORUS_ENCODING.get(enc)
    return None if henc is None else (_horus.Image, henc, np.dtype(_SAMPLE.get(enc, "u1")))


def decode_image(data: Any, *, depth: bool | None = None, yuv422_is_yuyv: bool = False) -> Any:
    """A horus Image (or DepthImage) from sensor_msgs/msg/Image CDR.

    depth: True makes 16UC1/32FC1 a DepthImage, False an Image
    (depth16/mono32f); None: DepthImage, as ROS depth cameras publish them.
    yuv422_is_yuyv: take ROS "yuv422" as YUYV, as files horus wrote before
    it said "yuv422_yuy2" meant it (the rest of ROS means UYVY)."""
    r = _In(data, IMAGE)
    ts, frame_id, h, w, enc, big, step = _image_fields(r)
    pix = r.blob("data")
    _check_size(pix.nbytes, step * h, f"Image {w}x{h} step {step}")
    kind = _image_kind(enc, depth)
    if kind is None:
        raise ValueError(f"Image encoding {enc!r} has no horus equivalent")
    cls, name, dt = kind
    obj = cls(h, w, cast(Any, name))
    if obj.nbytes:
        row = obj.nbytes // h
        if step < row:
            raise ValueError(f"Image {w}x{h} {enc}: step {step} is less than a row ({row} bytes)")
        dst = np.asarray(obj).reshape(h, -1).view(np.uint8)
        src = np.frombuffer(pix, np.uint8).reshape(h, step)[:, :row]
        if big and dt.itemsize > 1:
            src = src.view(dt.newbyteorder(">")).astype(dt).view(np.uint8)
        if enc in _UYVY and not (yuv422_is_yuyv and enc == "yuv422"):
            src = src.reshape(h, -1, 2)[:, :, ::-1].reshape(h, -1)
        np.copyto(dst, src)
    obj.frame_id = frame_id
    obj.timestamp_ns = ts
    return obj


def image_target(head: Any, size: int, *, depth: bool | None = None,
                 reuse: Any = None, yuv422_is_yuyv: bool = False) -> tuple[Any, int] | None:
    """For reading a large sensor_msgs/msg/Image straight into a pool
    block: from the first bytes of the message (`head`, holding at least
    its header) and its full `size`, a new horus object with the header's
    fields set and the offset of the pixels in the message, which are then
    exactly the object's bytes.  None when the pixels need more than a copy
    (padded rows, big-endian samples) or `head` is too short: decode_image
    then reads the whole message.  Bad headers raise ValueError as there.
    `reuse(cls, height, width, encoding_or_dtype)`, if given, may return a
    recycled object of that kind to fill instead of a new one."""
    r = _In(head, IMAGE)
    try:
        ts, frame_id, h, w, enc, big, step = _image_fields(r)
        n = r.u32("data")
    except ValueError:
        return None  # the header runs past `head`
    if r.pos + n != size or n != step * h:
        return None  # decode_image names what disagrees
    kind = _image_kind(enc, depth)
    if kind is None or (enc in _UYVY and not (yuv422_is_yuyv and enc == "yuv422")):
        return None  # (UYVY needs its bytes swapped)
    cls, name, dt = kind
    obj = (reuse and reuse(cls, h, w, name)) or cls(h, w, cast(Any, name))
    if obj.nbytes != n or (big and dt.itemsize > 1) or n == 0:
        return None
    obj.frame_id = frame_id
    obj.timestamp_ns = ts
    return obj, r.pos


def decode_compressed_image(data: Any) -> Any:
    """A horus Image (bgr8 or mono8) from sensor_msgs/msg/CompressedImage
    (JPEG, PNG, ...), decoded with OpenCV, else Pillow."""
    r = _In(data, COMPRESSED_IMAGE)
    ts, frame_id = r.header()
    fmt = r.string("format")
    blob = r.blob("data")
    arr: Any
    enc: str | None
    cv2: Any = None
    try:
        import cv2 as opencv

        cv2 = opencv
    except ImportError:
        pass
    if cv2 is not None:
        arr = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ValueError(f"CompressedImage ({fmt!r}): OpenCV cannot decode its data")
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        enc = "mono8" if arr.ndim == 2 else {3: "bgr8", 4: "bgra8"}.get(arr.shape[2])
    else:
        try:
            import io

            from PIL import Image as PILImage
        except ImportError:
            raise ImportError("decoding CompressedImage needs OpenCV or Pillow: "
                              "pip install opencv-python-headless") from None
        try:
            pil: Any = PILImage.open(io.BytesIO(blob))
            if pil.mode not in ("L", "RGB", "RGBA"):
                pil = pil.convert("RGB")
            arr = np.asarray(pil)
        except Exception as e:
            raise ValueError(f"CompressedImage ({fmt!r}): Pillow cannot decode its data: {e}") from None
        enc = {"L": "mono8", "RGB": "rgb8", "RGBA": "rgba8"}[pil.mode]
    if arr.dtype == np.uint16 and arr.ndim == 2:
        enc = "mono16"
    elif arr.dtype != np.uint8 or enc is None:
        raise ValueError(f"CompressedImage ({fmt!r}) decoded to {arr.dtype} {arr.shape}, "
                         "which has no horus encoding")
    img = _horus.Image.from_numpy(np.ascontiguousarray(arr), cast(Any, enc))
    img.frame_id = frame_id
    img.timestamp_ns = ts
    return img


def decode_pointcloud(data: Any) -> Any:
    """A horus PointCloud from sensor_msgs/msg/PointCloud2 CDR.

    A cloud whose fields are one dtype, packed in order, is copied as it is
    (every horus recording); otherwise (padding, mixed types, a packed `rgb`
    field as ROS drivers write it) x, y, z and then intensity or r, g, b
    (unpacked to 0-255) are gathered as float32."""
    r = _In(data, POINTCLOUD2)
    ts, frame_id = r.header()
    h = r.u32("height")
    w = r.u32("width")
    nfields = r.u32("fields")
    if nfields > 4096:
        raise ValueError(f"PointCloud2 says it has {nfields} fields")
    fields = []
    for i in range(nfields):
        name = r.string(f"fields[{i}].name")
        off = r.u32(f"fields[{i}].offset")
        code = r.u8(f"fields[{i}].datatype")
        count = r.u32(f"fields[{i}].count")
        if code not in _PF_DTYPE:
            raise ValueError(f"PointCloud2 field {name!r} has unknown datatype {code}")
        fields.append((name, off, np.dtype(_PF_DTYPE[code]), count))
    big = r.u8("is_bigendian")
    point_step = r.u32("point_step")
    row_step = r.u32("row_step")
    blob = r.blob("data")
    n = h * w
    _check_size(blob.nbytes, row_step * h, f"PointCloud2 {w}x{h} row_step {row_step}")
    if n and row_step < point_step * w:
        raise ValueError(f"PointCloud2: row_step {row_step} < point_step {point_step} x width {w}")
    for name, off, dt, count in fields:
        if off + dt.itemsize * count > point_step:
            raise ValueError(f"PointCloud2 field {name!r} ends past point_step {point_step}")
    if not fields:
        raise ValueError("PointCloud2 has no fields")
    bo: Any = ">" if big else "<"
    rows = np.frombuffer(blob, np.uint8).reshape(h, row_step)[:, :point_step * w]
    raw = np.ascontiguousarray(rows).reshape(n, point_step) if row_step != point_step * w else \
        np.frombuffer(blob, np.uint8).reshape(n, point_step)
    # Copied as it is when laid out as horus lays out its own clouds, names
    # included: x, y, z, rgb (all float32, back to back) is the same layout
    # with a packed colour, which the general path unpacks.
    dt0 = fields[0][2]
    packed = (all(f[2] == dt0 and f[3] == 1 and f[1] == i * dt0.itemsize
                  for i, f in enumerate(fields))
              and point_step == len(fields) * dt0.itemsize and dt0.kind in "fiu"
              and [f[0] for f in fields] == pointfield_names(len(fields)))
    if packed:
        pc = _horus.PointCloud(n, len(fields), dt0.name)
        if n:
            src = raw.view(dt0.newbyteorder(bo)).reshape(n, len(fields))
            np.copyto(pc.to_numpy(), src, casting="unsafe")
    else:
        by = {f[0]: f for f in fields}
        for need in "xyz":
            if need not in by:
                raise ValueError(f"PointCloud2 has no {need!r} field (fields: "
                                 f"{', '.join(f[0] for f in fields)})")
        cols = ["x", "y", "z"]
        color = by.get("rgb") or by.get("rgba")
        if color is not None:
            cols += ["r", "g", "b"]
        elif "intensity" in by:
            cols.append("intensity")
        pc = _horus.PointCloud(n, len(cols), "float32")
        out = pc.to_numpy()

        def column(f: tuple[str, int, np.dtype, int]) -> Any:
            _, off, dt, _ = f
            return raw[:, off:off + dt.itemsize].copy().view(dt.newbyteorder(bo))[:, 0]

        for j, c in enumerate(("x", "y", "z")):
            out[:, j] = column(by[c])
        if color is not None:
            # ROS packs 0x00RRGGBB into the 4 bytes of a float32 "rgb".
            packed_rgb = raw[:, color[1]:color[1] + 4].copy().view(bo + "u4")[:, 0]
            out[:, 3] = (packed_rgb >> 16) & 0xFF
            out[:, 4] = (packed_rgb >> 8) & 0xFF
            out[:, 5] = packed_rgb & 0xFF
        elif "intensity" in by:
            out[:, 3] = column(by["intensity"])
    pc.frame_id = frame_id
    pc.timestamp_ns = ts
    return pc


def decode_tensor(data: Any) -> Any:
    """A TensorHandle from horus_msgs/msg/Tensor CDR."""
    r = _In(data, TENSOR)
    dtype = r.string("dtype")
    shape = r.u64s("shape")
    blob = r.blob("data")
    if dtype == "bfloat16":
        itemsize = 2
    else:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"Tensor dtype {dtype!r} is unknown") from None
        if dt.kind not in "biuf" or dt.byteorder == ">":
            raise ValueError(f"Tensor dtype {dtype!r} is not a horus dtype")
        itemsize = dt.itemsize
    count = 1
    for s in shape:
        count *= s
    _check_size(blob.nbytes, count * itemsize, f"Tensor {dtype} {shape}")
    if dtype == "bfloat16":
        try:
            import torch
        except ImportError:
            raise ImportError("reading a bfloat16 tensor needs PyTorch") from None
        src = torch.frombuffer(bytearray(blob), dtype=torch.bfloat16).reshape(shape)
        return _horus.TensorHandle.from_dlpack(src)
    arr = np.frombuffer(blob, dt).reshape(shape)
    if arr.size == 0 or not arr.flags.aligned:
        arr = arr.copy()
    # from_dlpack copies a block not in a pool into the global pool, once.
    return _horus.TensorHandle.from_dlpack(arr)
