"""The horus command against live topics started by the test."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from horus import DepthImage, Image, PointCloud, Topic


def horus_exe():
    """The command pip installed beside this Python (HORUS_CLI overrides)."""
    if os.environ.get("HORUS_CLI"):
        return os.environ["HORUS_CLI"]
    here = os.path.join(os.path.dirname(sys.executable), "horus")
    exe = here if os.access(here, os.X_OK) else shutil.which("horus")
    if not exe and os.environ.get("HORUS_BUILD_DIR"):
        exe = os.path.join(os.environ["HORUS_BUILD_DIR"], "horus")
    if not exe or not os.access(exe, os.X_OK):
        pytest.fail("the horus command is not installed")
    return exe


def cli(*args, timeout=30):
    return subprocess.run([horus_exe(), *args], capture_output=True, text=True, timeout=timeout)


PUBLISHER = """
import sys
from horus import Image, Node, Scheduler, Topic
topic = Topic(Image, sys.argv[1])
count = [0]
def tick(node):
    img = Image(48, 64, "rgb8")
    img.fill([count[0] % 256, 7, 9])
    img.set_frame_id("cam_cli")
    img.set_timestamp_ns(1000 + count[0])
    topic.send(img)
    count[0] += 1
    if count[0] == 1:
        print("publishing", flush=True)
s = Scheduler()
s.add(Node("pub", tick, float(sys.argv[2])))
s.run(duration=float(sys.argv[3]))
"""


@pytest.fixture
def publisher(tmp_path):
    procs = []

    def start(name, rate=100, seconds=20):
        script = tmp_path / "pub.py"
        script.write_text(PUBLISHER)
        p = subprocess.Popen([sys.executable, str(script), name, str(rate), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "publishing"
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_list_echo_hz_save(publisher, tmp_path):
    publisher("cli.cam", rate=100)
    sub = Topic(Image, "cli.cam")
    sub.recv(timeout=5)  # one subscriber
    out = cli("topic", "list")
    assert out.returncode == 0
    row = next(line for line in out.stdout.splitlines() if line.startswith("cli.cam"))
    assert row.split()[1:4] == ["image", "1", "1"]
    data = json.loads(cli("--json", "topic", "list").stdout)
    entry = next(t for t in data if t["name"] == "cli.cam")
    assert entry["type"] == "image" and entry["publishers"] == 1 and entry["sent"] > 0
    assert entry["dropped"] == 0

    echo = cli("topic", "echo", "cli.cam", "--once")
    assert echo.returncode == 0
    assert "shape=[48, 64, 3] dtype=uint8 encoding=rgb8 frame_id='cam_cli'" in echo.stdout
    js = json.loads(cli("topic", "echo", "cli.cam", "--once", "--json").stdout)
    assert js["shape"] == [48, 64, 3] and js["frame_id"] == "cam_cli" and js["timestamp_ns"] > 1000

    hz = cli("--json", "topic", "hz", "cli.cam", "--seconds", "3.5")
    rates = [json.loads(line)["rate_hz"] for line in hz.stdout.splitlines()]
    assert rates and abs(rates[-1] - 100) <= 10, hz.stdout

    png = tmp_path / "frame.png"
    saved = cli("topic", "save", "cli.cam", str(png))
    assert saved.returncode == 0, saved.stderr
    PIL = pytest.importorskip("PIL.Image")
    pixels = np.asarray(PIL.open(png))
    assert pixels.shape == (48, 64, 3) and (pixels[..., 1:] == [7, 9]).all()
    assert (pixels[..., 0] == pixels[0, 0, 0]).all()


def test_clean_removes_dead_and_keeps_live(publisher, run_child):
    run_child("""
        from horus import Topic, Image
        t = Topic(Image, "cli.dead")
        t.send(Image(2, 2, "mono8"))
        """)
    publisher("cli.live", rate=20)
    out = cli("clean")
    assert out.returncode == 0
    assert "topic.cli.dead" in out.stdout and "topic.cli.live" not in out.stdout
    names = [t["name"] for t in json.loads(cli("--json", "topic", "list").stdout)]
    assert "cli.live" in names and "cli.dead" not in names


@pytest.mark.smoke
def test_pool_command():
    img = Image(2, 2, "mono8")  # make sure the global pool exists, with a reference held
    out = cli("pool")
    assert out.returncode == 0, out
    header, row = out.stdout.splitlines()[:2]
    assert header.split()[:5] == ["POOL", "SIZE(MB)", "USED(MB)", "FREE(MB)", "LARGEST(MB)"]
    assert row.split()[0] == "0" and "holder: process" in out.stdout
    data = json.loads(cli("--json", "pool").stdout)
    assert any(p["pool_id"] == 0 for p in data)
    del img


HOLDER = """
import sys
from horus import Image
img = Image(64, 64, "rgb8")
print("holding", flush=True)
sys.stdin.read()
"""


def test_pool_names_holders_one_unit_per_column_and_not_itself(tmp_path):
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    child = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        with open(f"/proc/{child.pid}/comm") as f:
            comm = f.read().strip()
        me = subprocess.Popen([horus_exe(), "pool"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        out, err = me.communicate(timeout=30)
        assert me.returncode == 0, err
        assert f"holder: process {comm} (pid {child.pid}), " in out, out
        assert f"pid {me.pid})" not in out and "this command" not in out, out
        lines = out.splitlines()
        cols = lines[0].split()
        row = dict(zip(cols, lines[1].split()))
        assert "bytes" not in out
        size_mb, used_mb = float(row["SIZE(MB)"]), float(row["USED(MB)"])

        me = subprocess.Popen([horus_exe(), "--json", "pool"], stdout=subprocess.PIPE,
                              text=True)
        data = json.loads(me.communicate(timeout=30)[0])
        pool = next(p for p in data if p["pool_id"] == int(row["POOL"]))
        assert size_mb == pytest.approx(pool["size_bytes"] / 2**20, abs=0.01)
        assert used_mb > 0 and pool["used_bytes"] >= 64 * 64 * 3
        procs = [h for h in pool["holders"] if h["kind"] == "process"]
        assert {"pid": child.pid, "name": comm} in [{"pid": h["pid"], "name": h["name"]}
                                                    for h in procs]
        assert all(h["pid"] != me.pid for h in procs)
    finally:
        child.stdin.close()
        child.wait(timeout=60)


def test_pool_reports_a_pool_it_cannot_open_and_not_no_pools():
    ns_dir = os.path.join("/dev/shm", f"horus-{os.getuid()}", os.environ["HORUS_NAMESPACE"])
    Image(2, 2, "mono8")  # the namespace directory exists
    bad = os.path.join(ns_dir, "pool.77")
    with open(bad, "wb") as f:
        f.write(b"not a pool")
    try:
        out = cli("pool")
        assert out.returncode == 1
        assert "pool.77" in out.stderr and "no pools" not in out.stdout
        out = cli("--json", "pool")
        assert out.returncode == 1 and "pool.77" in out.stderr
        assert "no pools" not in out.stdout
    finally:
        os.unlink(bad)


@pytest.mark.parametrize("args, code", [
    (("topic", "echo", "no.such.topic", "--once"), 3),
    (("topic", "frobnicate"), 2),
    (("frobnicate",), 2),
    (("--bogus",), 2),
    (("topic", "hz", "x", "--seconds", "abc"), 2),
    (("topic", "hz", "x", "--seconds", "nan"), 2),
    (("topic", "hz", "x", "--seconds", "-1"), 2),
    (("topic", "bw", "x", "--seconds", "1e300"), 2),
    (("topic", "save", "x", "f.png", "--timeout", "nan"), 2),
    (("topic", "save", "x", "f.png", "--timeout", "inf"), 2),
    (("topic", "save", "x", "f.jpg"), 2),
    (("topic", "echo", "x", "--count", "0"), 2),
    (("topic", "echo", "x", "--count", "1.5"), 2),
    (("topic", "pub", "x", "{bad json}"), 2),
    (("topic", "pub", "x", "1", "--rate", "nan"), 2),
    (("topic", "list", "--namespace", "a/b"), 2),
    (("topic", "list", "--namespace"), 2),
    (("topic", "info", "no.such.topic"), 3),
    (("clean", "--everything"), 2),
    ((), 2),
])
def test_bad_input_is_one_line_and_nonzero(args, code):
    out = cli(*args)
    assert out.returncode == code
    assert "Traceback" not in out.stderr
    if args:  # (bare `horus` prints the usage)
        assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.smoke
def test_help_everywhere():
    for args in ((), ("topic",), ("pool",), ("clean",), ("demo",)):
        out = cli(*args, "--help")
        assert out.returncode == 0 and "usage: horus" in out.stdout


class Sending:
    """Publish make() on a topic every few ms from a thread (a sensor's
    rate, not a synchronisation) until the block ends."""

    def __init__(self, topic, make):
        self.topic, self.make = topic, make
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            self.topic.send(self.make())
            self.stop.wait(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_echo_shows_generic_values_and_pub_publishes_json():
    with Topic("cli.cmd") as t, Sending(t, lambda: {"speed": 1.5, "modes": ["a", None]}):
        out = cli("topic", "echo", "cli.cmd", "--count", "2")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0].endswith(': {"speed":1.5,"modes":["a",null]}'), out.stdout
        js = json.loads(cli("topic", "echo", "cli.cmd", "--once", "--json").stdout)
        assert js["value"] == {"speed": 1.5, "modes": ["a", None]} and js["encoding"] == "json"
    with Topic("cli.tuple") as t, Sending(t, lambda: (1, 2)):
        out = cli("topic", "echo", "cli.tuple", "--once")
        assert "pickled Python object" in out.stdout
    with Topic("cli.pub") as sub:
        sub.recv()  # subscribed before the command publishes
        out = cli("topic", "pub", "cli.pub", '{"speed": 1.5}', "--times", "2", "--rate", "1000")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == ['publishing #1: {"speed":1.5}',
                                           'publishing #2: {"speed":1.5}']
        assert sub.recv(timeout=10) == {"speed": 1.5}
        assert sub.recv(timeout=10) == {"speed": 1.5}
        assert cli("topic", "pub", "cli.pub", "-3", "--once").returncode == 0
        assert sub.recv(timeout=10) == -3
    with Topic(Image, "cli.notgeneric"):
        out = cli("topic", "pub", "cli.notgeneric", "1", "--once")
        assert out.returncode == 1 and "carries image messages" in out.stderr


def test_echo_data_summaries_and_timestamps():
    def image():
        a = np.zeros((6, 8, 3), np.uint8)
        a[..., 0], a[:3, :, 1] = 10, 200
        img = Image.from_numpy(a, encoding="rgb8")
        img.set_timestamp_ns(1_764_475_846_123_456_789)
        return img

    depth = np.linspace(0.5, 4.0, 24, dtype=np.float32).reshape(4, 6)
    cloud = np.array([[0, 1, 2], [3, -4, 5]], np.float32)
    with Topic(Image, "cli.sum.img") as ti, Topic(DepthImage, "cli.sum.depth") as td, \
            Topic(PointCloud, "cli.sum.cloud") as tc, Sending(ti, image), \
            Sending(td, lambda: DepthImage.from_numpy(depth)), \
            Sending(tc, lambda: PointCloud.from_numpy(cloud)):
        out = cli("topic", "echo", "cli.sum.img", "--once").stdout
        assert "stamp: 2025-11-30 04:10:46.123456789 UTC" in out
        assert "data: R min 10 max 10 mean 10.00, G min 0 max 200 mean 100.00, " \
               "B min 0 max 0 mean 0.00" in out
        js = json.loads(cli("topic", "echo", "cli.sum.img", "--once", "--json").stdout)
        assert js["timestamp_ns"] == 1_764_475_846_123_456_789
        assert [c["mean"] for c in js["channels"]] == [10, 100, 0]
        assert "data:" not in cli("topic", "echo", "cli.sum.img", "--once", "--no-data").stdout
        out = cli("topic", "echo", "cli.sum.depth", "--once").stdout
        assert "depth min 0.500 m max 4.000 m mean 2.250 m, 24 of 24 pixels valid" in out
        out = cli("topic", "echo", "cli.sum.cloud", "--once").stdout
        assert "2 points, x [0, 3] y [-4, 1] z [2, 5]" in out
        js = json.loads(cli("topic", "echo", "cli.sum.cloud", "--once", "--json").stdout)
        assert js["bounds"] == {"min": [0, -4, 2], "max": [3, 1, 5], "finite_points": 2}

        out = cli("topic", "info", "cli.sum.depth")
        assert out.returncode == 0 and "Type: depth_image" in out.stdout
        assert json.loads(cli("topic", "info", "cli.sum.depth", "--json").stdout)["publishers"] >= 1

        bw = cli("topic", "bw", "cli.sum.img", "--seconds", "2.5", "--json")
        reports = [json.loads(line) for line in bw.stdout.splitlines()]
        assert reports and any(r["messages"] > 0 for r in reports)
        assert all(r["mean_bytes"] == 6 * 8 * 3 == r["max_bytes"] for r in reports if r["messages"])


def test_save_honours_the_extension_and_prints_the_depth_range(tmp_path):
    depth = np.linspace(0.5, 4.0, 24, dtype=np.float32).reshape(4, 6)
    with Topic(DepthImage, "cli.save.depth") as t, Sending(t, lambda: DepthImage.from_numpy(depth)):
        out = cli("topic", "save", "cli.save.depth", str(tmp_path / "d.png"))
        assert out.returncode == 0, out.stderr
        assert "colour-mapped from 0.500 m (blue) to 4.000 m (red)" in out.stdout
        js = json.loads(cli("topic", "save", "cli.save.depth", str(tmp_path / "e.png"),
                            "--json").stdout)
        assert js["colour_range_m"] == [0.5, 4.0] and js["width"] == 6
        out = cli("topic", "save", "cli.save.depth", str(tmp_path / "d.jpg"))
        assert out.returncode == 2 and "PNG only" in out.stderr
        assert not (tmp_path / "d.jpg").exists()
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_sorted_with_rate_options_anywhere_and_read_only(publisher):
    publisher("cli.zz", rate=100)
    publisher("cli.aa", rate=100)
    data = json.loads(cli("topic", "list", "--json").stdout)
    names = [t["name"] for t in data]
    assert names == sorted(names) and {"cli.aa", "cli.zz"} <= set(names)
    assert all(t["rate_hz"] > 0 for t in data if t["name"] in ("cli.aa", "cli.zz"))
    assert "RATE(Hz)" in cli("topic", "list").stdout.splitlines()[0]

    fresh = f"cli-fresh-{os.getpid()}"
    where = os.path.join(os.environ.get("HORUS_SHM_DIR") or "/dev/shm", f"horus-{os.geteuid()}",
                         fresh)
    for args in (("topic", "list", "--namespace", fresh), ("--namespace", fresh, "topic", "list"),
                 ("topic", "echo", "x", "--namespace=" + fresh, "--once"),
                 ("topic", "info", "x", "--namespace", fresh)):
        out = cli(*args)
        assert out.returncode in (0, 3), (args, out.stderr)
        assert not os.path.exists(where), args
    assert f"no topics in namespace '{fresh}'" in cli("topic", "list", "--namespace", fresh).stdout


def test_namespaces_lists_topics_and_pools_and_creates_nothing(tmp_path):
    with Topic(Image, "cli.ns.cam"):
        Image(2, 2, "mono8")  # the global pool exists
        ns = os.environ["HORUS_NAMESPACE"]
        data = json.loads(cli("namespaces", "--json").stdout)
        mine = next(n for n in data if n["name"] == ns)
        assert "cli.ns.cam" in mine["topics"] and 0 in mine["pools"]
        row = next(line for line in cli("namespaces").stdout.splitlines()
                   if line.startswith(ns + " "))
        assert "cli.ns.cam" in row
    empty = tmp_path / "shm"
    empty.mkdir()
    out = subprocess.run([horus_exe(), "namespaces"], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, HORUS_SHM_DIR=str(empty)))
    assert out.returncode == 0 and "no namespaces" in out.stdout
    assert list(empty.iterdir()) == []


SUBSCRIBER = """
import sys
from horus import Image, Topic
t = Topic(Image, sys.argv[1])
m = t.recv(timeout=60)
assert m is not None
del m
print("received", flush=True)
sys.stdin.read()
"""


def test_info_lists_every_publisher_and_subscriber_with_process_and_drops(publisher, tmp_path):
    pub = publisher("cam.parts")
    script = tmp_path / "sub.py"
    script.write_text(SUBSCRIBER)
    sub = subprocess.Popen([sys.executable, str(script), "cam.parts"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sub.stdout.readline().strip() == "received"
        comm = {p.pid: open(f"/proc/{p.pid}/comm").read().strip() for p in (pub, sub)}
        out = cli("topic", "info", "cam.parts")
        assert out.returncode == 0, out
        text = out.stdout
        pubs = text[text.index("Publishers:"):text.index("Subscribers:")]
        subs = text[text.index("Subscribers:"):]
        assert f"{comm[pub.pid]} (pid {pub.pid}): " in pubs and " sent" in pubs, text
        assert f"{comm[sub.pid]} (pid {sub.pid}): " in subs and " dropped" in subs, text
        data = json.loads(cli("--json", "topic", "info", "cam.parts").stdout)
        parts = {(p["role"], p["pid"]): p for p in data["participants"]}
        p = parts[("publisher", pub.pid)]
        assert p["process"] == comm[pub.pid] and p["sent"] >= 1 and p["alive"] is True
        s = parts[("subscriber", sub.pid)]
        assert s["process"] == comm[sub.pid] and s["received"] == 1 and s["alive"] is True
        assert s["dropped"] >= 0 and len(data["participants"]) == 2
    finally:
        sub.stdin.close()
        sub.wait(timeout=60)


@pytest.mark.parametrize("mode, shape, dtype, encoding", [
    ("RGB", (30, 40, 3), np.uint8, "rgb8"),
    ("RGBA", (7, 5, 4), np.uint8, "rgba8"),
    ("L", (9, 11), np.uint8, "mono8"),
    (None, (6, 13), np.uint16, "mono16"),  # Pillow's I;16, inferred
])
def test_pub_file_publishes_a_png_as_an_image(tmp_path, mode, shape, dtype, encoding):
    from PIL import Image as PILImage
    rng = np.random.default_rng(len(shape) * 100 + shape[0])
    arr = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    path = tmp_path / "pic.png"
    # Uncompressed (stored) deflate, with whatever row filters Pillow picks.
    PILImage.fromarray(arr, mode=mode).save(path, compress_level=0)
    with Topic(Image, f"pic.{encoding}") as sub:
        out = cli("topic", "pub", f"pic.{encoding}", "--file", str(path), "--once")
        assert out.returncode == 0, out
        assert f"{shape[1]}x{shape[0]} {encoding} image from {path}" in out.stdout
        img = sub.recv(timeout=30)
        assert img is not None and img.encoding == encoding
        got = img.to_numpy()
        assert np.array_equal(got.reshape(arr.shape), arr)
        assert img.timestamp_ns > 0


def test_pub_file_refuses_what_it_cannot_read_by_name(tmp_path):
    from PIL import Image as PILImage
    arr = np.full((8, 8, 3), 77, np.uint8)
    compressed = tmp_path / "small.png"
    PILImage.fromarray(arr).save(compressed)  # zlib-compressed, Pillow's default
    out = cli("topic", "pub", "pic.refuse", "--file", str(compressed), "--once")
    assert out.returncode == 1 and "compressed PNG" in out.stderr and "zlib" in out.stderr
    (tmp_path / "not.png").write_bytes(b"GIF89a" + bytes(100))
    out = cli("topic", "pub", "pic.refuse", "--file", str(tmp_path / "not.png"), "--once")
    assert out.returncode == 1 and "not a PNG file" in out.stderr
    truncated = tmp_path / "cut.png"
    PILImage.fromarray(arr).save(truncated, compress_level=0)
    truncated.write_bytes(truncated.read_bytes()[:60])
    out = cli("topic", "pub", "pic.refuse", "--file", str(truncated), "--once")
    assert out.returncode == 1 and str(truncated) in out.stderr
    with Topic("pic.generic") as t:
        t.send(1)
        out = cli("topic", "pub", "pic.generic", "--file", str(compressed), "--once")
    assert out.returncode == 1 and "--file publishes an Image" in out.stderr
    out = cli("topic", "pub", "pic.refuse", "1", "--file", str(compressed))
    assert out.returncode == 2


def test_save_then_pub_file_round_trips(tmp_path):
    frame = np.random.default_rng(5).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    path = tmp_path / "saved.png"
    with Topic(Image, "pic.src") as src, Topic(Image, "pic.dst") as dst:
        saver = subprocess.Popen([horus_exe(), "topic", "save", "pic.src", str(path),
                                  "--timeout", "60"], stdout=subprocess.PIPE, text=True)
        while saver.poll() is None:  # until the saver has subscribed and saved one
            src.send(Image.from_numpy(frame, "rgb8"))
            try:
                saver.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
        assert saver.returncode == 0, saver.stdout.read()
        saver.stdout.close()
        out = cli("topic", "pub", "pic.dst", "--file", str(path), "--once")
        assert out.returncode == 0, out
        got = dst.recv(timeout=30)
        assert np.array_equal(got.to_numpy(), frame)


def _png_stored(arr, filters):
    """An RGB PNG of `arr` written by hand: row y uses filter filters[y % len]
    (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth), and the zlib stream is stored
    blocks (level 0), more than one when the image exceeds 64 KiB."""
    import struct
    import zlib
    h, w, c = arr.shape
    a = arr.astype(np.int32).reshape(h, w * c)
    raw = bytearray()
    for y in range(h):
        f = filters[y % len(filters)]
        cur = a[y]
        up = a[y - 1] if y else np.zeros_like(cur)
        left = np.concatenate([np.zeros(c, np.int32), cur[:-c]])
        ul = np.concatenate([np.zeros(c, np.int32), up[:-c]])
        if f == 0:
            pred = np.zeros_like(cur)
        elif f == 1:
            pred = left
        elif f == 2:
            pred = up
        elif f == 3:
            pred = (left + up) // 2
        else:
            p = left + up - ul
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, ul))
        raw += bytes([f]) + ((cur - pred) % 256).astype(np.uint8).tobytes()

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 0)) + chunk(b"IEND", b""))


def test_pub_file_undoes_every_row_filter_across_stored_blocks(tmp_path):
    arr = np.random.default_rng(9).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    path = tmp_path / "filters.png"
    path.write_bytes(_png_stored(arr, [0, 1, 2, 3, 4]))
    with Topic(Image, "pic.filters") as sub:
        out = cli("topic", "pub", "pic.filters", "--file", str(path), "--once")
        assert out.returncode == 0, out
        got = sub.recv(timeout=30)
        assert np.array_equal(got.to_numpy(), arr)


def test_python_m_horus_runs_only_the_python_commands():
    """Each command has one entry point: python -m horus names the horus
    command line for C commands instead of exec'ing the C tool (which execs
    python -m horus for the Python ones: no circle)."""
    proc = subprocess.run([sys.executable, "-m", "horus", "topic", "list"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "run 'horus topic list'" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "horus"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "demo" in proc.stderr and "view" in proc.stderr


def test_a_missing_topic_is_named_with_the_command_as_typed():
    for sub in ("echo", "hz", "bw"):
        p = cli("topic", sub, "no.such.topic", "--seconds", "1") if sub != "echo" else \
            cli("topic", sub, "no.such.topic", "--once")
        assert p.returncode != 0
        assert p.stderr.startswith(f"horus topic {sub}: no topic named 'no.such.topic'"), p.stderr
