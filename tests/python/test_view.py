"""`horus view` spoken to with a plain WebSocket client: the Foxglove
WebSocket protocol (ws-protocol v1: advertise -> subscribe -> binary
message data, opcode 0x01, carrying the protobuf foxglove.RawImage /
foxglove.PointCloud, or JSON for generic topics).  The SDK's server names
the subprotocol foxglove.sdk.v1 (the spec's original name is
foxglove.websocket.v1, which this SDK refuses); the client offers both,
as the Foxglove app does."""

import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from horus import DepthImage, Image, PointCloud, Topic

pytest.importorskip("foxglove")
ws_sync = pytest.importorskip("websockets.sync.client")

from test_cli import horus_exe  # noqa: E402

SUBPROTOCOLS = ["foxglove.sdk.v1", "foxglove.websocket.v1"]
OP_MESSAGE_DATA = 0x01


class View:
    """A `horus view --port 0` child whose stdout lines are read on a thread."""

    def __init__(self, *args):
        env = dict(os.environ, HORUS_PYTHON=sys.executable)
        self.p = subprocess.Popen([horus_exe(), "view", "--port", "0", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, daemon=True).start()
        line = self.wait_line("horus view: serving namespace")
        self.url = line.split(" on ")[1].strip()
        assert self.url.startswith("ws://127.0.0.1:")

    def _pump(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_line(self, needle, timeout=60):
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line with {needle!r}; saw {self.seen}") from None
            if line is None:
                raise AssertionError(f"view exited ({self.p.wait()}) before {needle!r}; "
                                     f"saw {self.seen}; stderr {self.p.stderr.read()}")
            self.seen.append(line)
            if needle in line:
                return line

    def stop(self, sig=signal.SIGINT):
        """Signal the view; its exit status and everything it printed."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.p.wait(timeout=60)
        while (line := self.lines.get(timeout=60)) is not None:
            self.seen.append(line)
        return rc, "".join(self.seen)


@pytest.fixture
def view():
    views = []

    def start(*args):
        v = View(*args)
        views.append(v)
        return v

    yield start
    for v in views:
        if v.p.poll() is None:
            v.p.kill()
        v.p.wait()
        v.p.stderr.close()


class Publisher:
    """Sends make() on a topic every few ms from a thread until stopped: a
    camera, so that a client subscribing at any moment gets frames."""

    def __init__(self, cls, name, make):
        self.topic = Topic(cls, name) if cls else Topic(name)
        self.make = make
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.topic.send(self.make())
            self.stop.wait(0.005)  # the camera's frame rate, not a synchronisation

    def close(self):
        self.stop.set()
        self.thread.join()
        self.topic.close()


@pytest.fixture
def publish():
    pubs = []

    def start(cls, name, make):
        p = Publisher(cls, name, make)
        pubs.append(p)
        return p

    yield start
    for p in pubs:
        p.close()


def protobuf_fields(buf):
    """Top-level fields of a protobuf message: {number: [values]} (bytes for
    length-delimited, ints for varint/fixed)."""
    out, i = {}, 0

    def varint():
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(buf):
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            v = varint()
        elif wire == 1:
            v = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wire == 5:
            v = struct.unpack_from("<I", buf, i)[0]
            i += 4
        elif wire == 2:
            n = varint()
            v = bytes(buf[i:i + n])
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.setdefault(num, []).append(v)
    return out


class Client:
    """A Foxglove WebSocket client with nothing but `websockets`."""

    def __init__(self, url):
        self._cm = ws_sync.connect(url, subprotocols=SUBPROTOCOLS, max_size=None, proxy=None,
                                   open_timeout=30)
        self.ws = self._cm.__enter__()
        assert self.ws.subprotocol in SUBPROTOCOLS
        self.channels = {}
        self.subs = {}
        self.next_sub = 1
        self.pending = []

    def _read(self, timeout):
        msg = self.ws.recv(timeout=timeout)
        if isinstance(msg, str):
            op = json.loads(msg)
            if op["op"] == "advertise":
                for ch in op["channels"]:
                    self.channels[ch["topic"]] = ch
            elif op["op"] == "unadvertise":
                for cid in op["channelIds"]:
                    for topic, ch in list(self.channels.items()):
                        if ch["id"] == cid:
                            del self.channels[topic]
            return None
        assert msg[0] == OP_MESSAGE_DATA, msg[0]
        sub_id, _ts = struct.unpack_from("<IQ", msg, 1)
        return sub_id, msg[13:]

    def channel(self, topic, timeout=60):
        while topic not in self.channels:
            self._read(timeout)
        return self.channels[topic]

    def subscribe(self, topic):
        ch = self.channel(topic)
        sid = self.next_sub
        self.next_sub += 1
        self.subs[sid] = topic
        self.ws.send(json.dumps({"op": "subscribe",
                                 "subscriptions": [{"id": sid, "channelId": ch["id"]}]}))
        return ch

    def message(self, topic, timeout=60):
        """The next message payload on topic (subscribe first)."""
        while True:
            got = self._read(timeout)
            if got and self.subs.get(got[0]) == topic:
                return got[1]

    def close(self):
        self._cm.__exit__(None, None, None)


def rgb_frame(h=48, w=64, frame_id="cam_view"):
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = 200
    a[: h // 2, :, 1] = 50
    img = Image.from_numpy(a, encoding="rgb8")
    img.set_frame_id(frame_id)
    img.set_timestamp_ns(1_500_000_007)
    return img


def test_image_depth_pointcloud_and_generic(view, publish):
    ns = os.environ["HORUS_NAMESPACE"]
    expected_rgb = rgb_frame().to_numpy().tobytes()
    depth = np.linspace(0.5, 4.0, 30 * 40, dtype=np.float32).reshape(30, 40)
    points = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    publish(Image, "view.camera.front", rgb_frame)
    publish(DepthImage, "view.depth", lambda: DepthImage.from_numpy(depth))
    publish(PointCloud, "view.lidar", lambda: PointCloud.from_numpy(points))
    publish(None, "view.cmd", lambda: {"speed": 1.5, "mode": "auto"})
    v = view()
    for name in ("view.camera.front", "view.depth", "view.lidar", "view.cmd"):
        if not any(line.startswith(f"horus view: {name} ") for line in v.seen):
            v.wait_line(f"horus view: {name} ")
    c = Client(v.url)
    try:
        img_ch = c.subscribe("/view/camera/front")
        assert img_ch["schemaName"] == "foxglove.RawImage"
        assert img_ch["encoding"] == "protobuf"
        f = protobuf_fields(c.message("/view/camera/front"))
        assert f[2] == [64] and f[3] == [48]  # width, height
        assert f[4] == [b"rgb8"] and f[5] == [64 * 3] and f[7] == [b"cam_view"]
        assert len(f[6][0]) == 48 * 64 * 3 and f[6][0] == expected_rgb
        ts = protobuf_fields(f[1][0])
        assert ts[1] == [1] and ts[2] == [500_000_007]

        assert c.subscribe("/view/depth")["schemaName"] == "foxglove.RawImage"
        f = protobuf_fields(c.message("/view/depth"))
        assert f[4] == [b"32FC1"] and f[2] == [40] and f[3] == [30]
        assert f[6][0] == depth.tobytes()

        assert c.subscribe("/view/lidar")["schemaName"] == "foxglove.PointCloud"
        f = protobuf_fields(c.message("/view/lidar"))
        assert f[4] == [12]  # point_stride
        assert [protobuf_fields(x)[1][0] for x in f[5]] == [b"x", b"y", b"z"]
        assert f[6][0] == points.tobytes()

        assert c.subscribe("/view/cmd")["encoding"] == "json"
        assert json.loads(c.message("/view/cmd")) == {"speed": 1.5, "mode": "auto"}
    finally:
        c.close()
    rc, out = v.stop()
    assert rc == 0
    assert f"serving namespace '{ns}'" in out
    sent = [line for line in out.splitlines() if line.strip().startswith("view.camera.front:")]
    assert sent and int(sent[0].split(":")[1].split()[0]) >= 1, out


def test_two_clients_and_a_topic_that_appears_later(view, publish):
    v = view("--max-rate", "200")
    publish(Image, "view.late", lambda: rgb_frame(frame_id="late"))
    v.wait_line("horus view: view.late ")
    a, b = Client(v.url), Client(v.url)
    try:
        a.subscribe("/view/late")
        b.subscribe("/view/late")
        for c in (a, b):
            f = protobuf_fields(c.message("/view/late"))
            assert f[7] == [b"late"] and len(f[6][0]) == 48 * 64 * 3
        # one client leaving does not stop the other
        a.close()
        f = protobuf_fields(b.message("/view/late"))
        assert f[7] == [b"late"]
    finally:
        b.close()
    assert v.stop(signal.SIGTERM)[0] == 0


def test_publisher_dies_and_comes_back(view, spawn_child):
    code = """
        import sys
        import numpy as np
        from horus import Image, Topic
        t = Topic(Image, "view.phoenix")
        print("up", flush=True)
        while True:
            img = Image.from_numpy(np.full((16, 16, 3), int(sys.argv[1]), np.uint8), "rgb8")
            img.set_frame_id("gen" + sys.argv[1])
            t.send(img)
            if sys.stdin.readline() == "":  # one frame per line the test writes
                break
    """
    v = view()
    first = spawn_child(code.replace("sys.argv[1]", "'1'"))
    assert first.stdout.readline() == "up\n"
    v.wait_line("horus view: view.phoenix ")
    c = Client(v.url)
    try:
        c.subscribe("/view/phoenix")
        got = None
        while got is None:  # frames until the subscription is live
            first.stdin.write("\n")
            first.stdin.flush()
            try:
                got = c.message("/view/phoenix", timeout=0.5)
            except TimeoutError:
                pass
        assert protobuf_fields(got)[7] == [b"gen1"]
        first.kill()
        first.wait()
        second = spawn_child(code.replace("sys.argv[1]", "'2'"))
        assert second.stdout.readline() == "up\n"
        while True:
            second.stdin.write("\n")
            second.stdin.flush()
            try:
                got = c.message("/view/phoenix", timeout=0.5)
            except TimeoutError:
                continue
            if protobuf_fields(got)[7] == [b"gen2"]:
                break
        assert protobuf_fields(got)[6][0] == bytes([2]) * (16 * 16 * 3)
    finally:
        c.close()
    assert v.stop()[0] == 0


def test_missing_sdk_is_named_and_bad_arguments_are_usage_errors(tmp_path):
    # A Python where `import foxglove` fails: the message names the install.
    (tmp_path / "foxglove").mkdir()
    (tmp_path / "foxglove" / "__init__.py").write_text("raise ImportError('no foxglove here')\n")
    env = dict(os.environ, HORUS_PYTHON=sys.executable,
               PYTHONPATH=f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    p = subprocess.run([horus_exe(), "view", "--port", "0"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 3
    assert "pip install 'horus-shm[view]'" in p.stderr
    for bad in (["--max-rate", "nan"], ["--max-rate", "-1"], ["--port", "70000"]):
        p = subprocess.run([horus_exe(), "view", *bad], capture_output=True, text=True,
                           env=dict(os.environ, HORUS_PYTHON=sys.executable), timeout=60)
        assert p.returncode == 2, (bad, p.stderr)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "float16", "float32",
                                   "float64"])
def test_point_cloud_fields_have_the_cloud_s_types(dtype):
    """Each field is declared with the cloud's own type and lies at its own
    offset inside the stride (they were all declared float32 unless 8 bytes
    wide: overlapping fields past the stride); float16 is sent as float32."""
    import types

    import foxglove

    from horus import view

    # The SDK's messages are opaque: constructors that keep their arguments.
    record = types.SimpleNamespace
    messages = types.SimpleNamespace(
        PackedElementFieldNumericType=foxglove.messages.PackedElementFieldNumericType,
        PackedElementField=record, PointCloud=record, Pose=record, Vector3=record,
        Quaternion=record, Timestamp=record)
    fwd = view._Forwarder(types.SimpleNamespace(messages=messages), "cloud", "PointCloud", 0.0,
                          threading.Event())
    cloud = PointCloud.from_numpy(np.arange(12).reshape(3, 4).astype(dtype))
    out = fwd._point_cloud(cloud)
    kinds = foxglove.messages.PackedElementFieldNumericType
    want = {"uint8": kinds.Uint8, "int16": kinds.Int16, "uint16": kinds.Uint16,
            "int32": kinds.Int32, "float16": kinds.Float32, "float32": kinds.Float32,
            "float64": kinds.Float64}[dtype]
    size = 4 if dtype == "float16" else np.dtype(dtype).itemsize
    assert [f.type for f in out.fields] == [want] * 4
    assert [f.offset for f in out.fields] == [0, size, 2 * size, 3 * size]
    assert out.point_stride == 4 * size and len(out.data) == 3 * 4 * size
    sent = np.frombuffer(out.data, np.float32 if dtype == "float16" else dtype).reshape(3, 4)
    assert sent.tolist() == np.arange(12).reshape(3, 4).tolist()
