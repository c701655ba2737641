"""The API people port from and reach for (issue 14), written as a HORUS
user, a NumPy/OpenCV/PIL user and a PyTorch user would write it: HORUS
names and aliases, NumPy conventions, errors that say what to do, late
joiners, read-only received frames (across two processes) and the edges a
spec audit found."""
import gc

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud, TensorHandle, TensorPool, Topic

# ---- HORUS names -------------------------------------------------------------------


def test_tensor_is_tensorhandle():
    assert horus.Tensor is TensorHandle
    t = TensorPool().alloc([2, 3], dtype="float32")
    assert isinstance(t, horus.Tensor) and type(t).__name__ == "TensorHandle"


@pytest.mark.parametrize("alias,canonical", [
    ("rgb", "rgb8"), ("RGB8", "rgb8"), ("Rgb", "rgb8"), ("bgr", "bgr8"), ("rgba", "rgba8"),
    ("bgra", "bgra8"), ("gray", "mono8"), ("grey", "mono8"), ("mono", "mono8"),
    ("GRAY", "mono8"), ("gray16", "mono16"), ("yuyv", "yuv422"), ("bayer", "bayer_rggb8"),
    ("float", "mono32f"), ("MONO32F", "mono32f"), ("Bayer_RGGB8", "bayer_rggb8"),
])
def test_encoding_aliases_map_to_one_canonical_name(alias, canonical):
    img = Image(4, 6, alias)
    assert img.encoding == canonical and canonical in repr(img)
    same = Image(4, 6, canonical)
    assert img.shape == same.shape and img.dtype == same.dtype
    arr = np.zeros(img.shape, dtype=img.dtype)
    assert Image.from_numpy(arr, encoding=alias).encoding == canonical
    assert Image.from_bytes(bytes(img.nbytes), 4, 6, alias).encoding == canonical


def test_unknown_encoding_names_the_canonical_ones():
    with pytest.raises(ValueError, match="rgb8.*any case"):
        Image(4, 4, "rgb9")


@pytest.mark.parametrize("alias,dtype,unit", [
    ("f32", "float32", "meters"), ("float", "float32", "meters"),
    ("meters", "float32", "meters"), ("m", "float32", "meters"), ("M", "float32", "meters"),
    ("u16", "uint16", "millimeters"), ("mm", "uint16", "millimeters"),
    ("millimeters", "uint16", "millimeters"), ("UINT16", "uint16", "millimeters"),
])
def test_depth_dtype_aliases(alias, dtype, unit):
    d = DepthImage(4, 6, alias)
    assert d.dtype == dtype and unit in repr(d)
    d.set_depth(1, 2, 1.5)
    assert d.get_depth(1, 2) == pytest.approx(1.5)


def test_depth_dtype_still_takes_numpy_and_refuses_others():
    assert DepthImage(2, 2, np.uint16).dtype == "uint16"
    with pytest.raises(ValueError, match="meters.*millimeters"):
        DepthImage(2, 2, "cm")


def test_tensorpool_with_every_argument_defaulted_is_the_global_pool():
    img = Image(8, 8, "rgb8")  # lives in the global pool
    pool = TensorPool()
    assert pool.pool_id == 0
    assert img.tensor.pool_id == 0
    # Same pool, whatever geometry it was created with (HORUS_POOL_MB and
    # 4096 slots, not TensorPool's defaults of 1024 MB and 1024 slots).
    assert TensorPool(0).stats()["max_slots"] == pool.stats()["max_slots"]
    assert TensorPool(pool_id=0).path == pool.path


def test_opening_an_existing_pool_does_not_repeat_its_geometry():
    TensorPool(7, size_mb=16, max_slots=32)
    again = TensorPool(7)
    assert again.stats()["max_slots"] == 32 and again.stats()["size_bytes"] == 16 << 20
    assert TensorPool(7, max_slots=32).pool_id == 7
    with pytest.raises(ValueError, match="32"):
        TensorPool(7, max_slots=64)


def test_as_tensor_device_is_cuda_is_gpu_on_every_type():
    objs = [Image(4, 6, "rgb"), DepthImage(4, 6, "mm"), PointCloud(5, 3),
            TensorPool().alloc([3], dtype="uint8")]
    for o in objs:
        assert o.device == "cpu" and o.is_cuda() is False and o.is_gpu is False
        assert o.is_cpu()
    for o in objs[:3]:
        t = o.as_tensor()
        assert isinstance(t, horus.Tensor)
        assert t.numpy().ctypes.data == o.tensor.numpy().ctypes.data == o.to_numpy().ctypes.data


def test_len_of_a_cloud_is_its_point_count():
    cloud = PointCloud.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3))
    assert len(cloud) == cloud.point_count == 4 and cloud.shape == (4, 3)
    assert list(cloud[-1]) == [9.0, 10.0, 11.0]
    assert len(PointCloud(0)) == 0


def test_a_horus_program_ports_unchanged():
    """HORUS spellings throughout."""
    pool = TensorPool()
    t = pool.alloc([480, 640, 3], dtype="uint8")
    img = Image.from_numpy(t.numpy(), encoding="RGB")
    assert img.encoding == "rgb8" and not img.is_cuda() and img.device == "cpu"
    depth = DepthImage(480, 640, "meters")
    cloud = PointCloud(1000)
    assert len(cloud) == 1000 and depth.dtype == "float32"
    assert isinstance(img.as_tensor(), horus.Tensor)


# ---- NumPy, OpenCV, PIL conventions ---------------------------------------------------


def test_shape_is_the_arrays_shape():
    assert Image(480, 640, "rgb8").shape == (480, 640, 3)
    assert Image(480, 640, "mono8").shape == (480, 640)
    assert Image(2, 3, "yuv422").shape == (2, 3, 2)
    assert DepthImage(2, 3).shape == (2, 3)
    for o in (Image(5, 7, "bgra"), DepthImage(5, 7), PointCloud(9, 4)):
        assert o.shape == o.to_numpy().shape


def test_getitem_setitem_in_numpy_order():
    img = Image(4, 6, "rgb8")
    img[1, 5] = [10, 20, 30]  # row 1, column 5
    assert list(img[1, 5]) == [10, 20, 30] == img.pixel(5, 1)
    assert list(img[-3, -1]) == [10, 20, 30]
    img[2:4, 0:2] = 7
    assert (img.to_numpy()[2:4, 0:2] == 7).all() and img.pixel(1, 3) == [7, 7, 7]
    gray = Image(3, 3, "gray")
    gray[0, 2] = 200
    assert gray[0, 2] == 200 == gray.pixel(2, 0)[0]
    d = DepthImage(2, 2)
    d[1, 0] = 2.5
    assert d.get_depth(0, 1) == 2.5
    with pytest.raises(IndexError):
        img[4, 0]
    with pytest.raises(TypeError):
        del img[0, 0]


def test_repr_states_height_and_width():
    r = repr(Image(480, 640, "rgb8"))
    assert "height=480 width=640 rgb8" in r
    assert "height=2 width=3" in repr(DepthImage(2, 3))


def test_pil_fromarray_takes_the_image_itself():
    PIL = pytest.importorskip("PIL.Image")
    img = Image.from_numpy(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3))
    p = PIL.fromarray(img)
    assert p.size == (6, 4) and p.mode == "RGB"
    assert (np.asarray(p) == img.to_numpy()).all()
    g = PIL.fromarray(Image.from_numpy(np.full((5, 7), 9, np.uint8)))
    assert g.mode == "L" and g.getpixel((6, 4)) == 9
    # ...and back: a PIL image is an array-like.
    back = Image.from_numpy(np.asarray(p), encoding="rgb")
    assert (back.to_numpy() == img.to_numpy()).all()


def test_opencv_round_trip():
    cv2 = pytest.importorskip("cv2")
    img = Image(4, 6, "bgr")
    img.fill([255, 0, 0])  # blue in BGR
    gray = cv2.cvtColor(np.asarray(img), cv2.COLOR_BGR2GRAY)
    out = Image.from_numpy(gray, encoding="grey")
    assert out.encoding == "mono8" and out.shape == (4, 6) and out[0, 0] == gray[0, 0]
    cv2.rectangle(img.to_numpy(), (0, 0), (1, 1), (0, 0, 255), -1)  # draws in place
    assert img.pixel(1, 1) == [0, 0, 255]


def test_array_interface_is_the_protocols():
    img = Image(4, 6, "rgb8")
    ai = img.__array_interface__
    assert ai["data"] == (img.to_numpy().ctypes.data, False)
    assert "strides" not in ai or ai["strides"] is None  # C-contiguous
    assert ai["shape"] == (4, 6, 3) and ai["typestr"] == "|u1" and ai["version"] == 3
    t = TensorPool().alloc([3, 4], dtype="float32")
    t.numpy()[:] = np.arange(12).reshape(3, 4)
    tt = TensorHandle.from_dlpack(t.numpy().T)  # a non-contiguous view of the block
    ai = tt.__array_interface__
    assert ai["strides"] == (4, 16)
    assert (np.asarray(tt) == np.arange(12).reshape(3, 4).T).all()


def test_array_interface_consumer_keeps_the_block_after_release():
    """A consumer of __array_interface__ (not the buffer protocol) keeps the
    exporting object, not the block: the block must outlive release()."""
    pool = TensorPool(8, size_mb=8, max_slots=16)
    gc.collect()
    base = pool.stats()["used_bytes"]
    t = pool.alloc([1024], dtype="uint8")
    t.numpy()[:] = 5

    class Consumer:  # hands NumPy only the interface dict
        def __init__(self, t):
            self.t = t

        @property
        def __array_interface__(self):
            return self.t.__array_interface__

    arr = np.asarray(Consumer(t))
    t.release()
    assert pool.stats()["used_bytes"] > base  # still allocated
    assert (arr == 5).all()
    del arr, t
    gc.collect()
    assert pool.stats()["used_bytes"] == base


# ---- errors that teach -----------------------------------------------------------------


def test_chw_array_says_how_to_permute():
    chw = np.zeros((3, 480, 640), np.uint8)
    with pytest.raises(ValueError, match=r"\(H, W, C\).*transpose\(1, 2, 0\)"):
        Image.from_numpy(chw)
    assert Image.from_numpy(chw.transpose(1, 2, 0)).shape == (480, 640, 3)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=r"permute\(1, 2, 0\)"):
        Image.from_torch(torch.zeros(3, 8, 8, dtype=torch.uint8))


def test_slash_topic_name_shows_the_dotted_one():
    with pytest.raises(ValueError, match=r"'camera\.front'"):
        Topic(Image, "/camera/front")
    with pytest.raises(ValueError, match=r"'robot1\.lidar\.points'"):
        Topic(PointCloud, "/robot1/lidar/points/")
    Topic(Image, "camera.front").close()


# ---- edges -------------------------------------------------------------------------------


def test_from_torch_takes_only_torch_tensors():
    with pytest.raises(TypeError, match=r"torch\.Tensor.*ndarray.*from_numpy"):
        Image.from_torch(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        PointCloud.from_torch(np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        DepthImage.from_torch(np.zeros((4, 3), np.float32))


def test_from_torch_detaches_a_tensor_that_requires_grad():
    torch = pytest.importorskip("torch")
    w = torch.rand(4, 5, 3, requires_grad=True)
    img = Image.from_torch(w)
    assert img.encoding == "rgb32f" and np.allclose(img.to_numpy(), w.detach().numpy())
    pts = torch.rand(10, 3, requires_grad=True)
    assert len(PointCloud.from_torch(pts)) == 10
    assert DepthImage.from_torch(torch.rand(2, 2, requires_grad=True)).shape == (2, 2)
    assert Image.from_torch(tensor=torch.zeros(2, 2, dtype=torch.uint8), encoding="gray").encoding == "mono8"


def test_negative_indices_count_from_the_end_everywhere():
    img = Image(4, 6, "rgb8")
    img.set_pixel(-1, -1, [1, 2, 3])
    assert img.pixel(5, 3) == [1, 2, 3] == img.pixel(-1, -1) == list(img[-1, -1])
    with pytest.raises(IndexError):
        img.pixel(-7, 0)
    with pytest.raises(IndexError):
        img.pixel(0, -5)
    d = DepthImage(4, 6)
    d.set_depth(-6, -4, 2.0)
    assert d.get_depth(0, 0) == 2.0
    with pytest.raises(IndexError):
        d.get_depth(0, -5)
    cloud = PointCloud.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert cloud.point_at(-2) == cloud.point_at(0)
    with pytest.raises(IndexError):
        cloud.point_at(-3)
    t = TensorPool().alloc([5, 2], dtype="uint8")
    assert t.slice(-2, 5).shape == [2, 2]


def test_view_infers_one_minus_one():
    t = TensorPool().alloc([12], dtype="float32")
    assert t.view([-1, 3]).shape == [4, 3]
    assert "-1" in TensorHandle.view.__doc__
    with pytest.raises(ValueError):
        t.view([-1, 5])
    with pytest.raises(ValueError):
        t.view([-1, -1])


def test_ctrl_c_in_a_tick_returns_from_run_after_every_shutdown():
    log = []

    def tick(n):
        raise KeyboardInterrupt  # what a Ctrl-C landing in the tick looks like

    s = horus.Scheduler()
    s.add(horus.Node("a", tick, 100, shutdown=lambda n: log.append("a down")))
    s.add(horus.Node("b", lambda n: None, 100, shutdown=lambda n: log.append("b down")))
    assert s.run(duration=30) is None
    assert sorted(log) == ["a down", "b down"]
    log.clear()
    with pytest.raises(KeyboardInterrupt):
        s.run(duration=30, raise_on_interrupt=True)
    assert sorted(log) == ["a down", "b down"]


def test_other_exceptions_still_propagate_from_run():
    def tick(n):
        raise RuntimeError("boom")

    s = horus.Scheduler()
    s.add(horus.Node("a", tick, 100))
    with pytest.raises(RuntimeError, match="boom"):
        s.run(duration=30)


# ---- late joiners and read-only frames, across two processes --------------------------


def test_history_gives_a_late_subscriber_the_newest_messages(run_child):
    pub = Topic(Image, "late.cam", capacity=8)
    for v in (1, 2, 3):
        img = Image(2, 2, "gray")
        img.fill([v])
        pub.send(img)
    proc = run_child(
        """
        from horus import Image, Topic
        late = Topic(Image, "late.cam", history=2)
        plain = Topic(Image, "late.cam")
        got = []
        while (m := late.recv()) is not None:
            got.append(m.pixel(0, 0)[0])
        print(got, plain.recv(), plain.recv_latest())
        """)
    assert proc.stdout.split("\n")[0] == "[2, 3] None None"
    with pytest.raises(ValueError, match="history"):
        Topic(Image, "late.cam", history=-1)
    with pytest.raises(TypeError, match="history"):
        Topic(Image, "late.cam", history="2")


def test_received_frames_are_read_only_and_shared(spawn_child):
    sub = spawn_child(
        """
        import sys
        import numpy as np
        from horus import Image, Topic
        t = Topic(Image, "ro.cam")
        print("ready", flush=True)
        img = t.recv(timeout=60)
        checks = []
        a = img.to_numpy()
        checks.append(img.readonly and not a.flags.writeable)
        checks.append(not np.asarray(img).flags.writeable)
        checks.append(memoryview(img).readonly)
        checks.append(img.__array_interface__["data"][1] is True)
        checks.append(not np.from_dlpack(img).flags.writeable)  # DLPack 1.x read-only flag
        for write in (lambda: a.__setitem__((0, 0), 1), lambda: img.__setitem__((0, 0), 1),
                      lambda: img.set_pixel(0, 0, [1, 2, 3]), lambda: img.fill([0, 0, 0]),
                      lambda: img.copy_from(bytes(img.nbytes))):
            try:
                write()
                checks.append(False)
            except ValueError:
                checks.append(True)
        try:
            memoryview(img).cast("B")[0] = 1
            checks.append(False)
        except TypeError:
            checks.append(True)
        # Wrapping the read-only view again does not make it writable.
        checks.append(Image.from_numpy(a).readonly)
        # to_torch: zero-copy (documented: do not write; copy first).
        import torch
        tt = img.to_torch()
        checks.append(tt.data_ptr() == a.ctypes.data and tt.shape == (4, 6, 3))
        import PIL.Image
        checks.append(PIL.Image.fromarray(img).getpixel((0, 0)) == (1, 2, 3))
        checks.append(bool((np.array(img) == 1 + np.arange(3)).all()))
        print(checks, img.pixel(0, 0), flush=True)
        sys.stdin.readline()  # the publisher writes to its frame after sending
        print(img.pixel(0, 0), flush=True)
        """)
    assert sub.stdout.readline().strip() == "ready"
    pub = Topic(Image, "ro.cam")
    img = Image(4, 6, "rgb8")
    img.fill([1, 2, 3])
    pub.send(img)
    line = sub.stdout.readline().strip()
    assert line.startswith("[") and "False" not in line.split("]")[0], line
    assert line.endswith("[1, 2, 3]")
    # The publisher's own object stays writable...
    assert not img.readonly and img.to_numpy().flags.writeable
    img[0, 0] = [9, 8, 7]
    # ...and what it writes after send is what subscribers holding it see.
    sub.stdin.write("go\n")
    sub.stdin.flush()
    assert sub.stdout.readline().strip() == "[9, 8, 7]"
    assert sub.wait(timeout=60) == 0, sub.stderr.read()


def test_received_tensor_and_depth_are_read_only(run_child):
    tpub = Topic(TensorHandle, "ro.tensor")
    dpub = Topic(DepthImage, "ro.depth")
    proc_code = """
        import numpy as np
        from horus import DepthImage, TensorHandle, Topic
        t = Topic(TensorHandle, "ro.tensor", history=1).recv()
        d = Topic(DepthImage, "ro.depth", history=1).recv()
        out = [t.readonly, not t.numpy().flags.writeable, not np.asarray(t).flags.writeable,
               d.readonly, not d.to_numpy().flags.writeable, "read-only" in repr(d)]
        try:
            d.set_depth(0, 0, 1.0)
            out.append(False)
        except ValueError as e:
            out.append("copy()" in str(e))
        print(out)
        """
    x = TensorPool().alloc([3], dtype="float32")
    tpub.send(x)
    dpub.send(DepthImage(2, 2))
    proc = run_child(proc_code)
    assert proc.stdout.strip() == str([True] * 7)
    assert not x.readonly and x.numpy().flags.writeable
