"""Record topics to MCAP files and play them back (``horus record``,
``horus play``, ``horus info``, ``horus.Recorder``, ``horus.read_recording``).

Files are MCAP.  The maintained ``mcap`` library serialises the small
records and reads the summary, damaged, unfinalised, compressed and other
tools' files; chunks are written here and uncompressed chunks read here,
because the library copies every message several times and a 1080p camera
at 30 Hz is 187 MB/s: a frame goes from its pool block to the file with one
writev and back into a new pool block with one copy by preadv (McapOut,
Recording._direct).  The files are checked by the library's reader and
``mcap-ros2-support``'s decoder in the tests.
Channels are named by the ROS 2 rule: horus topic ``camera.front`` is MCAP
channel ``/camera/front`` (and back: drop the leading ``/``, ``/`` becomes
``.``).  Image and DepthImage are ``sensor_msgs/msg/Image``, PointCloud is
``sensor_msgs/msg/PointCloud2`` (``cdr`` message encoding, ``ros2msg``
schemas; see horus.ros2msg), TensorHandle is our ``horus_msgs/msg/Tensor``
(dtype, shape, bytes; CDR too).  A generic topic's values go, per message,
to one of up to three channels of the same topic: JSON values as ``json``
(schema encoding ``jsonschema``), ``bytes`` as message encoding
``horus.bytes`` and anything else pickled as ``horus.pickle``; a pickle is
only ever loaded with ``allow_pickle=True`` (a recording is data, not code).

Recording never makes a publisher wait: the recorder is a subscriber; while
it writes, its topic rings keep the newest ``capacity`` messages and drop
the oldest, counted per topic.  Chunks go to the file at least once a
second, so a killed recorder's file is readable up to its last complete
chunk (``read_recording`` and ``horus play``/``info`` read such a file as
far as it goes; ``mcap recover`` rewrites it finalised).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import errno
import gc
import importlib
import json
import os
import pickle
import queue
import re
import signal
import struct
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from . import _horus, ros2msg
from ._signals import stop_on_signals

INSTALL_HINT = "recording needs the mcap library: pip install 'horus-shm[record]' (mcap, mcap-ros2-support)"
MAGIC = b"\x89MCAP0\r\n"
# MCAP record heads: a Message (opcode, length, channel id, sequence,
# log time, publish time) and a Chunk up to its compression string.
_MSG_HEAD = struct.Struct("<BQHIQQ")
_CHUNK_HEAD = struct.Struct("<BQQQQII")
_REC_HEAD = struct.Struct("<BQ")
_MSG_FIELDS = struct.Struct("<HIQQ")
_DIRECT_MIN = 1 << 20  # a chunk this big may be read straight into a pool block
_DIRECT_HEAD = 64 << 10

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,55}$")
_FRAME_TYPES = {cls.__name__: cls for cls in (_horus.Image, _horus.DepthImage,
                                              _horus.PointCloud, _horus.TensorHandle)}
_KIND_SCHEMA = {"Image": ros2msg.IMAGE, "DepthImage": ros2msg.IMAGE,
                "PointCloud": ros2msg.POINTCLOUD2, "TensorHandle": ros2msg.TENSOR}
_ENCODE = {"Image": ros2msg.image_parts, "DepthImage": ros2msg.image_parts,
           "PointCloud": ros2msg.pointcloud_parts, "TensorHandle": ros2msg.tensor_parts}
_JSON_SCHEMA = json.dumps({"title": "horus generic value (any JSON value)"}).encode()

try:
    # ISA-L's SIMD crc32 (PyPI isal, in the [record] extra): 20+ GB/s
    # against 2-4 GB/s for the zlib CPython links; a 6 MB frame's chunk CRC
    # was half of playback's time.  Same CRC-32 as zlib's, same signature.
    # (imported by name: with the module bound at the top level, stubtest
    # would look for it where the extra is not installed)
    _isal: Any = importlib.import_module("isal.isal_zlib")
except ImportError:  # pragma: no cover - the extra is not installed
    _isal = None
_crc32: Any = zlib.crc32 if _isal is None else _isal.crc32
_crc32_combine: Any = None if _isal is None else _isal.crc32_combine


class RecordingWarning(UserWarning):
    """A message of a recording was skipped (unknown schema, malformed,
    pickled without allow_pickle) or the file ended early."""


def _import_mcap() -> Any:
    try:
        import mcap.reader
        import mcap.stream_reader
        import mcap.writer
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return mcap


def channel_for_topic(topic: str) -> str:
    """The MCAP/ROS 2 channel of a horus topic: "camera.front" -> "/camera/front"."""
    if not _TOPIC_NAME.match(topic):
        raise ValueError(f"{topic!r} is not a valid topic name")
    return "/" + topic.replace(".", "/")


def topic_for_channel(channel: str) -> str:
    """The horus topic of an MCAP/ROS 2 channel: "/camera/front" -> "camera.front"."""
    name = channel.lstrip("/").replace("/", ".")
    if not _TOPIC_NAME.match(name):
        raise ValueError(f"channel {channel!r} does not make a valid topic name")
    return name


def _generic_kind(value: Any) -> tuple[str, bytes]:
    """(kind, bytes) of a generic topic's value: raw bytes, JSON when it
    comes back equal, else a pickle."""
    if type(value) is bytes:
        return "bytes", value
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
        if json.loads(text) == value:
            return "json", text.encode()
    except (TypeError, ValueError, RecursionError):
        pass
    return "pickle", pickle.dumps(value, protocol=5)


# ---- writing ----------------------------------------------------------------


_LARGE = 256 << 10  # a payload this big goes to the file from its own buffer
_IOV_MAX = 1024


class _Sink:
    """The file, unbuffered, with its offset; writes lists of buffers with
    writev (no joining); on a failed write it can cut the file back to the
    last complete chunk."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self.pos = 0

    def writev(self, bufs: list[Any]) -> None:
        views = [v for v in (memoryview(b).cast("B") for b in bufs) if v.nbytes]
        i = 0
        while i < len(views):
            n = os.writev(self.fd, views[i:i + _IOV_MAX])
            self.pos += n
            while n:  # a short write: go on from where it stopped
                if n >= views[i].nbytes:
                    n -= views[i].nbytes
                    i += 1
                else:
                    views[i] = views[i][n:]
                    n = 0

    def cut(self, pos: int) -> None:
        os.ftruncate(self.fd, pos)
        os.lseek(self.fd, pos, os.SEEK_SET)
        self.pos = pos

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _record(rec: Any) -> bytes:
    """A small MCAP record (header, schema, channel, index, summary) as the
    mcap library serialises it."""
    mcap = _import_mcap()
    b = mcap.data_stream.RecordBuilder()
    rec.write(b)
    return bytes(b.end())


class McapOut:
    """An MCAP file being written: channels per (topic, kind), messages in
    chunks of about `chunk_bytes`, committed by commit().

    The small records (header, schemas, channels, message indexes, the
    summary) are the mcap library's; chunks are assembled here because the
    library's chunk builder copies every message three times.  A chunk goes
    to the file with one writev of its header, the message records and
    their payloads as they are (a frame's pixels straight from its pool
    block: a payload of 256 KiB or more ends its chunk, so no block is held
    past add()), and its message indexes; the CRC is computed over the same
    buffers.  Compressed chunks (zstd, lz4) are joined and compressed.

    Statistics count a chunk's messages only once it is written: a write
    error (ENOSPC) cuts the file back to the previous chunk, and finish()
    can still write a summary that indexes what fit."""

    def __init__(self, path: str, compression: str = "none", chunk_bytes: int = 4 << 20) -> None:
        mcap = _import_mcap()
        if compression not in ("none", "zstd", "lz4"):
            raise ValueError(f"compression {compression!r}: none, zstd or lz4")
        self._rec = mcap.records
        self.compress: Any = None
        if compression == "zstd":
            try:
                zstandard = importlib.import_module("zstandard")
            except ImportError:
                raise ImportError("zstd compression needs zstandard: pip install 'horus-shm[record]'") from None
            self.compress = zstandard.ZstdCompressor().compress
        elif compression == "lz4":
            try:
                lz4frame = importlib.import_module("lz4.frame")
            except ImportError:
                raise ImportError("lz4 compression needs lz4: pip install 'horus-shm[record]'") from None
            self.compress = lz4frame.compress
        self.compression = "" if compression == "none" else compression
        self.sink = _Sink(path)
        self.chunk_bytes = chunk_bytes
        self.schemas: dict[str, int] = {}
        self.channels: dict[tuple[str, str], int] = {}
        self._schema_recs: list[Any] = []
        self._channel_recs: list[Any] = []
        self._pre: list[bytes] = []          # schema/channel records not yet in the file
        self.chunk_indexes: list[Any] = []
        self.counts: dict[int, int] = {}     # committed messages per channel
        self.good = 0                         # end of the last complete chunk
        self.times: tuple[int, int] | None = None  # committed (first, last) log time
        self.finished = False
        self.failed: OSError | None = None
        self.rolled_back: dict[int, int] = {}  # channel id -> messages cut by a failed write
        self._reset_chunk()
        try:
            self.sink.writev([MAGIC, _record(self._rec.Header(
                profile="", library=f"horus {_horus.__version__}"))])
        except OSError:
            self.sink.close()
            raise
        self.good = self.sink.pos

    def _reset_chunk(self) -> None:
        self.bufs: list[Any] = []            # the open chunk's records, in order
        self.small = bytearray()              # small records, copied together
        self.usize = 0
        self.index: dict[int, list[int]] = {}  # channel id -> [log_time, offset, ...]
        self.pending: dict[int, int] = {}     # channel id -> messages in the open chunk
        self.pending_times: tuple[int, int] | None = None

    @property
    def pending_bytes(self) -> int:
        return self.usize

    @property
    def size(self) -> int:
        return self.sink.pos + self.usize

    def channel(self, topic: str, kind: str) -> int:
        cid = self.channels.get((topic, kind))
        if cid is not None:
            return cid
        if kind in _KIND_SCHEMA:
            name, enc, msgenc = _KIND_SCHEMA[kind], "ros2msg", "cdr"
            data = ros2msg.SCHEMAS[name].encode()
        elif kind == "json":
            name, enc, msgenc, data = "horus_msgs/Value", "jsonschema", "json", _JSON_SCHEMA
        else:
            name, enc, msgenc, data = "", "", f"horus.{kind}", b""
        sid = 0
        if name:
            sid = self.schemas.get(name, 0)
            if not sid:
                sid = self.schemas[name] = len(self._schema_recs) + 1
                sch = self._rec.Schema(id=sid, name=name, encoding=enc, data=data)
                self._schema_recs.append(sch)
                self._pre.append(_record(sch))
        cid = len(self._channel_recs) + 1
        ch = self._rec.Channel(id=cid, topic=channel_for_topic(topic), message_encoding=msgenc,
                               schema_id=sid, metadata={"horus.topic": topic, "horus.type": kind})
        self._channel_recs.append(ch)
        self._pre.append(_record(ch))
        self.channels[(topic, kind)] = cid
        return cid

    def add(self, cid: int, parts: list[Any], log_time: int, publish_time: int, seq: int = 0) -> None:
        """Add a message whose data is the concatenation of `parts`
        (buffers).  Large parts are written from their own memory before
        add() returns."""
        if self.failed or self.finished:
            raise OSError(errno.EBADF, "the recording is closed")
        views = [memoryview(p).cast("B") for p in parts]
        n = sum(v.nbytes for v in views)
        head = _MSG_HEAD.pack(5, 22 + n, cid, seq & 0xFFFFFFFF, log_time, publish_time)
        self.index.setdefault(cid, []).extend((log_time, self.usize))
        self.usize += len(head) + n
        large = False
        self.small += head
        for v in views:
            if v.nbytes >= _LARGE:
                self.bufs.append(self.small)
                self.bufs.append(v)
                self.small = bytearray()
                large = True
            else:
                self.small += v
        self.pending[cid] = self.pending.get(cid, 0) + 1
        pt = self.pending_times
        self.pending_times = (log_time, log_time) if pt is None else \
            (min(pt[0], log_time), max(pt[1], log_time))
        if large or self.usize >= self.chunk_bytes:
            self.commit()

    def commit(self) -> None:
        """Write the open chunk and its message indexes to the file."""
        if not self.pending or self.failed:
            return
        rec = self._rec
        records = self.bufs + [self.small]
        crc = 0
        for b in records:
            crc = _crc32(b, crc)
        if self.compress is not None:
            body = [self.compress(ros2msg.join(records))]
        else:
            body = records
        csize = sum(memoryview(b).nbytes for b in body)
        pt = self.pending_times
        assert pt is not None
        comp = self.compression.encode()
        head = _CHUNK_HEAD.pack(6, 8 + 8 + 8 + 4 + 4 + len(comp) + 8 + csize,
                                pt[0], pt[1], self.usize, crc, len(comp)) + comp + \
            struct.pack("<Q", csize)
        pre = b"".join(self._pre)
        start = self.sink.pos + len(pre)
        chunk_len = len(head) + csize
        idx_offsets: dict[int, int] = {}
        idx = bytearray()
        for cid, entries in self.index.items():
            idx_offsets[cid] = start + chunk_len + len(idx)
            idx += struct.pack("<BQHI", rec.Opcode.MESSAGE_INDEX, 6 + 8 * len(entries), cid,
                               8 * len(entries))
            idx += struct.pack(f"<{len(entries)}Q", *entries)
        try:
            self.sink.writev([pre, head, *body, idx])
        except OSError as e:
            self._rollback(e)
            raise
        self._pre.clear()
        self.chunk_indexes.append(rec.ChunkIndex(
            message_start_time=pt[0], message_end_time=pt[1], chunk_start_offset=start,
            chunk_length=chunk_len, message_index_offsets=idx_offsets,
            message_index_length=len(idx), compression=self.compression,
            compressed_size=csize, uncompressed_size=self.usize))
        self.good = self.sink.pos
        for cid, k in self.pending.items():
            self.counts[cid] = self.counts.get(cid, 0) + k
        self.times = pt if self.times is None else (min(self.times[0], pt[0]), max(self.times[1], pt[1]))
        self._reset_chunk()

    def _rollback(self, err: OSError) -> None:
        # The chunk that did not fit: off the file; its messages were never
        # counted (commit counts them after the write).
        self.failed = err
        self.sink.cut(self.good)
        self.rolled_back = dict(self.pending)
        self._reset_chunk()

    def _summary(self) -> list[Any]:
        """DataEnd, the summary section (schemas, channels, statistics,
        chunk indexes and their offsets), the footer and the magic."""
        rec = self._rec
        data_end = _record(rec.DataEnd(data_section_crc=0))
        start = self.sink.pos + len(data_end)
        groups = [(rec.Opcode.SCHEMA, self._schema_recs), (rec.Opcode.CHANNEL, self._channel_recs)]
        t = self.times or (0, 0)
        stats = rec.Statistics(
            message_count=sum(self.counts.values()), schema_count=len(self._schema_recs),
            channel_count=len(self._channel_recs), attachment_count=0, metadata_count=0,
            chunk_count=len(self.chunk_indexes), message_start_time=t[0], message_end_time=t[1],
            channel_message_counts=dict(self.counts))
        groups += [(rec.Opcode.STATISTICS, [stats]), (rec.Opcode.CHUNK_INDEX, self.chunk_indexes)]
        summary = bytearray()
        offsets = []
        for op, recs in groups:
            g0 = len(summary)
            for r in recs:
                summary += _record(r)
            if recs:
                offsets.append(rec.SummaryOffset(group_opcode=op, group_start=start + g0,
                                                 group_length=len(summary) - g0))
        offset_start = start + len(summary)
        for o in offsets:
            summary += _record(o)
        crc = zlib.crc32(summary)
        crc = zlib.crc32(struct.pack("<BQQQ", rec.Opcode.FOOTER, 20, start, offset_start), crc)
        footer = _record(rec.Footer(summary_start=start, summary_offset_start=offset_start,
                                    summary_crc=crc))
        return [data_end, summary, footer, MAGIC]

    def finish(self) -> None:
        """Write the summary and close.  If it does not fit either, the file
        ends after its last complete chunk (readable, not finalised) and the
        OSError is raised."""
        if self.finished:
            return
        self.finished = True
        try:
            if not self.failed:
                try:
                    self.commit()
                except OSError:
                    pass  # rolled back; the summary below indexes what fit
            try:
                self.sink.writev(self._summary())
            except OSError as e:
                self.sink.cut(self.good)
                self.failed = self.failed or e
                raise
        finally:
            self.sink.close()


class _TopicStats:
    __slots__ = ("messages", "bytes", "dropped", "skipped", "type", "error")

    def __init__(self, type_name: str) -> None:
        self.messages = self.bytes = self.dropped = self.skipped = 0
        self.type = type_name
        self.error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class Recorder:
    """Record topics of this namespace into an MCAP file.

    topics: names to subscribe to (each recorded once it exists); all_topics:
    every topic, including ones that appear while recording.  Messages can
    also be written directly with write().  compression: "none" (default),
    "zstd" or "lz4".  max_bytes: stop once the file reaches this size.

    Use as a context manager, or start()/stop(); run() records until a
    duration, stop(), the size limit or a write error.  stop() finalises the
    file and raises the OSError that ended the recording, if one did (the
    file then holds what fit, finalised when the summary fitted)."""

    def __init__(self, path: str | os.PathLike[str], topics: Iterable[str] = (), *,
                 all_topics: bool = False, compression: str = "none",
                 max_bytes: int | None = None, chunk_bytes: int = 4 << 20) -> None:
        self.path = os.fspath(path)
        self._names = list(dict.fromkeys(topics))
        for t in self._names:
            channel_for_topic(t)
        self._all = all_topics
        self._max_bytes = max_bytes
        self._out = McapOut(self.path, compression, chunk_bytes)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stats: dict[str, _TopicStats] = {}
        self._threads: list[threading.Thread] = []
        self._started: set[str] = set()
        self._subscribed = threading.Semaphore(0)
        self._error: BaseException | None = None
        self._t0 = time.monotonic()
        self._stop_reason: str | None = None
        self._seq: dict[str, int] = {}

    # ---- writing ----------------------------------------------------------

    def write(self, topic: str, msg: Any, log_time_ns: int | None = None) -> None:
        """Record one message of `topic` (a horus object or, for a generic
        topic, any value).  log_time_ns defaults to now (CLOCK_REALTIME)."""
        kind = type(msg).__name__
        parts: list[Any]
        stamp = 0
        if kind in _ENCODE:
            parts = _ENCODE[kind](msg)  # the payload stays in msg's block
            stamp = getattr(msg, "timestamp_ns", 0)
        else:
            kind, data = _generic_kind(msg)
            parts = [data]
        nbytes = sum(memoryview(p).nbytes for p in parts)
        with self._lock:
            # Taken under the lock, log times follow file order across the
            # topics' threads, so chunks do not overlap in time and the
            # reader streams them in file order (Recording._fast).
            log_time = time.time_ns() if log_time_ns is None else int(log_time_ns)
            stamp = stamp or log_time
            st = self._stats.setdefault(topic, _TopicStats(kind))
            if self._out.finished:
                raise ValueError("the recording is finished")
            if self._max_bytes is not None and self._out.size >= self._max_bytes:
                return
            cid = self._out.channel(topic, kind)
            seq = self._seq.get(topic, 0)
            self._seq[topic] = seq + 1
            try:
                self._out.add(cid, parts, log_time, stamp, seq)
            except OSError as e:
                if self._error is None:
                    st.messages += 1  # in the chunk that _fail takes back out
                self._fail(e)
                raise
            st.messages += 1
            st.bytes += nbytes
            if self._max_bytes is not None and self._out.size >= self._max_bytes:
                self._stop_reason = f"reached --max-size ({self._max_bytes / 1e6:g} MB)"
                self._stop.set()

    def _fail(self, e: BaseException) -> None:
        """Called with the lock held."""
        if self._error is None:
            self._error = e
            # messages of the chunk that did not fit are not in the file
            for (topic, _), cid in self._out.channels.items():
                st = self._stats.get(topic)
                if st is not None:
                    st.messages -= self._out.rolled_back.get(cid, 0)
        self._stop.set()

    # ---- subscribing ------------------------------------------------------

    def _type_of(self, name: str) -> str | None:
        for t in _horus.topics():
            if t["name"] == name:
                return str(t["type"])
        return None

    def _subscribe(self, name: str, type_name: str | None) -> None:
        while type_name is None and not self._stop.is_set():
            type_name = self._type_of(name)
            if type_name is None:
                self._stop.wait(0.1)
        if type_name is None:
            return
        cls = _FRAME_TYPES.get(type_name)
        topic: Any = _horus.Topic(cls, name) if cls is not None else _horus.Topic(name)
        with self._lock:
            st = self._stats.setdefault(name, _TopicStats(type_name))
        self._subscribed.release()
        recv_errors = 0
        with topic:
            while not self._stop.is_set():
                try:
                    msg = topic.recv(timeout=0.1)
                except (OSError, MemoryError) as e:
                    # A message lost to a pool this process cannot use (it
                    # is counted dropped), or memory short here, which
                    # keeps the message for the next try: that one not at
                    # full speed.
                    recv_errors += 1
                    _complain("record", recv_errors, f"cannot receive {name}: {e}")
                    if isinstance(e, MemoryError):
                        self._stop.wait(0.1)
                    continue
                except Exception as e:  # a generic value that cannot be unpickled here
                    with self._lock:
                        st.skipped += 1
                    _complain("record", st.skipped, f"skipped a message of {name}: {e}")
                    continue
                if msg is None:
                    continue
                try:
                    self.write(name, msg)
                except OSError:
                    return
                except (ValueError, TypeError) as e:  # cannot be encoded (e.g. int64 cloud)
                    with self._lock:
                        st.skipped += 1
                    _complain("record", st.skipped, f"skipped a message of {name}: {e}")
                finally:
                    del msg  # the block goes back to the pool before the next wait
                st.dropped = int(topic.stats()["dropped"])
            # A plain stop (a signal, stop(), --duration) records what is
            # already in the ring: everything sent before it is in the file.
            # The size limit and a write error set their reason before the
            # event, so a thread that saw the event sees the reason.
            # At most a ring's worth: a publisher still sending cannot keep
            # the stop from ending.
            left = topic.capacity if self._stop_reason is None and self._error is None else 0
            while left > 0 and not self._out.failed:
                left -= 1
                try:
                    msg = topic.recv()
                except Exception:  # noqa: BLE001 - as above, one message
                    with self._lock:
                        st.skipped += 1
                    continue
                if msg is None:
                    break
                try:
                    self.write(name, msg)
                except OSError:
                    return
                except (ValueError, TypeError):
                    with self._lock:
                        st.skipped += 1
                finally:
                    del msg

    def _discover(self) -> None:
        while not self._stop.is_set():
            for t in _horus.topics():
                if t["name"] not in self._started:
                    self._spawn(t["name"], str(t["type"]))
            self._stop.wait(0.2)

    def _spawn(self, name: str, type_name: str | None) -> None:
        self._started.add(name)

        def run() -> None:
            try:
                self._subscribe(name, type_name)
            except BaseException as e:  # reported by stop()
                with self._lock:
                    self._stats.setdefault(name, _TopicStats(type_name or "?")).error = str(e)
                _complain("record", 1, f"stopped recording {name}: {e}")

        th = threading.Thread(target=run, name=f"horus-record-{name}", daemon=True)
        th.start()
        self._threads.append(th)

    def start(self) -> "Recorder":
        if self._threads or self._started:
            return self
        for name in self._names:
            self._spawn(name, None)
        if self._all:
            for t in _horus.topics():
                if t["name"] not in self._started:
                    self._spawn(t["name"], str(t["type"]))
            th = threading.Thread(target=self._discover, name="horus-record-discover", daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def wait_subscribed(self, n: int | None = None, timeout: float | None = None) -> bool:
        """Wait until `n` topics (default: the ones given, or those present
        at start() with all_topics) are subscribed; False on timeout/stop."""
        want = len(self._started) if n is None else n
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(want):
            while not self._subscribed.acquire(timeout=0.1):
                if self._stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    return False
        return True

    def flush(self) -> None:
        """Write the open chunk to the file now."""
        with self._lock:
            if not self._out.finished:
                try:
                    self._out.commit()
                except OSError as e:
                    self._fail(e)

    def stop(self) -> None:
        """Stop subscribing and finalise the file; raises the OSError that
        ended the recording, if any."""
        self._stop.set()
        for th in self._threads:
            th.join(timeout=10)
        with self._lock:
            try:
                self._out.finish()
            except OSError as e:
                self._fail(e)
        if isinstance(self._error, OSError):
            raise self._error

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, duration: float | None = None, report_every: float | None = None) -> None:
        """Record until `duration` seconds, stop(), the size limit, an error
        or Ctrl-C; print a progress line every `report_every` seconds and
        flush a chunk every second.  Then finalise (see stop())."""
        self.start()
        t0 = time.monotonic()
        end = None if duration is None else t0 + duration
        next_flush = next_report = t0 + 1.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if end is not None and now >= end:
                    break
                if now >= next_flush:
                    self.flush()
                    next_flush += 1.0
                if report_every and now >= next_report:
                    print(self.report(), flush=True)
                    next_report += report_every
                self._stop.wait(min(0.05, max(0.0, (end or now + 1) - now)))
        finally:
            self.stop()

    def stats(self) -> dict[str, Any]:
        """{"topics": {name: {messages, bytes, dropped, skipped, type, error}},
        "messages", "bytes" (file size so far), "seconds"}."""
        with self._lock:
            topics = {k: v.as_dict() for k, v in self._stats.items()}
            size = self._out.size
        return {"topics": topics, "messages": sum(t["messages"] for t in topics.values()),
                "bytes": size, "seconds": time.monotonic() - self._t0}

    def report(self) -> str:
        s = self.stats()
        secs = max(s["seconds"], 1e-9)
        parts = [f"{k}: {v['messages']} msgs, {v['dropped']} dropped"
                 + (f", {v['skipped']} skipped" if v["skipped"] else "")
                 for k, v in sorted(s["topics"].items())]
        return (f"horus record | {s['seconds']:.1f} s | {s['messages']} msgs | "
                f"{s['bytes'] / 1e6:.1f} MB | {s['bytes'] / 1e6 / secs:.1f} MB/s | "
                + (" | ".join(parts) if parts else "waiting for topics"))

    def __enter__(self) -> "Recorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _header_library(data: bytes) -> str:
    """The `library` of the MCAP Header record at the start of `data` (what
    follows the magic), or "" when it is not there whole."""
    try:
        op, _ = _REC_HEAD.unpack_from(data, 0)
        if op != 1:  # Header
            return ""
        (n,) = struct.unpack_from("<I", data, 9)
        (m,) = struct.unpack_from("<I", data, 13 + n)
        return bytes(data[17 + n:17 + n + m]).decode("utf-8", "replace")
    except struct.error:
        return ""


def _complain(cmd: str, count: int, what: str) -> None:
    """Say what went wrong the first few times, then every 1000th."""
    if count <= 3 or count % 1000 == 0:
        print(f"horus {cmd}: {what} ({count} so far)", file=sys.stderr, flush=True)


# ---- reading ----------------------------------------------------------------


def _read_part(fd: int, dst: memoryview, off: int, crc: bool) -> int:
    """Fill `dst` from the file at `off` (the GIL is released in preadv and
    crc32); the CRC-32 of what was read when `crc` and crc32_combine can
    join it to the rest, else 0.  -1 when the file ends first."""
    if os.preadv(fd, [dst], off) != dst.nbytes:
        return -1
    return _crc32(dst) if crc and _crc32_combine is not None else 0


class _Msg:
    """A message read by the fast reader: its log time and data (a
    memoryview into the chunk buffer)."""

    __slots__ = ("log_time", "data", "obj")

    def __init__(self, log_time: int, data: memoryview | None, obj: Any = None) -> None:
        self.log_time = log_time
        self.data = data
        self.obj = obj  # already a horus object (read straight into its block)


class Recording:
    """An MCAP file opened for reading (horus's or another tool's).

    A file without a summary (a killed recorder's) is read record by record
    up to its last complete chunk; `finalised` is then False.  Messages that
    cannot become horus objects are skipped with a RecordingWarning and
    counted in `skipped` (strict=True raises ValueError instead)."""

    def __init__(self, path: str | os.PathLike[str], *, allow_pickle: bool = False,
                 strict: bool = False) -> None:
        self._mcap = _import_mcap()
        self.path = os.fspath(path)
        self.allow_pickle = allow_pickle
        self.strict = strict
        # play() sets this to a _Spares: frames it sent and got back.
        self.reuse: Any = None
        self.skipped: dict[str, int] = {}
        self.truncated: str | None = None
        with open(self.path, "rb") as f:
            head = f.read(len(MAGIC))
            if head != MAGIC:
                raise ValueError(f"{self.path}: not an MCAP file (starts with {head[:8]!r})")
            self.library = _header_library(f.read(512))
            self.size = os.fstat(f.fileno()).st_size
            self.summary = self._read_summary(f)
        self.finalised = self.summary is not None
        self.channels: dict[int, Any] = {}
        self.schemas: dict[int, Any] = {}
        self.counts: dict[int, int] = {}
        self.start_ns = self.end_ns = 0
        self.chunks = 0
        self.compression: set[str] = set()
        if self.summary is not None:
            s = self.summary
            self.channels = dict(s.channels)
            self.schemas = dict(s.schemas)
            if s.statistics is not None:
                self.counts = dict(s.statistics.channel_message_counts)
                self.start_ns = s.statistics.message_start_time
                self.end_ns = s.statistics.message_end_time
            self.chunks = len(s.chunk_indexes)
            self.compression = {c.compression or "none" for c in s.chunk_indexes}
        else:
            self._scan()

    def _read_summary(self, f: Any) -> Any:
        mcap = self._mcap
        try:
            f.seek(0)
            return mcap.reader.SeekingReader(f, validate_crcs=True).get_summary()
        except Exception:
            return None  # no footer (not finalised) or a damaged summary: scan instead

    def _records(self) -> Iterator[Any]:
        """The file's records in order, chunks opened, up to the first
        incomplete or damaged one (noted in `truncated`)."""
        mcap = self._mcap
        with open(self.path, "rb") as f:
            reader = mcap.stream_reader.StreamReader(f, validate_crcs=True)
            it = iter(reader.records)
            while True:
                try:
                    rec = next(it)
                except StopIteration:
                    return
                except Exception as e:
                    what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                    if f.tell() < self.size:
                        # it failed before the end of the file: damage, not a cut
                        raise ValueError(f"{self.path}: damaged MCAP data at byte {f.tell()}: "
                                         f"{what}") from None
                    self.truncated = what
                    return
                yield rec

    def _scan(self) -> None:
        records = self._mcap.records
        first = last = None
        for rec in self._records():
            if isinstance(rec, records.Schema):
                self.schemas[rec.id] = rec
            elif isinstance(rec, records.Channel):
                self.channels[rec.id] = rec
            elif isinstance(rec, records.Message):
                self.counts[rec.channel_id] = self.counts.get(rec.channel_id, 0) + 1
                first = rec.log_time if first is None else min(first, rec.log_time)
                last = rec.log_time if last is None else max(last, rec.log_time)
        self.start_ns, self.end_ns = first or 0, last or 0
        if self.truncated:
            warnings.warn(f"{self.path} is not finalised (recorder killed?); read up to its last "
                          f"complete chunk ({self.truncated})", RecordingWarning, stacklevel=3)

    def topic_of(self, channel: Any) -> str:
        return channel.metadata.get("horus.topic") or topic_for_channel(channel.topic)

    def topics(self) -> dict[str, dict[str, Any]]:
        """{horus topic: {"channel", "types", "count"}}."""
        out: dict[str, dict[str, Any]] = {}
        for cid, ch in sorted(self.channels.items()):
            try:
                name = self.topic_of(ch)
            except ValueError:
                name = ch.topic
            schema = self.schemas.get(ch.schema_id)
            t = out.setdefault(name, {"channel": ch.topic, "types": [], "count": 0})
            t["types"].append(ch.metadata.get("horus.type") or
                              (schema.name if schema is not None else ch.message_encoding))
            t["count"] += self.counts.get(cid, 0)
        return out

    # ---- decoding --------------------------------------------------------

    @property
    def _yuv422_is_yuyv(self) -> bool:
        """Files horus wrote before it said "yuv422_yuy2" labelled its YUYV
        frames ROS "yuv422" (which ROS means as UYVY); horus never wrote
        UYVY, so in its files the label keeps horus's meaning."""
        return self.library.startswith("horus ")

    def _decode(self, schema: Any, channel: Any, data: bytes) -> Any:
        enc = channel.message_encoding
        kind = channel.metadata.get("horus.type")
        name = schema.name if schema is not None else ""
        if enc == "cdr":
            if name == ros2msg.IMAGE:
                return ros2msg.decode_image(data, depth=None if kind is None else kind == "DepthImage",
                                            yuv422_is_yuyv=self._yuv422_is_yuyv)
            if name == ros2msg.POINTCLOUD2:
                return ros2msg.decode_pointcloud(data)
            if name == ros2msg.COMPRESSED_IMAGE:
                return ros2msg.decode_compressed_image(data)
            if name == ros2msg.TENSOR:
                return ros2msg.decode_tensor(data)
        elif enc == "json":
            try:
                return json.loads(bytes(data))
            except ValueError as e:
                raise ValueError(f"not JSON: {e}") from None
        elif enc == "horus.bytes":
            return bytes(data)
        elif enc == "horus.pickle":
            if not self.allow_pickle:
                raise PermissionError("a pickled Python object; pass allow_pickle=True "
                                      "(--allow-pickle) if you trust this file")
            return pickle.loads(data)
        raise LookupError(f"unknown schema {name or '(none)'!r} / message encoding {enc!r}")

    def _skip(self, topic: str, why: str) -> None:
        n = self.skipped[topic] = self.skipped.get(topic, 0) + 1
        if n <= 3 or n % 1000 == 0:
            warnings.warn(f"{self.path}: skipped a message of {topic}: {why} ({n} so far)",
                          RecordingWarning, stacklevel=4)

    def _chunks_in_order(self) -> list[Any] | None:
        """The chunk indexes in log-time order when the fast reader can
        stream them: all uncompressed, none overlapping in time (so chunk
        order is log-time order); else None."""
        s = self.summary
        if s is None or not s.chunk_indexes or any(c.compression for c in s.chunk_indexes):
            return None
        chunks = sorted(s.chunk_indexes, key=lambda c: (c.message_start_time, c.chunk_start_offset))
        for a, b in zip(chunks, chunks[1:]):
            if b.message_start_time < a.message_end_time:
                return None
        return chunks

    def _fast(self, chunks: list[Any], channel_ids: set[int] | None, start_ns: int | None,
              end_ns: int | None) -> Iterator[tuple[Any, Any, Any]]:
        """Messages of uncompressed chunks: each chunk read with one preadv
        into a reused buffer, its CRC checked, its message records sliced
        as memoryviews (valid until the next chunk is read), in log-time
        order.  The mcap reader copies every message several times.

        A chunk read straight into a pool block (see _direct) is read and
        its CRC taken by this thread and a helper, half each; its messages
        come out once the CRC matches."""
        buf = bytearray(0)
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        helper: Any = None
        try:
            for c in chunks:
                if (start_ns is not None and c.message_end_time < start_ns) or \
                        (end_ns is not None and c.message_start_time >= end_ns):
                    continue
                if channel_ids is not None and c.message_index_offsets and \
                        not channel_ids.intersection(c.message_index_offsets):
                    continue
                n = c.chunk_length
                where = f"{self.path}: damaged MCAP data in the chunk at byte {c.chunk_start_offset}"
                if n > _DIRECT_MIN and helper is None:
                    helper = concurrent.futures.ThreadPoolExecutor(1, "horus-read")
                direct = self._direct(fd, c, where, channel_ids, start_ns, end_ns, helper) \
                    if n > _DIRECT_MIN else None
                if direct is not None:
                    yield from direct
                    continue
                if len(buf) < n:
                    buf = bytearray(n)  # new, not resized: old views may live on
                mv = memoryview(buf)[:n]
                got = os.preadv(fd, [mv], c.chunk_start_offset)
                if got != n:
                    raise ValueError(f"{where}: the file ends {n - got} bytes early")
                op, _, _, _, usize, crc, clen = _CHUNK_HEAD.unpack_from(mv, 0)
                pos = _CHUNK_HEAD.size + clen
                if op != 6 or pos + 8 > n:
                    raise ValueError(f"{where}: not a chunk record")
                (rlen,) = struct.unpack_from("<Q", mv, pos)
                pos += 8
                if rlen != usize or pos + rlen > n:
                    raise ValueError(f"{where}: its records' length {rlen} disagrees with its header")
                recs = mv[pos:pos + rlen]
                if crc and _crc32(recs) != crc:
                    raise ValueError(f"{where}: CRC mismatch (the chunk's data is corrupted)")
                out = []
                p = 0
                while p < rlen:
                    if p + 9 > rlen:
                        raise ValueError(f"{where}: a record is cut at offset {p}")
                    op, ln = _REC_HEAD.unpack_from(recs, p)
                    end = p + 9 + ln
                    if end > rlen:
                        raise ValueError(f"{where}: a record of {ln} bytes at offset {p} "
                                         "runs past the chunk")
                    if op == 5:
                        if ln < 22:
                            raise ValueError(f"{where}: a message record of {ln} bytes")
                        cid, _, log_time, _ = _MSG_FIELDS.unpack_from(recs, p + 9)
                        if (channel_ids is None or cid in channel_ids) and \
                                (start_ns is None or log_time >= start_ns) and \
                                (end_ns is None or log_time < end_ns):
                            out.append((log_time, p, cid, end))
                    p = end
                out.sort()
                for log_time, p, cid, end in out:
                    ch = self.channels.get(cid)
                    if ch is None:
                        continue
                    yield (self.schemas.get(ch.schema_id), ch,
                           _Msg(log_time, recs[p + 9 + 22:end]))
        finally:
            if helper is not None:
                helper.shutdown(wait=True)
            os.close(fd)

    def _direct(self, fd: int, c: Any, where: str, channel_ids: set[int] | None,
                start_ns: int | None, end_ns: int | None,
                helper: Any) -> list[tuple[Any, Any, Any]] | None:
        """A chunk that ends with one large Image message (as horus writes
        a camera frame), read with its pixels going straight from the file
        into a new pool block: its first _DIRECT_HEAD bytes into a buffer,
        the rest of the pixels into the block, the second half of them by
        the `helper` thread, each half's CRC taken by its thread right
        after its copy, while the half is still in that core's cache, and
        joined with crc32_combine (the copy is memory-bound: two threads
        copy hardly faster than one, but the CRC then costs ~0.15 ms per
        6 MB instead of a second pass over memory).  Returns its messages
        once the chunk's CRC matches; None when the chunk is not like that
        (the caller reads it whole)."""
        hv = memoryview(bytearray(_DIRECT_HEAD))
        off = c.chunk_start_offset
        if os.preadv(fd, [hv], off) != _DIRECT_HEAD:
            return None
        op, _, _, _, usize, crc, clen = _CHUNK_HEAD.unpack_from(hv, 0)
        rs = _CHUNK_HEAD.size + clen + 8
        if op != 6 or clen or rs > _DIRECT_HEAD:
            return None
        (rlen,) = struct.unpack_from("<Q", hv, rs - 8)
        if rlen != usize or rs + rlen != c.chunk_length:
            return None
        recs = hv[rs:]
        out = []
        p = 0
        while True:  # the small records before the large one
            if p + 9 > len(recs):
                return None
            op, ln = _REC_HEAD.unpack_from(recs, p)
            end = p + 9 + ln
            if end > len(recs):
                break
            if op == 5:
                if ln < 22:
                    return None
                cid, _, log_time, _ = _MSG_FIELDS.unpack_from(recs, p + 9)
                if (channel_ids is None or cid in channel_ids) and \
                        (start_ns is None or log_time >= start_ns) and \
                        (end_ns is None or log_time < end_ns):
                    out.append((log_time, 0, cid, recs[p + 31:end]))
            p = end
        if end != rlen or op != 5 or ln < 22:
            return None
        cid, _, log_time, _ = _MSG_FIELDS.unpack_from(recs, p + 9)
        ch = self.channels.get(cid)
        schema = None if ch is None else self.schemas.get(ch.schema_id)
        if ch is None or ch.message_encoding != "cdr" or schema is None or \
                schema.name != ros2msg.IMAGE or \
                (channel_ids is not None and cid not in channel_ids) or \
                (start_ns is not None and log_time < start_ns) or \
                (end_ns is not None and log_time >= end_ns):
            return None
        kind = ch.metadata.get("horus.type")
        dstart = p + 31
        target = ros2msg.image_target(recs[dstart:], ln - 22,
                                      depth=None if kind is None else kind == "DepthImage",
                                      reuse=self.reuse, yuv422_is_yuyv=self._yuv422_is_yuyv)
        if target is None:
            return None
        obj, pix = target
        pix += dstart
        dst = memoryview(obj).cast("B")
        have = len(recs) - pix
        dst[:have] = recs[pix:]
        rest = dst[have:]
        half = rest.nbytes // 2
        second = helper.submit(_read_part, fd, rest[half:], off + _DIRECT_HEAD + half, bool(crc))
        try:
            got = _read_part(fd, rest[:half], off + _DIRECT_HEAD, False)
            if crc and got >= 0:
                got = _crc32(rest[:half], _crc32(dst[:have], _crc32(recs[:pix])))
        finally:
            got2 = second.result()  # never leave the helper writing into a dropped block
        if got < 0 or got2 < 0:
            raise ValueError(f"{where}: the file ends early")
        if crc:
            if _crc32_combine is not None:
                got = _crc32_combine(got, got2, rest.nbytes - half)
            else:
                got = _crc32(rest[half:], got)
            if got != crc:
                raise ValueError(f"{where}: CRC mismatch (the chunk's data is corrupted)")
        out.append((log_time, 1, cid, obj))
        out.sort(key=lambda m: (m[0], m[1]))
        res = []
        for log_time, large, cid, data in out:
            ch = self.channels.get(cid)
            if ch is None:
                continue
            msg = _Msg(log_time, None, data) if large else _Msg(log_time, data)
            res.append((self.schemas.get(ch.schema_id), ch, msg))
        return res

    def _raw(self, channel_ids: set[int] | None, start_ns: int | None,
             end_ns: int | None) -> Iterator[tuple[Any, Any, Any]]:
        chunks = self._chunks_in_order()
        if chunks is not None:
            yield from self._fast(chunks, channel_ids, start_ns, end_ns)
            return
        if self.summary is not None:
            with open(self.path, "rb") as f:
                reader = self._mcap.reader.SeekingReader(f, validate_crcs=True)
                topics = None if channel_ids is None else \
                    sorted({self.channels[c].topic for c in channel_ids})
                try:
                    for schema, channel, message in reader.iter_messages(
                            topics=topics, start_time=start_ns, end_time=end_ns,
                            log_time_order=True):
                        yield schema, channel, message
                except Exception as e:  # mcap's errors: bad CRC, bad record, short read
                    raise ValueError(f"{self.path}: damaged MCAP data: "
                                     f"{type(e).__name__}: {e}") from None
            return
        records = self._mcap.records
        for rec in self._records():
            if not isinstance(rec, records.Message):
                continue
            if channel_ids is not None and rec.channel_id not in channel_ids:
                continue
            if (start_ns is not None and rec.log_time < start_ns) or \
                    (end_ns is not None and rec.log_time >= end_ns):
                continue
            ch = self.channels.get(rec.channel_id)
            if ch is None:
                continue
            yield self.schemas.get(ch.schema_id), ch, rec

    def messages(self, topics: Iterable[str] | None = None, *, start: float | None = None,
                 duration: float | None = None) -> Iterator[tuple[str, Any, int]]:
        """(horus topic, message, log_time_ns) in log-time order; topics are
        horus names; start/duration in seconds from the first message."""
        wanted = None if topics is None else set(topics)
        ids: set[int] | None = None
        if wanted is not None:
            ids = set()
            for cid, ch in self.channels.items():
                try:
                    if self.topic_of(ch) in wanted:
                        ids.add(cid)
                except ValueError:
                    pass
        t0 = self.start_ns
        start_ns = None if start is None else t0 + int(start * 1e9)
        end_ns = None if duration is None else (start_ns or t0) + int(duration * 1e9)
        for schema, channel, message in self._raw(ids, start_ns, end_ns):
            try:
                topic = self.topic_of(channel)
            except ValueError as e:
                self._skip(channel.topic, str(e))
                continue
            obj = getattr(message, "obj", None)
            try:
                if obj is None:
                    obj = self._decode(schema, channel, message.data)
            except (ValueError, LookupError, PermissionError, ImportError) as e:
                if self.strict or isinstance(e, ImportError):
                    raise ValueError(f"{self.path}: a message of {topic}: {e}") from None
                self._skip(topic, str(e))
                continue
            yield topic, obj, message.log_time


def read_recording(path: str | os.PathLike[str], topics: Iterable[str] | None = None, *,
                   allow_pickle: bool = False, strict: bool = False) -> Iterator[tuple[str, Any]]:
    """Iterate an MCAP file's messages as (horus topic, horus object) in
    recorded order: Image, DepthImage, PointCloud, TensorHandle (each in a
    pool block), or a generic value.  topics: horus names to keep.  Pickled
    values need allow_pickle=True; others that cannot be read are skipped
    with a RecordingWarning (strict=True: ValueError)."""
    rec = Recording(path, allow_pickle=allow_pickle, strict=strict)
    for topic, msg, _ in rec.messages(topics):
        yield topic, msg


# ---- play -------------------------------------------------------------------


class _Interrupted(Exception):
    pass


_AHEAD = 3  # messages decoded ahead of their deadline
_SPIN_NS = 1_500_000  # sleep until this close to a deadline, then spin


class _Gate:
    """The deadline the player waits for (monotonic ns; 0: none)."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = 0


def _decode_ahead(it: Iterator[Any], halt: threading.Event, gate: _Gate) -> Iterator[Any]:
    """`it`'s items, produced by a thread up to _AHEAD ahead, so that
    reading and decoding the next message overlap the wait for this one's
    deadline.  Its exceptions come out here.

    While a message is ready, the thread does not start the next one
    close to the player's deadline: decoding holds the GIL in stretches
    (allocating, copying into fresh pool pages), which would make the
    send late.  With nothing ready it decodes at once."""
    q: queue.Queue[tuple[int, Any]] = queue.Queue(_AHEAD)

    def put(item: tuple[int, Any]) -> bool:
        while not halt.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def run() -> None:
        guard = 2_000_000
        try:
            while True:
                while not q.empty():
                    now = time.monotonic_ns()
                    d = gate.deadline
                    if not now < d < now + guard:
                        break
                    if halt.wait((d - now) / 1e9 + 0.0002):
                        return
                t = time.monotonic_ns()
                try:
                    x = next(it)
                except StopIteration:
                    break
                guard = 2 * (time.monotonic_ns() - t) + 1_000_000
                if not put((0, x)):
                    return
                del x  # the block goes back to the pool once played
            put((1, None))
        except BaseException as e:
            put((2, e))

    th = threading.Thread(target=run, name="horus-play-decode", daemon=True)
    th.start()
    # Start with the queue full (the first frames are the slowest to read:
    # their blocks are new), so the first deadlines are not met late.
    warm = time.monotonic() + 1.0
    while not q.full() and th.is_alive() and time.monotonic() < warm:
        time.sleep(0.001)
    try:
        while True:
            kind, x = q.get()
            if kind == 1:
                return
            if kind == 2:
                raise x
            yield x
            del x
    finally:
        halt.set()
        th.join()


def _wait_until(deadline: int, stop: threading.Event) -> None:
    """Return at the monotonic deadline (ns): sleep while it is far, then
    spin for the last _SPIN_NS, since a sleep can overshoot by a
    scheduler tick."""
    while not stop.is_set():
        left = deadline - time.monotonic_ns()
        if left <= 0:
            return
        if left > _SPIN_NS:
            time.sleep(min(left - _SPIN_NS, 100_000_000) / 1e9)


class _Spares:
    """Frames play() sent whose topic has moved past them, to be refilled
    (recycle()) for later frames of the same kind instead of a new block
    per frame: a new block is cleared when it is handed out (~0.6 ms per
    6 MB) and its pages fault in again.  A frame a receiver still holds
    refuses to recycle and waits its turn.  Filled by the playing thread,
    taken by the decoding one (deque appends and pops are atomic)."""

    KEEP = 4

    def __init__(self) -> None:
        self.frames: collections.deque[Any] = collections.deque()
        self.recycled = 0

    def give(self, frame: Any) -> None:
        self.frames.append(frame)
        while len(self.frames) > self.KEEP:
            self.frames.popleft()

    def __call__(self, cls: Any, h: int, w: int, kind: str) -> Any:
        for _ in range(len(self.frames)):
            try:
                f = self.frames.popleft()
            except IndexError:
                return None
            if type(f) is cls and f.height == h and f.width == w and \
                    (f.encoding if cls is _horus.Image else f.dtype) == kind:
                try:
                    f.recycle()
                    self.recycled += 1
                    return f
                except BufferError:
                    pass
            self.frames.append(f)
        return None


def play(path: str, *, rate: float = 1.0, loop: bool = False, topics: Iterable[str] | None = None,
         start: float | None = None, duration: float | None = None,
         remap: dict[str, str] | None = None, allow_pickle: bool = False,
         report_every: float | None = None, stop: threading.Event | None = None) -> dict[str, Any]:
    """Publish a recording's messages on horus topics at the recorded pace
    (times `rate`; 0: as fast as possible).  Returns {"messages", "skipped",
    "seconds", "spacing_ns", "truncated", "recycled"}; spacing_ns lists each
    message's lateness from its deadline (for benchmarks), recycled how many
    large frames were refilled in a block played before (see _Spares).

    Messages are read and decoded by a thread a few ahead of their
    deadlines; each is sent at an absolute deadline (lateness never
    accumulates).  While playing, the interpreter's thread switch interval
    is 1 ms (then restored), so the decoding thread cannot hold the GIL
    past a deadline for the default 5 ms, and the objects that existed
    before are frozen for the garbage collector (gc.freeze; then thawed)."""
    rec = Recording(path, allow_pickle=allow_pickle)
    spares = rec.reuse = _Spares()
    remap = remap or {}
    pubs: dict[str, Any] = {}
    total = max(0, rec.end_ns - rec.start_ns) / 1e9
    if duration is not None:
        total = min(total, duration)
    if start is not None:
        total = max(0.0, min(total, total - start if duration is None else total))
    sent = 0
    late: list[int] = []
    stop = stop or threading.Event()
    t_loop = time.monotonic_ns()
    next_report = time.monotonic() + (report_every or 0)
    played = 0.0
    sent_frames: dict[str, collections.deque[Any]] = {}
    switch = sys.getswitchinterval()
    sys.setswitchinterval(min(switch, 0.001))
    # The objects that exist now (the interpreter's, torch's, ...) are
    # moved out of the collector's sight while playing: a full collection
    # otherwise walks them all, tens of ms with the GIL held, a late frame.
    # Garbage made while playing is still collected.  Not when the program
    # froze objects itself (unfreeze would thaw those too).
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        while True:
            first: int | None = None
            last_deadline = t_loop
            halt = threading.Event()
            gate = _Gate()
            for topic, msg, log_time in _decode_ahead(
                    rec.messages(topics, start=start, duration=duration), halt, gate):
                if stop.is_set():
                    break
                if first is None:
                    first = log_time
                    if sent == 0:  # pace from the first message in hand, not from opening the file
                        t_loop = time.monotonic_ns()
                if rate > 0:
                    deadline = gate.deadline = t_loop + int((log_time - first) / rate)
                    _wait_until(deadline, stop)
                    last_deadline = deadline
                name = remap.get(topic, topic)
                pub = pubs.get(name)
                cls = type(msg) if type(msg).__name__ in _FRAME_TYPES else None
                try:
                    if pub is None or (cls is not None and pub.msg_type is not cls):
                        pub = pubs[name] = _horus.Topic(cls, name) if cls is not None else _horus.Topic(name)
                    pub.send(msg)
                    if rate > 0:
                        late.append(time.monotonic_ns() - deadline)
                    if cls is not None:
                        # Keep what the ring keeps: the send that evicts
                        # the oldest frame then does not free its block;
                        # it goes to the spares, to be refilled (a new
                        # block is cleared, ~0.6 ms for 6 MB).
                        held = sent_frames.setdefault(name, collections.deque())
                        held.append(msg)
                        while len(held) > pub.capacity:
                            spares.give(held.popleft())
                except (TypeError, ValueError, MemoryError) as e:
                    rec._skip(name, f"cannot publish: {e}")
                    continue
                finally:
                    del msg
                sent += 1
                played = (log_time - first) / 1e9
                if report_every and time.monotonic() >= next_report:
                    print(f"horus play | {played:.1f} / {total:.1f} s | {sent} msgs", flush=True)
                    next_report += report_every
            if not loop or stop.is_set() or first is None:
                break
            t_loop = max(last_deadline, time.monotonic_ns())
    finally:
        sys.setswitchinterval(switch)
        if freeze:
            gc.unfreeze()
        sent_frames.clear()
        spares.frames.clear()
        for p in pubs.values():
            p.close()
    return {"messages": sent, "skipped": dict(rec.skipped), "seconds": played,
            "spacing_ns": late, "truncated": rec.truncated, "recycled": spares.recycled}


# ---- command line -------------------------------------------------------------


def _size_mb(s: str) -> float:
    v = float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def record_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="horus record", description="Record topics to an MCAP file.",
        epilog="example: horus record -o run.mcap camera.front lidar.points")
    ap.add_argument("topics", nargs="*", metavar="TOPIC")
    ap.add_argument("-o", "--output", required=True, metavar="FILE.mcap")
    ap.add_argument("--all", action="store_true",
                    help="every topic, including ones that appear while recording")
    ap.add_argument("--duration", type=_size_mb, metavar="S", help="stop after S seconds")
    ap.add_argument("--max-size", type=_size_mb, metavar="MB", help="stop at MB megabytes")
    ap.add_argument("--compression", choices=("none", "zstd", "lz4"), default="none")
    ap.add_argument("--chunk-mb", type=_size_mb, default=4.0, help=argparse.SUPPRESS)
    ap.add_argument("--report", type=float, default=1.0, help="seconds between progress lines (0: none)")
    ap.add_argument("--namespace", help="horus namespace (default: HORUS_NAMESPACE or default)")
    args = ap.parse_args(argv)
    if not args.topics and not args.all:
        ap.error("give topics to record, or --all")
    if args.namespace:
        os.environ["HORUS_NAMESPACE"] = args.namespace
    try:
        rec = Recorder(args.output, args.topics, all_topics=args.all, compression=args.compression,
                       max_bytes=None if args.max_size is None else int(args.max_size * 1e6),
                       chunk_bytes=int(args.chunk_mb * 1e6))
    except ImportError as e:
        print(f"horus record: {e}", file=sys.stderr)
        return 3
    except ValueError as e:
        print(f"horus record: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"horus record: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 1
    stop_on_signals(rec._stop, (signal.SIGTERM, signal.SIGINT))
    rec.start()
    if args.topics:
        # A moment for the topics that exist to be subscribed, not a wait
        # for the ones that do not: they are recorded once they appear, and
        # meanwhile the others' chunks, progress and --duration go on.
        rec.wait_subscribed(len(args.topics), timeout=1.0)
        waiting = [t for t in args.topics if t not in rec.stats()["topics"]]
        print(f"horus record: recording {len(args.topics)} topic(s) to {args.output}"
              + (f" (waiting for {', '.join(waiting)} to appear)" if waiting else ""), flush=True)
    elif args.all:
        print(f"horus record: recording every topic to {args.output}", flush=True)
    code = 0
    try:
        rec.run(args.duration, args.report or None)
    except OSError as e:
        st = rec.stats()
        fin = "finalised" if rec._out.failed is None or not rec._out.finished or \
            os.path.getsize(rec.path) > rec._out.good else "not finalised"
        print(f"horus record: stopped: cannot write {args.output}: {e.strerror or e}; "
              f"the file holds {st['messages']} messages up to {rec._out.good / 1e6:.1f} MB ({fin})",
              file=sys.stderr, flush=True)
        code = 1
    print(rec.report().replace("horus record |", "horus record: done |", 1), flush=True)
    if rec._stop_reason:
        print(f"horus record: {rec._stop_reason}", flush=True)
    return code


def _remap(specs: list[str]) -> dict[str, str]:
    out = {}
    for s in specs:
        old, sep, new = s.partition("=")
        if not sep or not _TOPIC_NAME.match(old) or not _TOPIC_NAME.match(new):
            raise ValueError(f"--remap {s!r}: OLD=NEW with topic names")
        out[old] = new
    return out


def play_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="horus play",
                                 description="Publish a recording's messages at the recorded pace.")
    ap.add_argument("file", metavar="FILE.mcap")
    ap.add_argument("--rate", type=float, default=1.0, help="speed factor; 0: as fast as possible")
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--topics", nargs="+", metavar="T", help="only these horus topics")
    ap.add_argument("--start", type=float, metavar="S", help="skip the first S seconds")
    ap.add_argument("--duration", type=float, metavar="S", help="play S seconds")
    ap.add_argument("--remap", action="append", default=[], metavar="OLD=NEW")
    ap.add_argument("--allow-pickle", action="store_true",
                    help="load pickled Python values (runs code from the file: trusted files only)")
    ap.add_argument("--report", type=float, default=1.0)
    ap.add_argument("--namespace")
    args = ap.parse_args(argv)
    if args.rate < 0:
        ap.error("--rate must be >= 0")
    if args.namespace:
        os.environ["HORUS_NAMESPACE"] = args.namespace
    stop = threading.Event()
    got_signal = stop_on_signals(stop, (signal.SIGINT, signal.SIGTERM))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordingWarning)
            res = play(args.file, rate=args.rate, loop=args.loop, topics=args.topics,
                       start=args.start, duration=args.duration, remap=_remap(args.remap),
                       allow_pickle=args.allow_pickle, report_every=args.report or None, stop=stop)
    except ImportError as e:
        print(f"horus play: {e}", file=sys.stderr)
        return 3
    except FileNotFoundError as e:
        print(f"horus play: {e.filename}: no such file", file=sys.stderr)
        return 3
    except (ValueError, OSError) as e:
        print(f"horus play: {e}", file=sys.stderr)
        return 1
    for topic, n in res["skipped"].items():
        print(f"horus play: skipped {n} message(s) of {topic}", file=sys.stderr)
    if res["truncated"]:
        print(f"horus play: the file ends early ({res['truncated']}); played what it holds",
              file=sys.stderr)
    print(f"horus play: done | {res['messages']} msgs | {res['seconds']:.1f} s", flush=True)
    if got_signal:
        return 130 if got_signal[0] == signal.SIGINT else 128 + got_signal[0]
    return 0


def info(path: str) -> dict[str, Any]:
    """What `horus info` prints, as a dict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        rec = Recording(path)
    dur = max(0, rec.end_ns - rec.start_ns) / 1e9
    topics = rec.topics()
    for t in topics.values():
        t["rate_hz"] = (t["count"] - 1) / dur if dur > 0 and t["count"] > 1 else 0.0
    return {"path": path, "size": rec.size, "finalised": rec.finalised,
            "truncated": rec.truncated, "start_ns": rec.start_ns, "end_ns": rec.end_ns,
            "duration_s": dur, "messages": sum(rec.counts.values()), "chunks": rec.chunks,
            "compression": sorted(rec.compression), "topics": topics}


def info_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="horus info", description="Describe an MCAP recording.")
    ap.add_argument("file", metavar="FILE.mcap")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        d = info(args.file)
    except ImportError as e:
        print(f"horus info: {e}", file=sys.stderr)
        return 3
    except FileNotFoundError as e:
        print(f"horus info: {e.filename}: no such file", file=sys.stderr)
        return 3
    except (ValueError, OSError) as e:
        print(f"horus info: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"path:        {d['path']}")
    print(f"size:        {d['size'] / 1e6:.1f} MB")
    state = "yes" if d["finalised"] else f"no (read up to its last complete chunk: {d['truncated']})"
    print(f"finalised:   {state}")
    print(f"duration:    {d['duration_s']:.3f} s")
    if d["messages"]:
        print(f"start:       {d['start_ns'] / 1e9:.9f}")
        print(f"end:         {d['end_ns'] / 1e9:.9f}")
    print(f"messages:    {d['messages']}")
    print(f"chunks:      {d['chunks']}" + (f" ({', '.join(d['compression'])})" if d["compression"] else ""))
    print("topics:")
    width = max([len(k) for k in d["topics"]] + [5])
    for name, t in sorted(d["topics"].items()):
        print(f"  {name:<{width}}  {t['count']:>8} msgs  {t['rate_hz']:8.2f} Hz  "
              f"{', '.join(t['types'])}  ({t['channel']})")
    return 0
