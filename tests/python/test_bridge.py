"""horus bridge: two namespaces stand in for two machines, joined only by two
bridge processes over Zenoh on loopback."""

import hashlib
import inspect
import json
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, TensorHandle, TensorPool, Topic

zenoh = pytest.importorskip("zenoh") if not os.environ.get("HORUS_REQUIRE_FRAMEWORKS") \
    else __import__("zenoh")

from conftest import NAMESPACE, USER_DIR  # noqa: E402
from horus.bridge import session_config  # noqa: E402

NS_B = NAMESPACE + "-b"
TOPICS = {"cam": Image, "cloud": PointCloud, "depth": DepthImage, "tensor": TensorHandle}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STARTED = []  # every child, so a failing test cannot leave one running


class Proc:
    """A child process whose stdout lines arrive on a queue."""

    def __init__(self, args, env):
        # faulthandler: a child that hangs is sent SIGABRT and says where.
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=dict(env, PYTHONFAULTHANDLER="1"))
        _STARTED.append(self.p)
        self.lines = queue.Queue()
        self.out = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            self.out.append(line)
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, prefix, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.p.poll() is not None:
                    break
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting {prefix!r}; stdout: {''.join(self.out)}\n"
                             f"stderr: {self.p.stderr.read() if self.p.poll() is not None else ''}")

    # A bridge stops by joining each forwarding thread (at most 2 s each),
    # closing its Zenoh session, then joining again (5 s each): bounded, but
    # under ASan on a loaded 2-core machine that has taken over 20 s.  The
    # bound here only tells "stops" from "hangs".
    STOP_S = 120

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=self.STOP_S)
        except subprocess.TimeoutExpired:
            self.p.send_signal(signal.SIGABRT)  # every thread's stack to stderr
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            err = self.p.stderr.read()
            self.p.stderr.close()
            raise AssertionError(f"process did not stop within {self.STOP_S} s; stderr:\n{err}")
        err = self.p.stderr.read()
        self.p.stderr.close()
        return err


def env_for(namespace):
    return dict(os.environ, HORUS_NAMESPACE=namespace)


def bridge(namespace, *args):
    return Proc([sys.executable, "-m", "horus", "bridge", "--report", "0.5", *args],
                env_for(namespace))


RECEIVER_LOOP = """
import json, sys, time, horus
names = sys.argv[1].split(",")
want = int(sys.argv[2])
types = {"cam": horus.Image, "cloud": horus.PointCloud, "depth": horus.DepthImage,
         "tensor": horus.TensorHandle}
topics = {n: horus.Topic(types[n], "a." + n) for n in names}
print("ready", flush=True)
got = {n: 0 for n in names}
synced = set()
end = time.monotonic() + 60
while time.monotonic() < end and min(got.values()) < want:
    for n, t in topics.items():
        m = t.recv(timeout=0.01)
        if m is None:
            continue
        rec = describe(n, m)
        if rec.get("frame_id", "").startswith("warm") or rec["shape"] == [1]:
            if n not in synced:
                synced.add(n)
                if len(synced) == len(names):
                    print("synced", flush=True)
            continue
        got[n] += 1
        print("msg " + json.dumps(rec), flush=True)
del m
for t in topics.values():
    t.close()
horus.reclaim()
print("done " + json.dumps(horus.global_pool_stats()), flush=True)
"""


def make_messages(i, pool):
    rng = np.random.default_rng(i)
    img = Image.from_numpy(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "rgb8")
    cloud = PointCloud.from_numpy(rng.standard_normal((100, 4)).astype(np.float32))
    depth = DepthImage.from_numpy(rng.integers(0, 5000, (24, 32), dtype=np.uint16))
    for j, m in enumerate((img, cloud, depth)):
        m.set_frame_id(f"m{i}")
        m.set_timestamp_ns(1_000_000 * i + j)
    tensor = pool.alloc((3, 5, 7), "float64")
    tensor.numpy()[:] = rng.standard_normal((3, 5, 7))
    return {"cam": img, "cloud": cloud, "depth": depth, "tensor": tensor}


def warmup(pool, names):
    img = Image(2, 2, "mono8")
    img.set_frame_id("warm")
    cloud = PointCloud(1)
    cloud.set_frame_id("warm")
    depth = DepthImage(1, 1)
    depth.set_frame_id("warm")
    t = pool.alloc((1,), "float32")
    all_ = {"cam": img, "cloud": cloud, "depth": depth, "tensor": t}
    return {n: all_[n] for n in names}


def describe(name, m):
    tensor = m if name == "tensor" else m.tensor
    arr = tensor.numpy()
    rec = {"topic": name, "sha": hashlib.sha256(arr.tobytes()).hexdigest(),
           "shape": list(arr.shape), "dtype": str(arr.dtype)}
    if name != "tensor":
        rec.update(frame_id=m.frame_id, timestamp_ns=m.timestamp_ns)
        if name == "cam":
            rec["encoding"] = m.encoding
        if name == "depth":
            rec["scale"] = m.depth_scale
    return rec


# The receiver runs in namespace B and describes messages as the sender does.
RECEIVER = "import hashlib\n" + inspect.getsource(describe) + RECEIVER_LOOP


@pytest.fixture
def side_b():
    yield NS_B
    # Whatever the test's outcome: no child left running, namespace B removed.
    for p in _STARTED:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
    _STARTED.clear()
    shutil.rmtree(os.path.join(USER_DIR, NS_B), ignore_errors=True)


def sync(receiver, topics, warm, timeout=30):
    """Send warm-up messages until the receiver has seen one on every topic."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for n, t in topics.items():
            t.send(warm[n])
        try:
            line = receiver.lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line == "synced":
            return
    raise AssertionError("bridges never delivered a warm-up message; receiver: "
                         + "".join(receiver.out))


# The receiving bridge keeps 32 samples per subscription: the tests send in
# bursts, and on a loaded 2-core CI machine its thread can be starved long
# enough for the default 8 to drop the oldest (by design, and counted).
QUEUE_B = ("--queue", "32")


def start_pair(names, port):
    a = bridge(NAMESPACE, *sum((["--out", n] for n in names), []), "--prefix", "a",
               "--listen", f"tcp/127.0.0.1:{port}")
    b = bridge(NS_B, "--in", "a/**", "--connect", f"tcp/127.0.0.1:{port}", *QUEUE_B)
    return a, b


def test_every_type_arrives_identical_and_in_order(side_b, numbers):
    horus.clean()
    horus.reclaim()
    base = horus.global_pool_stats()["used_bytes"]
    names = list(TOPICS)
    pool = TensorPool(pool_id=61, size_mb=64)
    topics = {n: Topic(TOPICS[n], n) for n in names}
    receiver = Proc([sys.executable, "-c", RECEIVER, ",".join(names), "10"],
                    env_for(side_b))
    receiver.wait_line("ready")
    a, b = start_pair(names, free_port())
    try:
        sync(receiver, topics, warmup(pool, names))
        sent = {n: [] for n in names}
        for i in range(10):
            msgs = make_messages(i, pool)
            for n in names:
                sent[n].append(describe(n, msgs[n]))
                topics[n].send(msgs[n])
            time.sleep(0.02)
        got = {n: [] for n in names}
        while sum(map(len, got.values())) < 40:
            rec = json.loads(receiver.wait_line("msg ")[4:])
            got[rec["topic"]].append(rec)
        for n in names:
            assert got[n] == sent[n], n
        numbers("bridge: 40 messages (Image, PointCloud, DepthImage, TensorHandle) crossed "
                "two bridges with identical bytes and metadata, in order")
        done = json.loads(receiver.wait_line("done ")[5:])
        assert receiver.p.wait(timeout=120) == 0
        del msgs
    finally:
        b_err = b.stop()
        a_err = a.stop()
    # Stopping cleanly reports what went through and nothing malformed.
    assert "Traceback" not in a_err + b_err, a_err + b_err
    report_b = [line for line in b.out if "in a/" in line][-1]
    assert "0 malformed" in report_b and "0 lost" in report_b, report_b
    # Side B: only the ring of each topic (<= capacity messages) still holds
    # blocks; once the topics are cleaned nothing is left in either pool.
    assert done["used_bytes"] > 0
    cleaned = subprocess.run(
        [sys.executable, "-c", "import horus, json; horus.clean(); "
         "print(json.dumps(horus.global_pool_stats()))"],
        env=env_for(side_b), capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(cleaned.stdout)["used_bytes"] == 0
    for t in topics.values():
        t.close()
    del t
    horus.clean()
    horus.reclaim()
    assert horus.global_pool_stats()["used_bytes"] == base
    pool.reclaim()
    assert pool.stats()["used_bytes"] == 0


def test_killed_bridge_restarts_and_the_other_side_resumes(side_b):
    horus.clean()
    horus.reclaim()
    base = horus.global_pool_stats()["used_bytes"]
    port = free_port()
    pool = TensorPool(pool_id=62, size_mb=16)
    cam = Topic(Image, "cam")
    receiver = Proc([sys.executable, "-c", RECEIVER, "cam", "10"],
                    env_for(side_b))
    receiver.wait_line("ready")
    a, b = start_pair(["cam"], port)
    warm = warmup(pool, ["cam"])
    try:
        sync(receiver, {"cam": cam}, warm)
        for i in range(5):
            cam.send(make_messages(i, pool)["cam"])
        for _ in range(5):
            receiver.wait_line("msg ")
        # SIGKILL the receiving side's bridge, then start another one.
        b.stop(signal.SIGKILL)
        b = bridge(NS_B, "--in", "a/**", "--connect", f"tcp/127.0.0.1:{port}", *QUEUE_B)
        end = time.monotonic() + 30
        seen = 0
        i = 5
        while seen < 5 and time.monotonic() < end:
            cam.send(make_messages(i, pool)["cam"])
            i += 1
            try:
                if receiver.lines.get(timeout=0.3).startswith("msg "):
                    seen += 1
            except queue.Empty:
                pass
        assert seen == 5, "no messages after the bridge restarted: " + "".join(receiver.out)
        # And the sending side's bridge too: kill it, restart, resume.
        a.stop(signal.SIGKILL)
        a = bridge(NAMESPACE, "--out", "cam", "--prefix", "a", "--listen", f"tcp/127.0.0.1:{port}")
        receiver2 = Proc([sys.executable, "-c", RECEIVER, "cam", "3"],
                         env_for(side_b))
        receiver2.wait_line("ready")
        sync(receiver2, {"cam": cam}, warm, timeout=40)
        for j in range(3):
            cam.send(make_messages(100 + j, pool)["cam"])
        for _ in range(3):
            receiver2.wait_line("msg ")
        receiver2.wait_line("done ")
    finally:
        b.stop()
        a.stop()
    receiver.p.kill()
    receiver.p.wait()
    # The killed bridges' references are reclaimed; nothing leaks on either side.
    left = subprocess.run(
        [sys.executable, "-c", "import horus, json; horus.clean(); horus.reclaim(); "
         "print(json.dumps(horus.global_pool_stats()))"],
        env=env_for(side_b), capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(left.stdout)["used_bytes"] == 0
    cam.close()
    del warm
    horus.clean()
    horus.reclaim()
    assert horus.global_pool_stats()["used_bytes"] == base
    pool.reclaim()
    assert pool.stats()["used_bytes"] == 0


def zenoh_peer(port):
    """A plain Zenoh session (no horus messages) connected to a bridge
    listening on port, with the bridge's own transport settings."""
    return zenoh.open(session_config([f"tcp/127.0.0.1:{port}"], connect_timeout=10))


def rss_anon_bytes(pid):
    """The process's private (heap) memory; shared pool pages it reads do not count."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/pid/status")


def test_slow_network_loses_the_oldest_and_never_stalls_the_publisher(side_b, numbers):
    """The far side stops reading altogether: TCP and Zenoh's queues fill and
    the bridge's put() blocks.  The local publisher goes on at full speed,
    the topic ring loses the oldest frames (counted), the bridge's memory
    does not grow with what is published, and once the far side reads again
    the newest frame arrives."""
    horus.clean()
    horus.reclaim()
    base = horus.global_pool_stats()["used_bytes"]
    port = free_port()
    cam = Topic(Image, "cam")
    env = env_for(NAMESPACE)
    if "libasan" in env.get("LD_PRELOAD", ""):
        # ASan holds freed memory back (its quarantine) by design; without it
        # the heap shows what the bridge itself keeps.
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"
    a = Proc([sys.executable, "-m", "horus", "bridge", "--report", "0.5", "--out", "cam",
              "--prefix", "a", "--listen", f"tcp/127.0.0.1:{port}"], env)
    gate, first, newest = threading.Event(), threading.Event(), threading.Event()
    received = []
    total = 200

    def on_sample(sample):  # Zenoh's receive thread: blocking it stalls the link
        img, seq = horus.wire_decode(sample.attachment.to_bytes(), sample.payload.to_bytes())
        received.append((img.frame_id, seq))
        if img.frame_id == f"f{total - 1}":
            newest.set()
        del img
        first.set()
        gate.wait(60)

    session = zenoh_peer(port)
    # The bridge's heap is watched from before the burst until the newest
    # frame has crossed, and its peak judged: no guess at when the bridge
    # has taken all it can (a fixed sleep did that); the 5 ms is how often
    # to look, nothing waits on it.
    peak, measured = [0], threading.Event()
    try:
        session.declare_subscriber("a/cam", on_sample)
        warm = Image(2, 2, "mono8")
        warm.set_frame_id("warm")
        end = time.monotonic() + 30
        while not first.wait(0.1):
            assert time.monotonic() < end, "the bridge never delivered: " + "".join(a.out)
            cam.send(warm)
        # The receiver is now blocked inside its first sample.
        before = rss_anon_bytes(a.p.pid)
        frame = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
        done = threading.Event()
        peak[0] = before

        def watch():
            while not measured.is_set() and a.p.poll() is None:
                peak[0] = max(peak[0], rss_anon_bytes(a.p.pid))
                measured.wait(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        def publish():
            for i in range(total):
                img = Image.from_numpy(frame, "rgb8")
                img.set_frame_id(f"f{i}")
                cam.send(img)
            done.set()

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        publisher.join(timeout=60)
        assert done.is_set(), "the local publisher stalled behind a blocked network"

        gate.set()
        assert newest.wait(30), f"the newest frame never arrived: {received[-5:]}"
        measured.set()
        watcher.join()
        grown = peak[0] - before
        published = total * frame.nbytes
        assert grown < published // 4, (grown, published)
        got = [int(fid[1:]) for fid, _ in received if fid.startswith("f")]
        assert got == sorted(got) and len(got) < total, got  # in order, the oldest lost
        (info,) = [t for t in horus.topics() if t["name"] == "cam"]
        assert info["dropped"] > 0, info
    finally:
        gate.set()
        measured.set()
        session.close()
        err = a.stop()
    assert a.p.returncode == 0 and "Traceback" not in err, err
    report = [line for line in a.out if "out cam" in line][-1]
    dropped = int(report.split("out cam:")[1].split(",")[1].split()[0])
    assert dropped > 0, report
    numbers(f"bridge: receiver blocked; publisher sent {total} 640x480 frames without "
            f"waiting, {len(got)} crossed, the oldest {dropped} dropped and counted, "
            f"bridge heap grew {grown / 1e6:.1f} MB for {published / 1e6:.0f} MB published")
    cam.close()
    del warm
    horus.clean()
    horus.reclaim()
    assert horus.global_pool_stats()["used_bytes"] == base


def wire_header(mtype, dtype, shape, payload_len, *, seq=0, magic=b"HRS1", version=1,
                kind=0, frame_id=b"raw", ts=0, scale=0.0):
    """The README's header, built without horus (what a plain Zenoh program does)."""
    dims = list(shape) + [0] * (8 - len(shape))
    return struct.pack("<4sBBBBQqII d8q64sQ", magic, version, mtype, dtype, len(shape), seq,
                       ts, kind, 0, scale, *dims, frame_id.ljust(64, b"\0"), payload_len)


def test_malformed_samples_are_dropped_and_counted(side_b, numbers):
    port_b = free_port()
    receiver = Proc([sys.executable, "-c", RECEIVER, "cam", "1"],
                    env_for(side_b))
    receiver.wait_line("ready")
    # A queue deep enough for the burst: what overflows it is dropped by design
    # (oldest first), and would not be counted as malformed.
    b = bridge(NS_B, "--in", "a/**", "--listen", f"tcp/127.0.0.1:{port_b}", "--queue", "64")
    b.wait_line("horus bridge |")  # listening and subscribed
    session = zenoh_peer(port_b)
    try:
        pub = session.declare_publisher("a/cam")
        rgb8, uint8 = 2, 5
        good = bytes(range(256)) * 18  # 4608 bytes: 24 x 64 x 3
        bad = [
            (good, None),                                               # no header
            (good, b"HRS1"),                                            # short header
            (good, wire_header(2, uint8, (24, 64, 3), len(good), magic=b"XXXX", kind=rgb8)),
            (good, wire_header(2, uint8, (24, 64, 3), len(good), version=9, kind=rgb8)),
            (good[:-1], wire_header(2, uint8, (24, 64, 3), len(good), kind=rgb8)),  # truncated
            (good, wire_header(2, uint8, (24, 64, 4), len(good), kind=rgb8)),  # size vs shape
            (good, wire_header(2, uint8, (1 << 40, 1 << 40), len(good), kind=rgb8)),  # overflow
            (good, wire_header(2, 99, (24, 64, 3), len(good), kind=rgb8)),     # dtype
            (good, wire_header(2, uint8, (24, 64, 3), len(good), kind=77)),    # encoding
            (good, wire_header(2, uint8, (24, 64, 3), len(good), kind=0)),     # mono8 vs 3 ch
            (good, wire_header(7, uint8, (24, 64, 3), len(good), kind=rgb8)),  # type
            (good, wire_header(2, uint8, (24, 64, 3), len(good), kind=rgb8,
                               frame_id=b"\xff\xfe")),                     # not UTF-8
        ]
        # The bridge's subscription must be known here before the garbage goes.
        end = time.monotonic() + 20
        while pub.matching_status.matching is False and time.monotonic() < end:
            time.sleep(0.05)
        for payload, header in bad:
            if header is None:
                pub.put(payload)
            else:
                pub.put(payload, attachment=header)
        # A well-formed image from a program that is not horus arrives intact.
        end = time.monotonic() + 20
        while time.monotonic() < end:
            pub.put(good, attachment=wire_header(2, uint8, (24, 64, 3), len(good), kind=rgb8,
                                                 seq=len(bad), frame_id=b"warm-raw"))
            try:
                if receiver.lines.get(timeout=0.3) == "synced":
                    break
            except queue.Empty:
                pass
        else:
            raise AssertionError("the well-formed raw sample never arrived: "
                                 + "".join(receiver.out) + "".join(b.out) + b.stop())
        pub.undeclare()
    finally:
        session.close()
        err = b.stop()
        receiver.p.kill()
        receiver.p.wait()
    assert b.p.returncode == 0, err
    report = [line for line in b.out if "in a/cam" in line][-1]
    assert f"{len(bad)} malformed" in report, report + err
    numbers(f"bridge: {len(bad)} malformed samples dropped and counted, bridge alive")
    assert "Traceback" not in err
    check = subprocess.run(
        [sys.executable, "-c", "import horus, json; horus.clean(); horus.reclaim(); "
         "print(json.dumps(horus.global_pool_stats()))"],
        env=env_for(side_b), capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(check.stdout)["used_bytes"] == 0  # nothing published or kept from garbage


def test_unreachable_endpoint_is_a_clear_error_after_bounded_retries():
    port = free_port()  # nothing listens there
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "horus", "bridge", "--in", "x/**", "--connect",
         f"tcp/127.0.0.1:{port}", "--connect-timeout", "0.5", "--retries", "2"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"tcp/127.0.0.1:{port}" in proc.stderr and "2 attempt" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 30


def test_bad_arguments_and_missing_zenoh(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "horus", "bridge"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "nothing to bridge" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "horus", "bridge", "--out", "bad/name"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "not a valid topic name" in proc.stderr
    (tmp_path / "zenoh.py").write_text("raise ImportError('not installed')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "horus", "bridge", "--in", "x/**"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 3 and "pip install eclipse-zenoh" in proc.stderr, proc.stderr
    assert proc.stderr.count("horus bridge") == 1, proc.stderr  # one prefix
    assert "horus[" not in proc.stderr  # "horus" on PyPI is another project


def test_banner_waiting_topic_and_summary(side_b):
    port = free_port()
    a = bridge(NAMESPACE, "--out", "later.cam", "--out", "never=k/never", "--prefix", "a",
               "--listen", f"tcp/127.0.0.1:{port}")
    a.wait_line("horus bridge: Zenoh peer")
    banner = "".join(a.out)
    assert f"listen:  tcp/127.0.0.1:{port}" in banner and "connect: (none)" in banner
    assert "out: topic later.cam -> key a/later.cam" in a.wait_line("  out: topic later.cam")
    assert "out: topic never -> key k/never" in a.wait_line("  out: topic never")
    a.wait_line("horus bridge: out later.cam: waiting for the topic to appear")
    report = a.wait_line("horus bridge |")
    assert "out later.cam: waiting for the topic" in report and "0 sent" not in report
    with Topic(Image, "later.cam") as t:
        while True:  # until the bridge has found the topic and forwarded a frame
            t.send(Image(4, 4, "mono8"))
            report = a.wait_line("horus bridge |")
            if "out later.cam: waiting" not in report and "out later.cam: 0 sent" not in report:
                break
        assert "out never: waiting for the topic" in report
        err = a.stop()
    out = "".join(a.out)
    summary = out[out.index("horus bridge: summary after"):]
    assert "out later.cam: " in summary and "-> a/later.cam" in summary, summary
    assert int(summary.split("out later.cam: ")[1].split()[0]) >= 1, summary
    assert "out never: never appeared (nothing sent to k/never)" in summary, summary
    assert "Traceback" not in err, err


def test_a_generic_topic_is_refused_at_start_with_one_prefix():
    port = free_port()
    with Topic("cmd.values") as t:
        t.send({"speed": 1.5})
        proc = subprocess.run(
            [sys.executable, "-m", "horus", "bridge", "--out", "cmd.values",
             "--listen", f"tcp/127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc
    assert "--out cmd.values: a generic topic (Python values) cannot cross" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("horus bridge") == 1, proc.stderr


@pytest.mark.parametrize("args, says", [
    (["--in", "robot1/**/"], "--in robot1/**/: 'robot1/**/' is not a Zenoh key expression"),
    (["--out", "cam.front=bad/**/key"], "is a pattern; a publication needs one key"),
])
def test_a_bad_key_is_refused_at_start_with_one_line(args, says):
    """A key Zenoh refuses was a traceback from a thread; a pattern as an
    --out key was taken, and published on (no receiving bridge could make
    a topic of it)."""
    proc = subprocess.run([sys.executable, "-m", "horus", "bridge", *args, "--listen",
                           f"tcp/127.0.0.1:{free_port()}", "--seconds", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc
    assert says in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("horus bridge") == 1, proc.stderr
    assert ".rs:" not in proc.stderr  # not the Rust source location of Zenoh's message


def test_ros2_bridge_refuses_a_topic_without_a_ros_type_at_start():
    with Topic(TensorHandle, "tensor.out") as t:
        t.send(TensorPool().alloc([2], dtype="float32"))
        proc = subprocess.run(
            [sys.executable, "-m", "horus", "bridge", "--ros2", "--out", "tensor.out",
             "--connect", f"tcp/127.0.0.1:{free_port()}", "--connect-timeout", "0.5",
             "--retries", "1", "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc
    assert "--out tensor.out: the topic carries TensorHandle messages" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("horus bridge") == 1, proc.stderr


def test_a_generic_topic_appearing_later_stops_the_bridge_with_a_message(side_b):
    a = bridge(NAMESPACE, "--out", "cmd.later", "--listen", f"tcp/127.0.0.1:{free_port()}")
    a.wait_line("horus bridge: out cmd.later: waiting for the topic to appear")
    with Topic("cmd.later") as t:
        t.send([1, 2, 3])
        assert a.p.wait(timeout=60) == 1
    err = a.stop()
    assert "horus bridge: --out cmd.later: a generic topic" in err, err
    assert "Traceback" not in err and err.count("horus bridge") == 1, err
    assert "horus bridge: summary after" in "".join(a.out)


@pytest.mark.parametrize("args", [["--seconds", "nan"], ["--seconds", "-1"],
                                  ["--report", "inf"], ["--queue", "0"], ["--retries", "x"]])
def test_absurd_numbers_are_usage_errors(args):
    proc = subprocess.run([sys.executable, "-m", "horus", "bridge", "--in", "x/**", *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and args[0] in proc.stderr, proc.stderr


def test_stop_ends_a_receiving_thread_waiting_in_zenoh():
    """The receiving side waits for samples inside Zenoh (a RingChannel's
    recv(), the GIL released); stop() must end that wait, by undeclaring the
    subscriber, so that no thread is left inside Zenoh at exit."""
    from horus.bridge import Bridge

    port = free_port()
    img = Image(4, 6, "rgb8")
    img.fill([7, 8, 9])
    header, payload = horus._horus.wire_encode(img, 0)
    with Topic(Image, "inproc.cam") as local:
        b = Bridge(inputs=["inproc/**"], listen=[f"tcp/127.0.0.1:{port}"]).start()
        threads = list(b._threads)
        sender = zenoh.open(session_config(connect=[f"tcp/127.0.0.1:{port}"]))
        try:
            # One sample through proves the thread is in its receive loop: it
            # is back in recv() (or about to be) once the sample is published.
            # A put before the link is up is lost, so put until one arrives.
            got = None
            for _ in range(300):
                sender.put("inproc/cam", payload, attachment=header)
                got = local.recv(timeout=0.2)
                if got is not None:
                    break
            assert got is not None, "the in-process bridge never delivered a sample"
            assert np.array_equal(got.to_numpy(), img.to_numpy())
        finally:
            sender.close()
            b.stop()  # re-raises a forwarding thread's error
    for th in threads:
        th.join(timeout=Proc.STOP_S)  # the bound only tells "ended" from "hung"
    assert not any(th.is_alive() for th in threads)
    assert b.stats()["in"]["inproc/cam"]["forwarded"] >= 1




EXIT_WITHOUT_STOP = """
import sys
import threading
from horus import Image, Topic
from horus.bridge import Bridge

local = Topic(Image, "exiting.cam")
b = Bridge(inputs=["exiting/**"], listen=[f"tcp/127.0.0.1:{sys.argv[1]}"]).start()
print("ready", flush=True)
while local.recv(timeout=0.2) is None:  # the one sample the test sends
    pass
# Counted once published; with nothing else sent, the thread's next step is
# to wait in Zenoh's recv().
idle = threading.Event()
while not b.stats()["in"].get("exiting/cam", {}).get("forwarded"):
    idle.wait(0.01)
# The program's own work for a while, its bridge's thread waiting inside Zenoh
# meanwhile (not a synchronisation: the exit must be clean however long).
idle.wait(0.5)
print("through", flush=True)
# The program ends here without b.stop(), and has no other Zenoh session.
"""


def test_a_program_ending_without_stop_exits_cleanly():
    """A program that starts a Bridge and ends without stop() must exit with
    its own status, not abort: a thread left waiting inside Zenoh when the
    interpreter finalizes is killed in Rust frames ("FATAL: exception not
    rethrown", SIGABRT), so the bridge stops itself at exit."""
    port = free_port()
    img = Image(4, 6, "rgb8")
    img.fill([1, 2, 3])
    header, payload = horus._horus.wire_encode(img, 0)
    child = Proc([sys.executable, "-c", EXIT_WITHOUT_STOP, str(port)], dict(os.environ))
    child.wait_line("ready", timeout=Proc.STOP_S)  # a bound for "hung", not a speed
    sender = zenoh.open(session_config(connect=[f"tcp/127.0.0.1:{port}"]))
    try:
        pub = sender.declare_publisher("exiting/cam")
        matched = threading.Event()
        listener = pub.declare_matching_listener(
            lambda status: matched.set() if status.matching else None)
        if pub.matching_status:
            matched.set()
        # The bound only tells "the bridge subscribed" from "it never will".
        assert matched.wait(timeout=Proc.STOP_S), "".join(child.out)
        pub.put(payload, attachment=header)  # exactly one sample
        child.wait_line("through", timeout=Proc.STOP_S)
        listener.undeclare()
    finally:
        sender.close()
    rc = child.p.wait(timeout=Proc.STOP_S)  # the bound only tells "exits" from "hangs"
    err = child.p.stderr.read()
    assert rc == 0 and "FATAL" not in err, (rc, err)
