"""The horus command against live topics started by the test."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from horus import Image, Topic


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
    assert row.split()[1:4] == ["Image", "1", "1"]
    data = json.loads(cli("--json", "topic", "list").stdout)
    entry = next(t for t in data if t["name"] == "cli.cam")
    assert entry["type"] == "Image" and entry["publishers"] == 1 and entry["sent"] > 0
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
    Image(2, 2, "mono8")  # make sure the global pool exists
    out = cli("pool")
    assert out.returncode == 0 and "pool 0" in out.stdout and "holder: process" in out.stdout
    data = json.loads(cli("--json", "pool").stdout)
    assert any(p["pool_id"] == 0 for p in data)


@pytest.mark.parametrize("args, code", [
    (("topic", "echo", "no.such.topic", "--once"), 3),
    (("topic", "frobnicate"), 2),
    (("frobnicate",), 2),
    (("--bogus",), 2),
    (("topic", "hz", "x", "--seconds", "abc"), 2),
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
