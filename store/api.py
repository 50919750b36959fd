"""The public functions of the store: register, retrieve, release, inspect.

Each function reads ``MEMSHARE_ROOT`` when called and validates every name
before touching a file. When one of several names fails, registration and
retrieval undo the work already done for the others, and release checks
every name before removing anything.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterable, Mapping

from memshare.store import codec, layout
from memshare.store.arguments import check_flag, name_list
from memshare.store.collect import GcResult, gc
from memshare.store.errors import (
    MemshareError,
    ObjectExistsError,
    ObjectInUseError,
    StoreRootError,
    UnsupportedTypeError,
    ViewNotHeldError,
)
from memshare.store.lifecycle import (
    ObjectFiles,
    attach,
    drop_view,
    not_found,
    publish,
    remove,
    remove_damaged,
    remove_locked,
)
from memshare.store.metadata import (
    DamagedObject,
    ObjectMetadata,
    read_metadata,
    scan_objects,
    scan_store,
    warn_skipped,
)
from memshare.store.names import validate_name
from memshare.store.process import is_alive
from memshare.store.writer import check_free_space

__all__ = [
    "GcResult",
    "gc",
    "list_objects",
    "register_variables",
    "release_variables",
    "release_views",
    "retrieve_metadata",
    "retrieve_views",
    "scan_objects",
    "scan_store",
]

logger = logging.getLogger(__name__)


def _files(root: str, namespace: str, name: str, folder: str | None) -> ObjectFiles:
    return ObjectFiles(root, folder or layout.namespace_path(root, namespace), namespace, name)


def register_variables(
    namespace: str,
    variables: Mapping[str, object],
    *,
    overwrite: bool = False,
    persist: bool = False,
) -> None:
    """Store each value of `variables` under its key in `namespace`.

    Every value is serialized once into a read-only file in the store root;
    other processes attach it with :func:`retrieve_views` without copying.

    Parameters
    ----------
    namespace : str
        The namespace (a folder of objects); created if needed.
    variables : Mapping[str, object]
        Object names and values: numpy arrays, pandas DataFrames and Series,
        lists, tuples, pyarrow data or scalars.
    overwrite : bool
        Replace existing objects of the same name. Processes holding views of
        the old data keep them intact; the new object gets a new ``object_id``.
    persist : bool
        Keep the objects after this process exits. Otherwise they are released
        when this process exits normally, or by :func:`gc` once it died and no
        live process holds them.

    Raises
    ------
    InvalidNameError
        If the namespace or a name breaks the naming rule.
    UnsupportedTypeError
        If a value cannot be stored; nothing is written.
    ObjectExistsError
        If a name exists and `overwrite` is False; nothing is written.
    StoreFullError
        If the store's file system lacks space; nothing is left behind.
    StoreRootError
        If the store root or namespace folder is unsafe to use.
    """
    validate_name(namespace, "namespace")
    overwrite = check_flag(overwrite, "overwrite")
    persist = check_flag(persist, "persist")
    if not isinstance(variables, Mapping):
        raise TypeError(
            f"variables must be a mapping of names to values, such as a dict, got "
            f"{type(variables).__name__}; call register_variables({namespace!r}, "
            "{'X': X})"
        )
    for name in variables:
        validate_name(name, "object name")
    if not variables:
        return

    # Every value is validated and prepared before any file is written.
    encoded = {}
    for name, value in variables.items():
        try:
            encoded[name] = codec.encode(value)
        except UnsupportedTypeError as error:
            fields = {k: v for k, v in vars(error).items() if k != "message"}
            raise UnsupportedTypeError(
                f"cannot register {namespace}/{name}: {error.message}",
                **{**fields, "namespace": namespace, "name": name},
            ) from error

    root = layout.ensure_root()
    folder = layout.ensure_namespace(root, namespace)
    try:
        _publish_all(root, namespace, folder, encoded, overwrite=overwrite, persist=persist)
    except BaseException:
        # A namespace folder this call created, or one emptied by the
        # rollback, must not stay behind.
        layout.remove_namespace_if_empty(folder)
        raise


def _publish_all(
    root: str,
    namespace: str,
    folder: str,
    encoded: Mapping[str, codec.Encoded],
    *,
    overwrite: bool,
    persist: bool,
) -> None:
    if not overwrite:
        for name in encoded:
            if layout.check_file(layout.metadata_path(folder, name)) is not None:
                raise ObjectExistsError(
                    f"object {name!r} already exists in namespace {namespace!r}; pass "
                    "overwrite=True to replace it, or release it first with "
                    "release_variables",
                    namespace=namespace,
                    name=name,
                )
    total = sum(item.size_bound for item in encoded.values())
    # Measured on the root, which is on the same file system as the
    # namespace folder and is never removed by a release or gc.
    check_free_space(root, total, f"{len(encoded)} object(s) in namespace {namespace!r}")

    published: list[tuple[ObjectFiles, str]] = []
    try:
        for name, item in encoded.items():
            files = _files(root, namespace, name, folder)
            metadata = publish(files, item, overwrite=overwrite, persist=persist)
            published.append((files, metadata.object_id))
    except BaseException:
        # All or nothing: what this call already published is released again.
        # A failure here must not hide the error that started the rollback.
        for files, object_id in published:
            with contextlib.suppress(MemshareError, OSError):
                remove(files, object_id=object_id)
        raise


def retrieve_views(namespace: str, names: str | Iterable[str]) -> dict[str, object]:
    """Return read-only, zero-copy views of the named objects.

    Each call adds one holder reference per name for the calling process;
    drop it with :func:`release_views`. References still held at normal exit
    are dropped then, and those of a process that died are reaped by
    :func:`gc`. A view stays valid even after the object is released, because
    its pages stay mapped as long as the view exists.

    Parameters
    ----------
    namespace : str
        The namespace of the objects.
    names : str or iterable of str
        One name or several.

    Returns
    -------
    dict
        Name to view (numpy array with ``writeable=False``, pandas object,
        pyarrow data, lazy list, or scalar).

    Raises
    ------
    ObjectNotFoundError
        If a name is not registered; no reference is taken for any name.
    """
    validate_name(namespace, "namespace")
    requested = name_list(names)
    root = layout.ensure_root(create=False)
    folder = layout.check_namespace(root, namespace)

    views: dict[str, object] = {}
    try:
        for name in requested:
            files = _files(root, namespace, name, folder)
            if folder is None:
                raise not_found(files)
            views[name] = attach(files)
    except BaseException:
        # A missing name cancels the whole call: drop the references taken.
        for name in views:
            with contextlib.suppress(MemshareError, OSError):
                drop_view(_files(root, namespace, name, folder))
        raise
    return views


def release_views(namespace: str, names: str | Iterable[str]) -> None:
    """Drop one of the calling process's references per name.

    This mirrors :func:`retrieve_views`: a name retrieved twice needs two
    releases, so several users in one process can each release their own
    reference. Releasing a view of an object that was released or replaced
    since is harmless. The view objects themselves stay usable; their memory
    is unmapped when Python frees them.

    Raises
    ------
    ViewNotHeldError
        If this process holds no reference on a name (never retrieved, or
        already released as often as retrieved). The other names are still
        released.
    """
    validate_name(namespace, "namespace")
    requested = name_list(names)
    root = layout.ensure_root(create=False)
    folder = layout.check_namespace(root, namespace)

    missing = [name for name in requested if not drop_view(_files(root, namespace, name, folder))]
    if missing:
        listed = ", ".join(repr(name) for name in missing)
        raise ViewNotHeldError(
            f"this process (pid {os.getpid()}) holds no view of {listed} in namespace "
            f"{namespace!r}: each release_views call must follow a retrieve_views call of "
            "the same name in the same process",
            namespace=namespace,
            names=missing,
        )


def release_variables(
    namespace: str,
    names: str | Iterable[str],
    *,
    require_unheld: bool = False,
) -> None:
    """Remove the named objects from the store.

    Data and metadata are unlinked at once: no new views can be taken, while
    processes that hold views keep reading valid pages until they drop them,
    because Linux frees unlinked file pages only after the last unmap.

    Parameters
    ----------
    namespace : str
        The namespace of the objects.
    names : str or iterable of str
        One name or several.
    require_unheld : bool
        Raise :class:`ObjectInUseError` instead of removing an object that a
        live process still holds views of.

    Raises
    ------
    ObjectNotFoundError
        If a name is not registered; nothing is removed.
    ObjectInUseError
        With `require_unheld`, if a live process holds a view of one of the
        objects. All objects are checked before the first is removed, so
        nothing is removed, unless a view was taken during the call.
    StoreRootError
        With `require_unheld`, if an object's metadata cannot be read, so its
        holders are unknown; nothing is removed. Without `require_unheld`,
        such a damaged object's files are removed.
    """
    validate_name(namespace, "namespace")
    require_unheld = check_flag(require_unheld, "require_unheld")
    requested = name_list(names)
    root = layout.ensure_root(create=False)
    folder = layout.check_namespace(root, namespace)

    damaged: set[str] = set()
    for name in requested:
        files = _files(root, namespace, name, folder)
        try:
            metadata = read_metadata(files.metadata) if folder is not None else None
        except StoreRootError as error:
            if require_unheld:
                raise StoreRootError(
                    f"cannot tell whether {files.label} is held, because its metadata "
                    f"cannot be read: {error}. Nothing was removed; to remove its files, "
                    f"call release_variables without require_unheld or run "
                    f"'memshare rm --force {files.label}'",
                    path=files.metadata,
                ) from error
            damaged.add(name)
            continue
        if metadata is None:
            raise not_found(files)
        if require_unheld:
            _check_unheld(files, metadata)

    # Checked again under each lock, because a view may be taken meanwhile.
    for name in requested:
        files = _files(root, namespace, name, folder)
        if name in damaged:
            remove_damaged(files)
            continue
        with files.locked():
            metadata = read_metadata(files.metadata)
            if metadata is None:
                raise not_found(files)
            if require_unheld:
                _check_unheld(files, metadata)
            remove_locked(files, metadata)


def _check_unheld(files: ObjectFiles, metadata: ObjectMetadata) -> None:
    live = [h for h in metadata.holders if is_alive(h.pid, h.start_time, h.start_ticks)]
    if not live:
        return
    counts = ", ".join(f"pid {h.pid} ({h.count} view{'' if h.count == 1 else 's'})" for h in live)
    raise ObjectInUseError(
        f"object {files.label} is still held by {counts}; release the views in those "
        "processes first, or call release_variables without require_unheld (holders "
        "keep their mapped pages)",
        namespace=files.namespace,
        name=files.name,
        holders=tuple(live),
    )


def retrieve_metadata(
    namespace: str,
    names: str | Iterable[str] | None = None,
) -> dict[str, ObjectMetadata]:
    """Return the metadata of the named objects (all if `names` is None).

    Nothing is attached and no reference is taken. When listing all objects,
    one whose metadata cannot be read is skipped with a warning that names
    its file and the command that removes it.

    Raises
    ------
    ObjectNotFoundError
        If a given name is not registered.
    StoreRootError
        If the metadata of a given name cannot be read.
    """
    validate_name(namespace, "namespace")
    if names is None:
        objects, damaged = scan_objects(namespace)
        _warn_damaged(damaged)
        return {metadata.name: metadata for metadata in objects}

    requested = name_list(names)
    root = layout.ensure_root(create=False)
    folder = layout.check_namespace(root, namespace)
    result: dict[str, ObjectMetadata] = {}
    for name in requested:
        files = _files(root, namespace, name, folder)
        metadata = read_metadata(files.metadata) if folder is not None else None
        if metadata is None:
            raise not_found(files)
        result[name] = metadata
    return result


def list_objects(namespace: str | None = None) -> list[ObjectMetadata]:
    """Return the metadata of every object in `namespace`, or in all namespaces.

    Sorted by namespace, then name. An object whose metadata cannot be read
    is skipped with a warning, and so is an unsafe namespace folder (a
    symbolic link, a wrong owner or mode) when all namespaces are listed;
    :func:`scan_store` returns both.
    """
    scan = scan_store(namespace)
    _warn_damaged(scan.damaged)
    warn_skipped(scan.skipped, stacklevel=2)
    return scan.objects


def _warn_damaged(damaged: list[DamagedObject]) -> None:
    # stacklevel 3 points at the caller of the public listing function.
    for item in damaged:
        warnings.warn(
            f"skipped damaged object {item.label}: {item.reason}; run '{item.fix}' to "
            "remove its files",
            stacklevel=3,
        )
