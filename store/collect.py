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
import stat
import time
from dataclasses import dataclass
from typing import Final

from memshare.store import layout
from memshare.store.errors import StoreRootError
from memshare.store.lifecycle import ObjectFiles, remove_damaged_locked, remove_locked
from memshare.store.metadata import (
    DamagedObject,
    Holder,
    ObjectMetadata,
    SkippedFolder,
    problem_of,
    read_metadata,
    write_metadata,
)
from memshare.store.names import validate_name
from memshare.store.process import current, is_alive, start_of

__all__ = ["DAMAGED_GRACE_SECONDS", "GcResult", "ReapedHolder", "gc"]

logger = logging.getLogger(__name__)

# A damaged object whose files all changed longer ago than this is removed.
# Metadata is published by rename, so no writer in progress leaves a damaged
# file. The wait leaves time for someone who is repairing the file by hand.
# NOTE: metadata of another memshare version counts as damaged. While that
# version uses the object, each retrieve and release rewrites the file and
# keeps it young, but an idle object of that version is removed.
DAMAGED_GRACE_SECONDS: Final = 600.0


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
    damaged_removed : tuple of str
        Objects as ``"namespace/name"`` whose metadata could not be read and
        whose files were older than ``DAMAGED_GRACE_SECONDS``; their files
        were removed.
    damaged : tuple of DamagedObject
        Objects whose metadata could not be read, kept because a file of
        theirs changed within ``DAMAGED_GRACE_SECONDS``.
    skipped_links : tuple of str
        Symbolic links found where a namespace folder or store file belongs.
        Neither the link nor its target was touched, and an object whose
        metadata or lock file is a link was not collected.
    skipped_folders : tuple of SkippedFolder
        Namespace folders left untouched because they are unsafe to use (a
        wrong owner or mode), each with the reason and the fix.
    """

    objects: tuple[str, ...] = ()
    holders: tuple[ReapedHolder, ...] = ()
    temp_files: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    damaged_removed: tuple[str, ...] = ()
    damaged: tuple[DamagedObject, ...] = ()
    skipped_links: tuple[str, ...] = ()
    skipped_folders: tuple[SkippedFolder, ...] = ()


class _Collector:
    def __init__(self) -> None:
        self.objects: list[str] = []
        self.holders: list[ReapedHolder] = []
        self.temp_files: list[str] = []
        self.namespaces: list[str] = []
        self.damaged_removed: list[str] = []
        self.damaged: list[DamagedObject] = []
        self.skipped_links: list[str] = []
        self.skipped_folders: list[SkippedFolder] = []

    def result(self) -> GcResult:
        return GcResult(
            tuple(self.objects),
            tuple(self.holders),
            tuple(self.temp_files),
            tuple(self.namespaces),
            tuple(self.damaged_removed),
            tuple(self.damaged),
            tuple(self.skipped_links),
            tuple(self.skipped_folders),
        )

    def skip_link(self, path: str) -> None:
        self.skipped_links.append(path)
        logger.debug("gc skipped the symbolic link %s", path)


def gc(namespace: str | None = None) -> GcResult:
    """Remove what dead processes left in the store.

    * holder records of processes that no longer run (matched by pid and
      start time, so a reused pid is not taken for the old process);
    * non-persistent objects whose owner is dead and that no live process
      holds;
    * temporary files of dead writers and data files no metadata refers to;
    * objects whose metadata cannot be read and whose files are all older
      than ``DAMAGED_GRACE_SECONDS`` (younger ones are only reported);
    * namespace folders left empty.

    Objects of live owners, persistent objects and objects a live process
    holds are kept. Symbolic links are reported and left alone, with their
    targets, and so are namespace folders with a wrong owner or mode.

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
        if _is_link(layout.namespace_path(root, name)):
            found.skip_link(layout.namespace_path(root, name))
            continue
        try:
            folder = layout.check_namespace(root, name)
        except StoreRootError as error:
            # One unsafe folder must not stop the collection of the others.
            path = layout.namespace_path(root, name)
            found.skipped_folders.append(SkippedFolder(name, path, str(error)))
            logger.debug("gc skipped the unsafe namespace folder %s: %s", path, error)
            continue
        if folder is not None:
            _collect_namespace(root, name, folder, found)

    result = found.result()
    logger.debug(
        "gc in %s (pid %d): removed %d object(s), %d holder record(s), %d file(s), "
        "%d namespace(s), %d damaged object(s); kept %d damaged object(s), skipped %d link(s)",
        root,
        os.getpid(),
        len(result.objects),
        len(result.holders),
        len(result.temp_files),
        len(result.namespaces),
        len(result.damaged_removed),
        len(result.damaged),
        len(result.skipped_links),
    )
    return result


def _is_link(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _collect_namespace(root: str, namespace: str, folder: str, found: _Collector) -> None:
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return  # a release or another gc removed the folder after it was listed

    # Object name -> its data files seen in the listing.
    objects: dict[str, list[str]] = {}
    # Objects whose metadata or lock file is a link: locking or reading them
    # would raise, so they are left for the user.
    linked: set[str] = set()
    for entry in entries:
        path = os.path.join(folder, entry)
        name = _object_name(entry)
        if _is_link(path):
            found.skip_link(path)
            if name is not None and not entry.endswith(layout.DATA_SUFFIX):
                linked.add(name)
            continue
        temp = layout.parse_temp_name(entry)
        if temp is not None:
            _collect_temp(path, temp, found)
            continue
        if name is not None:
            data = objects.setdefault(name, [])
            if entry.endswith(layout.DATA_SUFFIX):
                data.append(entry)

    for name, data in sorted(objects.items()):
        if name not in linked:
            _collect_object(ObjectFiles(root, folder, namespace, name), data, found)

    if layout.remove_namespace_if_empty(folder):
        found.namespaces.append(namespace)


def _object_name(entry: str) -> str | None:
    # "<name>.json", "<name>.lock" or "<name>.<object id>.arrow"; anything
    # else in the folder is not the store's and is left alone.
    if entry.endswith(layout.METADATA_SUFFIX):
        name = entry[: -len(layout.METADATA_SUFFIX)]
    elif entry.endswith(layout.LOCK_SUFFIX):
        name = entry[: -len(layout.LOCK_SUFFIX)]
    elif entry.endswith(layout.DATA_SUFFIX):
        name, _, object_id = entry[: -len(layout.DATA_SUFFIX)].rpartition(".")
        if layout.OBJECT_ID_PATTERN.fullmatch(object_id) is None:
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
    lock = files.locked(create=True)
    try:
        lock.acquire()
    except FileNotFoundError:
        return  # the namespace folder was removed after it was listed
    with lock:
        try:
            metadata = read_metadata(files.metadata)
        except StoreRootError as error:
            _collect_damaged(files, problem_of(error), found)
            return
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
            found.objects.append(files.label)
            if remove_locked(files, metadata):
                found.namespaces.append(files.namespace)
            return

        if len(live) != len(metadata.holders):
            write_metadata(files.metadata, metadata.with_holders(tuple(live)), current())


def _collect_damaged(files: ObjectFiles, reason: str, found: _Collector) -> None:
    # Called under the object's lock.
    paths = [files.metadata, *layout.list_data_files(files.folder, files.name)]
    newest = 0.0
    for path in paths:
        try:
            newest = max(newest, os.lstat(path).st_mtime)
        except FileNotFoundError:
            continue
    if time.time() - newest < DAMAGED_GRACE_SECONDS:
        found.damaged.append(DamagedObject(files.namespace, files.name, files.metadata, reason))
        logger.debug("gc kept the recently changed damaged object %s: %s", files.label, reason)
        return

    found.damaged_removed.append(files.label)
    if remove_damaged_locked(files):
        found.namespaces.append(files.namespace)


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
