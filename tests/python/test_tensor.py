"""TensorPool and TensorHandle: the spec's snippets, zero-copy in every
direction, lifetimes, and refusals of bad input."""

import gc
import pickle

import numpy as np
import pytest

import horus
from horus import TensorHandle, TensorPool

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402


@pytest.fixture
def pool():
    return TensorPool(pool_id=1, size_mb=64, max_slots=1024)


def used(pool):
    gc.collect()
    return pool.stats()["used_bytes"]


# ---- the spec, as written --------------------------------------------------


def test_spec_tensorhandle_snippet():
    pool = TensorPool(pool_id=1, size_mb=64, max_slots=1024)
    tensor = pool.alloc(shape=[480, 640, 3], dtype="float32", device="cpu")
    assert tensor.shape == [480, 640, 3]
    assert tensor.dtype == "float32"
    assert tensor.device == "cpu"
    assert tensor.numel == 480 * 640 * 3
    assert tensor.nbytes == 480 * 640 * 3 * 4
    assert tensor.refcount == 1

    np_array = tensor.numpy()
    torch_t = tensor.torch()
    assert np_array.shape == (480, 640, 3) and np_array.dtype == np.float32
    assert tuple(torch_t.shape) == (480, 640, 3) and torch_t.dtype == torch.float32

    reshaped = tensor.view([480 * 640, 3])
    assert reshaped.shape == [480 * 640, 3]
    sliced = tensor.slice(0, 100)
    assert sliced.shape == [100, 640, 3]
    assert tensor.is_cpu() is True
    assert tensor.is_contiguous() is True
    tensor.release()

    t = torch.randn(100, 100)
    tensor = TensorHandle.from_dlpack(t)
    assert tensor.shape == [100, 100]
    assert np.array_equal(tensor.numpy(), t.numpy())


def test_spec_tensorpool_snippet():
    pool = TensorPool(pool_id=1, size_mb=64, max_slots=1024)
    base = pool.stats()
    t1 = pool.alloc([480, 640, 3], dtype="float32")
    t2 = pool.alloc([1000, 3], dtype="float32")
    stats = pool.stats()
    assert stats["allocated_slots"] == base["allocated_slots"] + 2
    assert stats["used_bytes"] >= base["used_bytes"] + t1.nbytes + t2.nbytes
    assert stats["free_bytes"] == stats["size_bytes"] - stats["used_bytes"]
    for key in ("pool_id", "size_bytes", "max_slots"):
        assert key in stats
    assert stats["pool_id"] == 1 and stats["max_slots"] == 1024
    assert stats["size_bytes"] == 64 << 20
    f"Allocated: {stats['allocated_slots']} slots"  # the spec prints these


def test_every_dtype(pool):
    for name in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                 "uint32", "uint64", "float16", "float32", "float64"):
        t = pool.alloc([3, 5], dtype=name)
        a = t.numpy()
        assert a.dtype == np.dtype(name) and a.shape == (3, 5)
        assert t.nbytes == 15 * np.dtype(name).itemsize
    t = pool.alloc([4, 4], dtype="bfloat16")
    assert t.dtype == "bfloat16" and t.nbytes == 32
    tt = torch.from_dlpack(t)
    assert tt.dtype == torch.bfloat16
    with pytest.raises(BufferError):
        t.numpy()
    # dtype spellings other than str
    assert pool.alloc([2], dtype=np.float64).dtype == "float64"
    assert pool.alloc([2], dtype=torch.int16).dtype == "int16"


def test_blocks_are_64_byte_aligned(pool):
    for n in (1, 3, 100, 4097):
        assert pool.alloc([n], dtype="uint8").numpy().ctypes.data % 64 == 0


# ---- zero-copy, by writing through one view and reading through another ----


def test_zero_copy_numpy_and_buffer(pool):
    t = pool.alloc([4, 4], dtype="float32")
    a = t.numpy()
    b = np.asarray(t)
    m = memoryview(t)
    a[1, 2] = 3.5
    assert b[1, 2] == 3.5
    assert m[1, 2] == 3.5
    m[2, 3] = -1.0
    assert a[2, 3] == -1.0
    assert np.from_dlpack(t)[2, 3] == -1.0
    assert a.ctypes.data == b.ctypes.data == np.from_dlpack(t).ctypes.data
    assert t.__array_interface__["data"] == (a.ctypes.data, False)  # the protocol's tuple
    assert np.asarray(t.__array__()).ctypes.data == a.ctypes.data


def test_zero_copy_torch_both_ways(pool):
    t = pool.alloc([8, 3], dtype="float32")
    a = t.numpy()
    tt = t.torch()
    tt[0, 0] = 42
    assert a[0, 0] == 42
    a[1, 1] = 7
    assert tt[1, 1].item() == 7
    td = torch.from_dlpack(t)
    td[2, 2] = 9
    assert a[2, 2] == 9
    # and back: a torch view of our block imports without a copy
    back = TensorHandle.from_dlpack(tt)
    back.numpy()[3, 0] = 11
    assert a[3, 0] == 11
    assert back.numpy().ctypes.data == a.ctypes.data


def test_zero_copy_jax(pool):
    t = pool.alloc([16, 16], dtype="float32")
    a = t.numpy()
    a[:] = 1.0
    j = t.to_jax()
    j2 = jax.dlpack.from_dlpack(t)
    j3 = jnp.from_dlpack(t)
    a[5, 5] = 123.0  # JAX arrays are immutable to JAX code, not to the memory
    assert float(j[5, 5]) == 123.0
    assert float(j2[5, 5]) == 123.0
    assert float(j3[5, 5]) == 123.0
    assert j.unsafe_buffer_pointer() == a.ctypes.data


def test_from_dlpack_copies_once_from_foreign_memory():
    src = torch.arange(12, dtype=torch.int32).reshape(3, 4)
    t = TensorHandle.from_dlpack(src)
    src[0, 0] = 100  # the copy does not follow the source
    assert t.numpy()[0, 0] == 0
    assert t.numpy().tolist() == torch.arange(12).reshape(3, 4).tolist()
    # non-contiguous sources are copied correctly
    tr = TensorHandle.from_dlpack(src.t())
    assert tr.shape == [4, 3] and tr.is_contiguous()
    assert tr.numpy().tolist() == src.t().tolist()
    # NumPy arrays and JAX arrays too
    n = np.arange(6, dtype=np.float64).reshape(2, 3)[:, ::2]
    assert TensorHandle.from_dlpack(n).numpy().tolist() == n.tolist()
    jx = jnp.arange(5, dtype=jnp.float32)
    assert TensorHandle.from_dlpack(jx).numpy().tolist() == [0, 1, 2, 3, 4]


def test_from_dlpack_of_a_view_shares_the_block(pool):
    t = pool.alloc([10, 4], dtype="int64")
    a = t.numpy()
    sub = a[2:5]
    h = TensorHandle.from_dlpack(sub)
    assert h.pool_id == 1 and h.shape == [3, 4]
    h.numpy()[0, 0] = 77
    assert a[2, 0] == 77
    assert t.refcount >= 3  # t, a's base, h


# ---- lifetimes -----------------------------------------------------------------


def test_views_outlive_release_and_del(pool):
    base = used(pool)
    # float32: JAX without jax_enable_x64 would copy float64 to float32
    t = pool.alloc([1000], dtype="float32")
    a = t.numpy()
    tt = t.torch()
    j = t.to_jax()
    cap = t.__dlpack__()
    m = memoryview(t)
    a[:] = 2.5
    assert t.refcount == 6
    t.release()
    with pytest.raises(ValueError, match="released"):
        t.numpy()
    with pytest.raises(ValueError):
        t.shape  # noqa: B018
    del t
    gc.collect()
    assert a.sum() == 2500.0 and tt.sum().item() == 2500.0
    assert float(j.sum()) == 2500.0 and m[999] == 2.5
    assert used(pool) > base
    del a, tt, j, cap, m
    assert used(pool) == base


def test_refcount_follows_exports(pool):
    t = pool.alloc([10], dtype="uint8")
    assert t.refcount == 1
    a = t.numpy()
    assert t.refcount == 2
    b = t.torch()
    assert t.refcount == 3
    v = t.view([2, 5])
    assert t.refcount == 4
    del a, b, v
    gc.collect()
    assert t.refcount == 1


def test_unconsumed_capsules_release_their_reference(pool):
    base = used(pool)
    t = pool.alloc([100], dtype="float32")
    for kw in ({}, {"max_version": (1, 0)}, {"max_version": (0, 8)}, {"copy": True}):
        cap = t.__dlpack__(**kw)
        del cap
    del t
    assert used(pool) == base


def test_dlpack_versions_and_device(pool):
    t = pool.alloc([3], dtype="float32")
    assert t.__dlpack_device__() == (1, 0)
    assert "dltensor_versioned" in repr(t.__dlpack__(max_version=(1, 0)))
    assert "dltensor" in repr(t.__dlpack__())
    assert "versioned" not in repr(t.__dlpack__(max_version=(0, 8)))
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError):
        t.__dlpack__(stream=1)
    assert t.__dlpack__(dl_device=(1, 0)) is not None
    # copy=True gives memory that is not shared
    t.numpy()[:] = 1
    c = torch.from_dlpack(t.__dlpack__(copy=True))
    c[0] = 5
    assert t.numpy()[0] == 1 and c[1].item() == 1


def test_pool_memory_returns_after_everything_is_dropped(pool):
    base = used(pool)
    handles = [pool.alloc([256, 256], dtype="float32") for _ in range(20)]
    views = [h.numpy() for h in handles] + [h.torch() for h in handles]
    assert used(pool) >= base + 20 * 256 * 256 * 4
    del handles, views
    assert used(pool) == base


def test_pickle_shares_the_block(pool):
    t = pool.alloc([4], dtype="int32")
    t.numpy()[:] = [1, 2, 3, 4]
    u = pickle.loads(pickle.dumps(t))
    assert u.numpy().ctypes.data == t.numpy().ctypes.data
    assert u.refcount == 2


def test_repr(pool):
    t = pool.alloc([2, 3], dtype="uint8")
    assert "shape=[2, 3]" in repr(t) and "uint8" in repr(t)
    t.release()
    assert "released" in repr(t)
    assert "TensorPool" in repr(pool)


# ---- bad input -------------------------------------------------------------------


def test_bad_dtype_and_shape(pool):
    before = pool.stats()
    with pytest.raises(ValueError, match="unknown dtype"):
        pool.alloc([2], dtype="float128")
    with pytest.raises(TypeError):
        pool.alloc([2], dtype=3.5)
    with pytest.raises(ValueError):
        pool.alloc([-1, 3])
    with pytest.raises(ValueError):
        pool.alloc([2**62, 2**62])
    with pytest.raises(ValueError):
        pool.alloc([2**64])
    with pytest.raises(TypeError):
        pool.alloc(["a"])
    with pytest.raises(TypeError):
        pool.alloc(None)
    with pytest.raises(ValueError):
        pool.alloc([1] * 9)
    with pytest.raises(ValueError, match="device"):
        pool.alloc([2], device="cuda")
    assert pool.stats() == before


def test_empty_shapes_are_bounded_like_any_other(pool):
    """NumPy's rule: the nonzero dimensions must fit, a zero one does not
    excuse them; their strides would overflow int64 (UBSan in CI)."""
    with pytest.raises(ValueError, match="overflow"):
        pool.alloc([0, 2**62, 2**62], dtype="float64")
    empty = pool.alloc([0], dtype="float32")
    with pytest.raises(ValueError, match="overflow"):
        empty.view([0, 2**62, 2**62])
    fine = empty.view([2, 0, 1000])
    assert fine.shape == [2, 0, 1000] and fine.numpy().shape == (2, 0, 1000)
    assert pool.alloc([0, 2**31, 2**31], dtype="uint8").numpy().size == 0


def test_slice_error_names_the_bounds_given(pool):
    """Not the bounds after negative ones were counted from the end
    (slice(-100, 2) used to say "slice [-90, 2)")."""
    t = pool.alloc([10, 3], dtype="float32")
    for start, stop in [(-100, 2), (0, 11), (5, 2), (-3, -5), (2**70, 1), (0, -2**70)]:
        with pytest.raises(IndexError) as e:
            t.slice(start, stop)
        msg = str(e.value)
        assert f"slice({start}, {stop})" in msg, msg
        assert "size 10" in msg and "[-10, 10]" in msg, msg
    assert t.slice(-10, 10).shape == [10, 3] and t.slice(-3, -1).shape == [2, 3]
    assert t.slice(10, 10).shape == [0, 3]


def test_view_and_slice_refusals(pool):
    t = pool.alloc([6, 4], dtype="float32")
    with pytest.raises(ValueError):
        t.view([5, 5])
    with pytest.raises(ValueError):
        t.view([-1, 7])
    assert t.view([-1, 8]).shape == [3, 8]
    s = t.slice(1, 3)
    assert s.shape == [2, 4]
    with pytest.raises(IndexError):
        t.slice(0, 7)
    with pytest.raises(IndexError):
        t.slice(4, 2)
    with pytest.raises(IndexError):
        t.slice(2**70, 2**71)
    with pytest.raises(TypeError):
        t.slice("a", 2)
    assert t.slice(-2, 6).shape == [2, 4]
    nc = TensorHandle.from_dlpack(t.numpy()[:, ::2])
    assert nc.shape == [6, 2] and not nc.is_contiguous()
    with pytest.raises(ValueError, match="contiguous"):
        nc.view([12])
    assert t.shape == [6, 4]  # unchanged


def test_pool_exhausted_is_memory_error_with_numbers():
    small = TensorPool(pool_id=2, size_mb=1, max_slots=8)
    with pytest.raises(MemoryError) as e:
        small.alloc([2 << 20], dtype="uint8")
    msg = str(e.value)
    assert "requested 2097152 bytes" in msg and "free" in msg
    held = [small.alloc([1024], dtype="uint8") for _ in range(8)]
    with pytest.raises(MemoryError, match="slots"):
        small.alloc([1], dtype="uint8")
    del held
    gc.collect()
    assert small.alloc([1 << 20], dtype="uint8").nbytes == 1 << 20  # still usable


def test_reopen_with_other_geometry_states_both():
    TensorPool(pool_id=3, size_mb=8, max_slots=16)
    with pytest.raises(ValueError) as e:
        TensorPool(pool_id=3, size_mb=16, max_slots=16)
    assert "8388608" in str(e.value) and "16777216" in str(e.value)
    with pytest.raises(ValueError):
        TensorPool(pool_id=-1)
    with pytest.raises(ValueError):
        TensorPool(pool_id=4, size_mb=0)
    with pytest.raises(ValueError):
        TensorPool(pool_id=4, max_slots=0)


def test_corrupt_and_truncated_segments_are_errors(tmp_path):
    import os
    from conftest import NS_DIR

    p = TensorPool(pool_id=20, size_mb=1, max_slots=4)
    path = p.stats()["path"]
    assert path.startswith(NS_DIR)
    del p
    gc.collect()
    with open(path, "r+b") as f:
        f.write(b"\0" * 64)  # magic and geometry gone
    with pytest.raises(OSError, match="pool.20"):
        TensorPool(pool_id=20, size_mb=1, max_slots=4)
    os.truncate(path, 10)
    with pytest.raises(OSError, match="short"):
        TensorPool(pool_id=20, size_mb=1, max_slots=4)
    os.unlink(path)
    assert TensorPool(pool_id=20, size_mb=1, max_slots=4).stats()["used_bytes"] == 0


def test_invalid_namespace_is_a_value_error(run_child):
    proc = run_child(
        """
        import horus
        try:
            horus.TensorPool(pool_id=1, size_mb=1, max_slots=4)
        except ValueError as e:
            print("ValueError:", e)
        """,
        env={"HORUS_NAMESPACE": "../../etc"})
    assert "ValueError: invalid namespace" in proc.stdout


def test_hostile_dlpack_producers():
    class Raises:
        def __dlpack__(self, **kw):
            raise RuntimeError("producer failed")

    class NotACapsule:
        def __dlpack__(self, **kw):
            return 42

    class UsedCapsule:
        def __init__(self):
            self.t = torch.zeros(3)
            self.cap = torch.utils.dlpack.to_dlpack(self.t)
            torch.utils.dlpack.from_dlpack(self.cap)  # consumes it

        def __dlpack__(self, **kw):
            return self.cap

    with pytest.raises(RuntimeError, match="producer failed"):
        TensorHandle.from_dlpack(Raises())
    with pytest.raises(BufferError):
        TensorHandle.from_dlpack(NotACapsule())
    with pytest.raises(BufferError):
        TensorHandle.from_dlpack(UsedCapsule())
    with pytest.raises(TypeError):
        TensorHandle.from_dlpack(object())
    with pytest.raises(TypeError):
        TensorHandle.from_dlpack(np.zeros(3, dtype=np.complex64))
    with pytest.raises(TypeError):
        TensorHandle()
    # a zero-size array is fine
    assert TensorHandle.from_dlpack(np.zeros((0, 3), np.float32)).shape == [0, 3]
    # read-only arrays import (copied) and stay unchanged
    ro = np.arange(4, dtype=np.int16)
    ro.flags.writeable = False
    assert TensorHandle.from_dlpack(ro).numpy().tolist() == [0, 1, 2, 3]
    # big-endian data is converted
    be = np.arange(3, dtype=">i4")
    assert TensorHandle.from_dlpack(be).numpy().tolist() == [0, 1, 2]


def test_global_pool_stats():
    s = horus.global_pool_stats()
    assert s["pool_id"] == 0 and s["size_bytes"] == 512 << 20
