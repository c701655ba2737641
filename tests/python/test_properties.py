"""Property tests (hypothesis): what goes in comes out, and what is refused
leaves everything unchanged."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from horus import Image, TensorHandle

hyp = settings(max_examples=150, deadline=None)

ENCODINGS = {"mono8": (1, "uint8"), "mono16": (1, "uint16"), "rgb8": (3, "uint8"),
             "bgra8": (4, "uint8"), "yuv422": (2, "uint8"), "mono32f": (1, "float32"),
             "rgb32f": (3, "float32")}
LIMIT = {"uint8": 255, "uint16": 65535}


@st.composite
def pixel_write(draw):
    enc = draw(st.sampled_from(sorted(ENCODINGS)))
    channels, dtype = ENCODINGS[enc]
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    x, y = draw(st.integers(-2, w + 2)), draw(st.integers(-2, h + 2))
    if dtype == "float32":
        value = st.floats(-1e6, 1e6, width=32)
    else:
        value = st.integers(-5, LIMIT[dtype] + 5)
    n = draw(st.sampled_from([channels, channels, channels, max(1, channels - 1), channels + 1]))
    return enc, h, w, x, y, draw(st.lists(value, min_size=n, max_size=n))


@hyp
@given(pixel_write())
def test_set_pixel_round_trips_or_refuses_without_change(case):
    enc, h, w, x, y, values = case
    channels, dtype = ENCODINGS[enc]
    img = Image(h, w, enc)
    img.fill([0] * channels)
    before = img.to_numpy().copy()
    inside = -w <= x < w and -h <= y < h  # negative counts from the end, as in NumPy
    valid = len(values) == channels and (dtype == "float32" or all(
        0 <= v <= LIMIT[dtype] for v in values))
    if inside and valid:
        img.set_pixel(x, y, values)
        assert img.pixel(x, y) == [np.dtype(dtype).type(v).item() for v in values]
        expect = before.copy().reshape(h, w, channels)
        expect[y, x] = values
        assert np.array_equal(img.to_numpy().reshape(h, w, channels), expect)
    else:
        with pytest.raises((IndexError, ValueError)):
            img.set_pixel(x, y, values)
        assert np.array_equal(img.to_numpy(), before)


@hyp
@given(st.text(max_size=80))
def test_frame_id_accepted_exactly_when_it_fits(text):
    img = Image(1, 1, "mono8")
    img.set_frame_id("before")
    fits = len(text.encode("utf-8", "surrogatepass")) <= 63 and "\0" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        fits = False
    if fits:
        img.set_frame_id(text)
        assert img.frame_id == text
    else:
        with pytest.raises((ValueError, UnicodeEncodeError)):
            img.set_frame_id(text)
        assert img.frame_id == "before"


@hyp
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data())
def test_view_and_slice_agree_with_numpy(shape, data):
    src = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    t = TensorHandle.from_dlpack(src)
    flat = t.view([-1])
    assert flat.numpy().tolist() == src.reshape(-1).tolist()
    assert flat.view(shape).numpy().tolist() == src.tolist()
    start = data.draw(st.integers(-shape[0] - 2, shape[0] + 2))
    stop = data.draw(st.integers(-shape[0] - 2, shape[0] + 2))
    s0 = start + shape[0] if start < 0 else start
    s1 = stop + shape[0] if stop < 0 else stop
    if 0 <= s0 <= s1 <= shape[0]:
        assert t.slice(start, stop).numpy().tolist() == src[s0:s1].tolist()
    else:
        with pytest.raises(IndexError):
            t.slice(start, stop)
    assert t.shape == list(shape)  # unchanged either way
