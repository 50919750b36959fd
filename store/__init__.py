"""The shared object store: values registered once, attached zero-copy anywhere.

This package is installed as ``memshare.store``; ``import memshare`` re-exports
every name in ``__all__``.
"""

from __future__ import annotations

from memshare.store.api import (
    list_objects,
    register_variables,
    release_variables,
    release_views,
    retrieve_metadata,
    retrieve_views,
)
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
    ViewNotHeldError,
)
from memshare.store.metadata import Holder, ObjectMetadata

__all__ = [
    "Holder",
    "InvalidNameError",
    "MemshareError",
    "ObjectExistsError",
    "ObjectInUseError",
    "ObjectMetadata",
    "ObjectNotFoundError",
    "StoreFullError",
    "StoreRootError",
    "UnsupportedPlatformError",
    "UnsupportedTypeError",
    "ViewNotHeldError",
    "list_objects",
    "register_variables",
    "release_variables",
    "release_views",
    "retrieve_metadata",
    "retrieve_views",
]
