"""Returning freed heap memory to the operating system after a job loads data.

glibc's ``malloc`` keeps memory that a program frees on its heap for reuse,
and gives it back only from the top of the heap. Loading a list of many
arrays and freeing it after registration can so leave hundreds of MB
resident in the job's process for the rest of the run, on top of the store's
copy. ``malloc_trim(0)`` returns every free heap page, also from the middle
of the heap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable
from functools import cache

__all__ = ["trim_heap"]

logger = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """Find glibc's ``malloc_trim``; ``None`` on other platforms and C libraries (musl)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        function = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def trim_heap() -> bool:
    """Return free heap memory of this process to the operating system.

    Returns
    -------
    bool
        ``True`` if glibc released memory, ``False`` if it had none to
        release or the C library has no ``malloc_trim``.
    """
    function = _malloc_trim()
    if function is None:
        return False
    released = bool(function(0))
    logger.debug("malloc_trim(0) released memory: %s", released)
    return released
