"""The per-message fast paths of the bindings keep every behaviour: message
objects recycled through free lists start fresh, recv()'s shortcut for its
timeout argument agrees with the general parser, generic topics encode as
json.dumps would, and NumPy type numbers map the same on every import."""

import gc
import weakref

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, TensorHandle, Topic

FREELIST = 32  # HPY_FREELIST_MAX: make more than this to reuse every parked one


def received_image(name):
    """A read-only Image with metadata, as a subscriber gets it."""
    pub, sub = Topic(Image, name), Topic(Image, name)
    img = Image(2, 3)
    img.frame_id, img.timestamp_ns = "cam", 123
    pub.send(img)
    got = sub.recv()
    assert got is not None and got.readonly
    return got


def test_recycled_objects_start_fresh():
    """Objects parked after use (read-only, weakly referenced, exported,
    with metadata) come back as new ones with none of it."""
    dead = []
    old = [received_image(f"fast.fresh{i}") for i in range(FREELIST + 8)]
    refs = [weakref.ref(o, dead.append) for o in old]
    ifaces = [o.__array_interface__ for o in old]  # fills each object's export list
    views = [o.to_numpy() for o in old]
    del old
    gc.collect()
    assert len(dead) == len(refs) and all(r() is None for r in refs)
    assert all(int(v[0, 0, 0]) == 0 for v in views)  # exports outlive their object
    assert len(ifaces) == len(views)
    fresh = [Image(2, 3) for _ in range(FREELIST + 8)]
    for img in fresh:
        assert not img.readonly and img.frame_id == "" and img.timestamp_ns == 0
        assert weakref.getweakrefcount(img) == 0
        img.set_pixel(0, 0, [1, 2, 3])
        assert img.pixel(0, 0) == [1, 2, 3]


def test_recycling_crosses_message_types():
    """Image, DepthImage and PointCloud share one size of object; a parked
    one of each type comes back as any other, with its own class."""
    objs = [Image(2, 2), DepthImage(2, 2), PointCloud(3)]
    del objs
    made = [DepthImage(2, 2), PointCloud(3), Image(2, 2)]
    assert [type(o) for o in made] == [DepthImage, PointCloud, Image]
    assert made[0].shape == (2, 2) and made[1].shape[0] == 3 and made[2].shape == (2, 2, 3)
    t = horus.TensorPool().alloc([4], dtype="float32")
    del t
    t = horus.TensorPool().alloc([5], dtype="int16")
    assert type(t) is TensorHandle and list(t.shape) == [5] and t.dtype == "int16"


def test_message_objects_hold_no_cycles():
    """Message objects are not tracked by the cyclic GC (they hold no
    reference that could close a cycle): a received message costs no GC."""
    img = received_image("fast.gc")
    img.__array_interface__  # the export list is the one reference an image holds
    assert not gc.is_tracked(img)
    assert not gc.is_tracked(horus.TensorPool().alloc([1], dtype="uint8"))


@pytest.mark.parametrize("call", [
    lambda sub: sub.recv(),
    lambda sub: sub.recv(0),
    lambda sub: sub.recv(None),
    lambda sub: sub.recv(timeout=0.0),
    lambda sub: sub.recv(timeout=None),
    # A keyword that is not interned takes the general parser.
    lambda sub: sub.recv(**{"".join(["time", "out"]): 0}),
])
def test_recv_timeout_spellings_agree(call):
    pub, sub = Topic(Image, "fast.spell"), Topic(Image, "fast.spell")
    assert call(sub) is None
    pub.send(Image(1, 1))
    got = call(sub)
    assert isinstance(got, Image) and got.shape == (1, 1, 3)


def test_recv_argument_errors_are_unchanged():
    sub = Topic(Image, "fast.err")
    with pytest.raises(TypeError, match=r"recv\(\) got an unexpected keyword argument 'tim'"):
        sub.recv(tim=1)
    with pytest.raises(TypeError, match=r"recv\(\) got multiple values for argument 'timeout'"):
        sub.recv(1, timeout=1)
    with pytest.raises(TypeError, match=r"recv\(\) takes at most 1 positional argument"):
        sub.recv(1, 2)
    with pytest.raises(ValueError, match="contains a NUL character"):
        sub.recv(**{"time\0out": 1})
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        sub.recv(timeout=-1)
    with pytest.raises(TypeError, match="timeout must be a number"):
        sub.recv("1")
    # Not initialised: no module state cached yet, the general path answers.
    with pytest.raises(ValueError, match="Topic is closed"):
        Topic.__new__(Topic).recv(timeout=0)


def test_generic_json_is_what_json_dumps_gives():
    """The cached encoder writes exactly json.dumps(ensure_ascii=False,
    allow_nan=False, separators=(",", ":")), which the C readers parse."""
    pub, sub = Topic("fast.json"), Topic("fast.json")
    values = [{"a": [1, 2.5, None, True], "é": "ü\u20ac"}, [], "x", 7, {"n": {"m": [{}]}}]
    for v in values:
        pub.send(v)
        assert sub.recv() == v
    # Not JSON-exact: pickled, and the cached pickle functions round-trip it.
    for v in [(1, 2), {1: "a"}, b"raw", float("nan")]:
        pub.send(v)
        got = sub.recv()
        assert got == v or (v != v and got != got)


@pytest.mark.parametrize("dtype,name", [
    (np.intc, "int32"), (np.int_, "int64"), (np.longlong, "int64"), (np.uintc, "uint32"),
    (np.ulonglong, "uint64"), (np.float16, "float16"), (np.bool_, "bool"),
    (np.uint8, "uint8"),
])
def test_numpy_type_numbers_map_the_same_every_time(dtype, name):
    for _ in range(3):  # the first import fills the memo, the next ones read it
        t = TensorHandle.from_dlpack(np.zeros(3, dtype))
        assert t.dtype == name
    with pytest.raises(TypeError, match="unsupported dtype"):
        TensorHandle.from_dlpack(np.zeros(3, np.complex64))


@pytest.mark.parametrize("cls,third", [(Image, "encoding"), (DepthImage, "dtype")])
@pytest.mark.parametrize("args", [
    (0, 1), (1, 0), (2**32, 1), (1.0, 2), ("1", 2), (1, 1, "zz"), (1, 1, 3), (1, 1, "mono\0"),
    (1, 1, "uint8"),
])
def test_frames_by_position_fail_as_by_keyword(cls, third, args):
    """Image(h, w[, enc]) and DepthImage(h, w[, dtype]) take a shortcut past
    type.__call__; with keywords they go the usual way.  Both refuse alike."""
    kw = dict(zip(["height", "width", third], args))
    with pytest.raises(Exception) as by_pos:
        cls(*args)
    with pytest.raises(Exception) as by_kw:
        cls(**kw)
    assert type(by_pos.value) is type(by_kw.value)
    assert str(by_pos.value) == str(by_kw.value)


def test_image_by_position_is_the_image_by_keyword():
    for args in [(2, 3), (2, 3, "mono16"), (1, 5, "RGBA")]:
        a, b = Image(*args), Image(**dict(zip(["height", "width", "encoding"], args)))
        assert type(a) is Image and repr(a) == repr(b) and a.shape == b.shape
        assert a.to_numpy().dtype == b.to_numpy().dtype and not a.readonly
    for args in [(2, 3), (2, 3, "uint16"), (4, 1, "float32")]:
        a, b = DepthImage(*args), DepthImage(**dict(zip(["height", "width", "dtype"], args)))
        assert type(a) is DepthImage and repr(a) == repr(b) and a.dtype == b.dtype
    img = Image.__new__(Image)  # tp_new and __init__ stay as they were
    with pytest.raises(ValueError, match="not initialised"):
        img.to_numpy()
    img.__init__(2, 2, "mono8")
    assert img.shape == (2, 2)
    with pytest.raises(TypeError, match=r"takes at most 3 arguments \(4 given\)"):
        Image(1, 1, "rgb8", 4)
    with pytest.raises(TypeError, match=r"missing required argument 'width'"):
        Image(1)
