"""Threads sharing one object while a call runs without the GIL.

Image.fill, copy_from, copy, depth_statistics, wire_encode, a generic
Topic.send and a blocking Topic.recv release the GIL; another thread may
then re-run __init__, close() or release() on the same object.  The rule
(horus_py.h, "objects in use without the GIL"): such a call marks its object
busy, and __init__/close()/release() on a busy object raise RuntimeError
"<Type> is in use by another thread (<call>)" and leave it as it was.

Each race below is started with an Event, and each assertion holds
whichever thread wins: either the freeing call was refused with that error,
or it happened first and the other call worked on the new state or failed
cleanly.  Never a crash (the ASan build of the extension catches a freed
handle), never a write into a block someone else now owns, never a read of
one (checked by allocating a fresh block after the race and writing a
pattern its owner alone uses)."""

import sys
import threading

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, TensorHandle, Topic

BUSY = "is in use by another thread"


def run(worker):
    """Start `worker(ready)` in a thread; return once it set `ready`."""
    ready = threading.Event()
    errors = []

    def body():
        try:
            worker(ready)
        except BaseException as e:  # noqa: BLE001 - reported by join()
            errors.append(e)
        finally:
            ready.set()

    th = threading.Thread(target=body)
    th.start()
    ready.wait()

    def join():
        th.join()
        if errors:
            raise errors[0]

    return join


def refused_or_done(call, text):
    """Run `call`; True if it went through, False if refused as busy."""
    try:
        call()
        return True
    except RuntimeError as e:
        assert BUSY in str(e) and text in str(e), str(e)
        return False


# ---- Topic --------------------------------------------------------------------------------

def test_generic_send_while_another_thread_closes():
    big = bytes(range(256)) * (32 << 10)  # 8 MiB: copied into the pool without the GIL
    sub = Topic("threads.gen.close", capacity=4)
    pub = Topic("threads.gen.close", capacity=4)
    sent = []

    def worker(ready):
        try:
            for _ in range(12):
                pub.send(big)
                sent.append(1)
                ready.set()
        except ValueError as e:  # closed between two sends
            assert "closed" in str(e)

    join = run(worker)
    closed = refused_or_done(pub.close, "(send): close() refused")
    join()
    if not closed:
        assert len(sent) == 12
        pub.close()
    got = sub.recv_all()
    assert got and all(m == big for m in got)  # never another block's bytes
    sub.close()


def test_topic_reinit_while_another_thread_waits_in_recv():
    name = "threads.reinit"
    sub = Topic(Image, name)
    pub = Topic(Image, name)
    got = []

    def worker(ready):
        ready.set()
        got.append(sub.recv(timeout=600))  # woken by the send below

    join = run(worker)
    img = Image(2, 2, "mono8")
    img.fill(7)
    try:
        refused_or_done(lambda: sub.__init__(Image, name), "(recv): __init__() refused")
    finally:
        pub.send(img)  # reaches the old handle (refused) or the new one (re-run first)
        join()
    assert got[0] is not None and got[0].pixel(1, 1) == [7]
    sub.close()
    pub.close()


def test_busy_topic_refuses_close_init_and_other_calls():
    """Deterministic: the worker is known to wait in recv once stats() is refused."""
    name = "threads.busy"
    sub = Topic(Image, name)
    pub = Topic(Image, name)
    got = []

    def worker(ready):
        ready.set()
        got.append(sub.recv(timeout=600))

    join = run(worker)
    img = Image(1, 1, "mono8")
    img.fill(3)
    try:
        while True:  # the worker is about to block in recv: wait until it does
            try:
                sub.stats()
            except RuntimeError as e:
                assert "Topic is in use by another thread (recv): stats() refused" in str(e)
                break
        with pytest.raises(RuntimeError, match=r"Topic is in use by another thread \(recv\): cl"):
            sub.close()
        with pytest.raises(RuntimeError, match=r"Topic is in use by another thread \(recv\): __"):
            sub.__init__(Image, name)
        with pytest.raises(RuntimeError, match=r"\(recv\): send\(\) refused"):
            sub.send(Image(1, 1))
        with pytest.raises(RuntimeError, match=r"\(recv\): recv\(\) refused"):
            sub.recv()
    finally:
        pub.send(img)  # wakes the worker whatever happened
        join()
    assert got[0].pixel(0, 0) == [3] and sub.name == name  # the refused calls changed nothing
    sub.close()
    pub.close()


# ---- frames: writes -----------------------------------------------------------------------

H, W = 2048, 2048  # 12 MiB of rgb8: long enough that the other thread runs meanwhile


def writer_race(write, rounds=6):
    """`write(img)` loops in a thread while this one re-inits img and allocates."""
    # A long switch interval: this thread then mostly gets the GIL when the
    # worker releases it, inside write(), which is the race to provoke.  Only
    # the odds depend on it, not what is asserted.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    try:
        for _ in range(rounds):
            writer_round(write)
    finally:
        sys.setswitchinterval(interval)


def writer_round(write):
    img = Image(H, W, "rgb8")
    stop = threading.Event()
    calls = [0]
    # Not uniform, so that a fill by doubling copies would show too.
    pattern = (np.arange(H * W * 3) % 251).astype(np.uint8)

    def worker(ready):
        while not stop.is_set():
            write(img)
            calls[0] += 1  # with the GIL held: this thread holds it from here
            ready.set()

    join = run(worker)
    try:
        refused_or_done(lambda: img.__init__(H, W, "rgb8"), "__init__() refused")
        other = Image(H, W, "rgb8")  # the freed block, had __init__ freed it under the worker
        flat = other.to_numpy().reshape(-1)
        running = calls[0]  # the call in flight, if any, is number running + 1
        chunk = 1 << 20
        while True:  # until that call has returned: it must never write here
            # Back to front, while a write in flight goes front to back: they cross.
            for off in range(flat.size - chunk, -1, -chunk):
                flat[off:off + chunk] = pattern[off:off + chunk]
            returned = calls[0] > running
            assert np.array_equal(flat, pattern)  # no foreign writes
            if returned:
                break
    finally:
        stop.set()
        join()


def test_fill_while_another_thread_reinits():
    writer_race(lambda img: img.fill([200, 200, 200]))


def test_copy_from_while_another_thread_reinits():
    src = np.full((H, W, 3), 200, np.uint8)
    writer_race(lambda img: img.copy_from(src))


def test_fill_refusal_names_the_call():
    """Whoever wins, a refusal says which call holds the image."""
    img = Image(H, W, "rgb8")
    stop = threading.Event()
    refusals = []

    def worker(ready):
        while not stop.is_set():
            img.fill([1, 2, 3])
            ready.set()

    join = run(worker)
    for _ in range(3):
        try:
            img.__init__(H, W, "rgb8")
        except RuntimeError as e:
            refusals.append(str(e))
    stop.set()
    join()
    for text in refusals:
        assert text.startswith("Image is in use by another thread (fill): __init__() refused")
    assert img.height == H and img.encoding == "rgb8"


# ---- frames and tensors: reads ------------------------------------------------------------

def test_depth_statistics_while_another_thread_reinits():
    depth = DepthImage.from_numpy(np.full((H, W), 2.0, np.float32))
    stop = threading.Event()
    results = []

    def worker(ready):
        while not stop.is_set():
            results.append(depth.depth_statistics())
            ready.set()

    join = run(worker)
    refused_or_done(lambda: depth.__init__(1, 1), "(depth_statistics): __init__() refused")
    # The old block, had it been freed: values its owner alone writes.
    other = DepthImage.from_numpy(np.arange(H * W, dtype=np.float32).reshape(H, W) + 10)
    stop.set()
    join()
    # Each result is of the whole old image (all 2.0) or of the new 1x1 one:
    # either way min == max; a read of `other` would not be.
    for r in results:
        assert r is None or r[0] == r[1] == r[2], r
    del other


def test_copy_while_another_thread_reinits():
    n = 1 << 18  # 3 MiB of float32 xyz
    cloud = PointCloud.from_numpy(np.full((n, 3), 3.0, np.float32))
    stop = threading.Event()
    copies = []

    def worker(ready):
        while not stop.is_set():
            c = cloud.copy()
            copies.append((c.point_count, bool((c.to_numpy() == 3.0).all())))
            ready.set()

    join = run(worker)
    refused_or_done(lambda: cloud.__init__(1), "(copy): __init__() refused")
    other = PointCloud.from_numpy(np.full((n, 3), 5.0, np.float32))
    stop.set()
    join()
    for count, uniform in copies:
        assert count == 1 or (count == n and uniform)
    del other


def test_wire_encode_while_another_thread_releases():
    n = 1 << 21  # 8 MiB of float32
    data = np.full(n, 4.0, np.float32)
    handle = TensorHandle.from_dlpack(data)
    stop = threading.Event()
    payloads = []

    def worker(ready):
        try:
            while not stop.is_set():
                _, payload = horus.wire_encode(handle, 1)
                payloads.append(payload == data.tobytes())
                ready.set()
        except ValueError as e:  # released between two encodes
            assert "released" in str(e)

    join = run(worker)
    refused_or_done(handle.release, "(wire_encode): release() refused")
    other = TensorHandle.from_dlpack(np.full(n, 9.0, np.float32))  # the freed block, if freed
    stop.set()
    join()
    assert payloads and all(payloads)  # every payload is the handle's own bytes
    del other


def test_tensor_copy_while_another_thread_releases():
    n = 1 << 21
    handle = TensorHandle.from_dlpack(np.full(n, 4.0, np.float32))
    stop = threading.Event()
    copies = []

    def worker(ready):
        try:
            while not stop.is_set():
                copies.append(bool((handle.copy().numpy() == 4.0).all()))
                ready.set()
        except ValueError as e:
            assert "released" in str(e)

    join = run(worker)
    refused_or_done(handle.release, "(copy): release() refused")
    other = TensorHandle.from_dlpack(np.full(n, 9.0, np.float32))
    stop.set()
    join()
    assert copies and all(copies)
    del other
