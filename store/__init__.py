"""The shared object store: values registered once, attached zero-copy anywhere.

This package is installed as ``memshare.store``; ``import memshare`` re-exports
every name in ``__all__``.
"""

from __future__ import annotations

from memshare.store.errors import (
    InvalidNameError,
    MemshareError,
    ObjectExistsError,
    ObjectInUseError,
    ObjectNotFoundError,
    StoreFullError,
    StoreRootError,
    UnsupportedPlatformError,
    UnsupportedTypeError,
)

__all__ = [
    "InvalidNameError",
    "MemshareError",
    "ObjectExistsError",
    "ObjectInUseError",
    "ObjectNotFoundError",
    "StoreFullError",
    "StoreRootError",
    "UnsupportedPlatformError",
    "UnsupportedTypeError",
]
