"""Exports and imports keep their promises when Python code runs in the
middle of them, and when an export is wrapped again.

An argument's __index__ or __bool__, a shape given as a generator, another
thread: each may release or re-initialise the object a call is exporting,
or close the global pool's handle.  The export must then be of what the
object held when the call began (never of a block someone else now owns),
or fail cleanly; never a crash.  A received frame is read-only however it
is wrapped again (a memoryview, a DLPack producer, pickle): writing through
the new object would write into the publisher's block.  Crashes run in a
child process, so that the old behaviour fails the test instead of ending
the run."""

import os
import pickle
import shutil

import numpy as np
import pytest

import horus
from horus import Image, TensorHandle, TensorPool, Topic

torch = pytest.importorskip("torch")


def received_image(name, value=5):
    """A 2x2 mono8 frame received on a topic (read-only), and the sent one."""
    pub = Topic(Image, name)
    sub = Topic(Image, name)
    img = Image(2, 2, "mono8")
    img.fill([value])
    pub.send(img)
    rec = sub.recv()
    pub.close()
    sub.close()
    assert rec.readonly
    return rec, img


def run_in_own_namespace(run_child, tag, code, timeout):
    """run_child(code) in a namespace of its own, removed afterwards even if
    the child fails: clean(all=True) there leaves the test's own alone."""
    namespace = f"{os.environ['HORUS_NAMESPACE']}-{tag}"
    try:
        return run_child(code, env={"HORUS_NAMESPACE": namespace}, timeout=timeout)
    finally:
        shutil.rmtree(os.path.join("/dev/shm", f"horus-{os.geteuid()}", namespace),
                      ignore_errors=True)


# ---- arguments that run Python code -----------------------------------------


def test_dlpack_exports_the_block_it_was_called_on_when_copy_releases_it():
    pool = TensorPool()
    t = pool.alloc([4], dtype="float32")
    t.numpy()[:] = 1
    others = []

    class ReleasesFirst:
        def __bool__(self):
            t.release()
            other = pool.alloc([4], dtype="float32")
            other.numpy()[:] = 7
            others.append(other)  # a block of someone else's, live
            return False

    capsule = t.__dlpack__(copy=ReleasesFirst())
    assert torch.from_dlpack(capsule).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert others and others[0].numpy().tolist() == [7.0] * 4


def test_dlpack_of_an_image_reinitialised_by_an_argument(run_child):
    out = run_child("""
        import torch, horus
        img = horus.Image(4, 4, "mono8")
        img.fill([3])

        class Reinits:
            def __index__(self):
                img.__init__(1, 1, "mono8")
                return 1  # kDLCPU

        for kw in ({"dl_device": (Reinits(), 0)}, {"max_version": (Reinits(), 0)}):
            img.__init__(4, 4, "mono8")
            img.fill([3])
            exported = torch.from_dlpack(img.__dlpack__(**kw))
            print(tuple(exported.shape), int(exported.sum()))
        """)
    assert out.stdout.split("\n")[:2] == ["(4, 4) 48", "(4, 4) 48"]


def test_view_with_a_shape_that_releases_the_tensor(run_child):
    out = run_child("""
        import horus
        t = horus.TensorPool().alloc([4], dtype="float32")

        def shape():
            t.release()
            yield 4

        try:
            t.view(shape())
        except ValueError as e:
            print("refused:", e)
        """)
    assert "refused:" in out.stdout and "released" in out.stdout


def test_max_version_out_of_range_is_an_error():
    t = TensorPool().alloc([2], dtype="float32")
    for bad in ((-1, 0), (1, -1)):
        with pytest.raises(ValueError, match="max_version"):
            t.__dlpack__(max_version=bad)
    with pytest.raises(OverflowError):
        t.__dlpack__(max_version=(2**32 + 1, 0))


# ---- the global pool's handle and other threads -----------------------------


def test_clean_all_while_another_thread_makes_frames(run_child):
    """clean(all=True) closes the module's global pool handle while another
    thread may be allocating from it without the GIL (a frame of a megabyte
    or more): that thread holds a reference of its own meanwhile.  In a
    namespace of its own, which clean(all=True) removes whole."""
    out = run_in_own_namespace(run_child, "cleanrace", """
            import threading, horus
            stop = False
            made = [0]
            first = threading.Event()

            def frames():
                while not stop:
                    horus.Image(1024, 1024, "mono8")
                    made[0] += 1
                    first.set()

            th = threading.Thread(target=frames)
            th.start()
            first.wait()
            start, cleans = made[0], 0
            while made[0] < start + 30:  # cleans all along thirty frames
                horus.clean(all=True)
                cleans += 1
            stop = True
            th.join()
            print("cleans", cleans > 0)
            """, timeout=300)
    assert "cleans True" in out.stdout


def test_clean_all_inside_an_import_leaves_the_import_working(run_child):
    """Importing runs the producer's Python code (its __dlpack__) before the
    pool is used; closing the global pool there must not pull it from under
    the import."""
    out = run_in_own_namespace(run_child, "cleanimport", """
            import numpy as np, horus

            class Producer:
                def __dlpack__(self, **kw):
                    horus.clean(all=True)
                    return np.arange(6, dtype=np.float32).__dlpack__(**kw)

                def __dlpack_device__(self):
                    return (1, 0)

            t = horus.TensorHandle.from_dlpack(Producer())
            print(t.numpy().tolist())
            """, timeout=120)
    assert "[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]" in out.stdout


# ---- a received frame stays read-only however it is wrapped -----------------


def test_a_received_frame_wrapped_as_a_buffer_stays_read_only():
    rec, img = received_image("exports.buffer")
    for wrap in (TensorHandle.from_dlpack, Image.from_numpy):
        h = wrap(memoryview(rec))
        assert h.readonly
        with pytest.raises(ValueError):
            h.to_numpy()[0, 0] = 99
    assert img.to_numpy().tolist() == [[5, 5], [5, 5]]


def test_a_received_frame_wrapped_by_a_dlpack_producer_stays_read_only():
    rec, img = received_image("exports.dlpack")

    class Producer:
        def __dlpack__(self, **kw):
            return rec.__dlpack__(**kw)

        def __dlpack_device__(self):
            return rec.__dlpack_device__()

    h = TensorHandle.from_dlpack(Producer())
    assert h.readonly
    with pytest.raises(ValueError):
        h.numpy()[1, 0] = 55
    assert img.to_numpy().tolist() == [[5, 5], [5, 5]]


def test_a_received_frame_unpickles_read_only():
    rec, img = received_image("exports.pickle")
    again = pickle.loads(pickle.dumps(rec))
    assert again.readonly
    with pytest.raises(ValueError):
        again.set_pixel(1, 1, [33])
    handle = TensorHandle.from_dlpack(again)
    assert pickle.loads(pickle.dumps(handle)).readonly
    fresh = Image(2, 2, "mono8")  # pickled by reference: kept alive meanwhile
    assert not pickle.loads(pickle.dumps(fresh)).readonly  # one's own stays writable
    assert img.to_numpy().tolist() == [[5, 5], [5, 5]]


def test_a_read_only_tensor_needs_a_versioned_capsule():
    """A capsule before DLPack 1.0 cannot say read-only (NumPy refuses the
    same export); max_version=(1, 0) can, copy=True needs not, and to_jax()
    (JAX never writes) still works."""
    rec, _ = received_image("exports.legacy")
    with pytest.raises(BufferError, match="max_version"):
        rec.__dlpack__()
    assert rec.__dlpack__(max_version=(1, 0)) is not None
    assert torch.from_dlpack(rec.__dlpack__(copy=True)).tolist() == [[5, 5], [5, 5]]
    assert torch.from_dlpack(rec).tolist() == [[5, 5], [5, 5]]  # torch asks for 1.0
    jax = pytest.importorskip("jax")
    assert rec.to_jax().tolist() == [[5, 5], [5, 5]]
    assert isinstance(rec.to_jax(), jax.Array)


# ---- shapes -------------------------------------------------------------------


def test_a_zero_dimensional_buffer_imports_as_a_scalar():
    for scalar in (np.array(5, np.int32), np.float32(3)):
        h = TensorHandle.from_dlpack(memoryview(scalar))
        assert list(h.shape) == [] and h.numpy() == scalar


def test_the_block_buffer_of_a_negative_stride_view_has_a_length():
    source = TensorPool().alloc([4], dtype="float32")
    source.numpy()[:] = [1, 2, 3, 4]
    reversed_view = TensorHandle.from_dlpack(source.numpy()[::-1])
    assert reversed_view.numpy().tolist() == [4.0, 3.0, 2.0, 1.0]
    base = memoryview(reversed_view.numpy().base)
    assert base.nbytes == 4  # element 0 and up: one float32
