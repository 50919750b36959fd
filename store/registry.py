"""This process's own references: the views it holds and the objects it owns.

The metadata files record holders for every process; this module keeps the
same facts for the calling process in memory, so that it can

* tell a release of a view it holds from one it never took,
* drop its holder records and release its non-persistent objects when it
  exits normally (``atexit``, and multiprocessing's exit hooks for children
  that end through ``os._exit``),
* start empty in a child made by ``os.fork``: the child is another process
  and the parent's records stay the parent's.

Keys are ``(root, namespace, name)`` because the root can change between
calls (``MEMSHARE_ROOT`` is read at every call).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.util
import os
import threading
from collections.abc import Callable

__all__ = [
    "Key",
    "add_view",
    "drop_owned",
    "drop_view",
    "forget_root",
    "held",
    "held_ids",
    "install_exit_handler",
    "set_owned",
    "owned",
]

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]


# Guarded by _lock, which is held only for a few dictionary operations and
# never while waiting for another lock, so it cannot deadlock.
_lock = threading.RLock()
# held[key][object_id] is the number of references. One name maps to
# several registrations when an object was replaced while this process
# still held views of the earlier one.
held: dict[Key, dict[str, int]] = {}
owned: dict[Key, str] = {}

_exit_handler: Callable[[], None] | None = None
_finalizer_pid: int | None = None


def add_view(key: Key, object_id: str) -> None:
    """Count one more reference on registration `object_id` of `key`."""
    with _lock:
        _watch_exit()
        counts = held.setdefault(key, {})
        counts[object_id] = counts.get(object_id, 0) + 1


def held_ids(key: Key) -> list[str]:
    """Return the registrations of `key` this process holds references on."""
    with _lock:
        return list(held.get(key, {}))


def drop_view(key: Key, object_id: str) -> bool:
    """Count one reference less on `object_id` of `key`; False if none was held."""
    with _lock:
        counts = held.get(key)
        if counts is None or object_id not in counts:
            return False
        counts[object_id] -= 1
        if counts[object_id] == 0:
            del counts[object_id]
        if not counts:
            del held[key]
        return True


def set_owned(key: Key, object_id: str | None) -> str | None:
    """Record that this process owns registration `object_id` of `key`.

    None records that it owns nothing under `key`. Returns the previous
    value, so that a failed registration can put it back.
    """
    with _lock:
        previous = owned.pop(key, None)
        if object_id is not None:
            _watch_exit()
            owned[key] = object_id
        return previous


def drop_owned(key: Key, object_id: str | None = None) -> None:
    """Forget ownership of `key` (only of `object_id`, if given)."""
    with _lock:
        if object_id is None or owned.get(key) == object_id:
            owned.pop(key, None)


def forget_root(root: str) -> None:
    """Forget every record under `root` without touching files.

    For callers that delete the whole root themselves, such as test fixtures.
    """
    with _lock:
        for table in (held, owned):
            for key in [key for key in table if key[0] == root]:
                del table[key]


def install_exit_handler(handler: Callable[[], None]) -> None:
    """Set the function that releases this process's records at exit."""
    global _exit_handler
    _exit_handler = handler


def _run_exit_handler() -> None:
    if _exit_handler is not None and (held or owned):
        _exit_handler()


def _watch_exit() -> None:
    # A child started by multiprocessing with the fork method ends through
    # os._exit, which skips atexit. multiprocessing runs its own finalizers
    # before that, but clears their list when the child starts, so each such
    # child registers one on its first record.
    global _finalizer_pid
    pid = os.getpid()
    if _finalizer_pid != pid and multiprocessing.parent_process() is not None:
        multiprocessing.util.Finalize(None, _run_exit_handler, exitpriority=100)
        _finalizer_pid = pid


def _clear_in_child() -> None:
    # The lock may have been held by another thread at fork time; a fresh
    # one is free. The records describe the parent, not this child.
    global _lock
    _lock = threading.RLock()
    held.clear()
    owned.clear()


atexit.register(_run_exit_handler)
os.register_at_fork(after_in_child=_clear_in_child)
