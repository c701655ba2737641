"""horus bridge --ros2: horus topics as ROS 2 topics over rmw_zenoh's dialect.

No ROS 2 here: a Zenoh router (router mode, no brokering between peers, as
rmw_zenohd) stands in for rmw_zenohd and a plain Zenoh peer plays the ROS
node.  It reads the wire the way rmw_zenoh does (data key, liveliness
tokens, 33-byte attachment) and encodes/decodes CDR with rosbags, a CDR
implementation independent of horus.ros2msg.  Expected tokens and keys are
the literal forms of ros2/rmw_zenoh docs/design.md."""

import os
import queue
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, Topic

if os.environ.get("HORUS_REQUIRE_FRAMEWORKS"):  # CI: a missing dependency fails
    import rosbags.typesys as rosbags_typesys
    import xxhash
    import zenoh
else:
    zenoh = pytest.importorskip("zenoh")
    rosbags_typesys = pytest.importorskip("rosbags.typesys")
    xxhash = pytest.importorskip("xxhash")

from horus import ros2_zenoh as rz  # noqa: E402
from test_bridge import Proc, _STARTED, free_port  # noqa: E402

TS = rosbags_typesys.get_typestore(rosbags_typesys.Stores.ROS2_JAZZY)
IMAGE_HASH = "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47"
PC2_HASH = "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5"
STRING_HASH = "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
# Verbatim from ros2/rmw_zenoh docs/design.md ("Graph Cache").
DESIGN_NODE = "@ros2_lv/0/aac3178e146ba6f1fc6e6a4085e77f21/0/0/NN/%/%/listener"
DESIGN_PUB = ("@ros2_lv/0/8b20917502ee955ac4476e0266340d5c/0/10/MP/%/%/talker/%chatter/"
              "std_msgs::msg::dds_::String_/" + STRING_HASH + "/::,7:,:,:,,")


# ---- the dialect, field by field ----------------------------------------------


def test_tokens_and_keys_match_the_design_document():
    assert rz.node_token(0, "aac3178e146ba6f1fc6e6a4085e77f21", 0, "/", "listener") == DESIGN_NODE
    qos = rz.qos_string(rz.RELIABLE, rz.VOLATILE, rz.KEEP_LAST, 7)
    assert qos == "::,7:,:,:,,"
    assert rz.endpoint_token(0, "8b20917502ee955ac4476e0266340d5c", 0, 10, rz.PUBLISHER, "/",
                             "talker", "/chatter", "std_msgs/msg/String", STRING_HASH,
                             qos) == DESIGN_PUB
    assert rz.data_key(0, "/chatter", "std_msgs/msg/String", STRING_HASH) == \
        "0/chatter/std_msgs::msg::dds_::String_/" + STRING_HASH
    assert rz.data_key(0, "/camera/front", "sensor_msgs/msg/Image", IMAGE_HASH) == \
        "0/camera/front/sensor_msgs::msg::dds_::Image_/" + IMAGE_HASH
    # The example: best effort, depth 5.
    assert rz.qos_string(rz.BEST_EFFORT, rz.VOLATILE, rz.KEEP_LAST, 5) == "2::,5:,:,:,,"
    assert rz.qos_string(rz.RELIABLE, rz.TRANSIENT_LOCAL, rz.KEEP_ALL, 10) == ":1:2,:,:,:,,"
    # Namespaces, nested names and enclaves are mangled, never split.
    tok = rz.endpoint_token(3, "ab", 0, 4, rz.SUBSCRIPTION, "/robot1", "cam", "/a/b/c",
                            "sensor_msgs/msg/PointCloud2", PC2_HASH, "2::,8:,:,:,,",
                            enclave="/secure")
    assert tok == ("@ros2_lv/3/ab/0/4/MS/%secure/%robot1/cam/%a%b%c/"
                   "sensor_msgs::msg::dds_::PointCloud2_/" + PC2_HASH + "/2::,8:,:,:,,")


def test_parse_token_reads_the_design_examples():
    node = rz.parse_token(DESIGN_NODE)
    assert node == {"domain": 0, "zid": "aac3178e146ba6f1fc6e6a4085e77f21", "nid": "0",
                    "id": "0", "kind": "NN", "enclave": "/", "namespace": "/",
                    "node": "listener"}
    pub = rz.parse_token(DESIGN_PUB)
    assert (pub["kind"], pub["node"], pub["topic"], pub["type"], pub["hash"]) == \
        ("MP", "talker", "/chatter", "std_msgs/msg/String", STRING_HASH)
    assert pub["qos"] == {"reliability": 1, "durability": 2, "history": 1, "depth": 7}


@pytest.mark.parametrize("bad", [
    "@ros2_lv/0/z/0/0/NN/%/%",                                   # too few parts
    "@other/0/z/0/0/NN/%/%/n",                                   # another admin space
    "@ros2_lv/x/z/0/0/NN/%/%/n",                                 # domain not a number
    "@ros2_lv/0/z/0/0/XX/%/%/n",                                 # unknown kind
    "@ros2_lv/0/z/0/1/MP/%/%/n/%t/a::msg::dds_::B_/h",           # no QoS
    "@ros2_lv/0/z/0/1/MP/%/%/n/%t/a::msg::dds_::B_/h/2:,5:,:,,",  # QoS short of fields
    "@ros2_lv/0/z/0/1/MP/%/%/n/%t/a::msg::dds_::B_/h/x::,5:,:,:,,",  # QoS not a number
    "@ros2_lv/0/z/0/1/MP/%/%/n/%t/a::msg::dds_::B_/h/2::5:,:,:,,",   # depth lacks its ','
])
def test_parse_token_refuses_what_rmw_zenoh_rejects(bad):
    with pytest.raises(ValueError):
        rz.parse_token(bad)
    # An empty part cannot even be a Zenoh key; parse_token says so too.
    with pytest.raises(ValueError, match="empty part"):
        rz.parse_token("@ros2_lv/0/z/0/0/NN//%/n")


def test_type_hashes_agree_with_rosbags():
    # rosbags computes RIHS01 from the message definitions (REP-2011).
    for name, h in rz.TYPE_HASH.items():
        assert TS.hash_rihs01(name) == h, name
    assert rz.dds_type("sensor_msgs/msg/CompressedImage") == \
        "sensor_msgs::msg::dds_::CompressedImage_"
    assert rz.ros_type("sensor_msgs::msg::dds_::PointCloud2_") == "sensor_msgs/msg/PointCloud2"
    for bad in ("Image", "sensor_msgs/Image", "a/b/c/d"):
        with pytest.raises(ValueError):
            rz.dds_type(bad)


def test_humble_keys_carry_no_type_hash():
    assert rz.type_hash_for("sensor_msgs/msg/Image", "humble") == "TypeHashNotSupported"
    assert rz.type_hash_for("sensor_msgs/msg/Image", "kilted") == IMAGE_HASH
    with pytest.raises(ValueError):
        rz.type_hash_for("sensor_msgs/msg/Image", "foxy")


def test_attachment_is_zenoh_ext_serialization():
    # rmw_zenoh writes it with zenoh::ext::Serializer (int64, int64,
    # std::array<uint8_t, 16>); zenoh-python's serializer is that format.
    import zenoh.ext as ze
    gid = bytes(range(100, 116))
    att = rz.attachment(7, 1_700_000_000_123_456_789, gid)
    assert len(att) == 33
    assert att == ze.z_serialize((ze.Int64(7), ze.Int64(1_700_000_000_123_456_789), gid)).to_bytes()
    assert rz.parse_attachment(att) == (7, 1_700_000_000_123_456_789, gid)
    for bad in (None, b"", att[:32], att + b"\0", att[:16] + b"\x0f" + att[17:]):
        with pytest.raises(ValueError):
            rz.parse_attachment(bad)


def test_gid_is_xxh3_of_the_token():
    v = xxhash.xxh3_128_intdigest(DESIGN_PUB.encode())
    assert rz.gid_for(DESIGN_PUB) == struct.pack("<QQ", v & (2**64 - 1), v >> 64)


def test_a_second_reading_of_the_protocol_agrees():
    # zenoh-ros2-sdk (PyPI) is an independent Python implementation of
    # rmw_zenoh's dialect; its builders must produce our strings.  (Its
    # publishers fetch message definitions from git, so only its pure parts
    # are used here.)
    sdk = pytest.importorskip("zenoh_ros2_sdk") if not os.environ.get("HORUS_REQUIRE_FRAMEWORKS") \
        else __import__("zenoh_ros2_sdk")
    from zenoh_ros2_sdk import attachment as sa, entity as se, keyexpr as sk, qos as sq

    node = se.NodeEntity(domain_id=7, session_id="0123abcd", node_id=0, node_name="horus_bridge",
                         namespace="/")
    assert sk.node_liveliness_keyexpr(node) == rz.node_token(7, "0123abcd", 0, "/", "horus_bridge")
    prof = sq.QosProfile(reliability=sq.QosReliability.BEST_EFFORT, history_depth=4)
    qos = rz.qos_string(rz.BEST_EFFORT, rz.VOLATILE, rz.KEEP_LAST, 4)
    assert prof.encode() == qos
    assert sq.QosProfile.decode(qos) == prof
    ep = se.EndpointEntity(node=node, entity_id=3, kind=se.EntityKind.PUBLISHER,
                           name="/camera/front", dds_type_name="sensor_msgs::msg::dds_::Image_",
                           type_hash=IMAGE_HASH, qos=prof.encode())
    tok = rz.endpoint_token(7, "0123abcd", 0, 3, rz.PUBLISHER, "/", "horus_bridge",
                            "/camera/front", "sensor_msgs/msg/Image", IMAGE_HASH, qos)
    assert sk.endpoint_liveliness_keyexpr(ep) == tok
    assert sk.topic_keyexpr(7, "/camera/front", "sensor_msgs::msg::dds_::Image_", IMAGE_HASH) == \
        rz.data_key(7, "/camera/front", "sensor_msgs/msg/Image", IMAGE_HASH)
    gid = rz.gid_for(tok)
    a = sa.Attachment.from_bytes(rz.attachment(42, 123456789, gid))
    assert (a.sequence_id, a.timestamp_ns, a.gid) == (42, 123456789, gid)
    assert sa.Attachment(sequence_id=42, timestamp_ns=123456789, gid=gid).to_bytes() == \
        rz.attachment(42, 123456789, gid)
    assert sdk is not None


def test_names_map_as_everywhere_else():
    assert rz.ros_topic_for("camera.front") == "/camera/front"
    assert rz.horus_topic_for("/camera/front") == "camera.front"
    for bad in ("2cam", "cam-front", "a..b"):
        with pytest.raises(ValueError):
            rz.ros_topic_for(bad)
    for bad in ("/a//b", "/a b", "/**", "/"):
        with pytest.raises(ValueError):
            rz.horus_topic_for(bad)


# ---- against a stand-in rmw_zenohd and a stand-in ROS node --------------------------


def zconf(mode, listen=(), connect=()):
    c = zenoh.Config()
    c.insert_json5("mode", f'"{mode}"')
    c.insert_json5("scouting/multicast/enabled", "false")
    c.insert_json5("transport/shared_memory/enabled", "false")
    c.insert_json5("listen/endpoints", str(list(listen)).replace("'", '"'))
    c.insert_json5("connect/endpoints", str(list(connect)).replace("'", '"'))
    if mode == "router":
        # rmw_zenohd's DEFAULT_RMW_ZENOH_ROUTER_CONFIG: no brokering between peers.
        c.insert_json5("routing/router/peers_failover_brokering", "false")
    return c


class RosNode:
    """A plain Zenoh peer acting as a ROS 2 node on rmw_zenoh."""

    def __init__(self, router):
        self.s = zenoh.open(zconf("peer", ["tcp/127.0.0.1:0"], [router]))
        self.zid = str(self.s.info.zid())
        self.tokens = queue.Queue()
        self.graph = {}
        self.lock = threading.Lock()
        self.keep = []

        def on_token(sample):
            with self.lock:
                if sample.kind == zenoh.SampleKind.PUT:
                    self.graph[str(sample.key_expr)] = True
                else:
                    self.graph.pop(str(sample.key_expr), None)
            self.tokens.put((sample.kind, str(sample.key_expr)))

        self.keep.append(self.s.liveliness().declare_subscriber("@ros2_lv/0/**", on_token,
                                                                history=True))

    def wait_token(self, pred, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for k in self.graph:
                    if pred(k):
                        return k
            try:
                self.tokens.get(timeout=0.2)
            except queue.Empty:
                pass
        raise AssertionError(f"no such token; graph: {sorted(self.graph)}")

    def subscribe(self, key):
        q = queue.Queue()

        def on_sample(sample):
            att = sample.attachment
            q.put((str(sample.key_expr), sample.payload.to_bytes(),
                   None if att is None else att.to_bytes()))

        self.keep.append(self.s.declare_subscriber(key, on_sample))
        return q

    def close(self):
        for k in self.keep:
            k.undeclare()
        self.s.close()


@pytest.fixture
def ros():
    port = free_port()
    router = zenoh.open(zconf("router", [f"tcp/127.0.0.1:{port}"]))
    endpoint = f"tcp/127.0.0.1:{port}"
    node = RosNode(endpoint)
    node.endpoint = endpoint
    node.router = router
    yield node
    for p in _STARTED:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)
    _STARTED.clear()
    node.close()
    router.close()


def ros2_bridge(endpoint, *args):
    return Proc([sys.executable, "-m", "horus", "bridge", "--ros2", "--connect", endpoint,
                 "--report", "0.2", *args], dict(os.environ))


def cdr_image(msg):
    return TS.deserialize_cdr(msg, "sensor_msgs/msg/Image")


def recv_next(q, what, timeout=30):
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no sample on {what}") from None


def lockstep(topic, q, make, n, what, type_name):
    """Send make(-1) until one arrives (routes settle), then each of n
    messages only after the previous one arrived: nothing can be lost to a
    full ring however slow the machine.  Late warm-ups (frame_id "f-1")
    are skipped.  Returns [(msg, sample)]."""
    end = time.monotonic() + 60
    warm = make(-1)
    while True:
        topic.send(warm)
        try:
            q.get(timeout=0.2)
            break
        except queue.Empty:
            assert time.monotonic() < end, f"nothing arrived on {what}"
    out = []
    for i in range(n):
        m = make(i)
        topic.send(m)
        while True:
            sample = recv_next(q, what)
            if TS.deserialize_cdr(sample[1], type_name).header.frame_id != "f-1":
                break
        out.append((m, sample))
    return out


def check_attachment(att, token, seqs):
    assert att is not None and len(att) == 33
    seq, ts, n = struct.unpack_from("<qqB", att)
    assert n == 16 and att[17:] == rz.gid_for(token) and ts > 0
    seqs.append(seq)


def test_outgoing_image_depth_cloud_reach_a_ros_node(ros, numbers):
    horus.clean()
    cam = Topic(Image, "camera.front")
    depth = Topic(DepthImage, "camera.depth")
    cloud = Topic(PointCloud, "lidar.points")
    b = ros2_bridge(ros.endpoint, "--out", "camera.front", "--out", "camera.depth",
                    "--out", "lidar.points")
    try:
        node = ros.wait_token(lambda k: k.endswith("/NN/%/%/horus_bridge"))
        zid = node.split("/")[2]
        assert node == f"@ros2_lv/0/{zid}/0/0/NN/%/%/horus_bridge"
        toks = {}
        for ros_name, typ, h, cap in (("%camera%front", "Image", IMAGE_HASH, cam.capacity),
                                      ("%camera%depth", "Image", IMAGE_HASH, depth.capacity),
                                      ("%lidar%points", "PointCloud2", PC2_HASH, cloud.capacity)):
            tok = ros.wait_token(lambda k, r=ros_name: f"/MP/%/%/horus_bridge/{r}/" in k)
            eid = tok.split("/")[4]
            assert tok == (f"@ros2_lv/0/{zid}/0/{eid}/MP/%/%/horus_bridge/{ros_name}/"
                           f"sensor_msgs::msg::dds_::{typ}_/{h}/2::,{cap}:,:,:,,"), tok
            toks[ros_name] = tok
        assert len({t.split("/")[4] for t in toks.values()}) == 3  # entity ids differ
        q_cam = ros.subscribe(f"0/camera/front/sensor_msgs::msg::dds_::Image_/{IMAGE_HASH}")
        q_depth = ros.subscribe(f"0/camera/depth/sensor_msgs::msg::dds_::Image_/{IMAGE_HASH}")
        q_cloud = ros.subscribe(f"0/lidar/points/sensor_msgs::msg::dds_::PointCloud2_/{PC2_HASH}")
        rng = np.random.default_rng(1)

        def stamp(m, i):
            m.set_frame_id(f"f{i}")
            m.set_timestamp_ns(1_700_000_000_000_000_000 + i)
            return m

        def make_img(i):
            return stamp(Image.from_numpy(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8),
                                          "rgb8"), i)

        seqs = []
        for m, (key, payload, att) in lockstep(cam, q_cam, make_img, 4, "/camera/front",
                                                 "sensor_msgs/msg/Image"):
            check_attachment(att, toks["%camera%front"], seqs)
            r = cdr_image(payload)
            assert (r.header.frame_id, r.header.stamp.sec, r.header.stamp.nanosec) == \
                (m.frame_id, 1_700_000_000, m.timestamp_ns % 10**9)
            assert (r.height, r.width, r.encoding, r.is_bigendian, r.step) == (30, 40, "rgb8", 0, 120)
            assert bytes(r.data) == m.to_numpy().tobytes()
        # Sequence numbers run +1 per message of this publisher (warm-ups
        # came first, from 1).
        assert seqs == list(range(seqs[0], seqs[0] + 4)) and seqs[0] >= 2

        def make_depth(i):
            return stamp(DepthImage.from_numpy(rng.integers(0, 5000, (12, 16), dtype=np.uint16)), i)

        seqs = []
        for m, (key, payload, att) in lockstep(depth, q_depth, make_depth, 3, "/camera/depth",
                                                 "sensor_msgs/msg/Image"):
            check_attachment(att, toks["%camera%depth"], seqs)
            r = cdr_image(payload)
            assert (r.encoding, r.height, r.width, r.step) == ("16UC1", 12, 16, 32)
            assert np.array_equal(np.frombuffer(bytes(r.data), "<u2").reshape(12, 16), m.to_numpy())

        def make_cloud(i):
            return stamp(PointCloud.from_numpy(rng.standard_normal((50, 4)).astype(np.float32)), i)

        seqs = []
        for m, (key, payload, att) in lockstep(cloud, q_cloud, make_cloud, 3, "/lidar/points",
                                                 "sensor_msgs/msg/PointCloud2"):
            check_attachment(att, toks["%lidar%points"], seqs)
            r = TS.deserialize_cdr(payload, "sensor_msgs/msg/PointCloud2")
            assert [(f.name, f.offset, f.datatype, f.count) for f in r.fields] == \
                [("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("intensity", 12, 7, 1)]
            assert (r.height, r.width, r.point_step, r.row_step) == (1, 50, 16, 800)
            assert np.array_equal(np.frombuffer(bytes(r.data), "<f4").reshape(50, 4), m.to_numpy())
        numbers("ros2 out: Image, DepthImage, PointCloud decoded by rosbags from rmw_zenoh keys "
                "with 33-byte attachments, tokens as in rmw_zenoh's design.md")
    finally:
        err = b.stop()
        for t in (cam, depth, cloud):
            t.close()
    assert "Traceback" not in err, err
    # The tokens go with the bridge.
    end = time.monotonic() + 30
    while any("horus_bridge" in k for k in list(ros.graph)):
        assert time.monotonic() < end, sorted(ros.graph)
        try:
            ros.tokens.get(timeout=0.2)
        except queue.Empty:
            pass


class RosPublisher:
    """The stand-in node's publisher: tokens as rmw_zenoh declares them,
    CDR by rosbags, the attachment of every sample."""

    def __init__(self, node, topic, type_name, type_hash, eid=10):
        self.node = node
        self.s = node.s
        self.keep = [self.s.liveliness().declare_token(
            rz.node_token(0, node.zid, 0, "/", "talker"))]
        self.token = rz.endpoint_token(0, node.zid, 0, eid, rz.PUBLISHER, "/", "talker", topic,
                                       type_name, type_hash, "2::,5:,:,:,,")
        self.keep.append(self.s.liveliness().declare_token(self.token))
        self.key = rz.data_key(0, topic, type_name, type_hash)
        self.gid = rz.gid_for(self.token)
        self.seq = 0

    def put(self, payload, key=None, att=True):
        if att is True:
            self.seq += 1
        a = rz.attachment(self.seq, time.time_ns(), self.gid) if att is True else att
        # BLOCK: nothing is dropped on the way, so sequence gaps mean a bug.
        block = zenoh.CongestionControl.BLOCK
        if a is None:
            self.s.put(key or self.key, payload, congestion_control=block)
        else:
            self.s.put(key or self.key, payload, attachment=a, congestion_control=block)

    def close(self):
        for k in self.keep:
            k.undeclare()


def ros_header(i):
    H = TS.types["std_msgs/msg/Header"]
    T = TS.types["builtin_interfaces/msg/Time"]
    return H(stamp=T(sec=1_700_000_000 + i, nanosec=i + 1), frame_id=f"r{i}")


def ros_image(i, arr, enc):
    Img = TS.types["sensor_msgs/msg/Image"]
    m = Img(header=ros_header(i), height=arr.shape[0], width=arr.shape[1], encoding=enc,
            is_bigendian=0, step=arr.strides[0], data=np.frombuffer(arr.tobytes(), np.uint8))
    return bytes(TS.serialize_cdr(m, "sensor_msgs/msg/Image"))


def ros_cloud(i, arr):
    PC2 = TS.types["sensor_msgs/msg/PointCloud2"]
    PF = TS.types["sensor_msgs/msg/PointField"]
    fields = [PF(name=n, offset=4 * j, datatype=7, count=1) for j, n in enumerate("xyz")]
    m = PC2(header=ros_header(i), height=1, width=arr.shape[0], fields=fields, is_bigendian=False,
            point_step=12, row_step=12 * arr.shape[0], data=np.frombuffer(arr.tobytes(), np.uint8),
            is_dense=True)
    return bytes(TS.serialize_cdr(m, "sensor_msgs/msg/PointCloud2"))


def ros_compressed(i, arr):
    import cv2
    ok, png = cv2.imencode(".png", arr)
    assert ok
    CI = TS.types["sensor_msgs/msg/CompressedImage"]
    m = CI(header=ros_header(i), format="png", data=np.frombuffer(png.tobytes(), np.uint8))
    return bytes(TS.serialize_cdr(m, "sensor_msgs/msg/CompressedImage"))


def pump(pub, topic, payload_for, n):
    """Publish payload_for(-1) until one arrives (routes settle), then n
    messages, each after the previous arrived; late warm-ups (frame_id
    "r-1") are skipped.  Returns the horus messages."""
    end = time.monotonic() + 60
    while True:
        pub.put(payload_for(-1))
        m = topic.recv(timeout=0.2)
        if m is not None:
            break
        assert time.monotonic() < end, "nothing arrived from the ROS side"
    got = []
    for i in range(n):
        pub.put(payload_for(i))
        while True:
            m = topic.recv(timeout=30)
            assert m is not None, f"message {i} did not arrive"
            if m.frame_id != "r-1":
                break
        got.append(m)
    return got


def test_incoming_image_depth_cloud_compressed_become_horus_messages(ros, numbers):
    horus.clean()
    rng = np.random.default_rng(2)
    imgs = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(3)]
    deps = [rng.integers(0, 9000, (10, 12), dtype=np.uint16) for _ in range(3)]
    clouds = [rng.standard_normal((40, 3)).astype(np.float32) for _ in range(3)]
    comps = [rng.integers(0, 256, (16, 24, 3), dtype=np.uint8) for _ in range(3)]
    pubs = [RosPublisher(ros, "/cam/rgb", "sensor_msgs/msg/Image", IMAGE_HASH, 10),
            RosPublisher(ros, "/cam/depth", "sensor_msgs/msg/Image", IMAGE_HASH, 11),
            RosPublisher(ros, "/lidar", "sensor_msgs/msg/PointCloud2", PC2_HASH, 12),
            RosPublisher(ros, "/cam/jpeg", "sensor_msgs/msg/CompressedImage",
                         rz.TYPE_HASH["sensor_msgs/msg/CompressedImage"], 13)]
    rgb_t, depth_t = Topic(Image, "cam.rgb"), Topic(DepthImage, "cam.depth")
    lidar_t, comp_t = Topic(PointCloud, "lidar"), Topic(Image, "jpeg.in")
    b = ros2_bridge(ros.endpoint, "--in", "/cam/rgb", "--in", "/cam/depth", "--in", "/lidar",
                    "--in", "/cam/jpeg=jpeg.in", "--queue", "32")
    try:
        got = pump(pubs[0], rgb_t, lambda i: ros_image(i, imgs[max(i, 0)], "rgb8"), 3)
        for i, m in enumerate(got):
            assert (m.encoding, m.frame_id, m.timestamp_ns) == \
                ("rgb8", f"r{i}", (1_700_000_000 + i) * 10**9 + i + 1)
            assert np.array_equal(m.to_numpy(), imgs[i])
        got = pump(pubs[1], depth_t, lambda i: ros_image(i, deps[max(i, 0)], "16UC1"), 3)
        for i, m in enumerate(got):
            assert isinstance(m, DepthImage) and np.array_equal(m.to_numpy(), deps[i])
        got = pump(pubs[2], lidar_t, lambda i: ros_cloud(i, clouds[max(i, 0)]), 3)
        for i, m in enumerate(got):
            assert m.frame_id == f"r{i}" and np.array_equal(m.to_numpy(), clouds[i])
        got = pump(pubs[3], comp_t, lambda i: ros_compressed(i, comps[max(i, 0)]), 3)
        for i, m in enumerate(got):
            assert m.encoding == "bgr8" and np.array_equal(m.to_numpy(), comps[i])
        del got, m
        # The bridge shows its subscriptions in the graph, typed from the
        # publishers' tokens.
        for topic, typ in (("%cam%rgb", "Image"), ("%lidar", "PointCloud2"),
                           ("%cam%jpeg", "CompressedImage")):
            tok = ros.wait_token(lambda k, t=topic, y=typ:
                                 f"/MS/%/%/horus_bridge/{t}/sensor_msgs::msg::dds_::{y}_/" in k)
            assert rz.parse_token(tok)["qos"] == {"reliability": 2, "durability": 2,
                                                  "history": 1, "depth": 32}
        numbers("ros2 in: Image, 16UC1 Image -> DepthImage, PointCloud2, PNG CompressedImage "
                "(rosbags CDR) arrived as horus messages with identical pixels/points")
    finally:
        err = b.stop()
        for p in pubs:
            p.close()
        for t in (rgb_t, depth_t, lidar_t, comp_t):
            t.close()
    assert "Traceback" not in err, err
    last = [line for line in b.out if "in /cam/rgb" in line][-1]
    assert "0 malformed" in last and "0 lost" in last, last


def wait_report(proc, text, timeout=30):
    """Wait for a report line of the bridge containing `text`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = proc.lines.get(timeout=0.2)
        except queue.Empty:
            assert proc.p.poll() is None, "".join(proc.out)
            continue
        if text in line:
            return line
    raise AssertionError(f"no report with {text!r}: {''.join(proc.out[-5:])}")


def test_bad_input_from_the_network_is_counted_never_published(ros):
    horus.clean()
    good = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    pub = RosPublisher(ros, "/bad/in", "sensor_msgs/msg/Image", IMAGE_HASH)
    t = Topic(Image, "bad.in")
    b = ros2_bridge(ros.endpoint, "--in", "/bad/in", "--queue", "32")
    try:
        pump(pub, t, lambda i: ros_image(i, good, "rgb8"), 1)
        payload = ros_image(5, good, "rgb8")
        # The pixel array's length says 1 byte more than the message has.
        n = len(good.tobytes())
        short = payload[:-n - 4] + struct.pack("<I", n + 1) + payload[-n:]
        bad = [
            dict(payload=payload, att=None),                               # no attachment
            dict(payload=payload, att=b"\x01" * 20),                       # short attachment
            dict(payload=short),                                           # CDR lengths disagree
            dict(payload=b"\x00\x01\x00\x00\x05\x00\x00\x00hello\x00",     # unknown type
                 key="0/bad/in/std_msgs::msg::dds_::String_/" + STRING_HASH),
            dict(payload=payload,                                          # hash mismatch
                 key="0/bad/in/sensor_msgs::msg::dds_::Image_/RIHS01_" + "0" * 64),
            dict(payload=b"garbage"),                                      # not CDR
            # 100000 x 100000 with step 0 and no data: consistent, but no
            # pool holds it (MemoryError, counted like the rest).
            dict(payload=bytes(TS.serialize_cdr(TS.types["sensor_msgs/msg/Image"](
                header=ros_header(6), height=100000, width=100000, encoding="rgb8",
                is_bigendian=0, step=0, data=np.zeros(0, np.uint8)), "sensor_msgs/msg/Image"))),
        ]
        for kw in bad:
            pub.put(kw["payload"], key=kw.get("key"), att=kw.get("att", True))
        # Tokens rmw_zenoh would reject (an empty part cannot be a Zenoh key).
        bad_tokens = [ros.s.liveliness().declare_token(k) for k in (
            "@ros2_lv/0/zz/0/5/MP/%/%/n",
            f"@ros2_lv/0/zz/0/6/XX/%/%/n/%bad%in/sensor_msgs::msg::dds_::Image_/{IMAGE_HASH}/::,:,:,,",
            f"@ros2_lv/0/zz/0/7/MP/%/%/n/%bad%in/sensor_msgs::msg::dds_::Image_/{IMAGE_HASH}/2::,x:,:,:,,",
        )]
        pub.put(ros_image(9, good, "rgb8"))
        m = t.recv(timeout=30)
        while m is not None and m.frame_id == "r-1":  # a late warm-up
            m = t.recv(timeout=30)
        assert m is not None and m.frame_id == "r9" and np.array_equal(m.to_numpy(), good)
        del m
        # Every bad sample is counted; the bridge lives on and says so.
        wait_report(b, "published, 0 lost, 7 malformed | 3 bad tokens")
        assert b.p.poll() is None
        assert t.recv(timeout=0.2) is None  # nothing malformed reached the topic
        for k in bad_tokens:
            k.undeclare()
    finally:
        err = b.stop()
        pub.close()
        t.close()
    assert "Traceback" not in err, err
    assert "dropped a bad sample on 0/bad/in/" in err


def test_list_prints_the_graph(ros):
    horus.clean()
    pub = RosPublisher(ros, "/chatter", "std_msgs/msg/String", STRING_HASH)
    cam = Topic(Image, "camera.front")
    b = ros2_bridge(ros.endpoint, "--out", "camera.front")
    try:
        ros.wait_token(lambda k: "/MP/%/%/horus_bridge/%camera%front/" in k)
        # The router holds every token before --list asks it.
        end = time.monotonic() + 30
        while True:
            keys = [str(r.ok.key_expr) for r in ros.router.liveliness().get("@ros2_lv/0/**",
                                                                              timeout=2)
                    if r.ok is not None]
            if any("%camera%front" in k for k in keys) and pub.token in keys:
                break
            assert time.monotonic() < end, keys
        out = subprocess.run([sys.executable, "-m", "horus", "bridge", "--ros2", "--list",
                              "--connect", ros.endpoint], capture_output=True, text=True,
                             timeout=60, env=dict(os.environ))
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert "  /talker" in lines and "  /horus_bridge" in lines, out.stdout
        assert "  /chatter [std_msgs/msg/String] publishers: 1 (/talker) subscribers: 0 ()" \
            in lines, out.stdout
        assert "  /camera/front [sensor_msgs/msg/Image] publishers: 1 (/horus_bridge) " \
            "subscribers: 0 ()" in lines, out.stdout
    finally:
        b.stop()
        pub.close()
        cam.close()


def test_cli_refuses_bad_arguments():
    for args, msg in ((["--out", "cam-front"], "not a valid ROS 2 topic name"),
                      (["--in", "camera"], "starts with '/'"),
                      (["--domain-id", "300", "--out", "a"], "outside 0..232"),
                      ([], "nothing to bridge")):
        r = subprocess.run([sys.executable, "-m", "horus", "bridge", "--ros2",
                            "--connect", "tcp/127.0.0.1:1", "--retries", "1", *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)


def test_a_cloud_with_a_packed_rgb_field_is_unpacked():
    """x, y, z, rgb, all float32 back to back (what many drivers publish)
    has the layout of a plain 4-field cloud: the names decide, and the
    packed colour becomes r, g, b."""
    from horus import ros2msg

    PC2 = TS.types["sensor_msgs/msg/PointCloud2"]
    PF = TS.types["sensor_msgs/msg/PointField"]
    pts = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
    pts["x"], pts["y"], pts["z"] = [1.0, 4.0], [2.0, 5.0], [3.0, 6.0]
    pts["rgb"] = [0x00FF8001, 0x00010203]
    fields = [PF(name=n, offset=4 * j, datatype=7, count=1) for j, n in enumerate(["x", "y", "z", "rgb"])]
    m = PC2(header=ros_header(0), height=1, width=2, fields=fields, is_bigendian=False,
            point_step=16, row_step=32, data=np.frombuffer(pts.tobytes(), np.uint8), is_dense=True)
    cloud = ros2msg.decode_pointcloud(bytes(TS.serialize_cdr(m, "sensor_msgs/msg/PointCloud2")))
    assert cloud.to_numpy().tolist() == [[1, 2, 3, 255, 128, 1], [4, 5, 6, 1, 2, 3]]


def test_yuv422_is_yuyv_and_uyvy_is_swapped_into_it():
    """horus yuv422 is YUYV (it also takes the name "yuyv"); ROS calls that
    "yuv422_yuy2" and means UYVY by "yuv422".  Recorded and shown as YUYV,
    and a UYVY frame comes in with each byte pair swapped."""
    from horus import ros2msg, view

    img = Image(1, 2, "yuyv")
    img.to_numpy()[:] = np.array([[[200, 10], [210, 20]]], np.uint8)  # Y0 U Y1 V
    m = TS.deserialize_cdr(bytes(ros2msg.encode_image(img)), "sensor_msgs/msg/Image")
    assert m.encoding == "yuv422_yuy2" and bytes(m.data) == bytes([200, 10, 210, 20])
    assert view._ENCODINGS["yuv422"] == "yuyv"  # Foxglove's name for YUYV
    for enc, pixels in (("yuv422_yuy2", [200, 10, 210, 20]), ("yuyv", [200, 10, 210, 20]),
                        ("yuv422", [10, 200, 20, 210]), ("uyvy", [10, 200, 20, 210])):
        ros = ros_image(0, np.array([pixels], np.uint8).reshape(1, 2, 2), enc)
        back = ros2msg.decode_image(ros)
        assert back.encoding == "yuv422"
        assert back.to_numpy().reshape(-1).tolist() == [200, 10, 210, 20], enc
