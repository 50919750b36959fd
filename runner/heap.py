"""Tuning of glibc's heap: trimming after a job loads data, keeping it in workers.

glibc's ``malloc`` keeps memory that a program frees on its heap for reuse,
and gives it back only from the top of the heap. Loading a list of many
arrays and freeing it after registration can so leave hundreds of MB
resident in the job's process for the rest of the run, on top of the store's
copy. ``malloc_trim(0)`` returns every free heap page, also from the middle
of the heap.

Worker processes have the opposite problem. By default glibc serves each
allocation above a threshold that starts at 128 KiB with its own ``mmap``,
and returns the top of the heap to the system as soon as more than twice
that threshold is free. A function that allocates and frees temporaries of a
few MB on every slice then pays page faults for fresh zeroed pages on every
call: in a bootstrap over 400 columns (two 3.2 MB temporaries per column),
that kernel time was a third of the workers' CPU time. Workers therefore
raise both thresholds once at start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Final

__all__ = ["keep_heap_in_worker", "trim_heap"]

# mallopt parameter numbers from glibc's <malloc.h>.
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3

# Allocations up to 32 MiB come from the heap, and up to 64 MiB of free heap
# top stay mapped for reuse. These are the values glibc's adaptive thresholds
# reach on 64-bit systems after a large free. The cost is at most 64 MiB of
# idle memory per worker.
WORKER_MMAP_THRESHOLD: Final = 32 * 1024 * 1024
WORKER_TRIM_THRESHOLD: Final = 64 * 1024 * 1024

logger = logging.getLogger(__name__)


@cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """Find a glibc malloc function; ``None`` on other platforms and C libraries (musl)."""
    if not sys.platform.startswith("linux"):
        return None
    library = ctypes.util.find_library("c") or "libc.so.6"
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def trim_heap() -> bool:
    """Return free heap memory of this process to the operating system.

    Returns
    -------
    bool
        ``True`` if glibc released memory, ``False`` if it had none to
        release or the C library has no ``malloc_trim``.
    """
    function = _libc_function("malloc_trim")
    if function is None:
        return False
    released = bool(function(ctypes.c_size_t(0)))
    logger.debug("malloc_trim(0) released memory: %s", released)
    return released


def keep_heap_in_worker() -> bool:
    """Raise glibc's mmap and trim thresholds for this worker process.

    Returns
    -------
    bool
        ``True`` if both settings were applied, ``False`` where the C library
        has no ``mallopt`` (not glibc) or rejected a value.
    """
    function = _libc_function("mallopt")
    if function is None:
        return False
    applied = bool(function(ctypes.c_int(_M_MMAP_THRESHOLD), ctypes.c_int(WORKER_MMAP_THRESHOLD)))
    applied = applied and bool(
        function(ctypes.c_int(_M_TRIM_THRESHOLD), ctypes.c_int(WORKER_TRIM_THRESHOLD))
    )
    logger.debug("worker pid %d: heap thresholds raised: %s", os.getpid(), applied)
    return applied
