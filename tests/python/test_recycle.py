"""recycle(): a producer refills a frame whose receivers are done with it,
instead of a new (zeroed) block per message; refused while anything else
holds the block (tests/c/test_refs.c checks that earlier descriptors of a
recycled block no longer resolve)."""

import subprocess
import sys

import pytest

from horus import DepthImage, Image, PointCloud, TensorPool, Topic

RECEIVER = """
import sys
from horus import Image, Topic
topic = Topic(Image, "recycle.remote")
print("ready", flush=True)
held = topic.recv(timeout=30)
print("holding", int(held.to_numpy()[0, 0, 0]), flush=True)
sys.stdin.readline()  # hold it until told
del held
print("dropped", flush=True)
sys.stdin.readline()
"""


def test_recycle_keeps_the_bytes_and_moves_the_identity_on():
    img = Image(4, 6, "rgb8")
    img.to_numpy()[:] = 9
    img.recycle()
    assert (img.to_numpy() == 9).all()  # kept, not cleared
    for obj in (DepthImage(2, 3), PointCloud(5), TensorPool(pool_id=61, size_mb=4).alloc([8])):
        obj.recycle()


def test_recycle_is_refused_while_a_view_or_a_ring_holds_the_block():
    img = Image(4, 6, "rgb8")
    view = img.to_numpy()
    with pytest.raises(BufferError, match="held elsewhere"):
        img.recycle()
    del view
    img.recycle()

    topic = Topic(Image, "recycle.ring", capacity=2)
    topic.send(img)
    with pytest.raises(BufferError, match="held elsewhere"):
        img.recycle()
    for _ in range(2):  # the ring of two moves past it
        topic.send(Image(1, 1, "rgb8"))
    img.recycle()
    topic.close()


def test_recycle_waits_for_a_receiver_in_another_process():
    topic = Topic(Image, "recycle.remote", capacity=2)
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        img = Image(2, 2, "rgb8")
        img.to_numpy()[:] = 42
        topic.send(img)
        assert proc.stdout.readline().strip() == "holding 42"
        for _ in range(2):
            topic.send(Image(1, 1, "rgb8"))  # the ring lets go; the receiver does not
        with pytest.raises(BufferError):
            img.recycle()
        proc.stdin.write("drop\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "dropped"
        img.recycle()
        img.to_numpy()[:] = 43
        topic.send(img)  # the same block goes out again as a new message
    finally:
        proc.stdin.write("end\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
        topic.close()
    assert proc.returncode == 0
