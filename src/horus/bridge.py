"""Bridge topics between machines over Zenoh.

One bridge process per machine forwards chosen local topics to Zenoh key
expressions (``--out``) and Zenoh key expressions to local topics
(``--in``); every other program keeps its zero-copy local path.  The
per-message work (header, validation, the copy into or out of a pool block)
is C (``horus._horus.wire_encode`` / ``wire_decode``); this module only
moves bytes between a Topic and a Zenoh session.

Wire format: each Zenoh sample carries the message's payload (the tensor's
bytes, packed row-major) and, as its attachment, the 176-byte header
described in the README ("Bridging over Zenoh") and in ``horus/wire.h``.

Loss and back-pressure: a bridge that falls behind a local publisher,
because the network is slow (Zenoh's ``CongestionControl.BLOCK`` holds the
bridge's forwarding thread, never the publisher) or the machine busy, loses
the oldest messages in the topic's ring (counted as the topic's drops, shown
by ``horus topic list``); the receiving side keeps at most ``queue`` samples
per subscription and drops the oldest.  Losses are counted from the
per-key sequence numbers and reported in ``Bridge.stats()`` and the
once-a-second report of ``horus bridge``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import re
import socket
import sys
import threading
import time
from typing import Any

from . import _horus
from ._signals import stop_on_signals

# The distribution is horus-shm ("horus" on PyPI is another project).
INSTALL_HINT = ("Zenoh's Python binding is needed: pip install eclipse-zenoh "
                "(or install horus with its extra: pip install 'horus-shm[bridge]')")

_TYPES = {cls.__name__: cls for cls in (_horus.TensorHandle, _horus.Image,
                                         _horus.PointCloud, _horus.DepthImage)}
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,55}$")


_WIRE_TYPES = ", ".join(sorted(_TYPES))


def _no_wire_form(name: str, type_name: str) -> str:
    """Why messages of local topic `name` cannot cross the bridge."""
    if type_name == "bytes":
        return (f"--out {name}: a generic topic (Python values) cannot cross the bridge: "
                f"only {_WIRE_TYPES} messages have a wire form")
    return f"--out {name}: {type_name} messages have no wire form (only {_WIRE_TYPES})"


def _import_zenoh() -> Any:
    try:
        import zenoh
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return zenoh


def topic_for_key(key: str) -> str:
    """The local topic a Zenoh key arrives on: '/' becomes '.'
    ("robot2/camera.front" -> "robot2.camera.front")."""
    name = key.replace("/", ".")
    if not _TOPIC_NAME.match(name):
        raise ValueError(f"key {key!r} does not make a valid topic name")
    return name


def session_config(connect: list[str] | tuple[str, ...] = (),
                   listen: list[str] | tuple[str, ...] = (),
                   connect_timeout: float = 3.0) -> Any:
    """The zenoh.Config a bridge opens its session with: a peer on exactly
    the endpoints given, failing after connect_timeout seconds when a
    connect endpoint does not answer.  Programs talking to a bridge (and the
    tests and benchmarks) use it to match its transport."""
    zenoh = _import_zenoh()
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    # Only the endpoints given: no multicast discovery of unrelated peers.
    conf.insert_json5("scouting/multicast/enabled", "false")
    # Zenoh's own shared memory serves peers on one host, which horus
    # topics already do; off, a killed bridge leaves no segment behind.
    conf.insert_json5("transport/shared_memory/enabled", "false")
    conf.insert_json5("connect/endpoints", json.dumps(list(connect)))
    conf.insert_json5("listen/endpoints", json.dumps(list(listen)))
    if connect:
        conf.insert_json5("connect/timeout_ms", json.dumps({"peer": int(connect_timeout * 1000)}))
        conf.insert_json5("connect/exit_on_failure", json.dumps({"peer": True}))
    return conf


class _Counter:
    __slots__ = ("forwarded", "dropped", "lost", "malformed", "bytes", "last_seq", "waiting")

    def __init__(self) -> None:
        self.forwarded = self.dropped = self.lost = self.malformed = self.bytes = 0
        self.last_seq: int | None = None
        self.waiting = True  # an --out topic that does not exist yet

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("forwarded", "dropped", "lost", "malformed", "bytes")}


class Bridge:
    """Forward local topics to Zenoh and Zenoh keys to local topics.

    out: topic names, each optionally "topic=key" (default key
        "<prefix>/<topic>").
    inputs: key expressions ("robot2/**"), each optionally "key=topic" for
        one key; samples become local topics named by topic_for_key.
    connect / listen: Zenoh endpoints ("tcp/127.0.0.1:7447").
    prefix: key prefix of forwarded topics (default: this host's name).
    queue: samples kept per incoming subscription before the oldest drop.
    connect_timeout / retries: opening the session waits this long for the
        connect endpoints, this many times, then raises ConnectionError.
    """

    def __init__(self, out: list[str] | tuple[str, ...] = (), inputs: list[str] | tuple[str, ...] = (),
                 *, connect: list[str] | tuple[str, ...] = (), listen: list[str] | tuple[str, ...] = (),
                 prefix: str | None = None, queue: int = 8, connect_timeout: float = 3.0,
                 retries: int = 3) -> None:
        if not out and not inputs:
            raise ValueError("nothing to bridge: give at least one --out topic or --in key")
        if queue < 1:
            raise ValueError("queue must be at least 1")
        self._zenoh = _import_zenoh()
        self._prefix = (prefix or socket.gethostname()).strip("/")
        self._outs: list[tuple[str, str]] = []
        for spec in out:
            topic, _, key = spec.partition("=")
            if not _TOPIC_NAME.match(topic):
                raise ValueError(f"--out {spec!r}: {topic!r} is not a valid topic name")
            key = key or f"{self._prefix}/{topic}"
            self._check_key(f"--out {spec}", key)
            if "*" in key:
                raise ValueError(f"--out {spec!r}: {key!r} is a pattern; a publication "
                                 "needs one key (no '*')")
            self._outs.append((topic, key))
        self._ins: list[tuple[str, str | None]] = []
        for spec in inputs:
            key, _, topic = spec.partition("=")
            if topic and not _TOPIC_NAME.match(topic):
                raise ValueError(f"--in {spec!r}: {topic!r} is not a valid topic name")
            self._check_key(f"--in {spec}", key)
            self._ins.append((key, topic or None))
        # Refused now, not by a thread minutes later: a topic that already
        # exists and carries messages with no wire form.
        for t in _horus.topics():
            if any(t["name"] == topic for topic, _ in self._outs) and t["type"] not in _TYPES:
                raise ValueError(_no_wire_form(t["name"], t["type"]))
        self._connect, self._listen = list(connect), list(listen)
        self._started = time.monotonic()
        self._queue = queue
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._out_stats = {topic: _Counter() for topic, _ in self._outs}
        self._in_stats: dict[str, _Counter] = {}
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._session = self._open(list(connect), list(listen), connect_timeout, retries)
        self._subscribers: list[Any] = []

    def _check_key(self, what: str, key: str) -> None:
        """ValueError naming `what` unless `key` is a Zenoh key expression."""
        try:
            self._zenoh.KeyExpr(key)
        except Exception as e:  # zenoh.ZError, whose text ends with a Rust source path
            why = str(e).split(" at /")[0]
            raise ValueError(f"{what}: {key!r} is not a Zenoh key expression ({why})") from None

    # ---- session ---------------------------------------------------------

    def _open(self, connect: list[str], listen: list[str], timeout: float, retries: int) -> Any:
        zenoh = self._zenoh
        conf = session_config(connect, listen, timeout)
        last: Exception | None = None
        for attempt in range(max(1, retries)):
            try:
                return zenoh.open(conf)
            except Exception as e:  # zenoh.ZError, and config errors
                last = e
                if attempt + 1 < retries and not self._stop.wait(min(0.5 * 2 ** attempt, 5.0)):
                    continue
        where = ", ".join(connect or listen) or "no endpoint"
        raise ConnectionError(f"cannot open a Zenoh session to {where} after {retries} "
                              f"attempt(s) of {timeout:g} s: {last}")

    # ---- local topics to Zenoh ------------------------------------------------

    def _wait_for_topic(self, name: str) -> type | None:
        """The message class of local topic `name`, once it exists."""
        while not self._stop.is_set():
            for t in _horus.topics():
                if t["name"] == name:
                    cls = _TYPES.get(t["type"])
                    if cls is None:  # it appeared after start-up
                        raise TypeError(_no_wire_form(name, t["type"]))
                    return cls
            self._stop.wait(0.1)
        return None

    def _forward_out(self, topic_name: str, key: str) -> None:
        zenoh = self._zenoh
        cls = self._wait_for_topic(topic_name)
        if cls is None:
            return
        stats = self._out_stats[topic_name]
        with self._lock:
            stats.waiting = False
        # BLOCK holds only this forwarding thread when the network is slow;
        # the publisher never waits, and what the bridge falls behind on is
        # lost from the topic's ring oldest first, counted as its drops.
        # (Zenoh's DROP would lose the newest instead, and silently.)
        pub = self._session.declare_publisher(
            key, congestion_control=zenoh.CongestionControl.BLOCK, express=True)
        seq = 0
        topic: _horus.Topic[Any]
        with _horus.Topic(cls, topic_name) as topic:
            while not self._stop.is_set():
                msg = topic.recv(timeout=0.1)
                if msg is None:
                    continue
                header, payload = _horus.wire_encode(msg, seq)
                seq += 1
                del msg  # the pool block goes back before the network send
                pub.put(payload, attachment=header)
                with self._lock:
                    stats.forwarded += 1
                    stats.bytes += len(payload)
                    stats.dropped = topic.stats()["dropped"]
        pub.undeclare()

    # ---- Zenoh to local topics ------------------------------------------------

    def _samples(self, channel: Any) -> Any:
        """The samples of a subscriber's channel until stop(), which closes
        the channel: its recv() then ends with ZError."""
        while not self._stop.is_set():
            try:
                yield channel.recv()
            except self._zenoh.ZError:
                if self._stop.is_set():
                    return
                raise

    def _forward_in(self, key_expr: str, fixed_topic: str | None) -> None:
        # Zenoh queues the samples in its own ring (RingChannel: at most
        # `queue`, the oldest dropped), in Rust, and this thread takes them
        # with the GIL released while it waits.  A Python callback instead
        # would make Zenoh's network thread wait for the GIL on every sample
        # (held by this thread during each 6 MB copy at 1080p), stalling the
        # socket, and would add a thread hop to every message's latency.
        # stop() undeclares the subscriber (and closes the session), which
        # closes the channel and ends recv() promptly.
        zenoh = self._zenoh
        sub = self._session.declare_subscriber(
            key_expr, zenoh.handlers.RingChannel(self._queue), allowed_origin=zenoh.Locality.REMOTE)
        self._subscribers.append(sub)
        samples = sub.handler  # not sub.recv: undeclare() would find sub borrowed
        topics: dict[str, Any] = {}
        try:
            for sample in self._samples(samples):
                self._deliver(sample, fixed_topic, topics)
        finally:
            for t in topics.values():
                t.close()

    def _deliver(self, sample: Any, fixed_topic: str | None, topics: dict[str, Any]) -> None:
        key = str(sample.key_expr)
        with self._lock:
            stats = self._in_stats.setdefault(key, _Counter())
        try:
            if sample.attachment is None:
                raise ValueError("sample has no header attachment")
            obj, seq = _horus.wire_decode(sample.attachment.to_bytes(), sample.payload.to_bytes())
            name = fixed_topic or topic_for_key(key)
        except ValueError as e:
            with self._lock:
                stats.malformed += 1
            self._complain(stats.malformed, f"dropped a malformed sample on {key}: {e}")
            return
        if not self._publish_local(stats, topics, name, obj, key):
            return
        with self._lock:
            if stats.last_seq is not None and seq > stats.last_seq + 1:
                stats.lost += seq - stats.last_seq - 1
            # A lower sequence is a restarted sender: a new stream, not loss.
            stats.last_seq = seq
            stats.forwarded += 1
            stats.bytes += obj.nbytes

    def _publish_local(self, stats: Any, topics: dict[str, Any], name: str, obj: Any,
                       key: str) -> bool:
        """Send `obj` on local topic `name` (opened, or reopened for another
        type, as needed); a refusal (pool full, topic of another type) is
        counted as dropped and reported.  True when sent."""
        try:
            topic = topics.get(name)
            if topic is None or topic.msg_type is not type(obj):
                if topic is not None:
                    topic.close()
                topic = topics[name] = _horus.Topic(type(obj), name)
            topic.send(obj)
            return True
        except Exception as e:  # noqa: BLE001 - the local side refused it
            with self._lock:
                stats.dropped += 1
            self._complain(stats.dropped, f"could not publish {key} on topic {name}: {e}")
            return False

    @staticmethod
    def _complain(count: int, what: str) -> None:
        """Say what went wrong the first few times, then every 1000th."""
        if count <= 3 or count % 1000 == 0:
            print(f"horus bridge: {what} ({count} so far)", file=sys.stderr, flush=True)

    # ---- life cycle ---------------------------------------------------------

    def _spawn(self, target: Any, *args: Any) -> None:
        def run() -> None:
            try:
                target(*args)
            except BaseException as e:  # reported by run()/stop()
                self._errors.append(e)
                self._stop.set()

        th = threading.Thread(target=run, name=f"horus-bridge-{len(self._threads)}", daemon=True)
        th.start()
        self._threads.append(th)

    def start(self) -> "Bridge":
        for out_topic, out_key in self._outs:
            self._spawn(self._forward_out, out_topic, out_key)
        for in_key, in_topic in self._ins:
            self._spawn(self._forward_in, in_key, in_topic)
        # A thread still waiting inside Zenoh when the interpreter finalizes
        # is killed in Rust frames, which aborts the process: a program that
        # ends without stop() has the bridge stopped at exit instead (before
        # the daemon threads are; stop() unregisters this).
        atexit.register(self._stop_at_exit)
        return self

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception as e:  # a forwarding thread's error: said, as main() does
            print(f"horus bridge: {e}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        """Stop forwarding and close the session; re-raises a forwarding
        thread's error, if one stopped the bridge."""
        atexit.unregister(self._stop_at_exit)
        self._stop.set()
        for sub in self._subscribers:
            try:
                sub.undeclare()
            except Exception:
                pass
        for th in self._threads:
            th.join(timeout=2)
        # Closing the session ends a put() still held by a congested link;
        # then every thread is out of Zenoh before the interpreter exits.
        try:
            self._session.close()
        except Exception:
            pass
        for th in self._threads:
            th.join(timeout=5)
        if self._errors:
            raise self._errors[0]

    def run(self, duration: float | None = None, report_every: float | None = None) -> None:
        """Run until `duration` seconds pass, Ctrl-C/SIGTERM, or an error,
        printing stats every `report_every` seconds."""
        self.start()
        end = None if duration is None else time.monotonic() + duration
        next_report = time.monotonic() + (report_every or 0)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if end is not None and now >= end:
                    break
                if report_every and now >= next_report:
                    print(self.report(), flush=True)
                    next_report += report_every
                self._stop.wait(0.05)
        finally:
            self.stop()

    def stats(self) -> dict[str, dict[str, dict[str, int]]]:
        """{"out": {topic: counters}, "in": {key: counters}}; counters are
        forwarded, dropped (by the local topic ring before the bridge read
        them), lost (sequence gaps: the network or a full queue), malformed
        and bytes."""
        with self._lock:
            return {"out": {k: v.as_dict() for k, v in self._out_stats.items()},
                    "in": {k: v.as_dict() for k, v in self._in_stats.items()}}

    def waiting(self) -> list[str]:
        """The --out topics that do not exist yet (the bridge waits for them)."""
        with self._lock:
            return [k for k, v in self._out_stats.items() if v.waiting]

    def banner(self) -> str:
        """What this bridge does, for the person who started it."""
        ns = os.environ.get("HORUS_NAMESPACE") or "default"
        lines = [f"horus bridge: Zenoh peer, namespace '{ns}'",
                 f"  listen:  {', '.join(self._listen) or '(none)'}",
                 f"  connect: {', '.join(self._connect) or '(none)'}"]
        lines += [f"  out: topic {topic} -> key {key}" for topic, key in self._outs]
        lines += [f"  in:  key {key} -> topic {topic or '(the key, with / as .)'}"
                  for key, topic in self._ins]
        return "\n".join(lines)

    def summary(self) -> str:
        """What went through, for the end of a run."""
        s = self.stats()
        waiting = set(self.waiting())
        keys = dict(self._outs)
        lines = [f"horus bridge: summary after {time.monotonic() - self._started:.1f} s"]
        for k, v in s["out"].items():
            if k in waiting:
                lines.append(f"  out {k}: never appeared (nothing sent to {keys[k]})")
            else:
                lines.append(f"  out {k}: {v['forwarded']} sent, {v['dropped']} dropped, "
                             f"{v['bytes'] / 1e6:.1f} MB -> {keys[k]}")
        lines += [f"  in {k}: {v['forwarded']} published, {v['lost']} lost, "
                  f"{v['malformed']} malformed, {v['bytes'] / 1e6:.1f} MB"
                  for k, v in s["in"].items()]
        if not s["in"] and self._ins:
            lines.append(f"  in: nothing received on {', '.join(k for k, _ in self._ins)}")
        return "\n".join(lines)

    def report(self) -> str:
        s = self.stats()
        waiting = set(self.waiting())
        parts = [f"out {k}: waiting for the topic" if k in waiting else
                 f"out {k}: {v['forwarded']} sent, {v['dropped']} dropped"
                 for k, v in s["out"].items()]
        parts += [f"in {k}: {v['forwarded']} published, {v['lost']} lost, {v['malformed']} malformed"
                  for k, v in s["in"].items()]
        return "horus bridge | " + (" | ".join(parts) if parts else "waiting")

    def __enter__(self) -> "Bridge":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--ros2" in argv:  # the rmw_zenoh dialect has its own options
        from . import ros2_zenoh

        return ros2_zenoh.main([a for a in argv if a != "--ros2"])
    ap = argparse.ArgumentParser(
        prog="horus bridge",
        description="Forward local topics to Zenoh and Zenoh keys to local topics "
                    "(with --ros2: to and from ROS 2 over rmw_zenoh; see --ros2 --help).",
        epilog="example: horus bridge --out camera.front --in 'robot2/**' "
               "--connect tcp/127.0.0.1:7447")
    ap.add_argument("--out", action="append", default=[], metavar="TOPIC[=KEY]",
                    help="forward local topic TOPIC to key KEY (default PREFIX/TOPIC)")
    ap.add_argument("--in", dest="inputs", action="append", default=[], metavar="KEYEXPR[=TOPIC]",
                    help="publish samples of KEYEXPR locally (topic: the key with '/' as '.')")
    ap.add_argument("--connect", action="append", default=[], metavar="ENDPOINT")
    ap.add_argument("--listen", action="append", default=[], metavar="ENDPOINT")
    ap.add_argument("--prefix", help="key prefix of forwarded topics (default: host name)")
    ap.add_argument("--namespace", help="horus namespace (default: HORUS_NAMESPACE or default)")
    ap.add_argument("--queue", type=_count, default=8,
                    help="samples kept per --in before dropping")
    ap.add_argument("--seconds", type=_seconds, help="stop after this long")
    ap.add_argument("--report", type=_seconds_or_zero, default=1.0,
                    help="seconds between reports (0: none)")
    ap.add_argument("--connect-timeout", type=_seconds, default=3.0)
    ap.add_argument("--retries", type=_count, default=3)
    args = ap.parse_args(argv)
    if args.namespace:
        os.environ["HORUS_NAMESPACE"] = args.namespace
    try:
        bridge = Bridge(args.out, args.inputs, connect=args.connect, listen=args.listen,
                        prefix=args.prefix, queue=args.queue,
                        connect_timeout=args.connect_timeout, retries=args.retries)
    except ImportError as e:
        print(f"horus bridge: {e}", file=sys.stderr)
        return 3
    except (ValueError, ConnectionError) as e:
        print(f"horus bridge: {e}", file=sys.stderr)
        return 1
    print(bridge.banner(), flush=True)
    for name in bridge.waiting():
        print(f"horus bridge: out {name}: waiting for the topic to appear", flush=True)
    stop_on_signals(bridge._stop)
    rc = 0
    try:
        bridge.run(args.seconds, args.report or None)
    except KeyboardInterrupt:
        pass
    except (TypeError, ValueError, OSError) as e:  # a forwarding thread's, said once
        print(f"horus bridge: {e}", file=sys.stderr, flush=True)
        rc = 1
    print(bridge.summary(), flush=True)
    return rc


def _number(text: str, low: float, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < low or v > 1e9:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return v


def _seconds(text: str) -> float:
    v = _number(text, 0.0, "a positive number of seconds")
    if v == 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return v


def _seconds_or_zero(text: str) -> float:
    return _number(text, 0.0, "a number of seconds (0: none)")


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return v


if __name__ == "__main__":
    sys.exit(main())
