"""Steps of an object's life that run under its lock: publish, attach,
release a view, remove; and the exit handler that drops this process's
references.

Reference protocol (all counts live in ``<name>.json``, changed only under
``<name>.lock``)::

    register_variables ─► publish():  owner = this process, holders = ()
                                      owned[key] = object_id   (this process)
    retrieve_views ─────► attach():   holder(pid, start).count += 1
                                      held[key][object_id] += 1
    release_views ──────► drop_view(): holder.count -= 1, record removed at 0
    release_variables ──► remove():   metadata, data and lock file unlinked;
                                      mapped pages stay valid in holders
    normal exit ────────► release_at_exit(): every holder record of this
                                      process removed, owned objects removed
    dead process ───────► gc(): its holder records reaped; a dead owner's
                                      unheld, non-persistent objects removed

The public functions in :mod:`memshare.store.api` validate input, loop over
names and undo partial work; this module does one object at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import replace

from memshare.store import codec, layout, registry
from memshare.store.errors import (
    MemshareError,
    ObjectExistsError,
    ObjectNotFoundError,
    StoreRootError,
)
from memshare.store.locking import ObjectLock
from memshare.store.metadata import Holder, ObjectMetadata, read_metadata, write_metadata
from memshare.store.names import summarize_names
from memshare.store.process import ProcessId, current
from memshare.store.writer import write_data

__all__ = [
    "ObjectFiles",
    "attach",
    "drop_view",
    "publish",
    "release_at_exit",
    "remove",
    "remove_damaged",
    "remove_damaged_locked",
]

logger = logging.getLogger(__name__)


class ObjectFiles:
    """The paths of one object in one namespace folder."""

    def __init__(self, root: str, folder: str, namespace: str, name: str) -> None:
        self.root = root
        self.folder = folder
        self.namespace = namespace
        self.name = name
        self.metadata = layout.metadata_path(folder, name)
        self.lock = layout.lock_path(folder, name)
        self.key: registry.Key = (root, namespace, name)

    @property
    def label(self) -> str:
        """``"namespace/name"``, as messages and logs show it."""
        return f"{self.namespace}/{self.name}"

    def data(self, object_id: str) -> str:
        """Return the data file of registration `object_id`."""
        return layout.data_path(self.folder, self.name, object_id)

    def locked(self, *, create: bool = False) -> ObjectLock:
        """Return the object's lock (not yet acquired)."""
        return ObjectLock(self.lock, create=create, label=self.label)


def not_found(files: ObjectFiles) -> ObjectNotFoundError:
    """Build the error for a missing object, listing some of what the namespace has."""
    listing = summarize_names(layout.list_object_names(files.folder), files.name)
    return ObjectNotFoundError(
        f"no object {files.name!r} in namespace {files.namespace!r} (never registered, or "
        f"released); objects in that namespace: {listing}",
        namespace=files.namespace,
        name=files.name,
    )


def publish(
    files: ObjectFiles,
    encoded: codec.Encoded,
    *,
    overwrite: bool,
    persist: bool,
) -> ObjectMetadata:
    """Write the object's data and metadata; the calling process becomes its owner."""
    me = current()
    lock = files.locked(create=True)
    while True:
        try:
            lock.acquire()
            break
        except FileNotFoundError:
            # The namespace folder became empty and was removed (by a
            # release or gc) after this call created or found it.
            layout.ensure_namespace(files.root, files.namespace)

    try:
        old = read_metadata(files.metadata)
        if old is not None and not overwrite:
            raise ObjectExistsError(
                f"object {files.name!r} already exists in namespace {files.namespace!r}; "
                "pass overwrite=True to replace it, or release it first with "
                "release_variables",
                namespace=files.namespace,
                name=files.name,
            )

        object_id, codec_layout, file_size = write_data(files, encoded, me)
        metadata = ObjectMetadata(
            namespace=files.namespace,
            name=files.name,
            kind=encoded.kind,
            dtype=encoded.dtype,
            shape=tuple(encoded.shape),
            nbytes=encoded.nbytes,
            file_size=file_size,
            owner_pid=me.pid,
            owner_start_time=me.start_time,
            owner_start_ticks=me.start_ticks,
            holders=(),
            created=time.time(),
            persistent=persist,
            object_id=object_id,
            layout=codec_layout,
        )

        # The ownership record is dropped by release_variables or by the exit
        # handler. Persistent objects get none, because they outlive this
        # process. It is set before publishing so that an interrupt cannot
        # leave a published object without its record.
        previous_owner_record = registry.set_owned(files.key, None if persist else object_id)
        try:
            write_metadata(files.metadata, metadata, me)
        except BaseException:
            registry.set_owned(files.key, previous_owner_record)
            layout.remove_file(files.data(object_id))
            raise

        if old is not None:
            # Holders of the old data keep their mapped pages; the file goes.
            layout.remove_file(files.data(old.object_id))
            logger.debug(
                "replaced %s registration %s at %s (pid %d)",
                files.label,
                old.object_id,
                files.data(old.object_id),
                me.pid,
            )
    except BaseException:
        # The lock file of an object that was never published goes too, so a
        # failed registration leaves no file behind. A metadata file that
        # cannot be read (a planted link) keeps its lock file.
        with contextlib.suppress(MemshareError, OSError):
            if read_metadata(files.metadata) is None:
                layout.remove_file(files.lock)
                layout.remove_namespace_if_empty(files.folder)
        raise
    finally:
        lock.release()

    logger.debug(
        "registered %s as %s at %s (%d bytes, persistent=%s, pid %d)",
        files.label,
        object_id,
        files.data(object_id),
        file_size,
        persist,
        me.pid,
    )
    return metadata


def attach(files: ObjectFiles) -> object:
    """Map the object and add one holder reference for this process."""
    me = current()
    lock = files.locked()
    try:
        lock.acquire()
    except ObjectNotFoundError:
        # No lock file: normally a missing object, but a planted metadata
        # file must raise its own error rather than be listed as an object.
        layout.check_file(files.metadata)
        raise not_found(files) from None
    with lock:
        metadata = read_metadata(files.metadata)
        if metadata is None:
            raise not_found(files)

        # Attached under the lock, so the data file cannot be replaced between
        # reading the layout and mapping the file.
        data = files.data(metadata.object_id)
        if layout.check_file(data) is None:
            raise StoreRootError(
                f"the data file {data} of {files.label} is missing; run memshare gc and "
                "register the object again",
                path=data,
            )
        view = codec.attach(data, metadata.layout)

        # One reference, dropped by release_views, by the exit handler, or by
        # gc after this process dies. The local record comes first, so that
        # an interrupt cannot leave a counted reference this process forgot.
        registry.add_view(files.key, metadata.object_id)
        try:
            write_metadata(files.metadata, _count(metadata, me, +1), me)
        except BaseException:
            registry.drop_view(files.key, metadata.object_id)
            raise

    logger.debug("retrieved view of %s from %s (pid %d)", files.label, data, me.pid)
    return view


def _count(metadata: ObjectMetadata, me: ProcessId, change: int) -> ObjectMetadata:
    holders: list[Holder] = []
    found = False
    for holder in metadata.holders:
        if holder.is_process(me):
            found = True
            holder = replace(holder, count=holder.count + change)
        if holder.count > 0:
            holders.append(holder)
    if not found and change > 0:
        holders.append(Holder(me.pid, me.start_time, change, me.start_ticks))
    return metadata.with_holders(tuple(holders))


def drop_view(files: ObjectFiles) -> bool:
    """Drop one of this process's references on the object; False if it held none.

    When the object was released or replaced since the view was taken, only
    this process's own record changes; that is not an error.
    """
    me = current()
    try:
        with files.locked():
            ids = registry.held_ids(files.key)
            if not ids:
                return False
            metadata = read_metadata(files.metadata)
            if metadata is not None and metadata.object_id in ids:
                write_metadata(files.metadata, _count(metadata, me, -1), me)
                registry.drop_view(files.key, metadata.object_id)
                logger.debug(
                    "released view of %s at %s (pid %d)", files.label, files.metadata, me.pid
                )
                return True
    except ObjectNotFoundError:
        pass

    # The registration this view belongs to is gone from disk.
    ids = registry.held_ids(files.key)
    if not ids:
        return False
    registry.drop_view(files.key, ids[0])
    logger.debug(
        "released view of %s, whose registration at %s is gone (pid %d)",
        files.label,
        files.metadata,
        me.pid,
    )
    return True


def remove(files: ObjectFiles, *, object_id: str | None = None) -> ObjectMetadata | None:
    """Unlink the object's files under its lock; return the removed metadata.

    With `object_id`, only that registration is removed (a replaced object is
    left alone). Returns None when nothing was removed.
    """
    with files.locked():
        metadata = read_metadata(files.metadata)
        if metadata is None or (object_id is not None and metadata.object_id != object_id):
            return None
        remove_locked(files, metadata)
    return metadata


def remove_locked(files: ObjectFiles, metadata: ObjectMetadata) -> bool:
    """Unlink metadata, data and lock file. The caller holds the lock.

    The metadata goes first: from then on the object is unpublished, so a
    crash later leaves only files that gc removes. Returns whether the
    namespace folder was removed too, because it became empty.
    """
    layout.remove_file(files.metadata)
    layout.remove_file(files.data(metadata.object_id))
    layout.remove_file(files.lock)
    registry.drop_owned(files.key, metadata.object_id)
    logger.debug(
        "released %s (%s) at %s (pid %d)",
        files.label,
        metadata.object_id,
        files.data(metadata.object_id),
        os.getpid(),
    )
    return layout.remove_namespace_if_empty(files.folder)


def remove_damaged(files: ObjectFiles) -> bool:
    """Unlink the files of an object whose metadata cannot be read.

    Returns whether they were removed: not when the metadata became readable
    meanwhile (the object was registered again) or is gone.

    Raises
    ------
    StoreRootError
        If the lock file is a symbolic link or not a regular file.
    """
    with files.locked(create=True):
        try:
            if read_metadata(files.metadata) is not None:
                return False
        except StoreRootError:
            remove_damaged_locked(files)
            return True

        # No metadata file: only the lock file created above is ours to remove.
        layout.remove_file(files.lock)
        layout.remove_namespace_if_empty(files.folder)
        return False


def remove_damaged_locked(files: ObjectFiles) -> bool:
    """Unlink a damaged object's metadata, data and lock files. The caller holds the lock.

    Under the lock no publish is in progress, so every data file of the name
    belongs to a finished or abandoned registration. A metadata file that is
    a symbolic link is unlinked itself; its target is never opened. Returns
    whether the namespace folder was removed too, because it became empty.
    """
    removed: list[str] = []
    for path in [files.metadata, *layout.list_data_files(files.folder, files.name)]:
        if layout.remove_file(path):
            removed.append(path)
    layout.remove_file(files.lock)
    registry.drop_owned(files.key)
    logger.debug("removed damaged object %s: %s (pid %d)", files.label, removed, os.getpid())
    return layout.remove_namespace_if_empty(files.folder)


def files_for(key: registry.Key) -> ObjectFiles | None:
    """Return the files of `key` if its namespace folder still exists and is ours."""
    root, namespace, name = key
    folder = layout.check_namespace(root, namespace)
    if folder is None:
        return None
    return ObjectFiles(root, folder, namespace, name)


def release_at_exit() -> None:
    """Drop this process's holder records and remove the objects it owns.

    Runs at normal interpreter exit. Failures are logged, not raised: the
    interpreter is ending and gc cleans up whatever remains.
    """
    me = current()
    for key in list(registry.held):
        try:
            files = files_for(key)
            if files is not None:
                with files.locked():
                    metadata = read_metadata(files.metadata)
                    if metadata is not None and metadata.object_id in registry.held_ids(key):
                        mine = tuple(h for h in metadata.holders if not h.is_process(me))
                        write_metadata(files.metadata, metadata.with_holders(mine), me)
        except ObjectNotFoundError:
            pass  # released by someone else: no record left to drop
        except (MemshareError, OSError) as error:
            logger.warning("could not drop the views of %s/%s at exit: %s", key[1], key[2], error)
        registry.held.pop(key, None)

    for key, object_id in list(registry.owned.items()):
        try:
            files = files_for(key)
            if files is not None:
                remove(files, object_id=object_id)
        except ObjectNotFoundError:
            pass
        except (MemshareError, OSError) as error:
            logger.warning("could not release %s/%s at exit: %s", key[1], key[2], error)
        registry.owned.pop(key, None)


registry.install_exit_handler(release_at_exit)
