"""Recording to MCAP and playing back (horus record / play / info,
horus.Recorder, horus.read_recording): real traffic between processes, the
files read by the mcap library and decoded by mcap-ros2-support, files made
by other tools, and bad input."""

import collections
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, TensorHandle, Topic

mcap_reader = pytest.importorskip("mcap.reader")
mcap_ros2_decoder = pytest.importorskip("mcap_ros2.decoder")
from horus import record, ros2msg  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLI = os.environ.get("HORUS_CLI") or shutil.which("horus")
TOPICS = ["camera.front", "depth.mm", "depth.m", "lidar.points", "feat", "det"]

# What every message is compared by: type, header fields and a hash of the bytes.
DIGEST = r'''
import hashlib
import numpy as np
def digest(topic, m):
    if isinstance(m, (dict, list, str, int, float, bytes)):
        return [topic, "value", m.hex() if isinstance(m, bytes) else m]
    if type(m).__name__ == "TensorHandle":
        a = np.asarray(m)
        return [topic, "TensorHandle", m.dtype, list(m.shape), hashlib.sha1(a.tobytes()).hexdigest()]
    a = np.asarray(m)
    extra = {"Image": lambda: [m.encoding, m.step, m.height, m.width],
             "DepthImage": lambda: [m.dtype, m.depth_scale, m.height, m.width],
             "PointCloud": lambda: [m.dtype, m.point_count, m.fields_per_point]}[type(m).__name__]()
    return [topic, type(m).__name__, m.frame_id, m.timestamp_ns, extra,
            hashlib.sha1(a.tobytes()).hexdigest()]
'''
exec(DIGEST)

PUBLISHER = DIGEST + r'''
import json, sys
import numpy as np
from horus import Topic, Image, DepthImage, PointCloud, TensorHandle
N = int(sys.argv[1])
t = {"camera.front": Topic(Image, "camera.front"), "depth.mm": Topic(DepthImage, "depth.mm"),
     "depth.m": Topic(DepthImage, "depth.m"), "lidar.points": Topic(PointCloud, "lidar.points"),
     "feat": Topic(TensorHandle, "feat"), "det": Topic("det")}
print("ready", flush=True)
sys.stdin.readline()
rng = np.random.default_rng(7)
sent = []
for i in range(N):
    img = Image.from_numpy(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), "bgr8")
    img.frame_id, img.timestamp_ns = "cam_optical", 1_700_000_000_000_000_000 + i * 33_333_333
    dmm = DepthImage.from_numpy(rng.integers(0, 5000, (24, 32), dtype=np.uint16))
    dmm.frame_id, dmm.timestamp_ns = "depth", 1_700_000_000_000_000_000 + i
    dm = DepthImage.from_numpy(rng.random((24, 32), dtype=np.float32))
    dm.frame_id = "depth_m"
    pc = PointCloud.from_numpy(rng.random((100 + i, 4 if i % 2 else 6), dtype=np.float32))
    pc.frame_id, pc.timestamp_ns = "lidar", 5 + i
    ten = TensorHandle.from_dlpack(rng.standard_normal((3, 5)).astype(np.float16))
    val = {"i": i, "boxes": [[1, 2, 3, 4]], "label": "person"} if i % 3 else b"\x00raw" + bytes([i])
    for name, m in (("camera.front", img), ("depth.mm", dmm), ("depth.m", dm),
                    ("lidar.points", pc), ("feat", ten), ("det", val)):
        t[name].send(m)
        sent.append(digest(name, m))
print(json.dumps(sent), flush=True)
sys.stdin.readline()
'''

SUBSCRIBER = DIGEST + r'''
import json, sys
from horus import Topic, Image, DepthImage, PointCloud, TensorHandle
types = {"camera.front": Image, "depth.mm": DepthImage, "depth.m": DepthImage,
         "lidar.points": PointCloud, "feat": TensorHandle}
names = sys.argv[1].split(",")
subs = {n: (Topic(types[n.split("/")[-1]], n.split("/")[0], capacity=256) if n.split("/")[-1] in types
            else Topic(n.split("/")[0], capacity=256)) for n in names}
print("ready", flush=True)
sys.stdin.readline()
got = []
for n, s in subs.items():
    while (m := s.recv()) is not None:
        got.append(digest(n.split("/")[-1], m))
print(json.dumps(got), flush=True)
'''


def cli_env(env=None):
    """The C command execs `python -m horus` for these commands: this one."""
    return dict(env or os.environ, HORUS_PYTHON=sys.executable)


def cli(*args, env=None, timeout=120, **kw):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=cli_env(env), **kw)


def other_namespace(tag):
    ns = f"{os.environ['HORUS_NAMESPACE']}-{tag}"
    env = dict(os.environ, HORUS_NAMESPACE=ns)
    return ns, env


def rm_namespace(ns):
    shutil.rmtree(os.path.join(os.environ.get("HORUS_SHM_DIR") or "/dev/shm",
                               f"horus-{os.geteuid()}", ns), ignore_errors=True)


def by_topic(items):
    out = {}
    for d in items:
        out.setdefault(d[0], []).append(d)
    return out


def start_publisher(spawn_child, n):
    pub = spawn_child(PUBLISHER.replace("sys.argv[1]", repr(str(n))))
    assert pub.stdout.readline().strip() == "ready"
    return pub


def record_cli(path, *topics, extra=()):
    rec = subprocess.Popen([CLI, "record", "-o", str(path), "--report", "0", *extra, *topics],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=cli_env())
    line = rec.stdout.readline()
    assert "recording" in line, (line, rec.stderr.read() if rec.poll() is not None else "")
    return rec


@pytest.fixture
def recorded(spawn_child, tmp_path):
    """A file recorded by `horus record` from another process's traffic,
    and the digests of what that process sent."""
    if not CLI:
        pytest.skip("the horus command is not built")
    pub = start_publisher(spawn_child, 6)
    path = tmp_path / "run.mcap"
    rec = record_cli(path, *TOPICS)
    pub.stdin.write("go\n")
    pub.stdin.flush()
    sent = json.loads(pub.stdout.readline())
    rec.send_signal(signal.SIGINT)  # everything sent is in its rings: it drains them
    out, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    assert "done" in out and "36 msgs" in out, out
    return path, sent


def test_recorded_traffic_reads_back_exactly(recorded):
    path, sent = recorded
    got = [digest(t, m) for t, m in horus.read_recording(path)]
    assert by_topic(got) == by_topic(sent)
    only = [digest(t, m) for t, m in horus.read_recording(path, topics=["lidar.points"])]
    assert only == by_topic(sent)["lidar.points"]


def test_recorded_file_is_standard_mcap_with_ros2_messages(recorded):
    path, sent = recorded
    decoder = mcap_ros2_decoder.DecoderFactory()
    expected = by_topic(sent)
    seen = {}
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count == len(sent)
        for schema, channel, message in reader.iter_messages():
            topic = channel.topic.lstrip("/").replace("/", ".")
            assert channel.topic == "/" + topic.replace(".", "/")
            i = seen[topic] = seen.get(topic, -1) + 1
            exp = expected[topic][i]
            if channel.message_encoding != "cdr":
                continue
            msg = decoder.decoder_for("cdr", schema)(message.data)
            data = bytes(msg.data)
            if schema.name == "sensor_msgs/msg/Image":
                assert msg.header.frame_id == exp[2]
                assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == exp[3]
                assert hashlib.sha1(data).hexdigest() == exp[5]
                assert msg.is_bigendian == 0 and msg.step * msg.height == len(data)
                if topic == "camera.front":
                    assert (msg.encoding, msg.height, msg.width, msg.step) == ("bgr8", 48, 64, 192)
                else:
                    assert msg.encoding == ("16UC1" if topic == "depth.mm" else "32FC1")
            elif schema.name == "sensor_msgs/msg/PointCloud2":
                n, f = exp[4][1], exp[4][2]
                assert (msg.height, msg.width, msg.point_step) == (1, n, 4 * f)
                names = [pf.name for pf in msg.fields]
                assert names == (["x", "y", "z", "intensity"] if f == 4 else
                                 ["x", "y", "z", "r", "g", "b"])
                assert all(pf.datatype == 7 and pf.offset == 4 * k for k, pf in enumerate(msg.fields))
                assert hashlib.sha1(data).hexdigest() == exp[5] and msg.header.frame_id == "lidar"
            else:
                assert schema.name == "horus_msgs/msg/Tensor"
                assert [msg.dtype, list(msg.shape)] == exp[2:4]
                assert hashlib.sha1(data).hexdigest() == exp[4]
    assert {t: n + 1 for t, n in seen.items()} == {t: len(v) for t, v in expected.items()}


def test_play_into_another_namespace_gives_back_every_field(recorded):
    path, sent = recorded
    ns, env = other_namespace("play")
    try:
        names = ",".join(TOPICS)
        sub = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, names], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert sub.stdout.readline().strip() == "ready"
            p = cli("play", str(path), "--rate", "0", env=env)
            assert p.returncode == 0, p.stderr
            assert "36 msgs" in p.stdout
            out, err = sub.communicate("go\n", timeout=60)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        assert by_topic(json.loads(out)) == by_topic(sent), err
    finally:
        rm_namespace(ns)


def test_play_filters_remaps_and_paces(recorded):
    path, sent = recorded
    ns, env = other_namespace("remap")
    code = f"""
import json, sys
from horus import record, Topic, Image
sub = Topic(Image, "cam2", capacity=64)
res = record.play({str(path)!r}, rate=50.0, topics=["camera.front"], remap={{"camera.front": "cam2"}})
n = 0
while sub.recv() is not None:
    n += 1
print(json.dumps([res["messages"], n, len(res["spacing_ns"])]))
"""
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == [6, 6, 6]
    finally:
        rm_namespace(ns)


def test_info_describes_the_recording(recorded):
    path, _ = recorded
    p = cli("info", str(path))
    assert p.returncode == 0, p.stderr
    for t in TOPICS:
        assert t in p.stdout
    assert "finalised:   yes" in p.stdout and "messages:    36" in p.stdout
    d = json.loads(cli("info", "--json", str(path)).stdout)
    assert d["topics"]["camera.front"]["count"] == 6
    assert d["topics"]["camera.front"]["channel"] == "/camera/front"
    assert sorted(d["topics"]["det"]["types"]) == ["bytes", "json"]
    # --json anywhere, as every command takes it (before the command too)
    assert json.loads(cli("--json", "info", str(path)).stdout) == d
    assert json.loads(cli("--json", "info", "--", str(path)).stdout) == d
    p = cli("--json", "record", "-o", str(path) + ".x", "camera.front", "--duration", "1")
    assert p.returncode == 2 and "--json" in p.stderr  # record has no JSON output: said
    # A reader gone before the output (as `| head -0`) ends it quietly: the
    # pipe is closed long before the interpreter has started and written.
    with subprocess.Popen([CLI, "info", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=cli_env()) as proc:
        proc.stdout.close()
        err = proc.stderr.read().decode()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode in (0, 141)  # 0 only if it wrote before the pipe closed


def test_name_rule_and_its_inverse():
    assert record.channel_for_topic("camera.front") == "/camera/front"
    assert record.topic_for_channel("/camera/front") == "camera.front"
    for name in ("a", "robot2.cam.left", "x_y-z"):
        assert record.topic_for_channel(record.channel_for_topic(name)) == name
    with pytest.raises(ValueError):
        record.channel_for_topic("bad name")


def test_api_roundtrip_and_pickle_needs_opt_in(tmp_path):
    path = tmp_path / "api.mcap"
    img = Image.from_numpy(np.arange(4 * 6, dtype=np.uint16).reshape(4, 6), "mono16")
    img.frame_id, img.timestamp_ns = "f", 123
    depth16 = Image.from_numpy(np.full((2, 2), 7, np.uint16), "depth16")
    f32 = Image.from_numpy(np.ones((2, 3, 3), np.float32), "rgb32f")
    with horus.Recorder(path) as r:
        r.write("img", img)
        r.write("img16", depth16)
        r.write("f32", f32)
        r.write("obj", (1, 2))          # not JSON: pickled
        r.write("obj", [1.5, None])     # JSON
    with pytest.warns(record.RecordingWarning, match="allow_pickle"):
        got = list(horus.read_recording(path))
    assert [t for t, _ in got] == ["img", "img16", "f32", "obj"]
    assert got[0][1].encoding == "mono16" and got[0][1].frame_id == "f"
    assert np.array_equal(got[0][1].to_numpy(), img.to_numpy())
    assert type(got[1][1]) is Image and got[1][1].encoding == "depth16"
    assert got[2][1].encoding == "rgb32f" and np.array_equal(got[2][1].to_numpy(), f32.to_numpy())
    assert got[3][1] == [1.5, None]
    assert [m for _, m in horus.read_recording(path, ["obj"], allow_pickle=True)] == [(1, 2), [1.5, None]]


def test_a_stop_from_any_thread_still_records_what_the_ring_holds(tmp_path):
    # A signal stops the recorder from a thread of its own, before run()
    # calls stop(): the subscribers see the event first.  They used to
    # decide "drain the ring?" from a flag stop() had not set yet, and lost
    # what was in it.  Here they finish entirely before stop() runs.
    path = tmp_path / "stopped.mcap"
    topic = Topic(TensorHandle, "drain.me")
    rec = horus.Recorder(path, ["drain.me"]).start()
    assert rec.wait_subscribed(timeout=60)
    sent = [np.full(4, i, np.int32) for i in range(5)]
    for a in sent:
        topic.send(TensorHandle.from_dlpack(a))
    rec._stop.set()  # as horus._signals's thread does on SIGINT
    for th in rec._threads:
        th.join(timeout=120)  # a bound for "hung", not a speed
        assert not th.is_alive()
    rec.stop()
    topic.close()
    got = [m.numpy().tolist() for _, m in horus.read_recording(path)]
    assert got == [a.tolist() for a in sent]


def test_import_horus_does_not_import_mcap(run_child):
    out = run_child("import sys, horus; horus.Recorder; print('mcap' in sys.modules)").stdout
    assert out.strip() == "False"
    out = run_child("import sys, horus; print('mcap' in sys.modules, 'horus.record' in sys.modules)").stdout
    assert out.strip() == "False False"


# ---- files from other tools ----------------------------------------------------


def write_foreign(path):
    """An MCAP written by mcap_ros2's writer alone: Image, PointCloud2 with
    padding and a packed rgb field, CompressedImage, and a std_msgs/String."""
    import cv2
    from mcap_ros2.writer import Writer

    stamp = {"sec": 12, "nanosec": 34}
    with open(path, "wb") as f:
        w = Writer(f)
        s_img = w.register_msgdef("sensor_msgs/msg/Image", ros2msg.SCHEMAS[ros2msg.IMAGE])
        s_pc = w.register_msgdef("sensor_msgs/msg/PointCloud2", ros2msg.SCHEMAS[ros2msg.POINTCLOUD2])
        s_ci = w.register_msgdef("sensor_msgs/msg/CompressedImage",
                                 ros2msg.SCHEMAS[ros2msg.COMPRESSED_IMAGE])
        s_str = w.register_msgdef("std_msgs/msg/String", "string data\n")
        pixels = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
        # rows padded to 16 bytes, as some drivers send them
        padded = np.zeros((3, 16), np.uint8)
        padded[:, :12] = pixels.reshape(3, 12)
        w.write_message("/cam/raw", s_img, {"header": {"stamp": stamp, "frame_id": "cam"},
                        "height": 3, "width": 4, "encoding": "rgb8", "is_bigendian": 0,
                        "step": 16, "data": padded.tobytes()}, log_time=1000, publish_time=1000)
        pts = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("pad", "<f4"),
                                 ("rgb", "<u4"), ("pad2", "<u4")])
        pts["x"], pts["y"], pts["z"] = [1, 2], [3, 4], [5, 6]
        pts["rgb"] = [0x00FF8001, 0x00010203]
        fields = [{"name": n, "offset": o, "datatype": 7, "count": 1}
                  for n, o in (("x", 0), ("y", 4), ("z", 8), ("rgb", 16))]
        w.write_message("/lidar", s_pc, {"header": {"stamp": stamp, "frame_id": "lidar"},
                        "height": 1, "width": 2, "fields": fields, "is_bigendian": False,
                        "point_step": 24, "row_step": 48, "data": pts.tobytes(), "is_dense": True},
                        log_time=2000, publish_time=2000)
        ok, png = cv2.imencode(".png", pixels[:, :, ::-1].copy())
        assert ok
        w.write_message("/cam/png", s_ci, {"header": {"stamp": stamp, "frame_id": "cam"},
                        "format": "png", "data": png.tobytes()}, log_time=3000, publish_time=3000)
        w.write_message("/chatter", s_str, {"data": "hello"}, log_time=4000, publish_time=4000)
        w.finish()
    return pixels


@pytest.mark.parametrize("library, swapped", [("horus 0.9.0", False), ("mcap-ros2", True)])
def test_yuv422_in_a_file_horus_wrote_keeps_horus_s_byte_order(tmp_path, monkeypatch, library,
                                                               swapped):
    """Before it said "yuv422_yuy2", horus recorded its YUYV frames as ROS
    "yuv422", which the rest of ROS means as UYVY: in a file horus wrote the
    label keeps horus's order, in anyone else's the byte pairs are swapped."""
    from mcap.writer import Writer

    path = tmp_path / "yuv.mcap"
    yuyv = bytes([200, 10, 210, 20])  # Y0 U Y1 V
    with open(path, "wb") as f:
        w = Writer(f)
        w.start(profile="ros2", library=library)
        sid = w.register_schema("sensor_msgs/msg/Image", "ros2msg",
                                ros2msg.SCHEMAS[ros2msg.IMAGE].encode())
        cid = w.register_channel("/cam", "cdr", sid)
        img = Image(1, 2, "yuv422")
        img.to_numpy()[:] = np.frombuffer(yuyv, np.uint8).reshape(1, 2, 2)
        monkeypatch.setitem(ros2msg.ROS_ENCODING, "yuv422", "yuv422")  # the old label
        w.add_message(cid, log_time=1, data=bytes(ros2msg.encode_image(img)), publish_time=1)
        monkeypatch.undo()
        w.finish()
    (_, got), = horus.read_recording(path)
    want = bytes([10, 200, 20, 210]) if swapped else yuyv
    assert got.to_numpy().tobytes() == want


def test_file_made_by_mcap_alone_reads_and_plays(tmp_path, spawn_child):
    pytest.importorskip("cv2")
    path = tmp_path / "foreign.mcap"
    pixels = write_foreign(path)
    with pytest.warns(record.RecordingWarning, match="unknown schema 'std_msgs/msg/String'"):
        got = dict(horus.read_recording(path))
    assert set(got) == {"cam.raw", "lidar", "cam.png"}
    raw = got["cam.raw"]
    assert (raw.encoding, raw.frame_id, raw.timestamp_ns) == ("rgb8", "cam", 12 * 10**9 + 34)
    assert np.array_equal(raw.to_numpy(), pixels)
    png = got["cam.png"]
    assert png.encoding == "bgr8" and np.array_equal(png.to_numpy()[:, :, ::-1], pixels)
    pc = got["lidar"].to_numpy()
    assert pc.shape == (2, 6)
    assert pc[:, :3].tolist() == [[1, 3, 5], [2, 4, 6]]
    assert pc[:, 3:].tolist() == [[255, 128, 1], [1, 2, 3]]
    with pytest.raises(ValueError, match="unknown schema"):
        list(horus.read_recording(path, strict=True))
    if CLI:
        sub = Topic(Image, "cam.raw", capacity=8)
        p = cli("play", str(path), "--rate", "0")
        assert p.returncode == 0, p.stderr
        assert "skipped 1 message(s) of chatter" in p.stderr
        m = sub.recv()
        assert m is not None and np.array_equal(m.to_numpy(), pixels)


# ---- bad input -------------------------------------------------------------------


def small_recording(path, n=20, chunk_bytes=4 << 20, compression="none"):
    with horus.Recorder(path, compression=compression, chunk_bytes=chunk_bytes) as r:
        for i in range(n):
            img = Image(32, 32, "mono8")
            img.fill(i)
            img.timestamp_ns = i + 1
            r.write("cam", img)


def test_compressed_recordings_read_back(tmp_path):
    for comp in ("zstd", "lz4"):
        path = tmp_path / f"{comp}.mcap"
        small_recording(path, n=5, compression=comp)
        got = [m.pixel(0, 0)[0] for _, m in horus.read_recording(path)]
        assert got == list(range(5))
        assert record.info(str(path))["compression"] == [comp]


def test_truncated_file_reads_up_to_its_last_complete_chunk(tmp_path):
    path = tmp_path / "t.mcap"
    small_recording(path, n=40, chunk_bytes=4096)
    full = [m.pixel(0, 0)[0] for _, m in horus.read_recording(path)]
    data = path.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.warns(record.RecordingWarning, match="not finalised"):
        rec = record.Recording(cut)
        part = [m.pixel(0, 0)[0] for _, m, _ in rec.messages()]
    assert not rec.finalised and 0 < len(part) < len(full)
    assert part == full[: len(part)]
    if CLI:
        p = cli("info", str(cut))
        assert p.returncode == 0 and "finalised:   no" in p.stdout, p.stderr
        p = cli("play", "--rate", "0", str(cut))
        assert p.returncode == 0 and "ends early" in p.stderr


def test_corrupted_file_is_a_clear_error(tmp_path):
    path = tmp_path / "c.mcap"
    small_recording(path, n=10)
    data = bytearray(path.read_bytes())
    i = data.index(bytes([5]) * 64)  # the pixels of the 6th image
    data[i: i + 64] = b"\xaa" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged MCAP data.*(?i:crc)"):
        list(horus.read_recording(path))
    if CLI:
        p = cli("play", "--rate", "0", str(path))
        assert p.returncode == 1 and "damaged" in p.stderr


def test_large_frames_read_straight_into_blocks_exactly(tmp_path):
    # Frames of a MiB or more end their chunk and are read with their pixels
    # going from the file into the pool block; small messages of other
    # topics share their chunk.  Every field comes back, in order, the
    # standard reader accepts the file, and a damaged pixel is a CRC error.
    rng = np.random.default_rng(3)
    path = tmp_path / "big.mcap"
    img = Image.from_numpy(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), "rgb8")
    img.frame_id, img.timestamp_ns = "cam_link", 2
    dep = DepthImage.from_numpy(rng.integers(0, 65535, (1024, 1024), dtype=np.uint16))
    dep.frame_id, dep.timestamp_ns = "depth_link", 4
    feat = TensorHandle.from_dlpack(np.arange(12, dtype=np.float32).reshape(3, 4))
    with horus.Recorder(path) as r:
        r.write("feat", feat, log_time_ns=1)
        r.write("cam", img, log_time_ns=2)
        r.write("det", {"n": 1}, log_time_ns=3)
        r.write("depth", dep, log_time_ns=4)
        r.write("cam", img, log_time_ns=5)
    got = list(horus.read_recording(path))
    assert [t for t, _ in got] == ["feat", "cam", "det", "depth", "cam"]
    assert np.array_equal(np.asarray(got[0][1]), np.asarray(feat))
    assert got[2][1] == {"n": 1}
    for i, ref in ((1, img), (3, dep), (4, img)):
        m = got[i][1]
        assert type(m) is type(ref) and m.frame_id == ref.frame_id
        assert m.timestamp_ns == ref.timestamp_ns
        assert np.array_equal(np.asarray(m), np.asarray(ref))
    assert np.asarray(got[3][1]).dtype == np.uint16
    only = [t for t, _ in horus.read_recording(path, topics=["cam"])]
    assert only == ["cam", "cam"]
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f, validate_crcs=True)
        decoder = mcap_ros2_decoder.DecoderFactory()
        n = 0
        for schema, channel, message in reader.iter_messages():
            if channel.message_encoding == "cdr" and schema.name == ros2msg.IMAGE:
                ros = decoder.decoder_for("cdr", schema)(message.data)
                assert (ros.height, ros.width) in ((720, 1280), (1024, 1024))
            n += 1
    assert n == 5
    data = bytearray(path.read_bytes())
    i = data.index(np.asarray(dep).tobytes()[:64]) + 1_000_000  # deep in the pixels
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged MCAP data.*(?i:crc)"):
        list(horus.read_recording(path))


def test_play_refills_frames_receivers_are_done_with_and_never_others(tmp_path):
    # Large frames are read into blocks the player sent before, once the
    # topic's ring and every receiver let go of them (recycle()).  A frame a
    # receiver keeps must keep its pixels, and every frame received must be
    # the recorded one of its timestamp.
    path = tmp_path / "many.mcap"
    rng = np.random.default_rng(11)
    frames = []
    with horus.Recorder(path) as r:
        for i in range(40):
            a = np.full((600, 800, 3), i, dtype=np.uint8)
            a[i] = rng.integers(0, 256, (800, 3), dtype=np.uint8)
            frames.append(a)
            img = Image.from_numpy(a, "rgb8")
            img.timestamp_ns = i + 1
            r.write("cam", img, log_time_ns=i + 1)
    sub = Topic(Image, "cam", capacity=4)
    result = {}
    player = threading.Thread(target=lambda: result.update(record.play(str(path), rate=0)))
    player.start()
    kept, seen = [], 0
    while player.is_alive() or seen < 40:
        m = sub.recv(timeout=0.2)
        if m is None:
            if not player.is_alive():
                break
            continue
        seen += 1
        assert np.array_equal(np.asarray(m), frames[m.timestamp_ns - 1])
        if m.timestamp_ns % 5 == 0:
            kept.append(m)  # held: never to be refilled under us
    player.join()
    assert result["messages"] == 40 and result["recycled"] > 0
    for m in kept:
        assert np.array_equal(np.asarray(m), frames[m.timestamp_ns - 1])
    sub.close()


def big_frame_recording(path, n=2):
    """n 1 MiB+ frames of distinct random pixels: each is read straight into
    its block, half by a helper thread."""
    rng = np.random.default_rng(5)
    frames = [Image.from_numpy(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8), "rgb8")
              for _ in range(n)]
    with horus.Recorder(path) as r:
        for i, img in enumerate(frames):
            r.write("cam", img, log_time_ns=i + 1)
    return [np.asarray(f).copy() for f in frames]


@pytest.mark.parametrize("where", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_a_damaged_byte_anywhere_in_a_large_frame_is_a_crc_error(tmp_path, where):
    # The pixels are read in two halves by two threads and their CRCs
    # joined: a flipped byte in either half, at their seam or at either end
    # is caught, and the undamaged frame before it still comes out whole.
    path = tmp_path / "big.mcap"
    want = big_frame_recording(path)
    data = bytearray(path.read_bytes())
    start = data.index(want[1].tobytes()[:64])
    n = want[1].nbytes
    i = start + min(n - 1, int(n * where))
    data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    it = horus.read_recording(path)
    _, first = next(it)
    assert np.array_equal(np.asarray(first), want[0])
    with pytest.raises(ValueError, match="damaged MCAP data.*(?i:crc)"):
        next(it)


def test_large_frames_read_back_without_isal(tmp_path, monkeypatch):
    # Without ISA-L (the [record] extra) the standard zlib crc32 checks the
    # same CRCs, sequentially.
    import zlib
    path = tmp_path / "big.mcap"
    want = big_frame_recording(path)
    monkeypatch.setattr(record, "_crc32", zlib.crc32)
    monkeypatch.setattr(record, "_crc32_combine", None)
    got = [np.asarray(m).copy() for _, m in horus.read_recording(path)]
    assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(got, want))
    data = bytearray(path.read_bytes())
    data[data.index(want[1].tobytes()[:64]) + want[1].nbytes - 1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged MCAP data.*(?i:crc)"):
        list(horus.read_recording(path))


def test_play_hides_the_existing_heap_from_the_collector_and_restores_it(tmp_path, monkeypatch):
    # While playing, the objects that existed before are frozen (a full
    # collection then does not walk them: no pause of tens of ms with the
    # GIL held); afterwards the collector is as it was, also after an error,
    # and objects the program froze itself stay frozen.
    import gc
    path = tmp_path / "s.mcap"
    small_recording(path, n=3)
    seen = []
    wait = record._wait_until

    def spy(deadline, stop):
        seen.append(gc.get_freeze_count())
        wait(deadline, stop)

    monkeypatch.setattr(record, "_wait_until", spy)
    assert gc.get_freeze_count() == 0
    assert record.play(str(path), rate=1000.0)["messages"] == 3
    assert len(seen) == 3 and min(seen) > 0
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()
    try:
        mine = gc.get_freeze_count()
        record.play(str(path), rate=1000.0)
        assert gc.get_freeze_count() == mine
    finally:
        gc.unfreeze()
    bad = tmp_path / "bad.mcap"
    data = bytearray(path.read_bytes())
    data[data.index(bytes([1]) * 64)] ^= 0xFF  # the second image's pixels
    bad.write_bytes(bytes(data))
    seen.clear()
    with pytest.raises(ValueError, match="(?i:crc)"):
        record.play(str(bad), rate=1000.0)
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "x.mcap"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ValueError, match="not an MCAP file"):
        list(horus.read_recording(path))
    if CLI:
        for cmd in ("info", "play"):
            p = cli(cmd, str(path))
            assert p.returncode == 1 and "not an MCAP file" in p.stderr
        assert cli("info", str(tmp_path / "missing.mcap")).returncode == 3


def test_byte_count_disagreeing_with_header(tmp_path):
    img = Image(4, 4, "rgb8")
    good = ros2msg.encode_image(img)
    bad = bytearray(good)
    # the step field says 12 bytes a row; make the data length claim 40
    n = len(bad) - 48 - 4
    bad[n: n + 4] = (40).to_bytes(4, "little")
    with pytest.raises(ValueError, match="truncated|header says"):
        ros2msg.decode_image(bad)
    with pytest.raises(ValueError, match="data has 48 bytes, the header says 36"):
        short = bytearray(good)
        step_at = n - 4
        short[step_at: step_at + 4] = (9).to_bytes(4, "little")
        ros2msg.decode_image(short)
    with pytest.raises(ValueError, match="truncated"):
        ros2msg.decode_image(good[:30])
    with pytest.raises(ValueError, match="not a CDR message"):
        ros2msg.decode_pointcloud(b"\x07")
    # in a file: a counted skip (or, strict, an error)
    import mcap.writer

    path = tmp_path / "b.mcap"
    with open(path, "wb") as f:
        w = mcap.writer.Writer(f)
        w.start()
        sid = w.register_schema(ros2msg.IMAGE, "ros2msg", ros2msg.SCHEMAS[ros2msg.IMAGE].encode())
        cid = w.register_channel("/cam", "cdr", sid)
        w.add_message(cid, 1, bytes(short), 1)
        w.add_message(cid, 2, bytes(good), 2)
        w.finish()
    rec = record.Recording(path)
    with pytest.warns(record.RecordingWarning, match="header says"):
        got = list(rec.messages())
    assert len(got) == 1 and rec.skipped == {"cam": 1}
    with pytest.raises(ValueError, match="header says"):
        list(horus.read_recording(path, strict=True))


def test_unwritable_path(tmp_path):
    with pytest.raises(OSError):
        horus.Recorder(tmp_path / "no" / "such" / "dir.mcap")
    if CLI:
        p = cli("record", "-o", str(tmp_path / "no" / "x.mcap"), "cam")
        assert p.returncode == 1 and "cannot write" in p.stderr


def test_missing_mcap_names_the_extra(tmp_path):
    fake = tmp_path / "fake"
    (fake / "mcap").mkdir(parents=True)
    (fake / "mcap" / "__init__.py").write_text("raise ImportError('no mcap here')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-m", "horus", "info", str(tmp_path / "x.mcap")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 3 and "pip install 'horus-shm[record]'" in p.stderr


@pytest.fixture
def tiny_tmpfs(tmp_path):
    d = tmp_path / "full"
    d.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)],
                           capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, PermissionError):
        pytest.skip("mount is not available")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True, timeout=30)


def test_full_disk_stops_with_the_file_finalised_up_to_what_fit(tiny_tmpfs):
    path = tiny_tmpfs / "full.mcap"
    r = horus.Recorder(path, chunk_bytes=1 << 20)
    written = 0
    with pytest.raises(OSError) as ei:
        for i in range(100):  # 100 MB: does not fit in 8
            img = Image(512, 683, "rgb8")
            img.fill([i, i, i])
            r.write("cam", img)
            written += 1
    assert ei.value.errno == 28
    with pytest.raises(OSError):
        r.stop()
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        assert summary is not None
        n = sum(1 for _ in reader.iter_messages())
    # the write that failed is not in the file; all before it are
    assert n == written > 0 and summary.statistics.message_count == n
    got = [m.pixel(0, 0)[0] for _, m in horus.read_recording(path)]
    assert got == list(range(n))


def test_full_disk_cli_exits_nonzero(tiny_tmpfs, spawn_child):
    if not CLI:
        pytest.skip("the horus command is not built")
    pub = spawn_child("""
        import sys, threading
        from horus import Topic, Image
        t = Topic(Image, "flood")
        print("ready", flush=True)
        done = threading.Event()
        sys.stdin.readline()
        threading.Thread(target=lambda: (sys.stdin.readline(), done.set()), daemon=True).start()
        img = Image(512, 512, "rgb8")
        while not done.is_set():
            t.send(img)
        """)
    assert pub.stdout.readline().strip() == "ready"
    rec = record_cli(tiny_tmpfs / "f.mcap", "flood", extra=("--chunk-mb", "1"))
    pub.stdin.write("go\n")
    pub.stdin.flush()
    out, err = rec.communicate(timeout=120)
    pub.stdin.write("stop\n")
    pub.stdin.flush()
    assert rec.returncode == 1 and "No space left" in err, (out, err)
    with open(tiny_tmpfs / "f.mcap", "rb") as f:
        reader = mcap_reader.make_reader(f)
        summary = reader.get_summary()
        assert summary is not None
        n = sum(1 for _ in reader.iter_messages())
    assert n > 0 and summary.statistics.message_count == n
    assert f"the file holds {n} messages" in err


def test_killed_recorder_file_reads_up_to_its_last_chunk(tmp_path, spawn_child):
    path = tmp_path / "killed.mcap"
    child = spawn_child(f"""
        import sys
        from horus import Recorder, Image
        r = Recorder({str(path)!r}, chunk_bytes=1 << 30)
        for i in range(10):
            img = Image(16, 16, "mono8"); img.fill(i); r.write("cam", img)
        r.flush()
        for i in range(10, 15):
            img = Image(16, 16, "mono8"); img.fill(i); r.write("cam", img)
        print("flushed", flush=True)
        sys.stdin.readline()
        """)
    assert child.stdout.readline().strip() == "flushed"
    child.kill()
    child.wait()
    with pytest.warns(record.RecordingWarning, match="not finalised"):
        got = [m.pixel(0, 0)[0] for _, m in horus.read_recording(path)]
    assert got == list(range(10))


def test_every_record_is_what_its_opcode_says(recorded):
    """Read record by record, as `mcap recover`, `mcap doctor` and every
    reader of an unfinished file do: each chunk is followed by its message
    indexes, and the messages all come out."""
    path, sent = recorded
    from mcap.stream_reader import StreamReader

    kinds = collections.Counter()
    with open(path, "rb") as f:  # chunks come out as the records they hold
        for r in StreamReader(f, skip_magic=False).records:
            kinds[type(r).__name__] += 1
    assert kinds["MessageIndex"] > 0 and kinds["ChunkIndex"] > 0
    assert kinds["Message"] == len(sent)
    assert kinds["Footer"] == 1


def test_an_unfinished_file_reads_every_complete_chunk(tmp_path):
    """A recorder killed after several chunks: everything up to the last
    complete one reads back, not only the first chunk."""
    path = tmp_path / "unfinished.mcap"
    r = horus.Recorder(str(path), chunk_bytes=1 << 30)
    for i in range(30):
        img = Image(16, 16, "mono8")
        img.fill([i])
        r.write("cam", img)
        if i % 10 == 9:
            r.flush()  # three complete chunks
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(path.read_bytes())  # the file as a killed recorder leaves it
    r.stop()
    with pytest.warns(record.RecordingWarning, match="not finalised"):
        got = [m.pixel(0, 0)[0] for _, m in horus.read_recording(cut)]
    assert got == list(range(30))


def test_a_topic_that_does_not_exist_yet_does_not_hold_the_recording_up(tmp_path):
    """`horus record` of a topic that does not exist (yet) records the ones
    that do, and stops at --duration: it waited for every topic before."""
    if not CLI:
        pytest.skip("the horus command is not built")
    pub = Topic(Image, "present.cam")
    out = tmp_path / "partial.mcap"
    proc = subprocess.Popen([CLI, "record", "-o", str(out), "present.cam", "absent.topic",
                             "--duration", "1", "--report", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env())
    try:
        stdout, stderr = proc.communicate(timeout=60)  # --duration ends it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pub.close()
    assert proc.returncode == 0, stderr
    # (present.cam may be listed too on a machine too busy to subscribe in a second)
    assert re.search(r"waiting for .*absent\.topic", stdout) and "done" in stdout, stdout
    assert list(horus.read_recording(out)) == []  # finalised, and nothing was sent


def test_topic_disappearing_mid_recording(tmp_path, spawn_child):
    if not CLI:
        pytest.skip("the horus command is not built")
    code = """
        import sys
        from horus import Topic, Image
        t = Topic(Image, "{name}")
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(3):
            img = Image(8, 8, "mono8"); img.fill(i); t.send(img)
        print("sent", flush=True)
        sys.stdin.readline()
        """
    a = spawn_child(code.format(name="vanish"))
    b = spawn_child(code.format(name="stays"))
    for p in (a, b):
        assert p.stdout.readline().strip() == "ready"
    path = tmp_path / "v.mcap"
    rec = record_cli(path, "vanish", "stays")
    a.stdin.write("go\n")
    a.stdin.flush()
    assert a.stdout.readline().strip() == "sent"
    a.kill()  # its publisher gone mid-recording
    a.wait()
    horus.clean()  # and whatever it leaves behind removed
    b.stdin.write("go\n")
    b.stdin.flush()
    assert b.stdout.readline().strip() == "sent"
    rec.send_signal(signal.SIGINT)
    out, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    got = {}
    for t, m in horus.read_recording(path):
        got.setdefault(t, []).append(m.pixel(0, 0)[0])
    assert got == {"vanish": [0, 1, 2], "stays": [0, 1, 2]}


def test_all_picks_up_topics_that_appear_while_recording(tmp_path, spawn_child):
    if not CLI:
        pytest.skip("the horus command is not built")
    path = tmp_path / "all.mcap"
    pre = Topic("early")  # noqa: F841 (present when recording starts)
    rec = record_cli(path, extra=("--all",))
    pub = spawn_child("""
        import sys
        from horus import Topic, TensorHandle
        import numpy as np
        t = Topic(TensorHandle, "late.tensor")
        print("ready", flush=True)
        sys.stdin.readline()
        t.send(TensorHandle.from_dlpack(np.arange(4, dtype=np.int32)))
        print("sent", flush=True)
        sys.stdin.readline()
        """)
    assert pub.stdout.readline().strip() == "ready"
    # the recorder says when it subscribes; wait for its progress on stdout
    # only through the file's content: poll topics until it is a subscriber
    while not any(t["name"] == "late.tensor" and t["subscribers"] >= 1 for t in horus.topics()):
        if rec.poll() is not None:
            pytest.fail(rec.stderr.read())
        os.sched_yield()
    pub.stdin.write("go\n")
    pub.stdin.flush()
    assert pub.stdout.readline().strip() == "sent"
    rec.send_signal(signal.SIGINT)
    out, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    got = dict(horus.read_recording(path))
    assert got["late.tensor"].numpy().tolist() == [0, 1, 2, 3]


def test_play_ctrl_c_exits_130(recorded):
    path, _ = recorded
    p = subprocess.Popen([CLI, "play", "--loop", "--rate", "1", str(path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    line = p.stdout.readline()  # the first once-a-second progress line
    assert line.startswith("horus play |"), (line, p.stderr.read())
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode == 130
