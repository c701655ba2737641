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

__version__: str
__all__ = [
    "BLOCK_ALIGN", "DepthImage", "Image", "Node", "PointCloud", "Scheduler", "Tensor", "TensorHandle",
    "TensorPool", "Topic", "clean", "global_pool_stats", "reclaim", "topics", "wire_decode",
    "wire_encode",
]
