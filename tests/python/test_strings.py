"""Every string argument that reaches C refuses an embedded NUL with a
ValueError naming the argument, instead of being silently cut at it
(Topic(Image, "cam\\x00../../etc") used to open topic "cam")."""

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, Node, PointCloud, Scheduler, TensorHandle, TensorPool, Topic


def tick(node):
    pass


class TorchLikeDtype:
    """Prints like a torch dtype (the path hpy_parse_dtype takes for torch)."""

    def __str__(self):
        return "torch.float32\x00junk"


@pytest.fixture(scope="module")
def objs():
    pool = TensorPool(83, size_mb=4, max_slots=16)
    img = Image(2, 2, "rgb8")
    img.frame_id = "cam"
    sched = Scheduler()
    sched.add(Node("n", tick, 10.0))
    return {"pool": pool, "img": img, "tensor": pool.alloc((2,), "float32"), "sched": sched}


U8 = np.zeros((2, 2, 3), np.uint8)

# (id, call, the argument the message must name)
CASES = [
    ("Image-encoding", lambda o: Image(2, 2, "rgb8\x00junk"), "encoding"),
    ("Image.from_numpy-encoding", lambda o: Image.from_numpy(U8, "rgb8\x00"), "encoding"),
    ("Image.from_torch-encoding",
     lambda o: Image.from_torch(__import__("torch").from_numpy(U8), encoding="rgb8\x00"),
     "encoding"),
    ("Image.from_numpy-keyword", lambda o: Image.from_numpy(U8, **{"encoding\x00": "rgb8"}),
     "keyword argument name"),
    ("Image.from_bytes-encoding", lambda o: Image.from_bytes(bytes(12), 2, 2, "rgb8\x00"),
     "encoding"),
    ("DepthImage-dtype", lambda o: DepthImage(2, 2, "uint16\x00"), "dtype"),
    ("PointCloud-dtype", lambda o: PointCloud(2, 3, "float32\x00"), "dtype"),
    ("TensorPool.alloc-dtype", lambda o: o["pool"].alloc((2,), "float32\x00int8"), "dtype"),
    ("TensorPool.alloc-torch-dtype", lambda o: o["pool"].alloc((2,), TorchLikeDtype()), "dtype"),
    ("TensorPool.alloc-device", lambda o: o["pool"].alloc((2,), "float32", "cpu\x00cuda"),
     "device"),
    ("Topic-name", lambda o: Topic(Image, "cam\x00../../etc"), "topic name"),
    ("Topic-generic-name", lambda o: Topic("cam\x00x"), "topic name"),
    ("set_frame_id", lambda o: o["img"].set_frame_id("cam\x00x"), "frame_id"),
    ("frame_id-setter", lambda o: setattr(o["img"], "frame_id", "cam\x00x"), "frame_id"),
    ("Node-name", lambda o: Node("n\x00x", tick, 10.0), "node name"),
    ("Scheduler.node_stats", lambda o: o["sched"].node_stats("n\x00x"), "node name"),
    ("TensorHandle.__dlpack__-keyword", lambda o: o["tensor"].__dlpack__(**{"stream\x00x": None}),
     "keyword argument name"),
    ("TensorHandle.__array__-keyword", lambda o: o["tensor"].__array__(**{"dtype\x00x": None}),
     "keyword argument name"),
    ("Image.__dlpack__-keyword", lambda o: o["img"].__dlpack__(**{"copy\x00x": None}),
     "keyword argument name"),
    ("Image.__array__-keyword", lambda o: o["img"].__array__(**{"copy\x00x": None}),
     "keyword argument name"),
]


@pytest.mark.parametrize("call,what", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_embedded_nul_is_refused(objs, call, what):
    topics = {t["name"] for t in horus.topics()}
    with pytest.raises(ValueError, match=f"{what} .*contains a NUL character"):
        call(objs)
    assert {t["name"] for t in horus.topics()} == topics  # no "cam" topic appeared
    assert objs["img"].frame_id == "cam"


def test_the_prefix_alone_still_works(objs):
    """The refusals above are about the NUL, not the names."""
    assert Image(2, 2, "rgb8").encoding == "rgb8"
    assert DepthImage(2, 2, "uint16").is_millimeters()
    topic = Topic(Image, "cam")
    assert topic.name == "cam"
    topic.close()
    objs["img"].set_frame_id("cam")
    assert objs["sched"].node_stats("n")["ticks"] == 0
