"""Garbage collection: what dead processes left behind.

A process that ends normally drops its own references (see
:mod:`memshare.store.registry`). One killed by a signal, or ending through
``os._exit`` outside multiprocessing, leaves holder records, owned objects
and possibly a half-written temporary file. :func:`gc` finds them by checking
each recorded (pid, start time) against the running processes.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Final

from memshare.store import layout
from memshare.store.lifecycle import ObjectFiles, remove_locked
from memshare.store.metadata import Holder, ObjectMetadata, read_metadata, write_metadata
from memshare.store.names import validate_name
from memshare.store.process import current, is_alive, start_of

__all__ = ["GcResult", "ReapedHolder", "gc"]

logger = logging.getLogger(__name__)

# Object ids are uuid4 hex strings; a data file name must end in one.
_OBJECT_ID: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class ReapedHolder:
    """A holder record of a dead process, removed from an object's metadata."""

    namespace: str
    name: str
    pid: int
    start_time: float
    count: int


@dataclass(frozen=True)
class GcResult:
    """Objects, holder records, files and folders removed by one :func:`gc` run.

    Attributes
    ----------
    objects : tuple of str
        Removed objects as ``"namespace/name"``.
    holders : tuple of ReapedHolder
        Holder records of dead processes.
    temp_files : tuple of str
        Paths of temporary files of dead writers, and of data and lock files
        that no metadata refers to (left by a writer killed mid-publish).
    namespaces : tuple of str
        Namespace folders removed because they were empty.
    """

    objects: tuple[str, ...] = ()
    holders: tuple[ReapedHolder, ...] = ()
    temp_files: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()


class _Collector:
    def __init__(self) -> None:
        self.objects: list[str] = []
        self.holders: list[ReapedHolder] = []
        self.temp_files: list[str] = []
        self.namespaces: list[str] = []

    def result(self) -> GcResult:
        return GcResult(
            tuple(self.objects),
            tuple(self.holders),
            tuple(self.temp_files),
            tuple(self.namespaces),
        )


def gc(namespace: str | None = None) -> GcResult:
    """Remove what dead processes left in the store.

    * holder records of processes that no longer run (matched by pid and
      start time, so a reused pid is not taken for the old process);
    * non-persistent objects whose owner is dead and that no live process
      holds;
    * temporary files of dead writers and data files no metadata refers to;
    * namespace folders left empty.

    Objects of live owners, persistent objects and objects a live process
    holds are kept.

    Parameters
    ----------
    namespace : str, optional
        Collect only this namespace; all namespaces by default.

    Returns
    -------
    GcResult
        What was removed.
    """
    root = layout.ensure_root(create=False)
    names = [namespace] if namespace is not None else layout.list_namespaces(root)
    found = _Collector()
    for name in names:
        folder = layout.check_namespace(root, name)
        if folder is not None:
            _collect_namespace(root, name, folder, found)

    result = found.result()
    logger.debug(
        "gc in %s (pid %d): removed %d object(s), %d holder record(s), %d file(s), %d namespace(s)",
        root,
        os.getpid(),
        len(result.objects),
        len(result.holders),
        len(result.temp_files),
        len(result.namespaces),
    )
    return result


def _collect_namespace(root: str, namespace: str, folder: str, found: _Collector) -> None:
    # Object name -> its data files seen in the listing.
    objects: dict[str, list[str]] = {}
    for entry in os.listdir(folder):
        temp = layout.parse_temp_name(entry)
        if temp is not None:
            _collect_temp(os.path.join(folder, entry), temp, found)
            continue
        name = _object_name(entry)
        if name is not None:
            data = objects.setdefault(name, [])
            if entry.endswith(layout.DATA_SUFFIX):
                data.append(entry)

    for name, data in sorted(objects.items()):
        _collect_object(ObjectFiles(root, folder, namespace, name), data, found)

    # rmdir removes only an empty folder, atomically: a registration that
    # created a file meanwhile keeps the folder, and one that finds the folder
    # gone recreates it.
    try:
        os.rmdir(folder)
    except OSError:
        return
    found.namespaces.append(namespace)
    logger.debug("gc removed empty namespace %r at %s", namespace, folder)


def _object_name(entry: str) -> str | None:
    # "<name>.json", "<name>.lock" or "<name>.<object id>.arrow"; anything
    # else in the folder is not the store's and is left alone.
    if entry.endswith(layout.METADATA_SUFFIX):
        name = entry[: -len(layout.METADATA_SUFFIX)]
    elif entry.endswith(layout.LOCK_SUFFIX):
        name = entry[: -len(layout.LOCK_SUFFIX)]
    elif entry.endswith(layout.DATA_SUFFIX):
        name, _, object_id = entry[: -len(layout.DATA_SUFFIX)].rpartition(".")
        if _OBJECT_ID.fullmatch(object_id) is None:
            return None
    else:
        return None
    try:
        return validate_name(name)
    except ValueError:
        return None


def _collect_temp(path: str, temp: layout.TempName, found: _Collector) -> None:
    writer = start_of(temp.pid)
    if writer is not None:
        unreadable = writer.start_time != writer.start_time
        if unreadable or writer.token() == f"{temp.pid}-{temp.start}":
            return  # the writer still runs, or may: the file is not stale
    if layout.remove_file(path):
        found.temp_files.append(path)
        logger.debug("gc removed temporary file %s of dead pid %d", path, temp.pid)


def _collect_object(files: ObjectFiles, data: list[str], found: _Collector) -> None:
    with files.locked(create=True):
        metadata = read_metadata(files.metadata)
        _remove_unreferenced(files, metadata, data, found)
        if metadata is None:
            return

        live: list[Holder] = []
        for holder in metadata.holders:
            if is_alive(holder.pid, holder.start_time, holder.start_ticks):
                live.append(holder)
                continue
            reaped = ReapedHolder(
                files.namespace, files.name, holder.pid, holder.start_time, holder.count
            )
            found.holders.append(reaped)
            logger.debug(
                "gc reaped holder pid %d (%d view(s)) of %s", holder.pid, holder.count, files.label
            )

        owner_alive = is_alive(
            metadata.owner_pid, metadata.owner_start_time, metadata.owner_start_ticks
        )
        if not metadata.persistent and not owner_alive and not live:
            remove_locked(files, metadata)
            found.objects.append(files.label)
            return

        if len(live) != len(metadata.holders):
            write_metadata(files.metadata, metadata.with_holders(tuple(live)), current())


def _remove_unreferenced(
    files: ObjectFiles,
    metadata: ObjectMetadata | None,
    data: list[str],
    found: _Collector,
) -> None:
    # Under the lock no publish is in progress, so a data file other than
    # the current one was left by a writer killed between renaming its data
    # and writing the metadata. A file listed before the lock was taken and
    # removed since by an overwrite is simply no longer there.
    current_file = None if metadata is None else os.path.basename(files.data(metadata.object_id))
    for entry in data:
        if entry == current_file:
            continue
        path = os.path.join(files.folder, entry)
        if layout.remove_file(path):
            found.temp_files.append(path)
            logger.debug("gc removed unreferenced data file %s", path)

    if metadata is None and layout.remove_file(files.lock):
        found.temp_files.append(files.lock)
        logger.debug("gc removed lock file %s of a missing object", files.lock)
