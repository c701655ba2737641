"""x.copy(), copy.copy(x) and copy.deepcopy(x): an independent object in a
new block of the same pool, with the same type, shape, dtype and metadata,
for Image, DepthImage, PointCloud and TensorHandle.  (Pickling is what
shares a block: tests/python/test_pickle*.)"""

import copy

import numpy as np
import pytest

from horus import DepthImage, Image, PointCloud, TensorHandle, TensorPool, Topic


def stamped(frame):
    frame.frame_id = "cam_front"
    frame.timestamp_ns = 1_700_000_000_123_456_789
    return frame


def image():
    return stamped(Image.from_numpy(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3), "bgr8"))


def mono16():
    return stamped(Image.from_numpy(np.arange(12, dtype=np.uint16).reshape(3, 4), "mono16"))


def depth_mm():
    return stamped(DepthImage.from_numpy(np.arange(1, 13, dtype=np.uint16).reshape(3, 4)))


def depth_m():
    return stamped(DepthImage.from_numpy(np.linspace(0.5, 4, 12, dtype=np.float32).reshape(3, 4)))


def cloud():
    return stamped(PointCloud.from_numpy(np.arange(20, dtype=np.float32).reshape(5, 4)))


def tensor():
    return TensorHandle.from_dlpack(np.arange(10, dtype=np.int32).reshape(2, 5))


_POOL = []


def pool_tensor():  # a pool other than the global one: the copy stays in it
    if not _POOL:
        _POOL.append(TensorPool(81, size_mb=4, max_slots=16))
    t = _POOL[0].alloc((3, 4), "float64")
    t.numpy()[...] = np.arange(12.0).reshape(3, 4)
    return t


def row_slice():  # a view into a block: the copy holds just its rows
    return TensorHandle.from_dlpack(np.arange(24, dtype=np.int16).reshape(6, 4)).slice(2, 5)


MAKERS = [image, mono16, depth_mm, depth_m, cloud, tensor, pool_tensor, row_slice]
COPIERS = {"copy()": lambda x: x.copy(), "copy.copy": copy.copy, "copy.deepcopy": copy.deepcopy}

ATTRS = ["dtype", "nbytes", "frame_id", "timestamp_ns", "height", "width", "encoding",
         "channels", "step", "depth_scale", "point_count", "fields_per_point", "shape",
         "strides", "ndim", "numel", "device", "pool_id"]


def meta(x):
    out = {"type": type(x), "array_shape": x.to_numpy().shape}
    for name in ATTRS:
        if hasattr(x, name):
            out[name] = getattr(x, name)
    if isinstance(x, DepthImage):
        out["is_millimeters"] = x.is_millimeters()
    if isinstance(x, PointCloud):
        out["has_intensity"] = x.has_intensity()
    return out


@pytest.mark.parametrize("copier", COPIERS.values(), ids=COPIERS.keys())
@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__)
def test_copy_is_independent_with_the_same_metadata(make, copier):
    x = make()
    before = x.to_numpy().copy()
    y = copier(x)
    assert meta(y) == meta(x)
    assert np.array_equal(y.to_numpy(), before)
    assert y.to_numpy().ctypes.data != x.to_numpy().ctypes.data  # a new block
    y.to_numpy()[...] = 0
    assert np.array_equal(x.to_numpy(), before)  # writing the copy leaves the original
    x.to_numpy()[...] = 1
    assert not y.to_numpy().any()  # and the other way round
    del x
    assert not y.to_numpy().any()  # the copy owns its block


def test_copy_of_a_received_frame_is_the_subscribers_own():
    topic = Topic(Image, "copy.recv")
    sent = image()
    topic.send(sent)
    got = topic.recv()
    mine = got.copy()
    mine.to_numpy()[...] = 0
    assert np.array_equal(got.to_numpy(), sent.to_numpy()) and sent.to_numpy().any()
    assert mine.frame_id == "cam_front" and mine.encoding == "bgr8"
    topic.close()


def test_deepcopy_keeps_shared_references_shared():
    img = image()
    a, b = copy.deepcopy([img, img])
    assert a is b and a is not img


def test_copy_refuses_a_released_tensor_and_a_full_pool():
    t = tensor()
    t.release()
    with pytest.raises(ValueError, match="released"):
        t.copy()
    pool = TensorPool(82, size_mb=1, max_slots=4)
    big = pool.alloc((700 * 1024,), "uint8")
    big.numpy()[:3] = (1, 2, 3)
    with pytest.raises(MemoryError):
        copy.deepcopy(big)
    assert list(big.numpy()[:3]) == [1, 2, 3] and pool.stats()["allocated_slots"] == 1
