"""`horus view --rerun` in a real browser: Debian's chromium, headless with
its software rasterizer, driven over the DevTools protocol, opens the URL
the viewer prints, and the test waits until Rerun's web viewer has drawn
the frame a publisher is sending (large areas of known colours) by sampling
the pixels of screenshots.  The last screenshot is kept under the pytest
tmp dir (its path is printed).

scripts/test.sh installs chromium in CI (CI=true) or with
HORUS_INSTALL_DEPS=1; elsewhere a missing chromium skips the browser test."""

import base64
import io
import itertools
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
import pytest

from horus import DepthImage, Image, PointCloud

pytest.importorskip("rerun")

from test_cli import horus_exe  # noqa: E402
from test_view import publish  # noqa: E402,F401 - the fixture

RED, GREEN = (230, 20, 20), (20, 200, 40)


def free_ports(n):
    """n distinct ports free now (another process could take one before the
    viewer binds it; the viewer then fails to start and says so)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class RerunView:
    """A `horus view --rerun` child whose stdout lines are read on a thread."""

    def __init__(self, *args):
        self.web_port, self.grpc_port = free_ports(2)
        env = dict(os.environ, HORUS_PYTHON=sys.executable)
        env.pop("TELEMETRY_ENABLED", None)
        env.pop("RERUN_TELEMETRY", None)
        self.p = subprocess.Popen([horus_exe(), "view", "--rerun", "--web-port",
                                   str(self.web_port), "--grpc-port", str(self.grpc_port), *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_line(self, needle, timeout=120):
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

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        rc = self.p.wait(timeout=60)
        while (line := self.lines.get(timeout=60)) is not None:
            self.seen.append(line)
        return rc, "".join(self.seen)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.p.stderr.close()


@pytest.fixture
def rerun_view():
    views = []

    def start(*args):
        v = RerunView(*args)
        views.append(v)
        return v

    yield start
    for v in views:
        v.kill()


def first_http_url(text):
    m = re.search(r"http://\S+", text)
    assert m, text
    return m.group(0)


def test_prints_the_url_to_open_first_and_a_summary_at_exit(rerun_view, publish):
    publish(Image, "cam", lambda: Image(16, 16, "rgb8"))
    v = rerun_view("cam")
    v.wait_line("cam (Image) -> /cam")
    # The web viewer's page is served (the SDK's bundled, offline one).
    with urllib.request.urlopen(f"http://127.0.0.1:{v.web_port}/", timeout=60) as r:
        assert r.status == 200 and b"<html" in r.read().lower()
        # Telemetry off: the page may talk to this machine's ports only.
        policy = r.headers["Content-Security-Policy"]
        assert f"connect-src 'self' http://127.0.0.1:{v.grpc_port}" in policy, policy
    rc, out = v.stop()
    assert rc == 0, out
    url = first_http_url(out)
    assert url.startswith(f"http://127.0.0.1:{v.web_port}/?url=")
    assert f"127.0.0.1%3A{v.grpc_port}%2Fproxy" in url  # the viewer connects to the stream
    assert "history: the newest 256MB" in out
    assert "telemetry: off" in out
    assert re.search(r"cam: \d+ sent, \d+ dropped", out), out


@pytest.mark.parametrize("args, needle", [
    (["--web-port", "0"], "--web-port"),
    (["--grpc-port", "70000"], "--grpc-port"),
    (["--history", "lots"], "--history"),
    (["--max-rate", "nan"], "--max-rate"),
])
def test_bad_options_are_usage_errors(args, needle):
    r = subprocess.run([horus_exe(), "view", "--rerun", *args], capture_output=True, text=True,
                       env=dict(os.environ, HORUS_PYTHON=sys.executable), timeout=120)
    assert r.returncode == 2, r
    assert needle in r.stderr


def test_conversions_keep_encoding_meter_scale_and_points():
    import rerun as rr

    from horus import view_rerun

    stop = threading.Event()
    fw = view_rerun._Forwarder(rr, None, "x", "Image", 30.0, stop)
    img = Image.from_numpy(np.zeros((4, 6, 3), np.uint8), encoding="bgr8")
    out = fw._convert(img)
    assert out[0][0] == "/x" and isinstance(out[0][1], rr.Image)
    fmt = out[0][1].format.as_arrow_array().to_pylist()[0]
    assert fmt["color_model"] == rr.ColorModel.BGR.value

    fw.type_name = "DepthImage"
    d = DepthImage(4, 6, "uint16")
    out = fw._convert(d)
    assert isinstance(out[0][1], rr.DepthImage)
    assert out[0][1].meter.as_arrow_array().to_pylist() == [pytest.approx(1000.0)]

    fw.type_name = "PointCloud"
    pts = np.arange(30, dtype=np.float32).reshape(5, 6) / 100
    out = fw._convert(PointCloud.from_numpy(pts))
    p3 = out[0][1]
    assert isinstance(p3, rr.Points3D)
    assert len(p3.positions.as_arrow_array()) == 5
    assert p3.colors is not None

    fw.type_name = "bytes"
    assert isinstance(fw._convert(3.5)[0][1], rr.Scalars)
    paths = [p for p, _ in fw._convert({"speed": 1.5, "turn": 2})]
    assert paths == ["/x/speed", "/x/turn"]
    assert isinstance(fw._convert({"mode": "auto"})[0][1], rr.TextLog)


# --- the browser -----------------------------------------------------------

def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (scripts/test.sh installs it in CI or with "
                    "HORUS_INSTALL_DEPS=1; Debian: apt-get install chromium)")
    return exe


class DevTools:
    """A minimal DevTools protocol client over one page's WebSocket."""

    def __init__(self, ws_url):
        from websockets.sync.client import connect
        self._cm = connect(ws_url, max_size=64 << 20, open_timeout=60, proxy=None)
        self.ws = self._cm.__enter__()
        self.ids = itertools.count(1)

    def call(self, method, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg["result"]

    def close(self):
        self._cm.__exit__(None, None, None)


def colour_share(png, rgb, tol=40):
    from PIL import Image as PILImage
    a = np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")).astype(int)
    near = (np.abs(a - np.array(rgb)).max(axis=2) <= tol)
    return near.mean()


def test_a_real_browser_shows_the_published_frame(rerun_view, publish, tmp_path, capsys):
    exe = chromium()
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:, :80] = RED
    frame[:, 80:] = GREEN
    publish(Image, "camera.front", lambda: Image.from_numpy(frame, encoding="rgb8"))
    v = rerun_view("camera.front")
    url = first_http_url(v.wait_line("http://"))
    v.wait_line("camera.front (Image) -> /camera/front")

    profile = tempfile.mkdtemp(prefix="horus-chromium-", dir=tmp_path)
    browser = subprocess.Popen(
        [exe, "--headless=new", "--no-sandbox", "--use-angle=swiftshader",
         "--enable-unsafe-swiftshader", "--enable-webgl", "--ignore-gpu-blocklist",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         f"--user-data-dir={profile}", "--window-size=1280,800",
         f"--log-net-log={tmp_path / 'netlog.json'}",
         "--remote-debugging-port=0", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        # The browser is not under test: no sanitizer runtime preloaded into it.
        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    shot = tmp_path / "horus-view-rerun.png"
    try:
        for line in browser.stderr:  # its readiness line names the DevTools port
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        else:
            pytest.fail(f"chromium exited ({browser.wait()}) without a DevTools port")
        threading.Thread(target=lambda: [None for _ in browser.stderr], daemon=True).start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=60) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        dt = DevTools(pages[0]["webSocketDebuggerUrl"])
        try:
            # Wait until the viewer has drawn the frame: the WebAssembly viewer
            # loads, connects to the gRPC stream, and renders on its own schedule,
            # so the condition is on the screen itself, not on a time.
            deadline = time.monotonic() + 300
            red = green = 0.0
            while time.monotonic() < deadline:
                png = base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"])
                shot.write_bytes(png)
                red, green = colour_share(png, RED), colour_share(png, GREEN)
                if red > 0.02 and green > 0.02:
                    break
                time.sleep(1)  # between screenshots, to spare a 2-core machine
        finally:
            dt.close()
    finally:
        browser.terminate()
        browser.wait(timeout=60)
        browser.stderr.close()
    with capsys.disabled():  # the artifact's path, shown even when the test passes
        print(f"\nhorus view --rerun screenshot: {shot}")
    # Telemetry off: the page never reached Rerun's analytics endpoint (the
    # browser's own log of every request it made).
    netlog = (tmp_path / "netlog.json").read_text(errors="replace")
    assert "rerun.io" not in netlog and "api.github.com" not in netlog
    assert red > 0.02 and green > 0.02, (
        f"the frame is not on screen: {red:.1%} red, {green:.1%} green; see {shot}")
    rc, out = v.stop()
    assert rc == 0, out
    m = re.search(r"camera\.front: (\d+) sent", out)
    assert m and int(m.group(1)) >= 1, out
