"""horus: shared-memory images, point clouds, depth images and tensors.

Everything here is implemented in C (``horus._horus`` over ``libhorus``);
this package only re-exports it.
"""

from horus import _horus
from horus._horus import *  # noqa: F401,F403

__version__ = _horus.__version__
__all__ = [name for name in dir(_horus) if not name.startswith("_")]
