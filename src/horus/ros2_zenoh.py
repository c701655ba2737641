"""ROS 2 over Zenoh as rmw_zenoh speaks it: ``horus bridge --ros2``.

horus topics become ROS 2 topics (and ROS 2 topics horus topics) for
programs using ``RMW_IMPLEMENTATION=rmw_zenoh_cpp``, with no ROS 2
installed here.  This module is the rmw_zenoh dialect; the CDR of the
messages is ``horus.ros2msg`` and the forwarding machinery (threads,
counters, stop) ``horus.bridge.Bridge``.

The wire, as rmw_zenoh defines it (ros2/rmw_zenoh ``docs/design.md``,
"Graph Cache", and ``rmw_zenoh_cpp/src/detail/liveliness_utils.cpp``,
``attachment_helpers.cpp``, ``rmw_publisher_data.cpp``):

- data key ``<domain>/<topic without leading/trailing '/'>/<DDS type>/<hash>``
  (``TopicInfo::TopicInfo``), e.g.
  ``0/chatter/std_msgs::msg::dds_::String_/RIHS01_df66...``;
- liveliness tokens ``@ros2_lv/<domain>/<zid>/<nid>/<id>/<NN|MP|MS|SS|SC>/
  <enclave>/<namespace>/<node>[/<topic>/<type>/<hash>/<qos>]`` with every
  '/' inside a name written '%' (``mangle_name``) and no empty part
  (``Entity::make`` rejects such a token, logging only to the ROS log);
- the QoS part is ``qos_to_keyexpr``: each field empty when it equals
  rmw_qos_profile_default (reliable, volatile, keep-last 10);
- every sample's attachment is ``AttachmentData::serialize_to_zbytes``:
  zenoh-ext serialization of int64 sequence number, int64 source timestamp
  (ns) and the 16-byte GID as a sequence (LEB128 length 16, then the
  bytes): 33 bytes.  A ROS subscriber drops a sample without it.  The GID is
  XXH3-128 of the entity's liveliness key (``Entity::Entity``), low 64 bits
  first.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import struct
import sys
import threading
import time
from typing import Any

from . import _horus, ros2msg
from ._signals import stop_on_signals
from .bridge import _TOPIC_NAME, Bridge, _Counter, _import_zenoh, session_config

ADMIN_SPACE = "@ros2_lv"
HUMBLE_HASH = "TypeHashNotSupported"  # what Humble's rmw_zenoh puts in the hash place

# RIHS01 type hashes (REP-2011) of the messages horus speaks, identical in
# Jazzy and Kilted; tests/python/test_ros2.py checks them against rosbags'
# typestores, which compute them from the message definitions.
TYPE_HASH = {
    ros2msg.IMAGE: "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47",
    ros2msg.POINTCLOUD2: "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5",
    ros2msg.COMPRESSED_IMAGE:
        "RIHS01_15640771531571185e2efc8a100baf923961a4d15d5569652e6cb6691e8e371a",
}

DISTROS = ("jazzy", "kilted", "humble")


def type_hash_for(type_name: str, distro: str = "jazzy") -> str:
    """The hash part of keys and tokens: RIHS01 from Jazzy on, the literal
    TypeHashNotSupported on Humble (whose rmw_zenoh has no type hashes)."""
    if distro not in DISTROS:
        raise ValueError(f"--ros-distro {distro!r}: one of {', '.join(DISTROS)}")
    return HUMBLE_HASH if distro == "humble" else TYPE_HASH[type_name]


# Entity kinds of a liveliness token.
NODE, PUBLISHER, SUBSCRIPTION, SERVICE, CLIENT = "NN", "MP", "MS", "SS", "SC"
_KINDS = (NODE, PUBLISHER, SUBSCRIPTION, SERVICE, CLIENT)

# rmw_qos_profile_default, against which qos_to_keyexpr leaves fields empty.
RELIABLE, BEST_EFFORT = 1, 2
TRANSIENT_LOCAL, VOLATILE = 1, 2
KEEP_LAST, KEEP_ALL = 1, 2
_DEFAULT_QOS = {"reliability": RELIABLE, "durability": VOLATILE, "history": KEEP_LAST, "depth": 10}

ATTACHMENT_SIZE = 33
_ATTACHMENT = struct.Struct("<qqB16s")

_ROS_NAME = re.compile(r"^/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*/?$")
_ROS_TYPE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/(msg|srv|action)/([A-Za-z][A-Za-z0-9_]*)$")
_DDS_TYPE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)::(msg|srv|action)::dds_::([A-Za-z][A-Za-z0-9_]*)_$")


# ---- names --------------------------------------------------------------------


def ros_topic_for(horus_topic: str) -> str:
    """The ROS name of a horus topic: "camera.front" -> "/camera/front"."""
    name = "/" + horus_topic.replace(".", "/")
    if not _ROS_NAME.match(name):
        raise ValueError(f"horus topic {horus_topic!r} makes {name!r}, not a valid ROS 2 "
                         "topic name (letters, digits and '_' between '.', not starting "
                         "with a digit)")
    return name


def horus_topic_for(ros_topic: str) -> str:
    """The horus name of a ROS topic: "/camera/front" -> "camera.front"."""
    if not _ROS_NAME.match(ros_topic):
        raise ValueError(f"{ros_topic!r} is not a ROS 2 topic name")
    name = ros_topic.strip("/").replace("/", ".")
    if not _TOPIC_NAME.match(name):
        raise ValueError(f"ROS topic {ros_topic!r} makes {name!r}, not a valid horus topic name")
    return name


def dds_type(ros_type: str) -> str:
    """ "sensor_msgs/msg/Image" -> "sensor_msgs::msg::dds_::Image_" (the
    name rmw_zenoh puts in keys and tokens)."""
    m = _ROS_TYPE.match(ros_type)
    if not m:
        raise ValueError(f"{ros_type!r} is not a ROS 2 type name (pkg/msg/Name)")
    return f"{m[1]}::{m[2]}::dds_::{m[3]}_"


def ros_type(dds: str) -> str:
    """The inverse of dds_type; ValueError for anything else."""
    m = _DDS_TYPE.match(dds)
    if not m:
        raise ValueError(f"{dds!r} is not a DDS type name (pkg::msg::dds_::Name_)")
    return f"{m[1]}/{m[2]}/{m[3]}"


def mangle(name: str) -> str:
    """A name inside one key chunk: '/' written '%' (mangle_name)."""
    return name.replace("/", "%")


def demangle(chunk: str) -> str:
    return chunk.replace("%", "/")


def data_key(domain_id: int, topic: str, type_name: str, type_hash: str) -> str:
    """The key a topic's samples are put on (TopicInfo::TopicInfo)."""
    return f"{int(domain_id)}/{topic.strip('/')}/{dds_type(type_name)}/{type_hash}"


# ---- QoS ------------------------------------------------------------------------


def qos_string(reliability: int = BEST_EFFORT, durability: int = VOLATILE,
               history: int = KEEP_LAST, depth: int = 10) -> str:
    """rmw_zenoh's compact QoS (qos_to_keyexpr): "<rel>:<dur>:<hist>,<depth>:
    <deadline s>,<ns>:<lifespan s>,<ns>:<liveliness>,<lease s>,<ns>", a field
    empty when it is rmw_qos_profile_default's; deadline, lifespan and
    liveliness are always the defaults here.  Best effort depth 5 is
    "2::,5:,:,:,,"."""
    def f(v: int, key: str) -> str:
        return "" if v == _DEFAULT_QOS[key] else str(int(v))

    return (f"{f(reliability, 'reliability')}:{f(durability, 'durability')}:"
            f"{f(history, 'history')},{f(depth, 'depth')}:,:,:,,")


def parse_qos(text: str) -> dict[str, int]:
    """reliability, durability, history and depth of a QoS chunk
    (keyexpr_to_qos); ValueError when it has the wrong shape."""
    parts = text.split(":")
    if len(parts) < 6:
        raise ValueError(f"QoS {text!r} has {len(parts)} ':'-separated fields, not 6")
    hist = parts[2].split(",")
    if len(hist) < 2 or len(parts[3].split(",")) < 2 or len(parts[4].split(",")) < 2 \
            or len(parts[5].split(",")) < 3:
        raise ValueError(f"QoS {text!r}: a field lacks its ',' parts")
    out = {}
    for key, v in (("reliability", parts[0]), ("durability", parts[1]),
                   ("history", hist[0]), ("depth", hist[1])):
        if v == "":
            out[key] = _DEFAULT_QOS[key]
        elif v.isdigit():
            out[key] = int(v)
        else:
            raise ValueError(f"QoS {text!r}: {key} {v!r} is not a number")
    return out


# ---- liveliness tokens --------------------------------------------------------


def node_token(domain_id: int, zid: str, nid: int, namespace: str, node: str,
               enclave: str = "/") -> str:
    """A node's token: @ros2_lv/<dom>/<zid>/<nid>/<nid>/NN/<enclave>/<ns>/<node>."""
    return "/".join((ADMIN_SPACE, str(int(domain_id)), zid, str(nid), str(nid), NODE,
                     mangle(enclave), mangle(namespace), mangle(node)))


def endpoint_token(domain_id: int, zid: str, nid: int, eid: int, kind: str, namespace: str,
                   node: str, topic: str, type_name: str, type_hash: str, qos: str,
                   enclave: str = "/") -> str:
    """A publisher's (MP) or subscription's (MS) token: the node's chunks,
    then the topic, the DDS type, the hash and the QoS."""
    if kind not in (PUBLISHER, SUBSCRIPTION):
        raise ValueError(f"endpoint kind {kind!r} is not MP or MS")
    return "/".join((ADMIN_SPACE, str(int(domain_id)), zid, str(nid), str(eid), kind,
                     mangle(enclave), mangle(namespace), mangle(node), mangle(topic),
                     dds_type(type_name), type_hash, qos))


def parse_token(key: str) -> dict[str, Any]:
    """The entity a liveliness key describes (Entity::make): domain, zid,
    nid, id, kind, enclave, namespace, node and, for any kind but NN, topic,
    type (ROS spelling), dds_type, hash and qos.  ValueError for what
    rmw_zenoh rejects: too few or empty parts, another admin space, an
    unknown kind, a bad domain or QoS."""
    parts = key.split("/")
    if len(parts) < 9:
        raise ValueError(f"liveliness token {key!r} has {len(parts)} parts, fewer than 9")
    if any(p == "" for p in parts):
        raise ValueError(f"liveliness token {key!r} has an empty part")
    if parts[0] != ADMIN_SPACE:
        raise ValueError(f"liveliness token {key!r} is not under {ADMIN_SPACE}")
    if not parts[1].isdigit():
        raise ValueError(f"liveliness token {key!r}: domain {parts[1]!r} is not a number")
    if parts[5] not in _KINDS:
        raise ValueError(f"liveliness token {key!r}: unknown entity kind {parts[5]!r}")
    ent: dict[str, Any] = {
        "domain": int(parts[1]), "zid": parts[2], "nid": parts[3], "id": parts[4],
        "kind": parts[5], "enclave": demangle(parts[6]), "namespace": demangle(parts[7]),
        "node": demangle(parts[8])}
    if parts[5] == NODE:
        return ent
    if len(parts) < 13:
        raise ValueError(f"liveliness token {key!r} of a {parts[5]} lacks topic, type, hash or QoS")
    ent.update(topic=demangle(parts[9]), dds_type=demangle(parts[10]), hash=demangle(parts[11]),
               qos=parse_qos(parts[12]))
    try:
        ent["type"] = ros_type(ent["dds_type"])
    except ValueError:
        ent["type"] = ent["dds_type"]
    return ent


def node_path(namespace: str, node: str) -> str:
    return namespace.rstrip("/") + "/" + node


# ---- attachment --------------------------------------------------------------------


def gid_for(token: str) -> bytes:
    """An entity's 16-byte GID: XXH3-128 of its liveliness key, low 64 bits
    first, as rmw_zenoh computes it.  Without the xxhash package a BLAKE2b
    digest stands in: ROS subscribers use the GID only to tell publishers
    apart, so only `ros2 topic info -v` shows a different value."""
    try:
        import xxhash
    except ImportError:
        return hashlib.blake2b(token.encode(), digest_size=16).digest()
    v = xxhash.xxh3_128_intdigest(token.encode())
    return struct.pack("<QQ", v & 0xFFFFFFFFFFFFFFFF, v >> 64)


def attachment(seq: int, timestamp_ns: int, gid: bytes) -> bytes:
    """The 33-byte attachment of a sample (AttachmentData::serialize_to_zbytes)."""
    if len(gid) != 16:
        raise ValueError(f"a GID has 16 bytes, not {len(gid)}")
    return _ATTACHMENT.pack(seq, timestamp_ns, 16, gid)


def parse_attachment(data: bytes | None) -> tuple[int, int, bytes]:
    """(sequence number, source timestamp ns, GID) of an attachment;
    ValueError when it is missing or not rmw_zenoh's 33-byte layout (the
    labelled layout of rmw_zenoh up to Jazzy 0.2.3 is refused here)."""
    if data is None:
        raise ValueError("sample has no rmw_zenoh attachment")
    if len(data) != ATTACHMENT_SIZE:
        raise ValueError(f"attachment has {len(data)} bytes, not {ATTACHMENT_SIZE}")
    seq, ts, n, gid = _ATTACHMENT.unpack(data)
    if n != 16:
        raise ValueError(f"attachment's GID length is {n}, not 16")
    return seq, ts, gid


# ---- session ------------------------------------------------------------------------


def ros2_session_config(connect: list[str] | tuple[str, ...] = ("tcp/localhost:7447",),
                        mode: str = "peer", connect_timeout: float = 3.0) -> Any:
    """The zenoh.Config of a ROS 2 bridge, as rmw_zenoh's
    DEFAULT_RMW_ZENOH_SESSION_CONFIG: connect to rmw_zenohd; in peer mode
    listen on a loopback port of our own (rmw_zenohd does not broker
    between peers: the ROS nodes connect to us directly, learning our
    address by gossip); no multicast scouting."""
    if mode not in ("peer", "client"):
        raise ValueError(f"--mode {mode!r}: peer or client")
    listen = ["tcp/127.0.0.1:0"] if mode == "peer" else []
    conf = session_config(list(connect), listen, connect_timeout)
    conf.insert_json5("mode", f'"{mode}"')
    if connect:
        ms = int(connect_timeout * 1000)
        conf.insert_json5("connect/timeout_ms", f'{{"peer": {ms}, "client": {ms}}}')
        conf.insert_json5("connect/exit_on_failure", '{"peer": true, "client": true}')
    return conf


# ---- the bridge --------------------------------------------------------------------

_ENCODERS = {
    _horus.Image: (ros2msg.IMAGE, ros2msg.encode_image),
    _horus.DepthImage: (ros2msg.IMAGE, ros2msg.encode_image),
    _horus.PointCloud: (ros2msg.POINTCLOUD2, ros2msg.encode_pointcloud),
}
_DECODERS = {
    ros2msg.IMAGE: ros2msg.decode_image,
    ros2msg.POINTCLOUD2: ros2msg.decode_pointcloud,
    ros2msg.COMPRESSED_IMAGE: ros2msg.decode_compressed_image,
}


class Ros2Bridge(Bridge):
    """horus topics as ROS 2 topics over rmw_zenoh, and back.

    out: horus topic names ("camera.front" -> ROS "/camera/front").
    inputs: ROS topic names ("/camera/front"), each optionally
        "/ros/topic=horus.topic"; the type comes from the sample's key,
        which rmw_zenoh derives from the publisher's type (and its token).
    domain_id, connect, mode, node_name, namespace: where and as what the
        bridge appears in the ROS graph.
    reliable: advertise reliable instead of best effort.
    Counters are Bridge's; "malformed" counts every bad sample from the
    network (no or a bad attachment, an unknown type, a hash mismatch, CDR
    that disagrees with itself), and stats()["tokens"] the liveliness
    tokens that rmw_zenoh would reject.
    """

    def __init__(self, out: list[str] | tuple[str, ...] = (), inputs: list[str] | tuple[str, ...] = (),
                 *, domain_id: int | None = None, connect: list[str] | tuple[str, ...] = (),
                 mode: str = "peer", node_name: str = "horus_bridge", namespace: str = "/",
                 queue: int = 8, reliable: bool = False, distro: str = "jazzy",
                 connect_timeout: float = 3.0,
                 retries: int = 3, _for_list: bool = False) -> None:
        if not out and not inputs and not _for_list:
            raise ValueError("nothing to bridge: give at least one --out topic or --in /ROS/TOPIC")
        if queue < 1:
            raise ValueError("queue must be at least 1")
        if domain_id is None:
            env = os.environ.get("ROS_DOMAIN_ID", "").strip()
            if env and not env.isdigit():
                raise ValueError(f"ROS_DOMAIN_ID={env!r} is not a number")
            domain_id = int(env or 0)
        if not 0 <= domain_id <= 232:
            raise ValueError(f"ROS domain id {domain_id} is outside 0..232")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", node_name):
            raise ValueError(f"--node-name {node_name!r} is not a ROS 2 node name")
        if namespace != "/" and not _ROS_NAME.match(namespace):
            raise ValueError(f"namespace {namespace!r} is not a ROS 2 namespace")
        type_hash_for(ros2msg.IMAGE, distro)  # validates it
        self._distro = distro
        self._domain = domain_id
        self._node = node_name
        self._ns = "/" + namespace.strip("/") if namespace.strip("/") else "/"
        self._reliable = reliable
        self._outs = []
        for topic in out:
            if not _TOPIC_NAME.match(topic):
                raise ValueError(f"--out {topic!r} is not a valid topic name")
            self._outs.append((topic, ros_topic_for(topic)))
        self._ins = []
        for spec in inputs:
            ros, _, local = spec.partition("=")
            if not ros.startswith("/"):
                raise ValueError(f"--in {spec!r}: a ROS topic starts with '/'")
            local = local or horus_topic_for(ros)
            if not _TOPIC_NAME.match(local):
                raise ValueError(f"--in {spec!r}: {local!r} is not a valid topic name")
            horus_topic_for(ros)  # validates the ROS name
            self._ins.append((ros, local))
        # Refused now, not by a thread later: a topic that already exists and
        # carries messages with no sensor_msgs type.
        kinds = {cls.__name__ for cls in _ENCODERS}
        for t in _horus.topics():
            if any(t["name"] == topic for topic, _ in self._outs) and t["type"] not in kinds:
                raise ValueError(f"--out {t['name']}: the topic carries {t['type']} messages, "
                                 "which have no sensor_msgs type (Image, DepthImage and "
                                 "PointCloud do)")
        self._zenoh = _import_zenoh()
        self._queue = queue
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._out_stats = {topic: _Counter() for topic, _ in self._outs}
        self._in_stats: dict[str, _Counter] = {ros: _Counter() for ros, _ in self._ins}
        self._bad_tokens: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._subscribers: list[Any] = []
        self._tokens: list[Any] = []
        self._graph: dict[str, dict[str, Any]] = {}
        self._graph_changed = threading.Condition(self._lock)
        self._next_id = 1
        conf = ros2_session_config(list(connect) or ["tcp/localhost:7447"], mode, connect_timeout)
        self._session = self._open_conf(conf, list(connect) or ["tcp/localhost:7447"],
                                        connect_timeout, retries)
        self._zid = str(self._session.info.zid())
        self._nid = 0
        if _for_list:
            return
        self._tokens.append(self._session.liveliness().declare_token(
            node_token(self._domain, self._zid, self._nid, self._ns, self._node)))
        self._subscribers.append(self._session.liveliness().declare_subscriber(
            f"{ADMIN_SPACE}/{self._domain}/**", self._on_token, history=True))

    def _open_conf(self, conf: Any, where: list[str], timeout: float, retries: int) -> Any:
        last: Exception | None = None
        for attempt in range(max(1, retries)):
            try:
                return self._zenoh.open(conf)
            except Exception as e:  # zenoh.ZError
                last = e
                if attempt + 1 < retries and not self._stop.wait(min(0.5 * 2 ** attempt, 5.0)):
                    continue
        raise ConnectionError(f"cannot open a Zenoh session to {', '.join(where)} after "
                              f"{retries} attempt(s) of {timeout:g} s (is rmw_zenohd running?): "
                              f"{last}")

    def _entity_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id - 1

    # ---- the ROS graph ------------------------------------------------------

    def _on_token(self, sample: Any) -> None:
        key = str(sample.key_expr)
        if sample.kind == self._zenoh.SampleKind.DELETE:
            with self._lock:
                self._graph.pop(key, None)
                self._graph_changed.notify_all()
            return
        try:
            ent = parse_token(key)
        except ValueError as e:
            # Counted once per token: a token can reach us twice (history,
            # then again over a new direct link to its peer).
            with self._lock:
                if key in self._bad_tokens:
                    return
                if len(self._bad_tokens) < 100_000:
                    self._bad_tokens.add(key)
                n = len(self._bad_tokens)
            self._complain(n, f"ignored a liveliness token rmw_zenoh would reject: {e}")
            return
        with self._lock:
            self._graph[key] = ent
            self._graph_changed.notify_all()

    def graph(self) -> list[dict[str, Any]]:
        """The entities this bridge sees (its own included)."""
        with self._lock:
            return list(self._graph.values())

    # ---- horus to ROS ----------------------------------------------------------

    def _forward_out(self, topic_name: str, ros_name: str) -> None:
        cls = self._wait_for_topic(topic_name)
        if cls is None:
            return
        if cls not in _ENCODERS:
            raise TypeError(f"topic {topic_name!r} carries {cls.__name__} messages, which have "
                            "no sensor_msgs type (Image, DepthImage and PointCloud do)")
        type_name, encode = _ENCODERS[cls]
        stats = self._out_stats[topic_name]
        topic: _horus.Topic[Any]
        with _horus.Topic(cls, topic_name) as topic:
            # Advertise what horus delivers: a ring that drops the oldest,
            # i.e. keep-last depth = its capacity, volatile, best effort.
            qos = qos_string(RELIABLE if self._reliable else BEST_EFFORT, VOLATILE, KEEP_LAST,
                             topic.capacity)
            type_hash = type_hash_for(type_name, self._distro)
            token = endpoint_token(self._domain, self._zid, self._nid, self._entity_id(),
                                   PUBLISHER, self._ns, self._node, ros_name, type_name,
                                   type_hash, qos)
            gid = gid_for(token)
            # BLOCK holds only this thread on a slow link; the ring loses
            # the oldest meanwhile, counted as the topic's drops (see bridge.py).
            pub = self._session.declare_publisher(
                data_key(self._domain, ros_name, type_name, type_hash),
                congestion_control=self._zenoh.CongestionControl.BLOCK, express=True)
            tok = self._session.liveliness().declare_token(token)
            seq = 0
            try:
                while not self._stop.is_set():
                    msg = topic.recv(timeout=0.1)
                    if msg is None:
                        continue
                    try:
                        payload = encode(msg)
                    except ValueError as e:  # a dtype PointField lacks, a timestamp past 2038
                        with self._lock:
                            stats.malformed += 1
                        self._complain(stats.malformed, f"cannot send {topic_name} as {type_name}: {e}")
                        continue
                    del msg  # the pool block goes back before the network send
                    seq += 1
                    pub.put(payload, attachment=attachment(seq, time.time_ns(), gid))
                    with self._lock:
                        stats.forwarded += 1
                        stats.bytes += len(payload)
                        stats.dropped = topic.stats()["dropped"]
            finally:
                tok.undeclare()
                pub.undeclare()

    # ---- ROS to horus ----------------------------------------------------------

    def _forward_in(self, ros_name: str, local: str) -> None:  # type: ignore[override]
        # As Bridge._forward_in: Zenoh's RingChannel holds at most `queue`
        # samples (the oldest dropped) without taking the GIL, and recv()
        # waits with it released; stop() closes the channel.  Declaring our
        # subscription tokens as publishers appear is a second thread's job,
        # since this one waits in recv().
        zenoh = self._zenoh
        prefix = f"{self._domain}/{ros_name.strip('/')}/"
        # Exactly two chunks after the topic: the DDS type and the hash.
        sub = self._session.declare_subscriber(prefix + "*/*", zenoh.handlers.RingChannel(self._queue),
                                               allowed_origin=zenoh.Locality.REMOTE)
        self._subscribers.append(sub)
        samples = sub.handler  # not sub.recv: undeclare() would find sub borrowed
        done = threading.Event()
        advertiser = threading.Thread(target=self._advertise_until, args=(ros_name, done),
                                      name=f"{threading.current_thread().name}-graph", daemon=True)
        advertiser.start()
        topics: dict[str, Any] = {}
        last_seq: dict[bytes, int] = {}
        try:
            for sample in self._samples(samples):
                self._deliver_ros(sample, ros_name, prefix, local, topics, last_seq)
        finally:
            done.set()
            advertiser.join()
            for t in topics.values():
                t.close()

    def _advertise_until(self, ros_name: str, done: threading.Event) -> None:
        """Advertise our subscription of `ros_name` for each publisher type
        that appears, until stopped or `done`."""
        advertised: set[tuple[str, str]] = set()
        while not (self._stop.is_set() or done.is_set()):
            try:
                self._advertise_subscription(ros_name, advertised)
            except BaseException as e:  # stops the bridge, as a forwarding thread's error does
                self._errors.append(e)
                self._stop.set()
                return
            with self._graph_changed:
                self._graph_changed.wait(0.1)

    def _advertise_subscription(self, ros_name: str, done: set[tuple[str, str]]) -> None:
        """Declare our MS token for each type a publisher of the topic
        announces, so that the ROS graph shows the subscription."""
        with self._lock:
            pubs = [(e["type"], e["hash"]) for e in self._graph.values()
                    if e["kind"] == PUBLISHER and e["topic"] == ros_name
                    and e["domain"] == self._domain and e["type"] in _DECODERS]
        for type_name, type_hash in pubs:
            if (type_name, type_hash) in done:
                continue
            done.add((type_name, type_hash))
            qos = qos_string(BEST_EFFORT, VOLATILE, KEEP_LAST, self._queue)
            self._tokens.append(self._session.liveliness().declare_token(endpoint_token(
                self._domain, self._zid, self._nid, self._entity_id(), SUBSCRIPTION, self._ns,
                self._node, ros_name, type_name, type_hash, qos)))

    def _deliver_ros(self, sample: Any, ros_name: str, prefix: str, local: str,
                     topics: dict[str, Any], last_seq: dict[bytes, int]) -> None:
        stats = self._in_stats[ros_name]
        key = str(sample.key_expr)
        try:
            att = sample.attachment
            seq, _, gid = parse_attachment(None if att is None else att.to_bytes())
            # Sequence gaps are losses on the way; a sample that arrived but
            # is refused below counts as malformed, not lost.
            with self._lock:
                prev = last_seq.get(gid)
                if prev is not None and seq > prev + 1:
                    stats.lost += seq - prev - 1
                # A lower sequence is a restarted publisher: a new stream.
                last_seq[gid] = seq
            dds, _, type_hash = key[len(prefix):].partition("/")
            type_name = ros_type(dds)
            decode = _DECODERS.get(type_name)
            if decode is None:
                raise ValueError(f"type {type_name} has no horus equivalent")
            if type_hash not in (TYPE_HASH[type_name], HUMBLE_HASH):
                raise ValueError(f"type hash {type_hash} is not {type_name}'s "
                                 f"{TYPE_HASH[type_name]}")
            obj = decode(sample.payload.to_bytes())
        except Exception as e:  # ValueError, and anything a decoder raises on garbage
            with self._lock:
                stats.malformed += 1
            self._complain(stats.malformed, f"dropped a bad sample on {key}: {e}")
            return
        if not self._publish_local(stats, topics, local, obj, key):
            return
        with self._lock:
            stats.forwarded += 1
            stats.bytes += obj.nbytes

    # ---- life cycle ---------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        for tok in self._tokens:
            try:
                tok.undeclare()
            except Exception:
                pass
        super().stop()

    def stats(self) -> dict[str, Any]:
        s: dict[str, Any] = super().stats()
        with self._lock:
            s["tokens"] = {"rejected": len(self._bad_tokens)}
        return s

    def report(self) -> str:
        s = self.stats()
        parts = [f"out {k}: {v['forwarded']} sent, {v['dropped']} dropped, {v['malformed']} unsendable"
                 for k, v in s["out"].items()]
        parts += [f"in {k}: {v['forwarded']} published, {v['lost']} lost, {v['malformed']} malformed"
                  for k, v in s["in"].items()]
        parts.append(f"{s['tokens']['rejected']} bad tokens")
        return "horus bridge --ros2 | " + " | ".join(parts)


# ---- --list ------------------------------------------------------------------------


def query_graph(session: Any, domain_id: int, timeout: float = 2.0) -> tuple[list[dict[str, Any]], int]:
    """The entities of a domain seen within `timeout` seconds, and how many
    tokens were malformed.  As rmw_zenoh's graph cache does, a liveliness
    subscriber with history (the router answers with every live token)
    and then a liveliness query: a query sent right after the session
    opens can find the routes not yet there and return nothing."""
    keys: set[str] = set()
    lock = threading.Lock()

    def on_token(sample: Any) -> None:
        with lock:
            keys.add(str(sample.key_expr))

    everything = f"{ADMIN_SPACE}/{domain_id}/**"
    sub = session.liveliness().declare_subscriber(everything, on_token, history=True)
    try:
        time.sleep(timeout)  # the graph has no end marker: collect for a while
        for reply in session.liveliness().get(everything, timeout=timeout):
            if reply.ok is not None:
                with lock:
                    keys.add(str(reply.ok.key_expr))
    finally:
        sub.undeclare()
    ents: list[dict[str, Any]] = []
    bad = 0
    for key in sorted(keys):
        try:
            ents.append(parse_token(key))
        except ValueError:
            bad += 1
    return ents, bad


def format_graph(ents: list[dict[str, Any]]) -> str:
    """Nodes, then topics as `ros2 topic list -t` with their endpoints."""
    nodes = sorted({node_path(e["namespace"], e["node"]) for e in ents})
    topics: dict[str, dict[str, Any]] = {}
    for e in ents:
        if e["kind"] not in (PUBLISHER, SUBSCRIPTION):
            continue
        t = topics.setdefault(e["topic"], {"types": set(), PUBLISHER: [], SUBSCRIPTION: []})
        t["types"].add(e["type"])
        t[e["kind"]].append(node_path(e["namespace"], e["node"]))
    lines = ["nodes:"] + [f"  {n}" for n in nodes] + ["topics:"]
    for name in sorted(topics):
        t = topics[name]
        lines.append(f"  {name} [{', '.join(sorted(t['types']))}] "
                     f"publishers: {len(t[PUBLISHER])} ({', '.join(sorted(t[PUBLISHER]))}) "
                     f"subscribers: {len(t[SUBSCRIPTION])} ({', '.join(sorted(t[SUBSCRIPTION]))})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="horus bridge --ros2",
        description="Make horus topics ROS 2 topics over rmw_zenoh, and ROS 2 topics horus "
                    "topics; no ROS 2 needed here.",
        epilog="example: horus bridge --ros2 --out camera.front --in /lidar/points")
    ap.add_argument("--domain-id", type=int, help="ROS domain (default: ROS_DOMAIN_ID or 0)")
    ap.add_argument("--connect", action="append", default=[], metavar="ENDPOINT",
                    help="rmw_zenohd's endpoint (default tcp/localhost:7447)")
    ap.add_argument("--mode", choices=("peer", "client"), default="peer",
                    help="peer on this host (default), client for a robot over the network")
    ap.add_argument("--node-name", default="horus_bridge")
    ap.add_argument("--out", action="append", default=[], metavar="TOPIC",
                    help="publish horus topic TOPIC as /TOPIC with '.' as '/'")
    ap.add_argument("--in", dest="inputs", action="append", default=[],
                    metavar="/ROS/TOPIC[=TOPIC]", help="publish a ROS 2 topic as a horus topic")
    ap.add_argument("--list", action="store_true", help="print the ROS 2 graph and exit")
    ap.add_argument("--qos", choices=("best_effort", "reliable"), default="best_effort")
    ap.add_argument("--ros-distro", choices=DISTROS, default="jazzy",
                    help="humble: keys and tokens carry TypeHashNotSupported instead of "
                         "RIHS01 hashes (jazzy and kilted are the same wire)")
    ap.add_argument("--namespace", help="horus namespace (default: HORUS_NAMESPACE or default)")
    ap.add_argument("--queue", type=int, default=8, help="samples kept per --in before dropping")
    ap.add_argument("--seconds", type=float, help="stop after this long")
    ap.add_argument("--report", type=float, default=1.0, help="seconds between reports (0: none)")
    ap.add_argument("--connect-timeout", type=float, default=3.0)
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=2.0, help="--list: seconds to wait for replies")
    args = ap.parse_args(argv)
    if args.namespace:
        os.environ["HORUS_NAMESPACE"] = args.namespace
    try:
        bridge = Ros2Bridge(args.out, args.inputs, domain_id=args.domain_id, connect=args.connect,
                            mode=args.mode, node_name=args.node_name, queue=args.queue,
                            reliable=args.qos == "reliable", distro=args.ros_distro,
                            connect_timeout=args.connect_timeout,
                            retries=args.retries, _for_list=args.list)
    except ImportError as e:
        print(f"horus bridge: {e}", file=sys.stderr)
        return 3
    except (ValueError, ConnectionError) as e:
        print(f"horus bridge: {e}", file=sys.stderr)
        return 1
    if args.list:
        try:
            ents, bad = query_graph(bridge._session, bridge._domain, args.timeout)
            print(format_graph(ents), flush=True)
            if bad:
                print(f"({bad} malformed liveliness token(s) ignored)", flush=True)
        finally:
            bridge.stop()
        return 0
    stop_on_signals(bridge._stop)
    rc = 0
    try:
        bridge.run(args.seconds, args.report or None)
    except KeyboardInterrupt:
        pass
    except (TypeError, ValueError, OSError) as e:  # a forwarding thread's, said once
        print(f"horus bridge: {e}", file=sys.stderr, flush=True)
        rc = 1
    print(bridge.report(), flush=True)
    return rc
