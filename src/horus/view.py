"""``horus view``: the namespace's topics, live in Foxglove.

Serves every topic of the namespace (or the ones named), including topics
that appear later, over Foxglove's WebSocket protocol with the maintained
Foxglove SDK (PyPI ``foxglove-sdk``), so the Foxglove app connected to
``ws://HOST:PORT`` shows the frames with no configuration:

- Image and DepthImage as ``foxglove.RawImage``,
- PointCloud as ``foxglove.PointCloud``,
- generic topics as JSON, TensorHandle topics as a JSON summary.

Channels are named as in recordings: horus ``camera.front`` is
``/camera/front``.  The viewer is a subscriber like any other: one thread
per topic takes the newest message at most ``--max-rate`` times a second;
what it skips is counted as its drops, and the publisher never waits for
it.  The SDK keeps a bounded queue per client and drops the oldest for a
slow client.

    python -m horus view [--port 8765] [--host 127.0.0.1] [--max-rate HZ] [TOPIC...]

With ``--rerun`` the topics go to Rerun's web viewer instead (view_rerun.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from typing import Any

from . import _horus
from ._signals import stop_on_signals

_TYPES: dict[str, type | None] = {
    cls.__name__: cls for cls in (_horus.TensorHandle, _horus.Image, _horus.PointCloud,
                                  _horus.DepthImage)}
_TYPES["bytes"] = None  # a generic topic: Topic(name)

# horus encoding -> RawImage encoding Foxglove renders (None: converted).
_ENCODINGS = {
    "mono8": "mono8", "mono16": "mono16", "rgb8": "rgb8", "bgr8": "bgr8",
    "rgba8": "rgba8", "bgra8": "bgra8", "yuv422": "yuyv", "mono32f": "32FC1",
    "bayer_rggb8": "bayer_rggb8", "depth16": "16UC1", "rgb32f": None,
}

INSTALL_HINT = "pip install 'horus-shm[view]' (or: pip install foxglove-sdk)"


def channel_name(topic: str) -> str:
    """horus `camera.front` -> Foxglove `/camera/front` (as in recordings)."""
    return "/" + topic.replace(".", "/")


def _import_foxglove() -> Any:
    try:
        import foxglove
        import foxglove.channels
        import foxglove.messages
    except ImportError as e:
        raise ImportError(f"the Foxglove SDK is needed: {INSTALL_HINT} ({e})") from None
    return foxglove


def _timestamp(fm: Any, ns: int) -> Any:
    return fm.Timestamp(sec=ns // 1_000_000_000, nsec=ns % 1_000_000_000)


def _jsonable(value: Any) -> Any:
    """A JSON object for a generic value: dicts as they are, anything else
    under "value"; what JSON cannot hold is shown by its repr."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return {"bytes": len(b), "head": b[:64].hex()}
    try:
        text = json.dumps(value, allow_nan=False)
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"repr": repr(value)[:4096]}
    return value if isinstance(value, dict) else {"value": value}


class TopicForwarder:
    """One horus topic forwarded to a viewer on its own thread: the newest
    message at most `max_rate` times a second (what it skips counts as
    dropped; a publisher never waits), converted and handed to the sink.
    Subclasses give _open() (the sink, once the topic is open), _convert()
    and _emit(); the Foxglove and Rerun viewers share this loop."""

    def __init__(self, name: str, type_name: str, max_rate: float,
                 stop: threading.Event) -> None:
        self.name, self.type_name = name, type_name
        self.period = 1.0 / max_rate if max_rate > 0 else 0.0
        self.stop = stop
        self.sent = 0
        self.dropped = 0
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"view:{name}", daemon=True)

    def _open(self) -> Any:
        return None

    def _convert(self, msg: Any) -> Any:
        raise NotImplementedError

    def _emit(self, sink: Any, out: Any, stamp_ns: int) -> None:
        raise NotImplementedError

    def _close(self, sink: Any) -> None:
        pass

    def _run(self) -> None:
        cls = _TYPES[self.type_name]
        topic: _horus.Topic[Any]
        try:
            sink = self._open()
            topic = _horus.Topic(self.name) if cls is None else _horus.Topic(cls, self.name)
        except Exception as e:  # noqa: BLE001 - reported, the other topics go on
            self.error = f"{type(e).__name__}: {e}"
            return
        with topic:
            next_at = 0.0
            while not self.stop.is_set():
                wait = next_at - time.monotonic()
                if wait > 0 and self.stop.wait(wait):  # --max-rate: skip, do not queue
                    break
                msg = topic.recv_latest()
                if msg is None:
                    msg = topic.recv(timeout=0.2)
                    if msg is None:
                        continue
                self.dropped = topic.stats()["dropped"]  # skipped by recv_latest or overrun
                stamp = getattr(msg, "timestamp_ns", 0) or time.time_ns()
                try:
                    out = self._convert(msg)
                except Exception as e:  # noqa: BLE001 - one bad message, not a dead viewer
                    self.error = f"{type(e).__name__}: {e}"
                    continue
                finally:
                    del msg  # the pool block goes back before the viewer is fed
                self._emit(sink, out, stamp)
                self.sent += 1
                next_at = time.monotonic() + self.period
        self._close(sink)


class _Forwarder(TopicForwarder):
    """One horus topic -> one Foxglove channel."""

    def __init__(self, fox: Any, name: str, type_name: str, max_rate: float,
                 stop: threading.Event) -> None:
        super().__init__(name, type_name, max_rate, stop)
        self.fox = fox

    def _open(self) -> Any:
        return self._channel()

    def _emit(self, sink: Any, out: Any, stamp_ns: int) -> None:
        sink.log(out)

    def _close(self, sink: Any) -> None:
        sink.close()

    def _channel(self) -> Any:
        ch, topic = self.fox.channels, channel_name(self.name)
        if self.type_name in ("Image", "DepthImage"):
            return ch.RawImageChannel(topic)
        if self.type_name == "PointCloud":
            return ch.PointCloudChannel(topic)
        return self.fox.Channel(topic)  # JSON, any dict

    def _raw_image(self, msg: Any) -> Any:
        fm = self.fox.messages
        arr = msg.to_numpy()
        enc: str | None
        if isinstance(msg, _horus.DepthImage):
            enc = "32FC1" if arr.dtype.name == "float32" else "16UC1"
        else:
            enc = _ENCODINGS.get(msg.encoding)
            if enc is None:  # rgb32f: Foxglove has no float colour image
                import numpy as np
                arr = (np.clip(arr, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
                enc = "rgb8"
        h, w = arr.shape[0], arr.shape[1]
        data = arr.tobytes()
        return fm.RawImage(timestamp=_timestamp(fm, msg.timestamp_ns), frame_id=msg.frame_id,
                           width=w, height=h, encoding=enc, step=len(data) // h if h else 0,
                           data=data)

    def _point_cloud(self, msg: Any) -> Any:
        fm = self.fox.messages
        arr = msg.to_numpy()
        n, f = arr.shape
        # Each field as the type it is; float16 and 64-bit integers, which
        # Foxglove has no type for, as float32.
        kinds = fm.PackedElementFieldNumericType
        kind = {"uint8": kinds.Uint8, "int8": kinds.Int8, "uint16": kinds.Uint16,
                "int16": kinds.Int16, "uint32": kinds.Uint32, "int32": kinds.Int32,
                "float32": kinds.Float32, "float64": kinds.Float64}.get(arr.dtype.name)
        if kind is None:
            arr, kind = arr.astype("float32"), kinds.Float32
        size = arr.dtype.itemsize
        names = ["x", "y", "z"] + (["intensity"] if f in (4, 7) else []) + \
            (["red", "green", "blue"] if f >= 6 else [])
        names += [f"field{i}" for i in range(len(names), f)]
        fields = [fm.PackedElementField(name=nm, offset=i * size, type=kind)
                  for i, nm in enumerate(names[:f])]
        return fm.PointCloud(timestamp=_timestamp(fm, msg.timestamp_ns), frame_id=msg.frame_id,
                             pose=fm.Pose(position=fm.Vector3(x=0, y=0, z=0),
                                          orientation=fm.Quaternion(x=0, y=0, z=0, w=1)),
                             point_stride=f * size, fields=fields, data=arr.tobytes())

    def _tensor(self, msg: Any) -> dict[str, Any]:
        import numpy as np
        out: dict[str, Any] = {"shape": list(msg.shape), "dtype": msg.dtype,
                               "nbytes": msg.nbytes, "device": msg.device}
        if msg.is_cpu() and msg.numel:
            a = np.asarray(msg)
            if a.dtype.kind in "biuf":
                vals = [float(a.min()), float(a.max()), float(a.mean())]
                if all(math.isfinite(v) for v in vals):
                    out.update(min=vals[0], max=vals[1], mean=vals[2])
        return out

    def _convert(self, msg: Any) -> Any:
        if self.type_name in ("Image", "DepthImage"):
            return self._raw_image(msg)
        if self.type_name == "PointCloud":
            return self._point_cloud(msg)
        if self.type_name == "TensorHandle":
            return self._tensor(msg)
        return _jsonable(msg)


class Viewer:
    """Forward topics to a Foxglove WebSocket server until stop()."""

    def __init__(self, topics: list[str], host: str, port: int, max_rate: float) -> None:
        self.fox = _import_foxglove()
        self.wanted = set(topics)
        self.max_rate = max_rate
        self.stop_event = threading.Event()
        self.forwarders: dict[str, _Forwarder] = {}
        self.fox.set_log_level("ERROR")
        self.server = self.fox.start_server(name=f"horus {os.environ.get('HORUS_NAMESPACE') or 'default'}",
                                            host=host, port=port)
        self.host = host

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.server.port}"

    def discover(self) -> None:
        for t in sorted(_horus.topics(), key=lambda t: t["name"]):
            name, type_name = t["name"], t["type"]
            if name in self.forwarders or type_name not in _TYPES:
                continue
            if self.wanted and name not in self.wanted:
                continue
            fw = _Forwarder(self.fox, name, type_name, self.max_rate, self.stop_event)
            self.forwarders[name] = fw
            fw.thread.start()
            print(f"horus view: {name} ({type_name}) -> {channel_name(name)}", flush=True)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.discover()
            self.stop_event.wait(0.5)

    def close(self) -> None:
        self.stop_event.set()
        for fw in self.forwarders.values():
            fw.thread.join(timeout=5)
        self.server.stop()

    def report(self) -> str:
        lines = [f"horus view: {len(self.forwarders)} topic(s) served"]
        for name in sorted(self.forwarders):
            fw = self.forwarders[name]
            line = f"  {name}: {fw.sent} sent, {fw.dropped} dropped"
            if fw.error:
                line += f", last error: {fw.error}"
            lines.append(line)
        return "\n".join(lines)


def _rate(text: str) -> float:
    v = float(text)
    if not math.isfinite(v) or v <= 0 or v > 10000:
        raise argparse.ArgumentTypeError(f"must be a rate in Hz in (0, 10000], got {text!r}")
    return v


def main(argv: list[str] | None = None) -> int:
    if "--rerun" in (sys.argv[1:] if argv is None else argv):
        from . import view_rerun
        return view_rerun.main(argv)
    ap = argparse.ArgumentParser(
        prog="horus view",
        description="Serve the namespace's topics to Foxglove (open the printed URL in "
                    "the Foxglove app: Open connection > Foxglove WebSocket).")
    ap.add_argument("topics", nargs="*", metavar="TOPIC",
                    help="topics to serve (default: all, including ones that appear later)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free)")
    ap.add_argument("--max-rate", type=_rate, default=30.0, metavar="HZ",
                    help="messages per second per topic at most (default 30)")
    ap.add_argument("--namespace", help="horus namespace (default: HORUS_NAMESPACE or default)")
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        ap.error(f"--port must be 0..65535, got {args.port}")
    if args.namespace:
        os.environ["HORUS_NAMESPACE"] = args.namespace
    try:
        viewer = Viewer(args.topics, args.host, args.port, args.max_rate)
    except ImportError as e:
        print(f"horus view: {e}", file=sys.stderr)
        return 3
    except (OSError, RuntimeError) as e:
        print(f"horus view: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    ns = os.environ.get("HORUS_NAMESPACE") or "default"
    print(f"horus view: serving namespace '{ns}' on {viewer.url}\n"
          f"  open it in Foxglove: Open connection > Foxglove WebSocket > {viewer.url}\n"
          f"  or in a browser: {viewer.server.app_url()}\n"
          "  Ctrl-C stops", flush=True)
    stop_on_signals(viewer.stop_event)
    try:
        viewer.run()
    except KeyboardInterrupt:
        pass
    viewer.close()
    print(viewer.report(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
