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
from memshare.store.collect import GcResult, ReapedHolder, gc
from memshare.store.errors import (
    DamagedObjectError,
    ForeignObjectError,
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
from memshare.store.objects import Store

__all__ = [
    "DamagedObjectError",
    "ForeignObjectError",
    "GcResult",
    "Holder",
    "InvalidNameError",
    "MemshareError",
    "ObjectExistsError",
    "ObjectInUseError",
    "ObjectMetadata",
    "ObjectNotFoundError",
    "ReapedHolder",
    "Store",
    "StoreFullError",
    "StoreRootError",
    "UnsupportedPlatformError",
    "UnsupportedTypeError",
    "ViewNotHeldError",
    "gc",
    "list_objects",
    "register_variables",
    "release_variables",
    "release_views",
    "retrieve_metadata",
    "retrieve_views",
]
