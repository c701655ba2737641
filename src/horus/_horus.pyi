"""Type stubs for horus._horus, the C extension behind the horus package."""

from collections.abc import Callable, Iterator, Sequence
import sys
from typing import Any, Generic, Literal, TypeVar, final

from typing_extensions import Self, disjoint_base

import numpy as np
import numpy.typing as npt

__version__: str
BLOCK_ALIGN: int

_Shape = int | Sequence[int]
_DType = str | type | np.dtype[Any] | Any
_Scalar = int | float

@final
class _BlockRef:
    """One reference to a pool block, kept by the views exported from it."""

@disjoint_base
class TensorPool:
    """Open pool `pool_id` of this namespace (TensorPool() is the global pool), creating it with size_mb megabytes and max_slots
    blocks when it does not exist.  An existing pool opens whatever its geometry when
    size_mb/max_slots are not given; given ones must match (ValueError stating both).  Pages are committed only when touched.
    """
    def __init__(self, pool_id: int = 0, size_mb: int = 1024, max_slots: int = 1024) -> None: ...
    def alloc(self, shape: _Shape, dtype: _DType = "float32", device: str = "cpu") -> TensorHandle:
        """Allocate a contiguous tensor in this pool.  MemoryError when the pool has no room (the
        message gives the request and the free bytes).
        """
    def stats(self) -> dict[str, Any]:
        """pool_id, size_bytes, max_slots, allocated_slots, used_bytes, free_bytes,
        largest_free_block, holders, total_refs, path.
        """
    def reclaim(self) -> int:
        """Release references held by dead processes now; returns the number of blocks freed (this
        also happens automatically).
        """
    @property
    def pool_id(self) -> int:
        """The pool's id in this namespace."""
    @property
    def path(self) -> str:
        """The pool's shared-memory file."""

@final
class TensorHandle:
    """A tensor in a shared-memory pool block: one counted reference.

    Created by TensorPool.alloc() or TensorHandle.from_dlpack(); converts to NumPy, PyTorch and
    JAX without copying.
    """
    @classmethod
    def from_dlpack(cls, x: Any, /) -> TensorHandle:
        """Import any DLPack producer (PyTorch, JAX, NumPy...) or buffer.  No copy when x already
        lives in a horus pool; otherwise one copy into the global pool.
        """
    @classmethod
    def from_descriptor(cls, desc: bytes, /, readonly: bool = False) -> TensorHandle:
        """Open the tensor a descriptor names, taking a new reference (no copy); read-only when
        readonly is true (as a received one pickles).  ValueError when the block was freed or
        reused since the descriptor was made.
        """
    def numpy(self) -> npt.NDArray[Any]:
        """Zero-copy NumPy view; it holds its own reference, so it stays valid after release()."""
    def to_numpy(self) -> npt.NDArray[Any]:
        """Alias of numpy()."""
    def torch(self) -> Any:
        """Zero-copy PyTorch tensor (ImportError without PyTorch)."""
    def to_torch(self) -> Any:
        """Alias of torch()."""
    def jax(self) -> Any:
        """Alias of to_jax()."""
    def to_jax(self) -> Any:
        """Zero-copy JAX array via DLPack (ImportError without JAX)."""
    def view(self, shape: Sequence[int], /) -> TensorHandle:
        """Reshape without copying: the tensor must be contiguous and `shape` (which may hold one
        -1) must have as many elements.
        """
    def slice(self, start: int, stop: int, /) -> TensorHandle:
        """Rows [start, stop) along the first dimension, without copying.  IndexError when out of
        range.
        """
    def recycle(self) -> None:
        """Give this object's block a new identity to fill and send again, instead of a new
        block per message: messages sent from it before no longer resolve, and the bytes are
        kept (not cleared: they are this object's).  Only when nothing else holds the block
        (no receiver, topic ring or to_numpy() view still has it);
        BufferError otherwise.
        """
    def release(self) -> None:
        """Drop this handle's reference now (optional: dropping the object does it).  Views
        exported earlier stay valid; the handle is unusable.
        """
    def copy(self) -> TensorHandle:
        """An independent copy in a new block of the same pool (compact, writable)."""
    def __copy__(self) -> TensorHandle:
        """copy.copy(t): an independent copy, as copy()."""
    def __deepcopy__(self, memo: Any, /) -> TensorHandle:
        """copy.deepcopy(t): an independent copy, as copy()."""
    def is_cpu(self) -> bool:
        """Always True: pools are host memory."""
    def is_cuda(self) -> bool:
        """Always False: pools are host memory (HORUS and PyTorch spelling)."""
    @property
    def is_gpu(self) -> bool:
        """Always False (HORUS spelling)."""
    @property
    def readonly(self) -> bool:
        """True for a received message: its NumPy-facing views are read-only."""
    def is_contiguous(self) -> bool:
        """True if the elements are laid out row-major without gaps."""
    def descriptor(self) -> bytes:
        """Position-independent description of this tensor (pool id, slot, generation, offset,
        dtype, shape, strides) for another process of the same namespace to open with
        from_descriptor().
        """
    def __dlpack__(self, *, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[int, int] | None = None, copy: bool | None = None) -> Any:
        """DLPack capsule (versioned when max_version >= (1, 0) is given)."""
    def __dlpack_device__(self) -> tuple[int, int]:
        """(kDLCPU, 0)"""
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        """NumPy array of the data (np.asarray(x)): zero-copy unless dtype differs or copy=True."""
    def __enter__(self) -> TensorHandle:
        """`with pool.alloc(...) as t:` releases the handle's reference at the end."""
    def __exit__(self, *args: object) -> None:
        """release()"""
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview:
            """Buffer protocol (memoryview(x)): zero-copy; the view holds its own reference."""
    @property
    def shape(self) -> list[int]:
        """List of dimensions."""
    @property
    def strides(self) -> list[int]:
        """Strides in elements."""
    @property
    def dtype(self) -> str:
        """Element type name, e.g. 'float32'."""
    @property
    def device(self) -> str:
        """Always 'cpu'."""
    @property
    def ndim(self) -> int:
        """Number of dimensions."""
    @property
    def numel(self) -> int:
        """Total number of elements."""
    @property
    def nbytes(self) -> int:
        """Size of the elements in bytes."""
    @property
    def refcount(self) -> int:
        """References to the block in all processes: handles, exported views, messages held by
        topics.
        """
    @property
    def pool_id(self) -> int:
        """Id of the pool holding the block."""
    @property
    def released(self) -> bool:
        """True after release()."""
    @property
    def __array_interface__(self) -> dict[str, Any]:
        """NumPy's array interface (shape, typestr, data, strides, version 3), zero-copy."""

@disjoint_base
class _Frame:
    """Base of Image, PointCloud and DepthImage: shared-memory data plus sensor metadata."""
    @property
    def frame_id(self) -> str:
        """Sensor frame identifier (str, at most 63 bytes of UTF-8)."""
    @frame_id.setter
    def frame_id(self, value: str, /) -> None: ...
    @property
    def timestamp_ns(self) -> int:
        """Timestamp in nanoseconds (int, default 0)."""
    @timestamp_ns.setter
    def timestamp_ns(self, value: int, /) -> None: ...
    def to_numpy(self) -> npt.NDArray[Any]:
        """Zero-copy NumPy view of the shared memory; it holds its own reference and stays valid
        after this object is gone.
        """
    def to_torch(self) -> Any:
        """Zero-copy PyTorch tensor of the same memory."""
    def to_jax(self) -> Any:
        """Zero-copy JAX array via DLPack (JAX without jax_enable_x64 converts 64-bit data, which
        copies).
        """
    def copy(self) -> Self:
        """An independent copy in a new block of the same pool, with the same metadata (writable,
        even of a received frame).
        """
    def __copy__(self) -> Self:
        """copy.copy(frame): an independent copy, as copy()."""
    def __deepcopy__(self, memo: Any, /) -> Self:
        """copy.deepcopy(frame): an independent copy, as copy()."""
    def recycle(self) -> None:
        """Give this object's block a new identity to fill and send again, instead of a new
        block per message: messages sent from it before no longer resolve, and the bytes are
        kept (not cleared: they are this object's).  Only when nothing else holds the block
        (no receiver, topic ring or to_numpy() view still has it);
        BufferError otherwise.
        """
    def is_cpu(self) -> bool:
        """Always True: pools are host memory."""
    def is_cuda(self) -> bool:
        """Always False: pools are host memory."""
    def as_tensor(self) -> TensorHandle:
        """The same as .tensor (HORUS spelling)."""
    def __getitem__(self, key: Any, /) -> Any:
        """NumPy indexing of the data: img[y, x] (row, column), slices, negative indices."""
    def __setitem__(self, key: Any, value: Any, /) -> None:
        """NumPy assignment into the data (ValueError for a received, read-only frame)."""
    @property
    def shape(self) -> tuple[int, ...]:
        """The data's shape, as NumPy gives it: (H, W) or (H, W, C) for images, (N, F) for clouds."""
    @property
    def device(self) -> str:
        """Always 'cpu'."""
    @property
    def is_gpu(self) -> bool:
        """Always False."""
    @property
    def readonly(self) -> bool:
        """True for a received frame (shared with the publisher): copy() gives a writable one."""
    def set_frame_id(self, frame_id: str, /) -> None:
        """Sensor frame name: a str of at most 63 bytes of UTF-8 (ValueError beyond, never cut)."""
    def set_timestamp_ns(self, timestamp_ns: int, /) -> None:
        """Timestamp in nanoseconds (an int)."""
    def __dlpack__(self, *, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[int, int] | None = None, copy: bool | None = None) -> Any:
        """DLPack capsule of the shared memory (versioned when max_version >= (1, 0))."""
    def __dlpack_device__(self) -> tuple[int, int]:
        """(kDLCPU, 0)"""
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        """NumPy array of the data (np.asarray(x)): zero-copy unless dtype differs or copy=True."""
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview:
            """Buffer protocol (memoryview(x)): zero-copy; the view holds its own reference."""
    @property
    def dtype(self) -> str:
        """Element type name, e.g. 'uint8'."""
    @property
    def nbytes(self) -> int:
        """Size of the data in bytes."""
    @property
    def tensor(self) -> TensorHandle:
        """A TensorHandle sharing this object's block (a new reference)."""
    @property
    def __array_interface__(self) -> dict[str, Any]:
        """NumPy's array interface (shape, typestr, data, strides, version 3), zero-copy."""

# The encodings Image.encoding reports (one canonical spelling each).
_CanonicalEncoding = Literal["mono8", "mono16", "rgb8", "bgr8", "rgba8", "bgra8", "yuv422",
                             "mono32f", "rgb32f", "bayer_rggb8", "depth16"]
# What the constructors accept: the canonical names, HORUS's aliases, and the
# upper-case canonical names (matching is case-insensitive; a str variable
# holding one of them needs typing.cast or a Literal annotation).
_Encoding = _CanonicalEncoding | Literal[
    "rgb", "bgr", "rgba", "bgra", "gray", "grey", "mono", "gray16", "grey16", "yuyv", "bayer",
    "float",
    "MONO8", "MONO16", "RGB8", "BGR8", "RGBA8", "BGRA8", "YUV422", "MONO32F", "RGB32F",
    "BAYER_RGGB8", "DEPTH16"]

# HORUS's name for the same class.
Tensor = TensorHandle

@final
class Image(_Frame):
    """A camera image in shared memory: zero-copy to NumPy (shape (H, W) for one channel, (H, W, C)
    otherwise), PyTorch and JAX, and sendable on a Topic without copying.
    """
    def __init__(self, height: int, width: int, encoding: _Encoding = "rgb8") -> None: ...
    @classmethod
    def from_numpy(cls, array: Any, encoding: _Encoding | None = None) -> Image:
        """An image of an (H, W) or (H, W, C) array.  Shares the memory when the array already
        lives in a horus pool (e.g. another image's to_numpy()); one copy otherwise.  Without
        encoding it is inferred: (H,W) u8 mono8, u16 mono16, f32 mono32f; (H,W,2) u8 yuv422;
        (H,W,3) u8 rgb8, f32 rgb32f; (H,W,4) u8 rgba8.  ValueError when the encoding does not
        match the array's shape or dtype.
        """
    @classmethod
    def from_torch(cls, tensor: Any, encoding: _Encoding | None = None) -> Image:
        """As from_numpy, for a PyTorch tensor (or any DLPack producer)."""
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, height: int, width: int,
                   encoding: _Encoding = "rgb8") -> Image:
        """An image copied from packed bytes; ValueError unless len(data) is exactly height * width
        * bytes_per_pixel.
        """
    def pixel(self, x: int, y: int, /) -> list[Any]:
        """Channel values at column x, row y (ints for integer encodings, floats for float ones).
        IndexError outside the image.
        """
    def set_pixel(self, x: int, y: int, values: Sequence[_Scalar] | _Scalar, /) -> None:
        """Write exactly `channels` values, each representable in the element type (ValueError
        otherwise, image unchanged).
        """
    def fill(self, values: Sequence[_Scalar] | _Scalar, /) -> None:
        """Set every pixel to `values` (exactly `channels` of them)."""
    def copy_from(self, buffer: Any, /) -> None:
        """Replace the pixels with a buffer of exactly nbytes bytes."""
    def roi(self, x: int, y: int, w: int, h: int) -> bytes:
        """The w x h region at (x, y) as packed bytes.  IndexError if it leaves the image."""
    @property
    def height(self) -> int:
        """Height in pixels."""
    @property
    def width(self) -> int:
        """Width in pixels."""
    @property
    def channels(self) -> int:
        """Channels per pixel."""
    @property
    def encoding(self) -> _CanonicalEncoding:
        """Encoding name, e.g. 'rgb8'."""
    @property
    def step(self) -> int:
        """Row stride in bytes (rows are packed)."""

@final
class PointCloud(_Frame):
    """A point cloud in shared memory, shape (N, F); zero-copy to NumPy, PyTorch and JAX."""
    def __init__(self, num_points: int, fields: int = 3, dtype: _DType = "float32") -> None: ...
    @classmethod
    def from_numpy(cls, points: Any, /) -> PointCloud:
        """A cloud of an (N, F) array (F values per point).  Shares the memory when the array
        already lives in a horus pool; one copy otherwise.
        """
    @classmethod
    def from_torch(cls, tensor: Any, /) -> PointCloud:
        """As from_numpy, for a PyTorch tensor."""
    def point_at(self, i: int, /) -> list[float]:
        """The fields of point i as floats (float32 clouds only: TypeError otherwise; IndexError
        out of range).
        """
    def __len__(self) -> int:
        """len(cloud): the number of points."""
    def is_xyz(self) -> bool:
        """True if 3 fields (XYZ)."""
    def has_intensity(self) -> bool:
        """True if 4 or more fields (XYZI)."""
    def has_color(self) -> bool:
        """True if 6 or more fields (XYZRGB)."""
    @property
    def point_count(self) -> int:
        """Number of points."""
    @property
    def fields_per_point(self) -> int:
        """Values per point (3 XYZ, 4 XYZI, 6 XYZRGB)."""

@final
class DepthImage(_Frame):
    """A depth image in shared memory: float32 meters or uint16 millimeters, shape (H, W)."""
    def __init__(self, height: int, width: int, dtype: _DType = "float32") -> None: ...
    @classmethod
    def from_numpy(cls, array: Any, /) -> DepthImage:
        """A depth image of an (H, W) array: float32 meters, uint16 millimeters, or float64
        (converted to float32 meters).  Shares the memory when the array already lives in a
        horus pool.
        """
    @classmethod
    def from_torch(cls, tensor: Any, /) -> DepthImage:
        """As from_numpy, for a PyTorch tensor."""
    def get_depth(self, x: int, y: int, /) -> float:
        """Depth at column x, row y in meters, whatever the storage.  IndexError outside the image.

        """
    def set_depth(self, x: int, y: int, meters: float, /) -> None:
        """Store a depth given in meters (uint16 rounds to the nearest millimeter).  ValueError for
        NaN, negative or unrepresentable values.
        """
    def depth_statistics(self) -> tuple[float, float, float] | None:
        """In meters over valid pixels (finite and > 0); None when there is none."""
    def is_meters(self) -> bool:
        """True for float32 (meters)."""
    def is_millimeters(self) -> bool:
        """True for uint16 (millimeters)."""
    @property
    def height(self) -> int:
        """Height in pixels."""
    @property
    def width(self) -> int:
        """Width in pixels."""
    @property
    def depth_scale(self) -> float:
        """Meters per stored unit: 1.0 for float32, 0.001 for uint16."""

_M = TypeVar("_M")

@final
class Topic(Generic[_M]):
    """A named channel between processes of the namespace.  msg_type is Image, PointCloud,
    DepthImage or TensorHandle (the name defaults to the lower-cased type name: Topic(Image) is
    'image'), or a str name for small Python objects.  Iterating yields the messages available
    now.
    """
    def __init__(self, msg_type: type[_M] | str, name: str | None = None, *,
                 capacity: int | None = None, history: int | None = None) -> None: ...
    def send(self, msg: _M, /) -> None:
        """Publish msg; never blocks.  Typed topics pass the message by reference (no copy); a
        generic topic copies bytes or a pickle of msg.  TypeError for the wrong type, ValueError
        for a released tensor or an oversized generic message.
        """
    def recv(self, timeout: float | None = None) -> _M | None:
        """The next unread message, or None.  With timeout (seconds) wait up to that long with the
        GIL released; Ctrl-C interrupts.  The message is this subscriber's own reference: valid
        after the publisher moves on or exits.
        """
    def recv_latest(self) -> _M | None:
        """The newest message at once (skipping older unread ones, counted as dropped), or None."""
    def recv_all(self) -> list[_M]:
        """Every unread message available now, oldest first.  If one fails to decode, its
        exception is raised with the messages taken before it in `received`; those after it stay
        for the next call.
        """
    def stats(self) -> dict[str, Any]:
        """name, type, sent (by all), received and dropped (by this handle), publishers and
        subscribers (live, all processes), capacity.
        """
    def close(self) -> None:
        """Leave the topic."""
    def __enter__(self) -> Topic[_M]:
        """`with Topic(...) as t:` closes the topic at the end."""
    def __exit__(self, *args: object) -> None:
        """close()"""
    def __iter__(self) -> Iterator[_M]:
        """`for msg in topic:` yields the messages waiting now, oldest first, and ends when
        none is left (it does not wait for more)."""
    def __next__(self) -> _M:
        """The next waiting message; StopIteration when none is (never waits)."""
    @property
    def name(self) -> str:
        """The topic's name."""
    @property
    def msg_type(self) -> type[_M] | None:
        """The message class, or None for a generic topic."""
    @property
    def capacity(self) -> int:
        """Messages the ring holds."""

@disjoint_base
class Node:
    """A unit of work ticked by a Scheduler at `rate` Hz: tick(node) each period; init(node) before
    the first tick and shutdown(node) after the last of a run.
    """
    def __init__(self, name: str, tick: Callable[[Node], object], rate: float,
                 init: Callable[[Node], object] | None = None,
                 shutdown: Callable[[Node], object] | None = None, order: int = 0) -> None: ...
    def stats(self) -> dict[str, Any]:
        """ticks, overruns, tick time min/mean/max (s), actual rate (Hz) and start-time jitter
        p50/p99/max (s) of the current or last run.
        """
    @property
    def name(self) -> str:
        """The node's name."""
    @property
    def rate(self) -> float:
        """Tick rate in Hz."""
    @property
    def order(self) -> int:
        """Position within a cycle (lower first)."""
    @property
    def scheduler(self) -> Scheduler | None:
        """The Scheduler this node was added to, or None."""

@final
class Scheduler:
    """Ticks Nodes in order, each at its own rate, with absolute deadlines; the GIL is released
    while it sleeps.
    """
    def __init__(self) -> None: ...
    def add(self, node: Node, order: int | None = None) -> None:
        """Add a node; an order given here wins over the node's own.  ValueError for a duplicate
        name or a node already in a scheduler.
        """
    def run(self, duration: float | None = None, *, raise_on_interrupt: bool = False) -> None:
        """Tick the nodes in order, each at its own rate, until stop(), Ctrl-C or `duration`
        seconds; then every node's shutdown runs.  An exception in a callback stops the run and
        propagates; Ctrl-C returns normally unless raise_on_interrupt=True.
        """
    def stop(self) -> None:
        """End the current run after the tick in progress (any thread)."""
    def tick_once(self) -> None:
        """Tick every node once, in order, ignoring rates (no init or shutdown)."""
    def stats(self) -> dict[str, dict[str, Any]]:
        """{node name: Node.stats()} for every node."""
    def node_stats(self, name: str, /) -> dict[str, Any]:
        """One node's statistics (KeyError if unknown)."""
    def __enter__(self) -> Scheduler:
        """`with Scheduler() as s:` stops the scheduler at the end."""
    def __exit__(self, *args: object) -> None:
        """stop()"""
    @property
    def nodes(self) -> list[Node]:
        """The nodes, in tick order."""

def global_pool_stats() -> dict[str, Any]:
    """Accounting of this namespace's global pool (created on first use): the keys of
    TensorPool.stats().
    """
def reclaim() -> int:
    """Release the references of dead processes in the global pool now; returns the number of
    blocks freed.
    """
def clean(*, all: bool = False) -> list[str]:
    """Remove this namespace's stale segments (topics no live process uses, pools no live process
    or topic holds, temporaries of dead creators); with all=True every segment of the namespace.
    Returns the paths removed.
    """
def topics() -> list[dict[str, Any]]:
    """The namespace's topics: name, type, capacity, live publishers and subscribers, messages
    sent, and dropped (by live subscribers, overwritten before they read them).
    """
def wire_encode(msg: TensorHandle | _Frame, sequence: int, /) -> tuple[bytes, bytes]:
    """The wire form of an Image, PointCloud, DepthImage or TensorHandle: (header, payload) bytes,
    the header as documented in horus/wire.h and the README, the payload packed row-major.
    """
def wire_decode(header: bytes | bytearray | memoryview, payload: bytes | bytearray | memoryview,
                /) -> tuple[TensorHandle | Image | PointCloud | DepthImage, int]:
    """Rebuild a message from its wire form into the global pool: (object, sequence).  ValueError
    for a malformed header or a payload whose size disagrees with it.
    """
