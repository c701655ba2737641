"""``horus view --rerun``: the namespace's topics, live in Rerun's web viewer.

Streams every topic of the namespace (or the ones named), including topics
that appear later, to a Rerun recording with the maintained Rerun SDK (PyPI
``rerun-sdk``), serves that recording over gRPC and the SDK's bundled web
viewer (it runs offline) connected to it, and prints the URL to open:

- Image as ``rr.Image`` with its colour model (rgb8, bgr8, rgba8, bgra8,
  mono8/16, float images; yuv422 and Bayer shown converted or as gray),
- DepthImage as ``rr.DepthImage`` with its meter scale (1 for float32 metres,
  1000 for uint16 millimetres),
- PointCloud as ``rr.Points3D`` (with colours when the cloud has RGB),
- generic values as ``rr.Scalars`` when they are a number (or a dict of
  numbers: one series per key), as ``rr.TextLog`` (JSON) otherwise;
  TensorHandle topics as a text summary.

History is bounded: the gRPC server keeps the newest ``--history`` bytes of
log data (default 256MB) for viewers that connect late and drops the
oldest beyond that; change it with ``--history 1GB`` (or a percentage of
RAM, ``10%``).  The viewer is a subscriber like any other: one thread per
topic takes the newest message at most ``--max-rate`` times a second; what
it skips is counted as its drops, and a publisher never waits for it.

Telemetry is off unless ``RERUN_TELEMETRY=1``: the SDK's OpenTelemetry
export is switched off (``TELEMETRY_ENABLED=false``), and the bundled web
viewer, which otherwise posts usage analytics from the browser to
tel.rerun.io (and fetches Rerun's example list and release feed), is served
behind a small proxy that adds a Content-Security-Policy letting the page
talk only to this machine's viewer and gRPC ports.

    python -m horus view --rerun [--web-port 9090] [--grpc-port 9876] [TOPIC...]
"""

from __future__ import annotations

import argparse
import http.server
import json
import math
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from . import _horus
from ._signals import stop_on_signals
from .view import _TYPES, TopicForwarder, _jsonable, _rate

INSTALL_HINT = "pip install 'horus-shm[rerun]' (or: pip install rerun-sdk)"

# horus colour encodings -> Rerun colour model (numpy arrays HxWxC or HxW).
_COLOR_MODELS = {"rgb8": "RGB", "bgr8": "BGR", "rgba8": "RGBA", "bgra8": "BGRA",
                 "rgb32f": "RGB", "mono8": "L", "mono16": "L", "mono32f": "L",
                 "bayer_rggb8": "L", "depth16": "L"}


def entity_path(topic: str) -> str:
    """horus `camera.front` -> Rerun entity `/camera/front` (as in recordings)."""
    return "/" + topic.replace(".", "/")


def telemetry_allowed() -> bool:
    """The user turned Rerun's telemetry on (RERUN_TELEMETRY=1/true/on)."""
    return os.environ.get("RERUN_TELEMETRY", "").strip().lower() in ("1", "true", "on", "yes")


def _import_rerun() -> Any:
    if not telemetry_allowed():
        os.environ["TELEMETRY_ENABLED"] = "false"
    try:
        import rerun
    except ImportError as e:
        raise ImportError(f"--rerun: the Rerun SDK is needed: {INSTALL_HINT} ({e})") from None
    return rerun


class _Forwarder(TopicForwarder):
    """One horus topic -> one Rerun entity."""

    def __init__(self, rr: Any, rec: Any, name: str, type_name: str, max_rate: float,
                 stop: threading.Event) -> None:
        super().__init__(name, type_name, max_rate, stop)
        self.rr, self.rec = rr, rec
        self.path = entity_path(name)

    def _emit(self, sink: Any, out: Any, stamp_ns: int) -> None:
        # Rerun batches and sends on its own threads: log() never waits for
        # a viewer; the server drops the oldest beyond --history.
        self.rr.set_time("time", timestamp=stamp_ns * 1e-9, recording=self.rec)
        for path, archetype in out:
            self.rr.log(path, archetype, recording=self.rec)

    def _image(self, msg: Any) -> Any:
        import numpy as np
        arr = np.array(msg.to_numpy())  # a copy: the pool block goes back before logging
        enc = msg.encoding
        if enc == "yuv422":  # YUYV: show the luma (the even bytes)
            arr = np.ascontiguousarray(arr.reshape(arr.shape[0], -1)[:, 0::2])
            return self.rr.Image(arr, color_model="L")
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return self.rr.Image(arr, color_model=_COLOR_MODELS.get(enc, "L"))

    def _depth(self, msg: Any) -> Any:
        import numpy as np
        arr = np.array(msg.to_numpy())
        if arr.ndim == 3:
            arr = arr[:, :, 0]
        return self.rr.DepthImage(arr, meter=1.0 / msg.depth_scale)

    def _points(self, msg: Any) -> Any:
        import numpy as np
        arr = np.array(msg.to_numpy(), dtype=np.float32)
        colors = None
        if arr.shape[1] >= 6:  # x y z [intensity] r g b
            rgb = arr[:, -3:]
            scale = 255.0 if rgb.size and float(np.nanmax(rgb)) <= 1.0 else 1.0
            colors = np.clip(rgb * scale, 0, 255).astype(np.uint8)
        return self.rr.Points3D(arr[:, :3], colors=colors)

    def _value(self, msg: Any) -> list[tuple[str, Any]]:
        rr = self.rr
        if self.type_name == "TensorHandle":
            text = f"tensor shape={list(msg.shape)} dtype={msg.dtype} device={msg.device}"
            return [(self.path, rr.TextLog(text))]
        value = _jsonable(msg)
        nums = {k: v for k, v in value.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if nums and len(nums) == len(value):
            if list(value) == ["value"]:
                return [(self.path, rr.Scalars(float(nums["value"])))]
            return [(f"{self.path}/{k}", rr.Scalars(float(v))) for k, v in nums.items()]
        return [(self.path, rr.TextLog(json.dumps(value)[:4096]))]

    def _convert(self, msg: Any) -> list[tuple[str, Any]]:
        if self.type_name == "Image":
            return [(self.path, self._image(msg))]
        if self.type_name == "DepthImage":
            return [(self.path, self._depth(msg))]
        if self.type_name == "PointCloud":
            return [(self.path, self._points(msg))]
        return self._value(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _PolicyHandler(http.server.BaseHTTPRequestHandler):
    """GET from the SDK's web server, answered with the policy header."""

    server: _PolicyServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        srv = self.server
        try:
            with srv.opener.open(f"http://127.0.0.1:{srv.upstream}{self.path}", timeout=30) as r:
                body, status, headers = r.read(), r.status, r.headers
        except urllib.error.HTTPError as e:
            body, status, headers = e.read(), e.code, e.headers
        except OSError:
            self.send_error(502)
            return
        self.send_response(status)
        for k in ("Content-Type", "Content-Encoding", "Cache-Control"):
            if headers.get(k):
                self.send_header(k, headers[k])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", srv.policy)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base's name
        pass


class _PolicyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], upstream: int, policy: str) -> None:
        super().__init__(addr, _PolicyHandler)
        self.upstream, self.policy = upstream, policy
        # Loopback only: never through an http_proxy of the environment.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _ViewerProxy:
    """Serves the SDK's web viewer (running on a private loopback port) on
    the user's port, adding a Content-Security-Policy that keeps the page's
    requests on this machine: no analytics, no calls to rerun.io or GitHub."""

    def __init__(self, host: str, port: int, upstream: int, grpc_port: int) -> None:
        policy = ("default-src 'self' 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval' "
                  "blob: data:; "
                  f"connect-src 'self' http://127.0.0.1:{grpc_port} http://localhost:{grpc_port} "
                  f"http://{host}:{grpc_port} blob: data:")
        bind = "127.0.0.1" if host == "localhost" else host
        self.server = _PolicyServer((bind, port), upstream, policy)
        self.thread = threading.Thread(target=self.server.serve_forever, name="view:web",
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RerunViewer:
    """Forward topics to a Rerun recording served to the web viewer until stop()."""

    def __init__(self, topics: list[str], host: str, web_port: int, grpc_port: int,
                 history: str, max_rate: float) -> None:
        self.rr = rr = _import_rerun()
        self.wanted = set(topics)
        self.max_rate = max_rate
        self.stop_event = threading.Event()
        self.forwarders: dict[str, _Forwarder] = {}
        ns = os.environ.get("HORUS_NAMESPACE") or "default"
        self.rec = rr.RecordingStream(f"horus {ns}", make_default=True)
        self.grpc_uri = self.rec.serve_grpc(grpc_port=grpc_port, server_memory_limit=history)
        self.proxy: _ViewerProxy | None = None
        if telemetry_allowed():
            rr.serve_web_viewer(web_port=web_port, open_browser=False, connect_to=self.grpc_uri)
        else:  # the viewer on a private port, served to the user through the policy
            inner = _free_port()
            rr.serve_web_viewer(web_port=inner, open_browser=False, connect_to=self.grpc_uri)
            self.proxy = _ViewerProxy(host, web_port, inner, grpc_port)
        h = f"[{host}]" if ":" in host else host
        self.url = (f"http://{h}:{web_port}/?url="
                    + urllib.parse.quote(self.grpc_uri, safe=""))

    def discover(self) -> None:
        for t in sorted(_horus.topics(), key=lambda t: t["name"]):
            name, type_name = t["name"], t["type"]
            if name in self.forwarders or type_name not in _TYPES:
                continue
            if self.wanted and name not in self.wanted:
                continue
            fw = _Forwarder(self.rr, self.rec, name, type_name, self.max_rate, self.stop_event)
            self.forwarders[name] = fw
            fw.thread.start()
            print(f"horus view: {name} ({type_name}) -> {entity_path(name)}", flush=True)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.discover()
            self.stop_event.wait(0.5)

    def close(self) -> None:
        self.stop_event.set()
        for fw in self.forwarders.values():
            fw.thread.join(timeout=5)
        self.rec.flush()
        if self.proxy:
            self.proxy.close()

    def report(self) -> str:
        lines = [f"horus view: {len(self.forwarders)} topic(s) streamed to Rerun"]
        for name in sorted(self.forwarders):
            fw = self.forwarders[name]
            line = f"  {name}: {fw.sent} sent, {fw.dropped} dropped"
            if fw.error:
                line += f", last error: {fw.error}"
            lines.append(line)
        return "\n".join(lines)


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port 1..65535, got {text!r}") from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port 1..65535, got {text!r}")
    return v


def _history(text: str) -> str:
    t = text.strip()
    num = t.rstrip("%").rstrip("BbKkMmGgTtIi")
    try:
        ok = float(num) > 0 and math.isfinite(float(num))
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"must be a size such as 256MB, 1GB or 10%, got {text!r}")
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="horus view --rerun",
        description="Stream the namespace's topics to Rerun and serve its web viewer "
                    "(open the printed http:// URL in a browser).")
    ap.add_argument("--rerun", action="store_true", help="(selects this viewer)")
    ap.add_argument("topics", nargs="*", metavar="TOPIC",
                    help="topics to stream (default: all, including ones that appear later)")
    ap.add_argument("--host", default="127.0.0.1",
                    help="host name put in the printed URLs (default 127.0.0.1)")
    ap.add_argument("--web-port", type=_port, default=9090,
                    help="port of the web viewer (default 9090)")
    ap.add_argument("--grpc-port", type=_port, default=9876,
                    help="port of the gRPC log stream (default 9876)")
    ap.add_argument("--history", type=_history, default="256MB",
                    help="log data kept for viewers, oldest dropped beyond it "
                         "(default 256MB; e.g. 1GB or 10%% of RAM)")
    ap.add_argument("--max-rate", type=_rate, default=30.0, metavar="HZ",
                    help="messages per second per topic at most (default 30)")
    ap.add_argument("--namespace", help="horus namespace (default: HORUS_NAMESPACE or default)")
    args = ap.parse_args(argv)
    if args.web_port == args.grpc_port:
        ap.error(f"--web-port and --grpc-port must differ (both {args.web_port})")
    if args.namespace:
        os.environ["HORUS_NAMESPACE"] = args.namespace
    try:
        viewer = RerunViewer(args.topics, args.host, args.web_port, args.grpc_port,
                             args.history, args.max_rate)
    except ImportError as e:
        print(f"horus view: {e}", file=sys.stderr)
        return 3
    except (OSError, RuntimeError, ValueError) as e:
        print(f"horus view: cannot serve on ports {args.web_port}/{args.grpc_port}: {e}",
              file=sys.stderr)
        return 1
    ns = os.environ.get("HORUS_NAMESPACE") or "default"
    print(f"horus view: streaming namespace '{ns}' to Rerun\n"
          f"  open in a browser: {viewer.url}\n"
          f"  or in the native viewer: rerun {viewer.grpc_uri}\n"
          f"  history: the newest {args.history} of log data (--history to change)\n"
          f"  telemetry: {'on (RERUN_TELEMETRY)' if telemetry_allowed() else 'off (RERUN_TELEMETRY=1 turns it on)'}\n"
          "  Ctrl-C stops", flush=True)
    stop_on_signals(viewer.stop_event)
    try:
        viewer.run()
    except KeyboardInterrupt:
        pass
    viewer.close()
    print(viewer.report(), flush=True)
    return 0
