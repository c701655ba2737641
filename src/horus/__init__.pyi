"""horus: shared-memory images, point clouds, depth images and tensors, passed between
processes by descriptor and zero-copy to NumPy, PyTorch and JAX.  The user guide is
docs/guide.md in the source repository."""

from horus._horus import (
    BLOCK_ALIGN as BLOCK_ALIGN,
    DepthImage as DepthImage,
    Image as Image,
    Node as Node,
    PointCloud as PointCloud,
    Scheduler as Scheduler,
    TensorHandle as TensorHandle,
    Tensor as Tensor,
    TensorPool as TensorPool,
    Topic as Topic,
    clean as clean,
    global_pool_stats as global_pool_stats,
    reclaim as reclaim,
    topics as topics,
    wire_decode as wire_decode,
    wire_encode as wire_encode,
)
from horus.record import (
    Recorder as Recorder,
    Recording as Recording,
    RecordingWarning as RecordingWarning,
    read_recording as read_recording,
)

__version__: str
__all__ = [
    "BLOCK_ALIGN", "DepthImage", "Image", "Node", "PointCloud", "Scheduler", "Tensor", "TensorHandle",
    "TensorPool", "Topic", "clean", "global_pool_stats", "reclaim", "topics", "wire_decode",
    "wire_encode", "Recorder", "Recording", "RecordingWarning", "read_recording",
]
