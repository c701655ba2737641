"""horus: shared-memory images, point clouds, depth images and tensors.

Everything here is implemented in C (``horus._horus`` over ``libhorus``);
this package only re-exports it, plus recording to MCAP files (horus.record:
``Recorder``, ``read_recording``, ``Recording``), imported on first use so
that ``import horus`` does not import the mcap library.
"""

from horus import _horus
from horus._horus import *  # noqa: F401,F403

__version__ = _horus.__version__
__all__ = [name for name in dir(_horus) if not name.startswith("_")]

_RECORD_NAMES = ("Recorder", "Recording", "RecordingWarning", "read_recording")
__all__ += list(_RECORD_NAMES)


def __getattr__(name):
    if name in _RECORD_NAMES:
        from horus import record

        return getattr(record, name)
    raise AttributeError(f"module 'horus' has no attribute {name!r}")
