"""Object metadata: the dataclasses and their JSON file.

The metadata file is the record of an object: its presence means the object
is published, and it lists who owns and who holds the object. It is
rewritten as a whole (temporary file, then rename), so a reader without the
lock always sees either the old or the new version, never a mix. Every
change happens under the object's lock (see :mod:`memshare.store.locking`).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, NamedTuple

from memshare.store import layout
from memshare.store.errors import StoreFullError, StoreRootError
from memshare.store.names import validate_name
from memshare.store.process import ProcessId
from memshare.store.writer import FULL_HINT, is_full

__all__ = [
    "DamagedObject",
    "SkippedFolder",
    "StoreScan",
    "Holder",
    "ObjectMetadata",
    "read_metadata",
    "read_namespace",
    "problem_of",
    "scan_objects",
    "scan_store",
    "warn_skipped",
    "write_metadata",
]

logger = logging.getLogger(__name__)

# Bumped when a field changes meaning, so an old file is rejected clearly.
FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class Holder:
    """A process holding views of an object, and how many references it holds.

    Attributes
    ----------
    pid : int
        The holding process.
    start_time : float
        Its start time, epoch seconds.
    count : int
        References it holds: one per ``retrieve_views`` call not yet released.
    start_ticks : int or None
        Its start in clock ticks since boot (Linux); see
        :mod:`memshare.store.process`.
    """

    pid: int
    start_time: float
    count: int
    start_ticks: int | None = None

    def is_process(self, process: ProcessId) -> bool:
        """Tell whether this record belongs to `process`."""
        return self.pid == process.pid and process.matches(self.start_time, self.start_ticks)


@dataclass(frozen=True)
class ObjectMetadata:
    """The record of one registered object.

    Attributes
    ----------
    namespace, name : str
        Where the object lives.
    kind, dtype : str
        The codec's kind ("ndarray", "dataframe", ...) and a readable dtype.
    shape : tuple of int
        The value's shape (length for lists).
    nbytes : int
        Logical data size in bytes.
    file_size : int
        Size of the data file in bytes.
    owner_pid : int
        The process that registered the object.
    owner_start_time : float
        That process's start time (epoch seconds), so a reused pid is not
        taken for the owner.
    holders : tuple of Holder
        Live and not yet reaped processes holding views, one record each.
    created : float
        Registration time, epoch seconds.
    persistent : bool
        Whether the object outlives its owner.
    object_id : str
        Unique per registration; replacing an object gives a new id.
    layout : dict
        What the codec needs to attach the data file.
    owner_start_ticks : int or None
        The owner's start in clock ticks since boot (Linux), compared exactly
        so that a change of the wall clock cannot make the owner look dead.
    """

    namespace: str
    name: str
    kind: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    file_size: int
    owner_pid: int
    owner_start_time: float
    holders: tuple[Holder, ...]
    created: float
    persistent: bool
    object_id: str
    layout: dict[str, Any] = field(default_factory=dict)
    owner_start_ticks: int | None = None

    @property
    def views(self) -> int:
        """The number of references held, summed over all holders."""
        return sum(holder.count for holder in self.holders)

    def as_dict(self) -> dict[str, Any]:
        """Return the fields (and ``views``) as JSON-serializable values."""
        values = asdict(self)
        values["shape"] = list(self.shape)
        values["holders"] = [asdict(holder) for holder in self.holders]
        values["views"] = self.views
        return values

    def with_holders(self, holders: tuple[Holder, ...]) -> ObjectMetadata:
        """Return a copy with `holders` in place of the current records."""
        return replace(self, holders=holders)


@dataclass(frozen=True)
class DamagedObject:
    """An object whose metadata file cannot be read, so it cannot be used.

    Attributes
    ----------
    namespace, name : str
        Where the object lives.
    path : str
        Its metadata file.
    reason : str
        Why reading the metadata failed, without the fix; :attr:`fix` is the
        command that removes the object.
    """

    namespace: str
    name: str
    path: str
    reason: str

    @property
    def label(self) -> str:
        """``"namespace/name"``, as messages show it."""
        return f"{self.namespace}/{self.name}"

    @property
    def fix(self) -> str:
        """The command that removes the object's files."""
        return f"memshare rm --force {self.label}"


def problem_of(error: StoreRootError) -> str:
    """Return what `error` found wrong with a store file, without its fix."""
    return str(getattr(error, "problem", error))


def _removal_hint(path: str) -> str:
    namespace = os.path.basename(os.path.dirname(path))
    name = os.path.basename(path)[: -len(layout.METADATA_SUFFIX)]
    return (
        f"remove the object's files with 'memshare rm --force {namespace}/{name}' and "
        "register it again"
    )


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _from_dict(values: dict[str, Any], path: str) -> ObjectMetadata:
    try:
        if values.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {values.get('format_version')!r}")
        return ObjectMetadata(
            namespace=str(values["namespace"]),
            name=str(values["name"]),
            kind=str(values["kind"]),
            dtype=str(values["dtype"]),
            shape=tuple(int(n) for n in values["shape"]),
            nbytes=int(values["nbytes"]),
            file_size=int(values["file_size"]),
            owner_pid=int(values["owner_pid"]),
            owner_start_time=float(values["owner_start_time"]),
            holders=tuple(
                Holder(
                    int(h["pid"]),
                    float(h["start_time"]),
                    int(h["count"]),
                    _optional_int(h.get("start_ticks")),
                )
                for h in values["holders"]
            ),
            created=float(values["created"]),
            persistent=bool(values["persistent"]),
            object_id=str(values["object_id"]),
            layout=dict(values["layout"]),
            owner_start_ticks=_optional_int(values.get("owner_start_ticks")),
        )
    except (KeyError, TypeError, ValueError) as error:
        problem = (
            f"the metadata file {path} is invalid ({error!r}); it was written by another "
            "version of memshare or edited by hand"
        )
        raise StoreRootError(
            f"{problem}; {_removal_hint(path)}", path=path, problem=problem
        ) from error


def read_metadata(path: str) -> ObjectMetadata | None:
    """Read the metadata file at `path`; None if the object is not published.

    Raises
    ------
    StoreRootError
        If the path is a link, has a wrong mode or owner, or is not valid.
    """
    if layout.check_file(path) is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        # Released between the check and the open.
        return None
    with os.fdopen(fd, "rb") as file:
        raw = file.read()
    try:
        values = json.loads(raw)
    except ValueError as error:
        problem = f"the metadata file {path} is not valid JSON ({error})"
        raise StoreRootError(
            f"{problem}; {_removal_hint(path)}", path=path, problem=problem
        ) from error
    return _from_dict(values, path)


def read_namespace(
    folder: str | None, namespace: str
) -> tuple[list[ObjectMetadata], list[DamagedObject]]:
    """Read the metadata of every object in the namespace `folder`.

    An object whose metadata cannot be read (invalid JSON, a link, a wrong
    mode) is returned as a :class:`DamagedObject` instead of raising, so one
    damaged object does not hide the others.

    Returns
    -------
    tuple of (list of ObjectMetadata, list of DamagedObject)
        Both sorted by name. An object released during the call is in neither.
    """
    objects: list[ObjectMetadata] = []
    damaged: list[DamagedObject] = []
    if folder is None:
        return objects, damaged
    for name in layout.list_object_names(folder):
        path = layout.metadata_path(folder, name)
        try:
            metadata = read_metadata(path)
        except StoreRootError as error:
            damaged.append(DamagedObject(namespace, name, path, problem_of(error)))
            continue
        if metadata is not None:
            objects.append(metadata)
    return objects, damaged


@dataclass(frozen=True)
class SkippedFolder:
    """A namespace folder that a listing of all namespaces skipped as unsafe.

    Attributes
    ----------
    namespace : str
        The folder's name.
    path : str
        The folder.
    reason : str
        What is wrong (a symbolic link, a wrong mode or owner) and the fix.
    """

    namespace: str
    path: str
    reason: str


class StoreScan(NamedTuple):
    """Result of :func:`scan_store`: readable objects, damaged objects, skipped folders."""

    objects: list[ObjectMetadata]
    damaged: list[DamagedObject]
    skipped: list[SkippedFolder]


def scan_store(namespace: str | None = None) -> StoreScan:
    """Read every object in one or all namespaces, never failing on one bad entry.

    A damaged object has a metadata file that cannot be read: invalid JSON,
    written by another version of memshare, a symbolic link, or a wrong mode
    or owner. It cannot be retrieved; ``release_variables`` (without
    `require_unheld`), ``memshare rm --force`` and, after a grace period,
    :func:`gc` remove its files. When all namespaces are scanned, an unsafe
    namespace folder (a link, a wrong owner or mode) is skipped, so that it
    does not hide the others.

    Returns
    -------
    StoreScan
        Objects and damaged objects sorted by namespace, then name, and the
        skipped folders sorted by name.

    Raises
    ------
    StoreRootError
        If the root is unsafe, or `namespace` is given and its folder is.
    """
    root = layout.ensure_root(create=False)
    if namespace is not None:
        namespaces = [validate_name(namespace, "namespace")]
    else:
        namespaces = layout.list_namespaces(root)

    scan = StoreScan([], [], [])
    for name in namespaces:
        try:
            folder = layout.check_namespace(root, name)
        except StoreRootError as error:
            if namespace is not None:
                raise
            path = layout.namespace_path(root, name)
            logger.debug("skipped unsafe namespace folder %s: %s", path, error)
            scan.skipped.append(SkippedFolder(name, path, str(error)))
            continue
        found, broken = read_namespace(folder, name)
        scan.objects.extend(found)
        scan.damaged.extend(broken)
    return scan


def scan_objects(
    namespace: str | None = None,
) -> tuple[list[ObjectMetadata], list[DamagedObject]]:
    """Return the readable objects and the damaged ones, in one or all namespaces.

    This is :func:`scan_store` without the skipped folders; each of those
    is reported with a warning instead.
    """
    scan = scan_store(namespace)
    warn_skipped(scan.skipped, stacklevel=2)
    return scan.objects, scan.damaged


def warn_skipped(skipped: list[SkippedFolder], stacklevel: int) -> None:
    """Warn once per skipped folder; `stacklevel` 1 points at the caller of this function."""
    for folder in skipped:
        warnings.warn(
            f"skipped namespace {folder.namespace!r}: {folder.reason}",
            stacklevel=stacklevel + 1,
        )


def write_metadata(path: str, metadata: ObjectMetadata, writer: ProcessId) -> None:
    """Replace the metadata file at `path` atomically. Call under the lock."""
    values = metadata.as_dict()
    del values["views"]
    values["format_version"] = FORMAT_VERSION
    payload = json.dumps(values, indent=1, sort_keys=True).encode()

    folder = os.path.dirname(path)
    temp = layout.temp_path(folder, metadata.name, writer)
    try:
        with os.fdopen(layout.open_new_file(temp), "wb") as file:
            file.write(payload)
        os.replace(temp, path)
    except BaseException as error:
        # Disk full or Ctrl-C: keep the old metadata, drop the partial copy.
        layout.remove_file(temp)
        if is_full(error):
            raise StoreFullError(
                f"writing the metadata file {path} failed: {error}; {FULL_HINT}",
                path=path,
            ) from error
        raise
    logger.debug(
        "wrote metadata of %s/%s at %s: %d view(s) by %d holder(s) (pid %d)",
        metadata.namespace,
        metadata.name,
        path,
        metadata.views,
        len(metadata.holders),
        writer.pid,
    )
