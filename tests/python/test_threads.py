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

import contextlib
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


@contextlib.contextmanager
def gil_handed_over_in_calls():
    """A long switch interval: the main thread then mostly gets the GIL when
    the worker releases it, inside the call under test, which is the race to
    provoke.  Only the odds depend on this, never what is asserted."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


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


# ---- frames and tensors -------------------------------------------------------------------

class Looper:
    """Runs `call()` over and over in a thread until stop(), counting the
    calls that returned; `returned` is read with the GIL held, when the
    worker is either in Python code or inside call number returned + 1."""

    def __init__(self, call):
        self.call, self.returned, self.results = call, 0, []
        self.stopping, self.error = False, None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        self.wait_past(0)

    def _run(self):
        try:
            while not self.stopping:
                result = self.call()
                with self.cond:
                    self.results.append(result)
                    self.returned += 1
                    self.cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - raised again by stop()
            self.error = e
        finally:
            with self.cond:
                self.stopping = True
                self.cond.notify_all()

    def wait_past(self, n):
        """Until call number n + 1 has returned (or the worker stopped)."""
        with self.cond:
            self.cond.wait_for(lambda: self.returned > n or self.stopping)

    def stop(self):
        self.stopping = True
        self.thread.join()
        if self.error:
            raise self.error
        return self.results


H, W = 2048, 2048  # 12 MiB of rgb8: long enough that the other thread runs meanwhile


def writer_race(write, call, rounds=6):
    """`write(img)` loops in a thread while this one re-inits img, allocates
    a block of the same size and writes its own pattern there."""
    # Not uniform, so that a fill by doubling copies would show too.
    pattern = (np.arange(H * W * 3) % 251).astype(np.uint8)
    chunk = 1 << 20
    with gil_handed_over_in_calls():
        for _ in range(rounds):
            img = Image(H, W, "rgb8")
            loop = Looper(lambda: write(img))
            try:
                refused_or_done(lambda: img.__init__(H, W, "rgb8"),
                                f"Image is in use by another thread ({call}): __init__() refused")
                other = Image(H, W, "rgb8")  # the freed block, had __init__ freed it
                flat = other.to_numpy().reshape(-1)
                in_flight = loop.returned
                while True:  # until the call in flight has returned: never a write here
                    # Back to front, while a write in flight goes front to back.
                    for off in range(flat.size - chunk, -1, -chunk):
                        flat[off:off + chunk] = pattern[off:off + chunk]
                    returned = loop.returned > in_flight
                    assert np.array_equal(flat, pattern)  # no foreign writes
                    if returned:
                        break
            finally:
                loop.stop()


def test_fill_while_another_thread_reinits():
    writer_race(lambda img: img.fill([200, 200, 200]), "fill")


def test_copy_from_while_another_thread_reinits():
    src = np.full((H, W, 3), 200, np.uint8)
    writer_race(lambda img: img.copy_from(src), "copy_from")


def write_back_to_front(flat, pattern, chunk=1 << 18):
    """Back to front, while a call in flight goes front to back: they cross."""
    for off in range(flat.size - chunk, -chunk, -chunk):
        lo = max(off, 0)
        flat[lo:off + chunk] = pattern[lo:off + chunk]


def reader_race(read, free, refused_text, theirs, pattern):
    """`read()` loops in a thread while this one calls `free()` (which frees
    or replaces what read uses), then allocates a block of its own
    (`theirs()`, an array over it) and writes `pattern` there until the read
    in flight has returned.  Returns every result read, for the caller to
    check that none came from that block."""
    with gil_handed_over_in_calls():
        loop = Looper(read)
        try:
            refused_or_done(free, refused_text)
            obj, flat = theirs()  # obj keeps the block alive until the reads are over
            in_flight = loop.returned
            while True:
                write_back_to_front(flat, pattern)
                if loop.returned > in_flight:
                    break
        finally:
            results = loop.stop()
    return results


def test_depth_statistics_while_another_thread_reinits():
    n = 2048
    theirs = np.arange(n * n, dtype=np.float32) + 10
    for _ in range(8):
        depth = DepthImage.from_numpy(np.full((n, n), 2.0, np.float32))
        results = reader_race(
            depth.depth_statistics, lambda: depth.__init__(1, 1),
            "DepthImage is in use by another thread (depth_statistics): __init__() refused",
            lambda: (d := DepthImage(n, n), d.to_numpy().reshape(-1)), theirs)
        # Each result is of the whole old image (all 2.0) or of the new 1x1
        # one: min == max either way; a read of the foreign block would not be.
        for r in results:
            assert r is None or r[0] == r[1] == r[2], r


def test_copy_while_another_thread_reinits():
    n = 1 << 18  # 3 MiB of float32 xyz
    theirs = np.full(n * 3, 5.0, np.float32)
    for _ in range(4):
        cloud = PointCloud.from_numpy(np.full((n, 3), 3.0, np.float32))

        def read():
            c = cloud.copy()
            return c.point_count, bool((c.to_numpy() == 3.0).all())

        results = reader_race(read, lambda: cloud.__init__(1),
                              "PointCloud is in use by another thread (copy): __init__() refused",
                              lambda: (c := PointCloud(n), c.to_numpy().reshape(-1)), theirs)
        for count, uniform in results:
            assert count == 1 or (count == n and uniform)


def tensor_reader_race(read, call):
    n = 1 << 21  # 8 MiB of float32
    theirs = np.full(n, 9.0, np.float32)
    for _ in range(4):
        data = np.full(n, 4.0, np.float32)
        handle = TensorHandle.from_dlpack(data)

        def guarded():
            try:
                return read(handle, data)
            except ValueError as e:  # released between two calls
                assert "released" in str(e)
                return True

        results = reader_race(guarded, handle.release,
                              f"TensorHandle is in use by another thread ({call}): release() refused",
                              lambda: (t := TensorHandle.from_dlpack(np.zeros(n, np.float32)),
                                       t.numpy()), theirs)
        assert results and all(results)  # never the foreign block's bytes


def test_wire_encode_while_another_thread_releases():
    tensor_reader_race(lambda h, data: horus.wire_encode(h, 1)[1] == data.tobytes(), "wire_encode")


def test_tensor_copy_while_another_thread_releases():
    tensor_reader_race(lambda h, data: bool((h.copy().numpy() == data).all()), "copy")


def test_recv_all_stops_when_decoding_closes_the_topic(run_child):
    """Decoding a message runs Python code (here a __setstate__, elsewhere a
    collection or another thread taking the GIL), which may close the very
    topic recv_all is draining: it returns what it decoded and never
    touches the freed handle (which crashed the interpreter).  In a child,
    since the old behaviour was a SIGSEGV."""
    out = run_child("""
        import horus

        class Closer:
            def __setstate__(self, state):
                self.__dict__.update(state)
                sub.close()

        pub = horus.Topic("threads.recv_all_close", capacity=8)
        sub = horus.Topic("threads.recv_all_close", capacity=8)
        sub.recv()  # subscribed from here on
        for i in range(3):
            c = Closer()
            c.i = i
            pub.send(c)
        pub.close()  # the segment goes with the last handle
        got = sub.recv_all()
        print("got", [c.i for c in got])
        try:
            sub.recv()
        except ValueError as e:
            print("then:", e)
        """)
    assert "got [0]" in out.stdout
    assert "then: Topic is closed" in out.stdout


class _BadState:
    def __init__(self):
        self.payload = 3  # a state, so that unpickling calls __setstate__

    def __setstate__(self, state):
        raise ValueError("this message cannot be decoded here")


def test_recv_all_keeps_what_it_received_before_a_message_fails():
    """A message that fails to decode ends recv_all with its exception; the
    messages taken off the ring before it are on the exception (`received`),
    not lost, and the ones after it stay for the next call."""
    pub = Topic("threads.recv_all_bad", capacity=8)
    sub = Topic("threads.recv_all_bad", capacity=8)
    sub.recv()
    pub.send({"n": 1})
    pub.send(b"two")
    pub.send(_BadState())
    pub.send({"n": 4})
    with pytest.raises(ValueError, match="cannot be decoded") as info:
        sub.recv_all()
    assert info.value.received == [{"n": 1}, b"two"]
    assert sub.recv_all() == [{"n": 4}]
    pub.close()
    sub.close()
