"""Image, PointCloud and DepthImage: the spec's snippets as written, every
encoding, zero-copy both ways, lifetimes, and refusals that leave the
object unchanged."""

import gc
import math
import pickle

import numpy as np
import pytest

import horus
from horus import DepthImage, Image, PointCloud

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")

ENCODINGS = {  # name: (channels, bytes per pixel, dtype)
    "mono8": (1, 1, "uint8"), "mono16": (1, 2, "uint16"), "rgb8": (3, 3, "uint8"),
    "bgr8": (3, 3, "uint8"), "rgba8": (4, 4, "uint8"), "bgra8": (4, 4, "uint8"),
    "yuv422": (2, 2, "uint8"), "mono32f": (1, 4, "float32"), "rgb32f": (3, 12, "float32"),
    "bayer_rggb8": (1, 1, "uint8"), "depth16": (1, 2, "uint16"),
}


def used():
    gc.collect()
    return horus.global_pool_stats()["used_bytes"]


# ---- Image: the spec -----------------------------------------------------------


def test_image_spec_creating():
    img = Image(height=480, width=640, encoding="rgb8")
    assert (img.height, img.width, img.encoding) == (480, 640, "rgb8")
    pixels = np.random.randint(0, 255, (480, 640, 3), dtype=np.uint8)
    img = Image.from_numpy(pixels, encoding="rgb8")
    assert np.array_equal(img.to_numpy(), pixels)
    tensor = torch.zeros(480, 640, 3, dtype=torch.uint8)
    img = Image.from_torch(tensor, encoding="rgb8")
    assert img.to_numpy().sum() == 0
    raw_data = bytes(range(256)) * (480 * 640 * 3 // 256)
    img = Image.from_bytes(raw_data, height=480, width=640, encoding="rgb8")
    assert img.to_numpy().tobytes() == raw_data


def test_image_spec_properties_and_access():
    img = Image(height=480, width=640, encoding="rgb8")
    assert img.channels == 3 and img.dtype == "uint8" and img.nbytes == 480 * 640 * 3
    assert img.step == 640 * 3 and img.frame_id == "" and img.timestamp_ns == 0
    np_array = img.to_numpy()
    torch_tensor = img.to_torch()
    jax_array = img.to_jax()
    assert np_array.shape == (480, 640, 3)
    assert tuple(torch_tensor.shape) == (480, 640, 3) and jax_array.shape == (480, 640, 3)
    img.set_pixel(320, 240, [255, 0, 0])
    pixel = img.pixel(320, 240)
    assert pixel == [255, 0, 0] and all(type(v) is int for v in pixel)
    assert np_array[240, 320].tolist() == [255, 0, 0]  # x is the column, y the row
    img.fill([0, 0, 0])
    assert img.pixel(320, 240) == [0, 0, 0] and np_array.max() == 0
    raw_bytes = np.arange(img.nbytes, dtype=np.uint64).astype(np.uint8).tobytes()
    img.copy_from(raw_bytes)
    roi_data = img.roi(x=100, y=100, w=200, h=200)
    assert roi_data == np_array[100:300, 100:300].tobytes()
    img.set_frame_id("camera_front")
    img.set_timestamp_ns(1234567890)
    assert img.frame_id == "camera_front" and img.timestamp_ns == 1234567890
    assert img.is_cpu() is True


def test_image_spec_dlpack_protocol():
    img = Image(height=48, width=64, encoding="rgb8")
    np_array = np.asarray(img)
    capsule = img.__dlpack__()
    device = img.__dlpack_device__()
    assert device == (1, 0) and "dltensor" in repr(capsule)
    np_array[1, 2] = [9, 8, 7]
    assert img.pixel(2, 1) == [9, 8, 7]
    assert np_array.ctypes.data == img.to_numpy().ctypes.data


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding(encoding):
    channels, bpp, dtype = ENCODINGS[encoding]
    img = Image(height=6, width=10, encoding=encoding)
    assert (img.channels, img.dtype, img.step, img.nbytes) == (channels, dtype, 10 * bpp, 60 * bpp)
    arr = img.to_numpy()
    assert arr.shape == ((6, 10) if channels == 1 else (6, 10, channels))
    assert arr.dtype == np.dtype(dtype)
    hi = {"uint8": 255, "uint16": 65535, "float32": 1.5}[dtype]
    values = [hi] + [0] * (channels - 1)
    img.set_pixel(9, 5, values)
    assert img.pixel(9, 5) == values
    back = Image.from_numpy(arr, encoding=encoding)  # same block, no copy
    assert back.to_numpy().ctypes.data == arr.ctypes.data and back.encoding == encoding


def test_encoding_inference_and_mismatch():
    cases = {((4, 5), np.uint8): "mono8", ((4, 5), np.uint16): "mono16",
             ((4, 5), np.float32): "mono32f", ((4, 5, 2), np.uint8): "yuv422",
             ((4, 5, 3), np.uint8): "rgb8", ((4, 5, 3), np.float32): "rgb32f",
             ((4, 5, 4), np.uint8): "rgba8"}
    for (shape, dtype), enc in cases.items():
        assert Image.from_numpy(np.zeros(shape, dtype)).encoding == enc
    with pytest.raises(ValueError) as e:
        Image.from_numpy(np.zeros((4, 5, 3), np.uint8), encoding="mono16")
    assert "mono16" in str(e.value) and "uint8" in str(e.value)
    with pytest.raises(ValueError):
        Image.from_numpy(np.zeros((4, 5, 3), np.float32), encoding="rgb8")
    with pytest.raises(ValueError):
        Image.from_numpy(np.zeros((4, 5, 5), np.uint8))
    with pytest.raises(ValueError):
        Image.from_numpy(np.zeros((4,), np.uint8))
    with pytest.raises(ValueError):
        Image.from_numpy(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="unknown encoding"):
        Image(4, 4, "rgb9")
    assert Image.from_numpy(np.zeros((4, 5, 1), np.uint8), encoding="mono8").to_numpy().shape == (4, 5)


def test_non_contiguous_inputs_are_copied_correctly():
    base = np.random.randint(0, 255, (20, 30, 3), dtype=np.uint8)
    view = base[::2, ::3]
    img = Image.from_numpy(view, encoding="rgb8")
    assert np.array_equal(img.to_numpy(), view)
    t = torch.from_numpy(base).permute(1, 0, 2)
    img = Image.from_torch(t, encoding="rgb8")
    assert np.array_equal(img.to_numpy(), t.numpy())
    # a strided view of one of our own images is copied into a packed one
    own = Image(10, 10, "mono8")
    own.to_numpy()[:] = np.arange(100, dtype=np.uint8).reshape(10, 10)
    sub = Image.from_numpy(own.to_numpy()[:, ::2])
    assert np.array_equal(sub.to_numpy(), own.to_numpy()[:, ::2]) and sub.step == 5


def test_zero_copy_every_direction_all_types():
    img = Image(8, 8, "rgb8")
    cloud = PointCloud(16, 3)
    depth = DepthImage(8, 8)
    for obj in (img, cloud, depth):
        a = obj.to_numpy()
        t = obj.to_torch()
        j = obj.to_jax()
        a.flat[5] = 7
        assert t.flatten()[5].item() == 7 and float(j.flatten()[5]) == 7
        t.flatten()[6] = 3
        assert a.flat[6] == 3
        assert j.unsafe_buffer_pointer() == a.ctypes.data
    # torch -> horus without a copy when the tensor is a view of our memory
    back = Image.from_torch(img.to_torch(), encoding="rgb8")
    assert back.to_numpy().ctypes.data == img.to_numpy().ctypes.data
    assert PointCloud.from_torch(cloud.to_torch()).to_numpy().ctypes.data == cloud.to_numpy().ctypes.data
    assert DepthImage.from_numpy(depth.to_numpy()).to_numpy().ctypes.data == depth.to_numpy().ctypes.data


def test_views_outlive_the_object_and_nothing_leaks():
    base = used()
    img = Image(100, 100, "rgb8")
    img.fill([1, 2, 3])
    a, t, j = img.to_numpy(), img.to_torch(), img.to_jax()
    del img
    gc.collect()
    assert a[50, 50].tolist() == [1, 2, 3] and t[0, 0].tolist() == [1, 2, 3]
    assert j[99, 99].tolist() == [1, 2, 3]
    assert used() > base
    del a, t, j
    assert used() == base


def test_image_bad_input_leaves_it_unchanged():
    img = Image(4, 6, "rgb8")
    img.fill([10, 20, 30])
    img.set_frame_id("cam")
    before = img.to_numpy().copy()
    with pytest.raises(IndexError):
        img.pixel(6, 0)
    with pytest.raises(IndexError):
        img.pixel(0, -5)  # negative counts from the end: -4 is row 0, -5 is outside
    with pytest.raises(IndexError):
        img.set_pixel(-7, 0, [1, 2, 3])
    with pytest.raises(IndexError):
        img.set_pixel(100, 0, [1, 2, 3])
    with pytest.raises(ValueError):
        img.set_pixel(0, 0, [1, 2])
    with pytest.raises(ValueError):
        img.set_pixel(0, 0, [256, 0, 0])
    with pytest.raises(ValueError):
        img.set_pixel(0, 0, [-1, 0, 0])
    with pytest.raises(ValueError):
        img.set_pixel(0, 0, [1.5, 0, 0])
    with pytest.raises(ValueError):
        img.set_pixel(0, 0, [float("nan"), 0, 0])
    with pytest.raises(ValueError):
        img.set_pixel(0, 0, [2**80, 0, 0])
    with pytest.raises(TypeError):
        img.set_pixel(0, 0, ["a", 0, 0])
    with pytest.raises(ValueError):
        img.fill([1, 2, 3, 4])
    with pytest.raises(ValueError):
        img.copy_from(b"\0" * (img.nbytes - 1))
    with pytest.raises(IndexError):
        img.roi(x=4, y=0, w=3, h=1)
    with pytest.raises(ValueError):
        img.roi(x=0, y=0, w=0, h=1)
    with pytest.raises(ValueError):
        img.set_frame_id("x" * 64)
    with pytest.raises(TypeError):
        img.set_frame_id(5)
    with pytest.raises(TypeError):
        img.set_timestamp_ns("now")
    assert np.array_equal(img.to_numpy(), before) and img.frame_id == "cam"
    img.set_frame_id("é" * 31)  # 62 bytes of UTF-8: fits
    with pytest.raises(ValueError):
        img.set_frame_id("é" * 32)  # 64 bytes: refused, never cut
    assert img.frame_id == "é" * 31
    for h, w in ((0, 4), (4, 0), (-1, 4)):
        with pytest.raises(ValueError):
            Image(h, w, "rgb8")
    with pytest.raises(ValueError) as e:
        Image.from_bytes(b"\0" * 10, height=2, width=2, encoding="rgb8")
    assert "12" in str(e.value) and "10" in str(e.value)
    f32 = Image(2, 2, "mono32f")
    f32.set_pixel(1, 1, [0.25])
    assert f32.pixel(1, 1) == [0.25] and type(f32.pixel(1, 1)[0]) is float


def test_repr_and_pickle():
    img = Image(48, 64, "bgr8")
    img.set_frame_id("left")
    assert repr(img) == "<Image height=48 width=64 bgr8 frame_id='left' timestamp_ns=0>"
    back = pickle.loads(pickle.dumps(img))
    assert back.to_numpy().ctypes.data == img.to_numpy().ctypes.data and back.frame_id == "left"
    assert "PointCloud 5 points x 4 fields float32" in repr(PointCloud(5, 4))
    assert "millimeters" in repr(DepthImage(2, 2, "uint16"))


def test_opencv_and_pil_interop():
    cv2 = pytest.importorskip("cv2")
    PIL = pytest.importorskip("PIL.Image")
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    img = Image.from_numpy(bgr, encoding="bgr8")
    rgb = cv2.cvtColor(img.to_numpy(), cv2.COLOR_BGR2RGB)
    assert rgb[0, 0].tolist() == [0, 0, 200]
    gray = cv2.cvtColor(img.to_numpy(), cv2.COLOR_BGR2GRAY)
    assert Image.from_numpy(gray).encoding == "mono8"
    for enc, shape in (("mono8", (4, 5)), ("rgb8", (4, 5, 3)), ("rgba8", (4, 5, 4))):
        src = np.random.randint(0, 255, shape, dtype=np.uint8)
        pil = PIL.fromarray(Image.from_numpy(src, encoding=enc).to_numpy())
        assert np.array_equal(np.asarray(pil), src)


# ---- PointCloud -------------------------------------------------------------------


def test_pointcloud_spec():
    cloud = PointCloud(num_points=10000, fields=3, dtype="float32")
    assert cloud.point_count == 10000 and cloud.fields_per_point == 3
    points = np.random.randn(10000, 3).astype(np.float32)
    cloud = PointCloud.from_numpy(points)
    tensor = torch.randn(10000, 3)
    cloud = PointCloud.from_torch(tensor)
    assert np.array_equal(cloud.to_numpy(), tensor.numpy())
    assert cloud.dtype == "float32" and cloud.nbytes == 120000
    assert cloud.frame_id == "" and cloud.timestamp_ns == 0
    assert cloud.is_xyz() and not cloud.has_intensity() and not cloud.has_color()
    np_points = cloud.to_numpy()
    torch_points = cloud.to_torch()
    jax_points = cloud.to_jax()
    assert np_points.shape == (10000, 3) and tuple(torch_points.shape) == (10000, 3)
    assert jax_points.shape == (10000, 3)
    point = cloud.point_at(0)
    assert point == [float(v) for v in tensor[0]] and all(type(v) is float for v in point)
    cloud.set_frame_id("lidar_front")
    cloud.set_timestamp_ns(1234567890)
    assert cloud.frame_id == "lidar_front" and cloud.timestamp_ns == 1234567890
    assert cloud.is_cpu() and "dltensor" in repr(cloud.__dlpack__())
    xyzi, xyzrgb = PointCloud(2, 4), PointCloud(2, 6)
    assert xyzi.has_intensity() and not xyzi.has_color() and not xyzi.is_xyz()
    assert xyzrgb.has_color() and xyzrgb.has_intensity()


def test_empty_pointcloud_works_end_to_end():
    cloud = PointCloud(0, 3)
    assert cloud.point_count == 0 and cloud.nbytes == 0
    assert cloud.to_numpy().shape == (0, 3) and tuple(cloud.to_torch().shape) == (0, 3)
    assert cloud.to_jax().shape == (0, 3)
    assert PointCloud.from_numpy(np.zeros((0, 4), np.float32)).fields_per_point == 4
    with pytest.raises(IndexError):
        cloud.point_at(0)
    topic = horus.Topic(PointCloud, "empty.cloud")
    topic.send(cloud)
    got = topic.recv()
    assert got.point_count == 0 and got.fields_per_point == 3


def test_pointcloud_bad_input():
    with pytest.raises(ValueError):
        PointCloud(-1, 3)
    with pytest.raises(ValueError):
        PointCloud(10, 0)
    with pytest.raises(ValueError):
        PointCloud.from_numpy(np.zeros(5, np.float32))
    with pytest.raises(ValueError):
        PointCloud.from_numpy(np.zeros((2, 3), bool))
    f64 = PointCloud.from_numpy(np.ones((3, 3)))
    assert f64.dtype == "float64"
    with pytest.raises(TypeError):
        f64.point_at(0)
    cloud = PointCloud.from_numpy(np.arange(9, dtype=np.float32).reshape(3, 3))
    with pytest.raises(IndexError):
        cloud.point_at(3)
    with pytest.raises(IndexError):
        cloud.point_at(2**70)
    assert cloud.point_at(-1) == [6.0, 7.0, 8.0]
    with pytest.raises(TypeError):
        PointCloud.from_numpy("points")


# ---- DepthImage ----------------------------------------------------------------------


def test_depth_spec():
    depth = DepthImage(height=480, width=640, dtype="float32")
    depth_u16 = DepthImage(height=480, width=640, dtype="uint16")
    assert depth.is_meters() and not depth.is_millimeters() and depth.depth_scale == 1.0
    assert depth_u16.is_millimeters() and depth_u16.depth_scale == 0.001
    depth_data = np.random.uniform(0.5, 5.0, (480, 640)).astype(np.float32)
    depth = DepthImage.from_numpy(depth_data)
    depth = DepthImage.from_torch(torch.randn(480, 640))
    assert (depth.height, depth.width, depth.dtype) == (480, 640, "float32")
    assert depth.nbytes == 480 * 640 * 4 and depth.frame_id == "" and depth.timestamp_ns == 0
    depth = DepthImage.from_numpy(depth_data)
    d = depth.get_depth(320, 240)
    assert isinstance(d, float) and d == pytest.approx(float(depth_data[240, 320]))
    assert f"Depth at center: {d:.3f}m"
    depth.set_depth(100, 100, 1.5)
    assert depth.get_depth(100, 100) == 1.5
    stats = depth.depth_statistics()
    min_d, max_d, mean_d = stats
    assert 0.5 <= min_d <= mean_d <= max_d <= 5.0
    np_depth, torch_depth, jax_depth = depth.to_numpy(), depth.to_torch(), depth.to_jax()
    assert np_depth.shape == (480, 640) and tuple(torch_depth.shape) == (480, 640)
    assert jax_depth.shape == (480, 640)


def test_depth_units():
    d = DepthImage(4, 4, "uint16")
    d.set_depth(1, 2, 1.2344)
    assert d.to_numpy()[2, 1] == 1234 and d.get_depth(1, 2) == pytest.approx(1.234)
    d.set_depth(0, 0, 65.535)
    assert d.to_numpy()[0, 0] == 65535
    for bad in (float("nan"), -0.001, 65.536, float("inf"), 1e300):
        with pytest.raises(ValueError):
            d.set_depth(0, 0, bad)
    assert d.to_numpy()[0, 0] == 65535
    with pytest.raises(IndexError):
        d.get_depth(4, 0)
    with pytest.raises(TypeError):
        d.set_depth(0, 0, "1m")
    f = DepthImage.from_numpy(np.full((3, 3), 2.0))  # float64 -> float32 meters
    assert f.dtype == "float32" and f.get_depth(2, 2) == 2.0
    with pytest.raises(ValueError):
        DepthImage.from_numpy(np.zeros((3, 3), np.int32))
    with pytest.raises(ValueError):
        DepthImage.from_numpy(np.zeros((3, 3, 1), np.float32))
    with pytest.raises(ValueError):
        DepthImage(3, 3, "int8")


def test_depth_statistics_ignore_invalid():
    a = np.array([[0, 1.0, np.nan], [np.inf, 3.0, -np.inf], [-2.0, 0, 2.0]], np.float32)
    assert DepthImage.from_numpy(a).depth_statistics() == pytest.approx((1.0, 3.0, 2.0))
    assert DepthImage.from_numpy(np.zeros((3, 3), np.float32)).depth_statistics() is None
    nan = np.full((2, 2), np.nan, np.float32)
    assert DepthImage.from_numpy(nan).depth_statistics() is None
    mm = np.array([[0, 1000], [3000, 0]], np.uint16)
    assert DepthImage.from_numpy(mm).depth_statistics() == pytest.approx((1.0, 3.0, 2.0))
    z = DepthImage(2, 2, "uint16")
    z.to_numpy()[:] = 0
    assert z.depth_statistics() is None


def test_keyword_errors_name_the_method_and_parameter():
    # One argument parser (args.c) for the vectorcall methods: a TypeError
    # that says which call and which parameter, never a silent overwrite.
    a = np.zeros((4, 5, 3), np.uint8)
    img = Image.from_numpy(tensor=a, encoding="bgr8")
    assert img.encoding == "bgr8"
    with pytest.raises(TypeError, match=r"from_numpy\(\) missing required argument 'array'"):
        Image.from_numpy()
    with pytest.raises(TypeError, match=r"from_numpy\(\) got multiple values for argument 'arr"):
        Image.from_numpy(a, array=a)
    with pytest.raises(TypeError, match=r"from_numpy\(\) takes at most 2 positional"):
        Image.from_numpy(a, "rgb8", 3)
    with pytest.raises(TypeError, match=r"from_numpy\(\) got an unexpected keyword argument"):
        Image.from_numpy(a, foo=1)
    with pytest.raises(TypeError, match=r"__dlpack__\(\) takes keyword arguments only"):
        img.__dlpack__(None)
    with pytest.raises(TypeError, match=r"__array__\(\) got multiple values for argument 'copy'"):
        img.__array__(None, True, copy=True)
    assert np.asarray(img).shape == (4, 5, 3)
