"""memshare: a shared-memory object store and parallel runner.

Large arrays, DataFrames and lists are serialized once into Arrow buffers in
``/dev/shm``; worker processes memory-map them read-only and zero-copy.

The implementation lives in two packages, :mod:`memshare.store` and
:mod:`memshare.runner`; this module re-exports their public names.
"""

from __future__ import annotations

from memshare import runner as _runner
from memshare import store as _store
from memshare.runner import *  # noqa: F403
from memshare.store import *  # noqa: F403

__version__ = "0.1.0"

__all__ = [*_store.__all__, *_runner.__all__, "__version__"]
