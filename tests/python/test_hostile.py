"""The hostile-input table: every public function given wrong types, None,
huge and negative numbers, NaN, unsupported dtypes, zero-size,
non-contiguous and read-only arrays, and objects whose __dlpack__
misbehaves.  Each case must raise the exception docs/guide.md assigns (never
crash), with a message naming what was wrong, and leave every object as it
was: the pools' accounting, the image's bytes, the topic's traffic."""

import ctypes
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import horus
from horus import DepthImage, Image, Node, PointCloud, Scheduler, TensorHandle, TensorPool, Topic

HUGE = [2**31, 2**32, 2**63, 2**64, 10**30]
NAN, INF = float("nan"), float("inf")


def tick(node):
    pass


class World:
    """The objects every case may touch, and a snapshot of their state."""

    def __init__(self):
        self.pool = TensorPool(pool_id=77, size_mb=8, max_slots=32)
        self.tensor = self.pool.alloc((4, 6), "float32")
        self.tensor.numpy()[:] = np.arange(24, dtype=np.float32).reshape(4, 6)
        self.image = Image(4, 6, "rgb8")
        self.image.fill([10, 20, 30])
        self.image.set_frame_id("cam")
        self.cloud = PointCloud.from_numpy(np.arange(30, dtype=np.float32).reshape(10, 3))
        self.depth = DepthImage(4, 6, "uint16")
        self.depth.set_depth(1, 1, 1.5)
        self.topic = Topic(Image, "hostile.cam", capacity=4)
        self.gen = Topic("hostile.gen")
        self.node = Node("n", tick, 10.0)
        self.sched = Scheduler()
        self.sched.add(self.node)

    def snapshot(self):
        return (horus.global_pool_stats()["used_bytes"], self.pool.stats()["used_bytes"],
                self.tensor.numpy().tobytes(), bytes(self.image.to_numpy()), self.image.frame_id,
                self.image.timestamp_ns, self.cloud.to_numpy().tobytes(),
                self.depth.to_numpy().tobytes(), self.topic.stats()["sent"],
                [n.name for n in self.sched.nodes], self.tensor.shape, self.tensor.refcount)

    def still_works(self):
        self.image.set_pixel(0, 0, [1, 2, 3])
        assert self.image.pixel(0, 0) == [1, 2, 3]
        self.topic.send(self.image)
        got = self.topic.recv(timeout=1)
        assert got is not None and got.pixel(0, 0) == [1, 2, 3]
        self.sched.tick_once()


@pytest.fixture(scope="module")
def world():
    w = World()
    yield w
    w.topic.close()
    w.gen.close()


# ---- DLPack producers that misbehave ----------------------------------------------------

_new_capsule = ctypes.pythonapi.PyCapsule_New
_new_capsule.restype = ctypes.py_object
_new_capsule.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_KEEP = ctypes.create_string_buffer(64)


class Producer:
    def __init__(self, dlpack, device=(1, 0)):
        self._dlpack, self._device = dlpack, device

    def __dlpack__(self, **kwargs):
        return self._dlpack()

    def __dlpack_device__(self):
        if isinstance(self._device, Exception):
            raise self._device
        return self._device


def raises():
    raise RuntimeError("producer failed")


def wrong_capsule_name():
    return _new_capsule(ctypes.addressof(_KEEP), b"not_a_dltensor", None)


_used = np.arange(4.0).__dlpack__()
try:
    TensorHandle.from_dlpack(Producer(lambda: _used))  # consumes it
except Exception:
    pass


def cuda_capsule():
    cap = np.arange(4.0).__dlpack__()
    ptr = _get_pointer(cap, b"dltensor")
    ctypes.c_int32.from_address(ptr + 8).value = 2  # DLTensor.device.device_type = kDLCUDA
    return cap


def bad_dtype_capsule():
    cap = np.arange(4.0).__dlpack__()
    ptr = _get_pointer(cap, b"dltensor")
    ctypes.c_uint8.from_address(ptr + 20).value = 5  # DLTensor.dtype.code: not a DLPack code
    return cap


# ---- the table ----------------------------------------------------------------------------
# (id, call, exception(s), what the message must name)

def noncontig(a):
    return a[:, ::2]


def readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


CASES = [
    # TensorPool
    ("pool-id-str", lambda w: TensorPool("x"), TypeError, ""),
    ("pool-id-none", lambda w: TensorPool(None), TypeError, ""),
    ("pool-id-negative", lambda w: TensorPool(-1), (ValueError, OverflowError), ""),
    ("pool-id-huge", lambda w: TensorPool(2**64), (ValueError, OverflowError), ""),
    ("pool-size-zero", lambda w: TensorPool(78, size_mb=0), ValueError, "size"),
    ("pool-size-negative", lambda w: TensorPool(78, size_mb=-5), (ValueError, OverflowError), ""),
    ("pool-size-huge", lambda w: TensorPool(78, size_mb=2**62), (ValueError, OverflowError, OSError), ""),
    ("pool-size-nan", lambda w: TensorPool(78, size_mb=NAN), TypeError, ""),
    ("pool-slots-zero", lambda w: TensorPool(78, size_mb=4, max_slots=0), ValueError, "slots"),
    ("pool-slots-huge", lambda w: TensorPool(78, size_mb=4, max_slots=2**40), (ValueError, OverflowError), ""),
    ("pool-geometry-mismatch", lambda w: TensorPool(77, size_mb=16), ValueError, "77"),
    ("alloc-shape-none", lambda w: w.pool.alloc(None), TypeError, "shape"),
    ("alloc-shape-str", lambda w: w.pool.alloc("abc"), TypeError, "shape"),
    ("alloc-shape-float", lambda w: w.pool.alloc((2.5,)), TypeError, ""),
    ("alloc-shape-nan", lambda w: w.pool.alloc((NAN,)), TypeError, ""),
    ("alloc-shape-negative", lambda w: w.pool.alloc((-1, 4)), ValueError, "shape"),
    ("alloc-shape-huge", lambda w: w.pool.alloc((2**62, 2**62)), (ValueError, OverflowError), ""),
    ("alloc-shape-10**30", lambda w: w.pool.alloc((10**30,)), (ValueError, OverflowError), ""),
    # A zero dimension makes no bytes but must not make the other
    # dimensions' overflowing product legal (strides would overflow).
    ("alloc-shape-zero-huge", lambda w: w.pool.alloc((0, 2**62, 2**62)), ValueError, "overflow"),
    ("alloc-shape-huge-zero", lambda w: w.pool.alloc((2**62, 2**62, 0)), ValueError, "overflow"),
    ("alloc-ndim-9", lambda w: w.pool.alloc((1,) * 9), ValueError, "dim"),
    ("alloc-too-big", lambda w: w.pool.alloc((64, 1 << 20)), MemoryError, "bytes"),
    ("alloc-dtype-complex", lambda w: w.pool.alloc((2,), "complex128"), ValueError, "complex128"),
    ("alloc-dtype-object", lambda w: w.pool.alloc((2,), object), (TypeError, ValueError), "dtype"),
    ("alloc-dtype-none", lambda w: w.pool.alloc((2,), None), TypeError, "dtype"),
    ("alloc-dtype-int", lambda w: w.pool.alloc((2,), 5), TypeError, "dtype"),
    ("alloc-device-cuda", lambda w: w.pool.alloc((2,), "float32", "cuda"), ValueError, "cuda"),
    ("alloc-device-none", lambda w: w.pool.alloc((2,), "float32", None), TypeError, ""),
    ("alloc-dtype-nul", lambda w: w.pool.alloc((2,), "float32\x00int8"), ValueError, "dtype.*NUL"),
    ("alloc-device-nul", lambda w: w.pool.alloc((2,), "float32", "cpu\x00cuda"), ValueError,
     "device.*NUL"),
    # TensorHandle
    ("from-dlpack-none", lambda w: TensorHandle.from_dlpack(None), TypeError, "NoneType"),
    ("from-dlpack-int", lambda w: TensorHandle.from_dlpack(5), TypeError, "int"),
    ("from-dlpack-complex", lambda w: TensorHandle.from_dlpack(np.zeros(3, np.complex64)),
     (TypeError, ValueError, BufferError), "complex|dtype|type"),
    ("from-dlpack-object-array", lambda w: TensorHandle.from_dlpack(np.array([None, 1])),
     (TypeError, ValueError, BufferError), ""),
    ("from-dlpack-datetime", lambda w: TensorHandle.from_dlpack(np.zeros(3, "datetime64[s]")),
     (TypeError, ValueError, BufferError), ""),
    ("from-dlpack-structured", lambda w: TensorHandle.from_dlpack(np.zeros(3, "i4,f4")),
     (TypeError, ValueError, BufferError), ""),
    ("dlpack-producer-raises", lambda w: TensorHandle.from_dlpack(Producer(raises)), RuntimeError,
     "producer failed"),
    ("dlpack-returns-int", lambda w: TensorHandle.from_dlpack(Producer(lambda: 42)), BufferError,
     "capsule"),
    ("dlpack-wrong-capsule", lambda w: TensorHandle.from_dlpack(Producer(wrong_capsule_name)),
     BufferError, "capsule"),
    ("dlpack-used-capsule", lambda w: TensorHandle.from_dlpack(Producer(lambda: _used)),
     BufferError, "capsule"),
    ("dlpack-cuda-capsule", lambda w: TensorHandle.from_dlpack(Producer(cuda_capsule, (2, 0))),
     (BufferError, TypeError), "device|CPU|cpu"),
    ("dlpack-device-raises", lambda w: TensorHandle.from_dlpack(
        Producer(cuda_capsule, RuntimeError("no device"))), (BufferError, TypeError, RuntimeError),
     "device|CPU|cpu"),
    ("dlpack-bad-dtype-code", lambda w: TensorHandle.from_dlpack(Producer(bad_dtype_capsule)),
     (TypeError, BufferError, ValueError), "dtype|type"),
    ("from-descriptor-empty", lambda w: TensorHandle.from_descriptor(b""), ValueError, "descriptor"),
    ("from-descriptor-none", lambda w: TensorHandle.from_descriptor(None), TypeError, ""),
    ("from-descriptor-garbage", lambda w: TensorHandle.from_descriptor(b"\xff" * 256),
     ValueError, "descriptor"),
    ("view-none", lambda w: w.tensor.view(None), TypeError, ""),
    ("view-negative", lambda w: w.tensor.view((-2, 12)), ValueError, ""),
    ("view-mismatch", lambda w: w.tensor.view((7,)), ValueError, ""),
    ("view-two-infer", lambda w: w.tensor.view((-1, -1)), ValueError, ""),
    ("view-huge", lambda w: w.tensor.view((2**63,)), (ValueError, OverflowError), ""),
    ("slice-reversed", lambda w: w.tensor.slice(3, 1), (IndexError, ValueError), "slice|range"),
    ("slice-negative", lambda w: w.tensor.slice(-1, 2), (IndexError, ValueError), "slice|range"),
    ("slice-huge", lambda w: w.tensor.slice(0, 2**64), (IndexError, ValueError, OverflowError), ""),
    ("slice-str", lambda w: w.tensor.slice("a", 1), TypeError, ""),
    ("dlpack-stream-int", lambda w: w.tensor.__dlpack__(stream=5), (ValueError, BufferError), "stream"),
    ("dlpack-max-version-str", lambda w: w.tensor.__dlpack__(max_version="1.0"), TypeError,
     "max_version"),
    ("dlpack-max-version-short", lambda w: w.tensor.__dlpack__(max_version=(1,)), TypeError,
     "max_version"),
    ("dlpack-device-str", lambda w: w.tensor.__dlpack__(dl_device="cpu"), TypeError, "dl_device"),
    ("dlpack-device-cuda", lambda w: w.tensor.__dlpack__(dl_device=(2, 0)), (BufferError, ValueError),
     "device"),
    ("dlpack-unknown-kw", lambda w: w.tensor.__dlpack__(bogus=1), TypeError, "bogus"),
    ("dlpack-kw-nul", lambda w: w.tensor.__dlpack__(**{"stream\x00x": 5}), ValueError, "NUL"),
    ("copy-arg", lambda w: w.tensor.copy(1), TypeError, ""),
    ("deepcopy-no-memo", lambda w: w.tensor.__deepcopy__(), TypeError, ""),
    ("array-dtype-bad", lambda w: w.tensor.__array__(dtype="not-a-dtype"), TypeError, ""),
    # Image
    ("image-h-none", lambda w: Image(None, 4), TypeError, "height"),
    ("image-h-zero", lambda w: Image(0, 4), ValueError, "height"),
    ("image-h-negative", lambda w: Image(-1, 4), ValueError, "height"),
    *[(f"image-w-{v}", (lambda v: lambda w: Image(4, v))(v), (ValueError, OverflowError), "width")
      for v in HUGE[1:]],
    ("image-h-float", lambda w: Image(2.5, 4), TypeError, "height"),
    ("image-h-nan", lambda w: Image(NAN, 4), TypeError, "height"),
    ("image-encoding-unknown", lambda w: Image(4, 4, "rgb9"), ValueError, "rgb9"),
    ("image-encoding-int", lambda w: Image(4, 4, 3), TypeError, "encoding"),
    ("image-encoding-nul", lambda w: Image(4, 4, "rgb8\x00junk"), ValueError, "encoding.*NUL"),
    ("image-deepcopy-no-memo", lambda w: w.image.__deepcopy__(), TypeError, ""),
    ("image-too-big", lambda w: Image(100000, 100000), (MemoryError, ValueError), "bytes"),
    ("from-numpy-none", lambda w: Image.from_numpy(None), TypeError, "NoneType"),
    ("from-numpy-complex", lambda w: Image.from_numpy(np.zeros((4, 4, 3), np.complex128)),
     (ValueError, TypeError), "complex|dtype"),
    ("from-numpy-object", lambda w: Image.from_numpy(np.full((4, 4), None)), (ValueError, TypeError), ""),
    ("from-numpy-datetime", lambda w: Image.from_numpy(np.zeros((4, 4), "datetime64[s]")),
     (ValueError, TypeError), ""),
    ("from-numpy-bool", lambda w: Image.from_numpy(np.zeros((4, 4), bool)), ValueError, "bool"),
    ("from-numpy-zero-size", lambda w: Image.from_numpy(np.zeros((0, 4, 3), np.uint8)), ValueError,
     "height|zero|0"),
    ("from-numpy-5d", lambda w: Image.from_numpy(np.zeros((1, 1, 1, 1, 1), np.uint8)), ValueError, ""),
    ("from-numpy-mismatch", lambda w: Image.from_numpy(np.zeros((4, 4, 3), np.uint8), "mono8"),
     ValueError, "mono8"),
    ("from-numpy-float64", lambda w: Image.from_numpy(np.zeros((4, 4, 3))), ValueError, "float64"),
    ("from-bytes-short", lambda w: Image.from_bytes(b"123", 4, 4, "rgb8"), ValueError, "bytes"),
    ("from-bytes-none", lambda w: Image.from_bytes(None, 4, 4), TypeError, ""),
    ("from-bytes-zero", lambda w: Image.from_bytes(b"", 0, 0), ValueError, "height"),
    *[(f"pixel-x-{v}", (lambda v: lambda w: w.image.pixel(v, 0))(v), (IndexError, OverflowError), "x")
      for v in [-7, 6] + HUGE],  # -1..-6 count from the end
    ("pixel-y-out", lambda w: w.image.pixel(0, 4), IndexError, "outside"),
    ("pixel-none", lambda w: w.image.pixel(None, 0), TypeError, "x"),
    ("pixel-float", lambda w: w.image.pixel(1.5, 0), TypeError, "x"),
    ("set-pixel-count", lambda w: w.image.set_pixel(0, 0, [1, 2]), ValueError, "3"),
    ("set-pixel-256", lambda w: w.image.set_pixel(0, 0, [256, 0, 0]), ValueError, "256"),
    ("set-pixel-negative", lambda w: w.image.set_pixel(0, 0, [-1, 0, 0]), ValueError, "-1"),
    ("set-pixel-nan", lambda w: w.image.set_pixel(0, 0, [NAN, 0, 0]), ValueError, "nan"),
    ("set-pixel-inf", lambda w: w.image.set_pixel(0, 0, [INF, 0, 0]), ValueError, "inf"),
    ("set-pixel-str", lambda w: w.image.set_pixel(0, 0, ["a", 0, 0]), TypeError, ""),
    ("set-pixel-none", lambda w: w.image.set_pixel(0, 0, None), TypeError, ""),
    ("set-pixel-out", lambda w: w.image.set_pixel(9, 9, [1, 2, 3]), IndexError, "x"),
    ("fill-count", lambda w: w.image.fill([1, 2]), ValueError, "3"),
    ("fill-huge", lambda w: w.image.fill([1e300, 0, 0]), ValueError, ""),
    ("fill-none", lambda w: w.image.fill(None), TypeError, ""),
    ("copy-from-short", lambda w: w.image.copy_from(b"x"), ValueError, "72|bytes"),
    ("copy-from-none", lambda w: w.image.copy_from(None), TypeError, ""),
    ("copy-from-wrong-size", lambda w: w.image.copy_from(np.zeros(10)), ValueError, "bytes"),
    ("copy-from-noncontiguous", lambda w: w.image.copy_from(
        noncontig(np.zeros((4, 36), np.uint8))), (ValueError, BufferError), "contiguous|bytes"),
    ("roi-outside", lambda w: w.image.roi(0, 0, 100, 100), IndexError, "leaves"),
    ("roi-negative", lambda w: w.image.roi(-1, 0, 1, 1), (ValueError, IndexError, OverflowError), ""),
    ("roi-empty", lambda w: w.image.roi(0, 0, 0, 0), ValueError, ""),
    ("frame-id-long", lambda w: w.image.set_frame_id("x" * 64), ValueError, "63"),
    ("frame-id-multibyte-long", lambda w: w.image.set_frame_id("é" * 32), ValueError, "63"),
    ("frame-id-none", lambda w: w.image.set_frame_id(None), TypeError, ""),
    ("frame-id-bytes", lambda w: w.image.set_frame_id(b"cam"), TypeError, ""),
    ("frame-id-surrogate", lambda w: w.image.set_frame_id("\ud800"), ValueError, ""),
    ("frame-id-nul", lambda w: w.image.set_frame_id("cam\x00x"), ValueError, "frame_id.*NUL"),
    ("timestamp-none", lambda w: w.image.set_timestamp_ns(None), TypeError, ""),
    ("timestamp-huge", lambda w: w.image.set_timestamp_ns(2**64), (ValueError, OverflowError),
     "64 bits"),
    ("timestamp-float", lambda w: w.image.set_timestamp_ns(1.5), TypeError, ""),
    # PointCloud
    ("cloud-n-negative", lambda w: PointCloud(-1), ValueError, ""),
    ("cloud-n-huge", lambda w: PointCloud(2**63), (ValueError, OverflowError, MemoryError), ""),
    ("cloud-n-none", lambda w: PointCloud(None), TypeError, ""),
    ("cloud-fields-zero", lambda w: PointCloud(10, fields=0), ValueError, "fields"),
    ("cloud-fields-huge", lambda w: PointCloud(10, fields=2**40), (ValueError, OverflowError), ""),
    ("cloud-dtype-complex", lambda w: PointCloud(10, 3, "complex64"), ValueError, "complex64"),
    ("cloud-dtype-none", lambda w: PointCloud(10, 3, None), TypeError, ""),
    ("cloud-dtype-nul", lambda w: PointCloud(10, 3, "float32\x00"), ValueError, "dtype.*NUL"),
    ("cloud-from-1d", lambda w: PointCloud.from_numpy(np.zeros(10, np.float32)), ValueError, ""),
    ("cloud-from-complex", lambda w: PointCloud.from_numpy(np.zeros((10, 3), np.complex64)),
     (ValueError, TypeError), ""),
    ("cloud-from-none", lambda w: PointCloud.from_numpy(None), TypeError, ""),
    *[(f"point-at-{v}", (lambda v: lambda w: w.cloud.point_at(v))(v), (IndexError, OverflowError), "")
      for v in [-11, 10] + HUGE],  # -1 is the last point, as in Python
    ("point-at-none", lambda w: w.cloud.point_at(None), TypeError, ""),
    # DepthImage
    ("depth-dtype-uint8", lambda w: DepthImage(4, 4, "uint8"), ValueError, "uint8"),
    ("depth-zero", lambda w: DepthImage(0, 4), ValueError, "height"),
    ("depth-dtype-nul", lambda w: DepthImage(4, 4, "uint16\x00"), ValueError, "dtype.*NUL"),
    ("depth-from-complex", lambda w: DepthImage.from_numpy(np.zeros((4, 4), np.complex64)),
     (ValueError, TypeError), "complex64"),
    ("depth-from-int8", lambda w: DepthImage.from_numpy(np.zeros((4, 4), np.int8)), ValueError, "int8"),
    ("depth-from-3d", lambda w: DepthImage.from_numpy(np.zeros((4, 4, 3), np.float32)), ValueError, ""),
    ("depth-from-none", lambda w: DepthImage.from_numpy(None), TypeError, ""),
    ("get-depth-out", lambda w: w.depth.get_depth(-10**6, 0), IndexError, "x"),
    ("get-depth-huge", lambda w: w.depth.get_depth(0, 2**64), (IndexError, OverflowError), "y"),
    ("set-depth-nan-mm", lambda w: w.depth.set_depth(0, 0, NAN), ValueError, "nan"),
    ("set-depth-negative-mm", lambda w: w.depth.set_depth(0, 0, -1.0), ValueError, ""),
    ("set-depth-huge-mm", lambda w: w.depth.set_depth(0, 0, 1e9), ValueError, ""),
    ("set-depth-str", lambda w: w.depth.set_depth(0, 0, "a"), TypeError, ""),
    # Topic
    ("topic-type-none", lambda w: Topic(None), TypeError, ""),
    ("topic-type-int", lambda w: Topic(int), TypeError, "int"),
    ("topic-name-slash", lambda w: Topic(Image, "bad/name"), ValueError, "bad/name"),
    ("topic-name-empty", lambda w: Topic(Image, ""), ValueError, "name"),
    ("topic-name-long", lambda w: Topic(Image, "x" * 100), ValueError, "name"),
    ("topic-name-int", lambda w: Topic(Image, 5), TypeError, ""),
    ("topic-name-nul", lambda w: Topic(Image, "hostile.cam\x00../../etc"), ValueError, "name.*NUL"),
    ("topic-generic-name-nul", lambda w: Topic("hostile.gen\x00x"), ValueError, "name.*NUL"),
    ("topic-capacity-zero", lambda w: Topic(Image, "cap", capacity=0), ValueError, "capacity"),
    ("topic-capacity-negative", lambda w: Topic(Image, "cap", capacity=-1), (ValueError, OverflowError), ""),
    ("topic-capacity-huge", lambda w: Topic(Image, "cap", capacity=2**40), (ValueError, OverflowError), ""),
    ("topic-other-type", lambda w: Topic(PointCloud, "hostile.cam"), TypeError, "Image"),
    ("send-none", lambda w: w.topic.send(None), TypeError, "NoneType"),
    ("send-ndarray", lambda w: w.topic.send(np.zeros(3)), TypeError, "ndarray"),
    ("send-wrong-type", lambda w: w.topic.send(w.cloud), TypeError, "PointCloud"),
    ("recv-timeout-nan", lambda w: w.topic.recv(timeout=NAN), ValueError, "timeout"),
    ("recv-timeout-str", lambda w: w.topic.recv(timeout="1"), TypeError, ""),
    ("recv-timeout-negative", lambda w: w.topic.recv(timeout=-1), ValueError, "timeout"),
    ("generic-unpicklable", lambda w: w.gen.send(lambda: 1), (pickle.PicklingError, TypeError,
                                                               AttributeError), ""),
    ("generic-too-big", lambda w: w.gen.send(b"x" * (65 << 20)), ValueError, "bytes"),
    # Node and Scheduler
    ("node-name-empty", lambda w: Node("", tick, 10), ValueError, "name"),
    ("node-name-none", lambda w: Node(None, tick, 10), TypeError, ""),
    ("node-name-long", lambda w: Node("x" * 100, tick, 10), ValueError, "name"),
    ("node-name-nul", lambda w: Node("n\x00x", tick, 10), ValueError, "name.*NUL"),
    ("node-tick-none", lambda w: Node("n2", None, 10), TypeError, "tick|callable"),
    *[(f"node-rate-{v}", (lambda v: lambda w: Node("n2", tick, v))(v), ValueError, "rate")
      for v in [0, -1, NAN, INF]],
    ("node-rate-str", lambda w: Node("n2", tick, "10"), TypeError, ""),
    ("sched-add-none", lambda w: w.sched.add(None), TypeError, "Node"),
    ("sched-add-twice", lambda w: w.sched.add(w.node), ValueError, "n"),
    ("sched-add-order-str", lambda w: w.sched.add(Node("n3", tick, 10), order="a"), TypeError, ""),
    ("sched-run-negative", lambda w: w.sched.run(duration=-1), ValueError, "duration"),
    ("sched-run-nan", lambda w: w.sched.run(duration=NAN), ValueError, "duration"),
    ("sched-run-str", lambda w: w.sched.run(duration="1"), TypeError, ""),
    ("sched-node-stats-missing", lambda w: w.sched.node_stats("missing"), (KeyError, ValueError), "missing"),
    ("sched-node-stats-nul", lambda w: w.sched.node_stats("n\x00x"), ValueError, "NUL"),
    ("sched-node-stats-int", lambda w: w.sched.node_stats(5), TypeError, "str"),
    # module functions
    ("clean-positional", lambda w: horus.clean(True), TypeError, ""),
    ("topics-arg", lambda w: horus.topics(1), TypeError, ""),
    ("reclaim-arg", lambda w: horus.reclaim(1), TypeError, ""),
]


@pytest.mark.parametrize("call,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input(world, call, exc, match):
    before = world.snapshot()
    with pytest.raises(exc) as info:
        call(world)
    if match:
        assert any(__import__("re").search(m, str(info.value), __import__("re").I)
                   for m in match.split("|")), f"message {str(info.value)!r} does not name {match!r}"
    assert world.snapshot() == before
    world.still_works()


# ---- valid but unusual input: accepted, copied correctly, nothing else changes -------------

@pytest.mark.parametrize("make", [noncontig, readonly], ids=["non-contiguous", "read-only"])
def test_unusual_but_valid_arrays_are_copied(make):
    src = make(np.arange(4 * 12 * 3, dtype=np.uint8).reshape(4, 12, 3))
    img = Image.from_numpy(src)
    assert np.array_equal(img.to_numpy(), src)
    t = TensorHandle.from_dlpack(make(np.arange(48, dtype=np.float32).reshape(4, 12)))
    assert np.array_equal(t.numpy(), make(np.arange(48, dtype=np.float32).reshape(4, 12)))
    img2 = Image(4, 6, "rgb8")
    img2.copy_from(readonly(np.zeros((4, 6, 3), np.uint8)))


def test_negative_point_index_counts_from_the_end():
    cloud = PointCloud.from_numpy(np.arange(30, dtype=np.float32).reshape(10, 3))
    assert cloud.point_at(-1) == [27.0, 28.0, 29.0]


def test_float64_depth_is_converted_to_float32_meters():
    depth = DepthImage.from_numpy(np.full((2, 3), 1.25))
    assert depth.dtype == "float32" and depth.get_depth(2, 1) == 1.25


def test_zero_size_tensors_are_fine():
    t = TensorHandle.from_dlpack(np.zeros((0, 3), np.float32))
    assert t.shape == [0, 3] and t.numpy().shape == (0, 3)
    cloud = PointCloud(0)
    assert cloud.point_count == 0


# ---- properties: any integers, either the right answer or the right exception ----------

INTS = st.one_of(st.integers(-2**70, 2**70), st.integers(-3, 70))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=INTS, w=INTS)
def test_image_dimensions_property(h, w):
    try:
        img = Image(h, w, "mono8")
    except (ValueError, OverflowError, MemoryError):
        assert not (1 <= h <= 4096 and 1 <= w <= 4096)
        return
    assert (img.height, img.width) == (h, w) and img.nbytes == h * w


@settings(max_examples=300, deadline=None)
@given(x=INTS, y=INTS)
def test_pixel_coordinates_property(x, y):
    img = Image(7, 9, "mono16")
    img.fill([5])
    try:
        v = img.pixel(x, y)
    except (IndexError, OverflowError):
        assert not (0 <= x < 9 and 0 <= y < 7)
        return
    assert v == [5]


@settings(max_examples=200, deadline=None)
@given(shape=st.lists(st.integers(-2**40, 2**40), max_size=10))
def test_alloc_shapes_property(shape):
    pool = TensorPool(pool_id=79, size_mb=4, max_slots=16)
    before = pool.stats()["used_bytes"]
    try:
        t = pool.alloc(shape, "uint8")
    except (ValueError, OverflowError, MemoryError):
        assert pool.stats()["used_bytes"] == before
        return
    assert t.shape == shape and t.nbytes == math.prod(shape)
    t.release()
