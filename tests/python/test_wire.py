"""The bridge's wire format on its own (no Zenoh): horus.wire_encode and
horus.wire_decode against the layout horus/wire.h and the README document,
checked with `struct` as a program without horus would read and write it:
every message type round-trips with its metadata, and every kind of
malformed header is a ValueError that leaves nothing allocated."""

import struct

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, TensorHandle, TensorPool

LAYOUT = "<4sBBBBQqII d8q64sQ"  # magic version type dtype ndim seq ts kind reserved scale shape id len
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "bfloat16", "float32", "float64"]
IMAGE, CLOUD, DEPTH, TENSOR = 2, 3, 4, 1


def header(mtype, dtype, shape, payload_len, *, seq=0, magic=b"HRS1", version=1, kind=0,
           frame_id=b"raw", ts=0, scale=0.0, ndim=None, reserved=0):
    """A header built without horus (what a plain Zenoh program sends)."""
    dims = list(shape) + [0] * (8 - len(shape))
    return struct.pack(LAYOUT, magic, version, mtype, dtype, len(shape) if ndim is None else ndim,
                       seq, ts, kind, reserved, scale, *dims, frame_id.ljust(64, b"\0"),
                       payload_len)


def fields(h):
    f = struct.unpack(LAYOUT, h)
    return {"magic": f[0], "version": f[1], "type": f[2], "dtype": f[3], "ndim": f[4],
            "seq": f[5], "ts": f[6], "kind": f[7], "reserved": f[8], "scale": f[9],
            "shape": f[10:18], "frame_id": f[18], "len": f[19]}


@pytest.fixture
def pool():
    return TensorPool(pool_id=64, size_mb=8)


def test_header_layout_of_an_image():
    img = Image(6, 4, "bgra8")
    img.fill([1, 2, 3, 4])
    img.set_frame_id("cam/left")
    img.set_timestamp_ns(-5)
    h, payload = horus.wire_encode(img, 41)
    assert isinstance(h, bytes) and len(h) == 176 == struct.calcsize(LAYOUT)
    f = fields(h)
    assert (f["magic"], f["version"], f["type"], f["dtype"], f["ndim"]) == (b"HRS1", 1, IMAGE,
                                                                           DTYPES.index("uint8"), 3)
    assert f["seq"] == 41 and f["ts"] == -5 and f["kind"] == 5  # bgra8
    assert f["reserved"] == 0 and f["scale"] == 0.0
    assert f["shape"] == (6, 4, 4, 0, 0, 0, 0, 0)
    assert f["frame_id"] == b"cam/left".ljust(64, b"\0")
    assert f["len"] == len(payload) == 96 and payload == img.to_numpy().tobytes()
    back, seq = horus.wire_decode(h, payload)
    assert seq == 41 and isinstance(back, Image) and back.encoding == "bgra8"
    assert back.frame_id == "cam/left" and back.timestamp_ns == -5
    assert np.array_equal(back.to_numpy(), img.to_numpy())


@pytest.mark.parametrize("encoding", ["mono8", "mono16", "rgb8", "bgr8", "rgba8", "bgra8",
                                      "yuv422", "mono32f", "rgb32f", "bayer_rggb8", "depth16"])
def test_every_image_encoding_round_trips(encoding):
    img = Image(3, 4, encoding)
    arr = img.to_numpy()
    arr[...] = np.arange(arr.size).reshape(arr.shape).astype(arr.dtype)
    h, payload = horus.wire_encode(img, 2**64 - 1)
    assert fields(h)["seq"] == 2**64 - 1 and fields(h)["len"] == arr.nbytes
    back, seq = horus.wire_decode(h, payload)
    assert seq == 2**64 - 1 and back.encoding == encoding
    assert np.array_equal(back.to_numpy(), arr)


def test_point_cloud_and_depth_round_trip():
    pts = np.arange(40, dtype=np.float32).reshape(10, 4)
    cloud = PointCloud.from_numpy(pts)
    cloud.set_frame_id("lidar")
    h, payload = horus.wire_encode(cloud, 3)
    f = fields(h)
    assert (f["type"], f["dtype"], f["kind"], f["shape"][:2]) == (CLOUD, DTYPES.index("float32"),
                                                                  4, (10, 4))
    back, _ = horus.wire_decode(h, payload)
    assert isinstance(back, PointCloud) and back.frame_id == "lidar"
    assert np.array_equal(back.to_numpy(), pts)

    depth = DepthImage(2, 3, "uint16")
    depth.set_depth(1, 1, 1.5)
    h, payload = horus.wire_encode(depth, 4)
    f = fields(h)
    assert f["type"] == DEPTH and f["scale"] > 0 and f["shape"][:2] == (2, 3)
    back, _ = horus.wire_decode(h, payload)
    assert isinstance(back, DepthImage) and back.get_depth(1, 1) == pytest.approx(1.5)
    assert np.array_equal(back.to_numpy(), depth.to_numpy())


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != "bfloat16"])
def test_tensors_of_every_dtype_round_trip(pool, dtype):
    t = pool.alloc([2, 3, 2], dtype)
    t.numpy()[...] = np.arange(12).reshape(2, 3, 2).astype(dtype)
    h, payload = horus.wire_encode(t, 5)
    f = fields(h)
    assert (f["type"], f["dtype"], f["ndim"], f["len"]) == (TENSOR, DTYPES.index(dtype), 3,
                                                           t.numpy().nbytes)
    back, _ = horus.wire_decode(h, payload)
    assert isinstance(back, TensorHandle) and back.shape == [2, 3, 2] and back.dtype == dtype
    assert np.array_equal(back.numpy(), t.numpy())


def test_strided_empty_and_scalar_tensors(pool):
    t = pool.alloc((4, 6), "int16")
    t.numpy()[:] = np.arange(24).reshape(4, 6)
    h, p = horus.wire_encode(t.slice(1, 3), 0)  # a view goes out packed
    back, _ = horus.wire_decode(h, p)
    assert np.array_equal(back.numpy(), t.numpy()[1:3])
    h, p = horus.wire_encode(pool.alloc((0, 5), "float64"), 0)
    assert fields(h)["len"] == 0 and p == b""
    back, _ = horus.wire_decode(h, p)
    assert back.shape == [0, 5]
    h, p = horus.wire_encode(pool.alloc((), "int32"), 0)
    assert fields(h)["ndim"] == 0 and fields(h)["len"] == 4
    assert horus.wire_decode(h, p)[0].shape == []


def test_a_header_written_without_horus_is_read():
    payload = bytes(range(24))
    obj, seq = horus.wire_decode(header(IMAGE, DTYPES.index("uint8"), (2, 4, 3), 24, seq=9,
                                        kind=2, frame_id=b"plain", ts=77), payload)
    assert seq == 9 and isinstance(obj, Image) and obj.encoding == "rgb8"
    assert obj.frame_id == "plain" and obj.timestamp_ns == 77
    assert obj.to_numpy().tobytes() == payload


U8 = DTYPES.index("uint8")
GOOD = header(TENSOR, U8, (2, 3), 6)
MALFORMED = [
    ("short", GOOD[:-1], b"\0" * 6, "176"),
    ("long", GOOD + b"\0", b"\0" * 6, "176"),
    ("empty", b"", b"", "176"),
    ("magic", header(TENSOR, U8, (2, 3), 6, magic=b"HRS2"), b"\0" * 6, "magic"),
    ("version", header(TENSOR, U8, (2, 3), 6, version=2), b"\0" * 6, "version"),
    ("type-0", header(0, U8, (2, 3), 6), b"\0" * 6, "type"),
    ("type-bytes", header(5, U8, (2, 3), 6), b"\0" * 6, "type"),
    ("type-255", header(255, U8, (2, 3), 6), b"\0" * 6, "type"),
    ("dtype", header(TENSOR, 13, (2, 3), 6), b"\0" * 6, "dtype"),
    ("ndim", header(TENSOR, U8, (2, 3), 6, ndim=9), b"\0" * 6, "ndim"),
    ("past-ndim", header(TENSOR, U8, (2, 3, 1), 6, ndim=2), b"\0" * 6, "past ndim"),
    ("negative", header(TENSOR, U8, (2, -3), 6), b"\0" * 6, "negative"),
    ("overflow", header(TENSOR, U8, (2**62, 4), 0), b"", "overflow"),
    # A zero dimension holds no bytes but must not excuse the others.
    ("zero-overflow", header(TENSOR, DTYPES.index("float64"), (0, 2**62, 2**62), 0), b"",
     "overflow"),
    ("overflow-zero", header(TENSOR, U8, (2**62, 2**62, 0), 0), b"", "overflow"),
    ("length-vs-shape", header(TENSOR, U8, (2, 3), 7), b"\0" * 7, "payload"),
    ("payload-short", GOOD, b"\0" * 5, "payload"),
    ("payload-long", GOOD, b"\0" * 7, "payload"),
    ("frame-id-unterminated", header(TENSOR, U8, (2, 3), 6, frame_id=b"x" * 64), b"\0" * 6,
     "frame_id"),
    ("frame-id-not-utf8", header(IMAGE, U8, (2, 3), 6, frame_id=b"\xff\xfe"), b"\0" * 6,
     "UTF-8"),
    ("encoding-unknown", header(IMAGE, U8, (2, 3), 6, kind=77), b"\0" * 6, "encoding"),
    ("encoding-vs-shape", header(IMAGE, U8, (2, 1, 3), 6, kind=0), b"\0" * 6, ""),
    ("cloud-bool", header(CLOUD, 0, (2, 3), 6, kind=3), b"\0" * 6, ""),
    ("depth-dtype", header(DEPTH, U8, (2, 3), 6), b"\0" * 6, ""),
]


@pytest.mark.parametrize("name,h,payload,words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_headers_are_value_errors(name, h, payload, words):
    before = horus.global_pool_stats()["used_bytes"]
    with pytest.raises(ValueError) as e:
        horus.wire_decode(h, payload)
    assert words in str(e.value), str(e.value)
    assert horus.global_pool_stats()["used_bytes"] == before  # nothing left allocated


def test_wrong_argument_types():
    h, p = horus.wire_encode(Image(1, 1, "mono8"), 0)
    with pytest.raises(TypeError):
        horus.wire_encode(object(), 0)
    with pytest.raises(TypeError):
        horus.wire_decode("text", p)
    with pytest.raises(TypeError):
        horus.wire_decode(h)
    with pytest.raises((ValueError, OverflowError)):
        horus.wire_encode(Image(1, 1, "mono8"), -1)
    assert horus.wire_decode(bytearray(h), memoryview(p))[0].to_numpy().shape == (1, 1)
