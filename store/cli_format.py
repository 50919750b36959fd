"""Text and JSON output of the ``memshare`` inspection command.

The functions here turn store metadata into strings and dicts and never
touch the store. Whether a process still runs is asked through an
``is_running`` argument, so the layout can be tested without processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from memshare.store.collect import DAMAGED_GRACE_SECONDS, GcResult
from memshare.store.metadata import DamagedObject, Holder, ObjectMetadata, SkippedFolder

__all__ = [
    "IsRunning",
    "damaged_record",
    "format_age",
    "format_damaged",
    "format_gc_result",
    "format_info",
    "format_listing",
    "format_shape",
    "format_size",
    "format_skipped",
    "format_table",
    "info_record",
    "listing_record",
]

# is_running(pid, start_time, start_ticks) returns whether the process
# recorded with that pid and start (see ObjectMetadata and Holder) still
# runs. The command passes memshare.store.process.is_alive.
IsRunning = Callable[[int, float, "int | None"], bool]

# Binary units, as `ls -h` and `free -h` print them, because users compare
# object sizes with the size of /dev/shm that `df -h` reports in these units.
_SIZE_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

# A DataFrame's dtype summary lists every column and can be hundreds of
# characters long. The table cuts it at this width, but `info` and `--json`
# show it whole.
_MAX_CELL_WIDTH: Final = 32

_LISTING_HEADERS: Final = (
    "NAMESPACE",
    "NAME",
    "KIND",
    "DTYPE",
    "SHAPE",
    "SIZE",
    "VIEWS",
    "OWNER",
    "PERSISTENT",
    "AGE",
)

# The KIND cell of a damaged object in the listing; its other cells are "-".
DAMAGED_KIND: Final = "DAMAGED"

# Column positions of SIZE, VIEWS, OWNER and AGE, which are right-aligned so
# that their digits line up.
_NUMERIC_COLUMNS: Final = frozenset({5, 6, 7, 9})


def format_size(nbytes: int) -> str:
    """Format a byte count with a binary unit, e.g. ``1.5 KiB``.

    Parameters
    ----------
    nbytes : int
        Size in bytes, zero or more.

    Returns
    -------
    str
        Whole bytes below 1 KiB, else the value with one decimal.
    """
    if nbytes < 1024:
        return f"{nbytes} B"

    value = float(nbytes)
    unit_index = 0
    while value >= 1024 and unit_index < len(_SIZE_UNITS) - 1:
        value /= 1024
        unit_index += 1
    return f"{value:.1f} {_SIZE_UNITS[unit_index]}"


def format_age(seconds: float) -> str:
    """Format a duration in its largest whole unit, e.g. ``42s``, ``7m``, ``3h``, ``2d``.

    A negative duration, which a clock set back after registration produces,
    shows as ``0s``.
    """
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h"
    return f"{whole // 86400}d"


def format_shape(shape: Sequence[int]) -> str:
    """Format a shape as ``1000x20``; a scalar's empty shape shows as ``()``."""
    if len(shape) == 0:
        return "()"
    return "x".join(str(extent) for extent in shape)


def format_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    right_aligned: frozenset[int] = frozenset(),
) -> str:
    """Lay out rows as columns separated by two spaces, under a header line.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequence of str
        Cell texts; every row has one cell per header.
    right_aligned : frozenset of int
        Positions of the columns whose cells are padded on the left.

    Returns
    -------
    str
        The table without a trailing newline. Trailing spaces are stripped
        from every line.
    """
    all_rows = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[column]) for row in all_rows) for column in range(len(headers))]

    lines = []
    for row in all_rows:
        cells = []
        for column, cell in enumerate(row):
            if column in right_aligned:
                cells.append(cell.rjust(widths[column]))
            else:
                cells.append(cell.ljust(widths[column]))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _shorten(text: str) -> str:
    if len(text) <= _MAX_CELL_WIDTH:
        return text
    return text[: _MAX_CELL_WIDTH - 3] + "..."


def _owner_running(meta: ObjectMetadata, is_running: IsRunning) -> bool:
    return is_running(meta.owner_pid, meta.owner_start_time, meta.owner_start_ticks)


def _holder_running(holder: Holder, is_running: IsRunning) -> bool:
    return is_running(holder.pid, holder.start_time, holder.start_ticks)


def _format_owner(meta: ObjectMetadata, is_running: IsRunning) -> str:
    if _owner_running(meta, is_running):
        return str(meta.owner_pid)
    return f"{meta.owner_pid} (exited)"


def _format_views(meta: ObjectMetadata, is_running: IsRunning) -> str:
    # References of exited holders stay counted until gc drops them, so the
    # cell shows how many of them belong to processes that no longer run.
    exited = sum(h.count for h in meta.holders if not _holder_running(h, is_running))
    if exited == 0:
        return str(meta.views)
    return f"{meta.views} ({exited} exited)"


def format_listing(
    objects: Iterable[ObjectMetadata],
    is_running: IsRunning,
    now: float | None = None,
    damaged: Iterable[DamagedObject] = (),
) -> str:
    """Format object metadata as the ``memshare ls`` table, sorted by namespace and name.

    Parameters
    ----------
    objects : iterable of ObjectMetadata
        The objects to list; the caller handles the empty case.
    is_running : callable
        ``is_running(pid, start_time, start_ticks)`` returns whether a process
        still runs. An owner that exited is shown as ``<pid> (exited)``,
        and views of exited holders as ``<views> (<n> exited)``.
    now : float, optional
        Epoch seconds that ages are measured against; the current time by default.
    damaged : iterable of DamagedObject
        Objects whose metadata cannot be read, listed with the kind
        ``DAMAGED`` and ``-`` in every other column.

    Returns
    -------
    str
        The table without a trailing newline.
    """
    reference_time = time.time() if now is None else now

    rows = []
    for item in damaged:
        rows.append((item.namespace, item.name, DAMAGED_KIND, *["-"] * 7))
    for meta in objects:
        rows.append(
            (
                meta.namespace,
                meta.name,
                meta.kind,
                _shorten(meta.dtype),
                format_shape(meta.shape),
                format_size(meta.nbytes),
                _format_views(meta, is_running),
                _format_owner(meta, is_running),
                "yes" if meta.persistent else "no",
                format_age(reference_time - meta.created),
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    return format_table(_LISTING_HEADERS, rows, right_aligned=_NUMERIC_COLUMNS)


def format_damaged(damaged: Iterable[DamagedObject]) -> str:
    """Explain each damaged object: the error, and the command that removes it.

    Returns an empty string when there is none, else the text without a
    trailing newline.
    """
    lines = []
    for item in sorted(damaged, key=lambda entry: (entry.namespace, entry.name)):
        lines.append(f"{item.label} is damaged and cannot be retrieved: {item.reason}")
        lines.extend(_fix_line(item))
    return "\n".join(lines)


def _fix_line(item: DamagedObject) -> list[str]:
    return [f"  remove its files with: {item.fix}"]


def format_skipped(skipped: Iterable[SkippedFolder]) -> str:
    """Explain each namespace folder a listing skipped, one line each."""
    return "\n".join(
        f"skipped namespace {folder.namespace!r}: {folder.reason}" for folder in skipped
    )


def damaged_record(item: DamagedObject) -> dict[str, Any]:
    """Return the record of a damaged object in ``memshare ls --json``.

    It has ``namespace``, ``name``, ``damaged`` (True), ``path`` (the
    metadata file), ``error`` and ``fix`` (the command that removes it).
    """
    return {
        "namespace": item.namespace,
        "name": item.name,
        "damaged": True,
        "path": item.path,
        "error": item.reason,
        "fix": item.fix,
    }


def listing_record(meta: ObjectMetadata, is_running: IsRunning) -> dict[str, Any]:
    """Return one object of ``memshare ls --json``.

    The keys are those of :meth:`ObjectMetadata.as_dict` plus
    ``owner_running``, which is False once the registering process exited,
    and ``damaged``, which is False here and True in the records of
    :func:`damaged_record`.
    """
    record = meta.as_dict()
    record["owner_running"] = _owner_running(meta, is_running)
    record["damaged"] = False
    return record


def info_record(meta: ObjectMetadata, is_running: IsRunning) -> dict[str, Any]:
    """Return the object of ``memshare info --json``.

    It is the :func:`listing_record` with a ``running`` flag on every holder.
    """
    record = listing_record(meta, is_running)
    for holder, holder_record in zip(meta.holders, record["holders"], strict=True):
        holder_record["running"] = _holder_running(holder, is_running)
    return record


def _format_timestamp(epoch_seconds: float, reference_time: float) -> str:
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_seconds))
    return f"{local} ({format_age(reference_time - epoch_seconds)} ago)"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_info(meta: ObjectMetadata, is_running: IsRunning, now: float | None = None) -> str:
    """Format the full metadata of one object for ``memshare info``.

    Parameters
    ----------
    meta : ObjectMetadata
        The object's metadata.
    is_running : callable
        ``is_running(pid, start_time, start_ticks)`` returns whether a process
        still runs.
    now : float, optional
        Epoch seconds that ages are measured against; the current time by default.

    Returns
    -------
    str
        One ``field: value`` line per field, then one line per holder,
        without a trailing newline.
    """
    reference_time = time.time() if now is None else now

    owner_state = "running" if _owner_running(meta, is_running) else "exited"
    fields = [
        ("object", f"{meta.namespace}/{meta.name}"),
        ("kind", meta.kind),
        ("dtype", meta.dtype),
        ("shape", format_shape(meta.shape)),
        ("size", f"{format_size(meta.nbytes)} ({meta.nbytes} bytes)"),
        ("file size", f"{format_size(meta.file_size)} ({meta.file_size} bytes)"),
        ("owner pid", f"{meta.owner_pid} ({owner_state})"),
        ("persistent", "yes" if meta.persistent else "no"),
        ("created", _format_timestamp(meta.created, reference_time)),
        ("object id", meta.object_id),
        ("views", str(meta.views)),
        ("holders", "none" if not meta.holders else ""),
    ]
    label_width = max(len(label) for label, _ in fields) + 1
    lines = [f"{label + ':':<{label_width}} {value}".rstrip() for label, value in fields]

    for holder in sorted(meta.holders, key=lambda item: item.pid):
        state = "running" if _holder_running(holder, is_running) else "exited"
        started = _format_timestamp(holder.start_time, reference_time)
        lines.append(
            f"  pid {holder.pid} ({state}): {_plural(holder.count, 'view')}, "
            f"process started {started}"
        )
    return "\n".join(lines)


def format_gc_result(result: GcResult, nothing: str | None = None) -> str:
    """Format what one ``gc`` run removed, one line per item, without a trailing newline.

    Parameters
    ----------
    result : GcResult
        What the run removed, kept and skipped.
    nothing : str, optional
        The line printed when the run found nothing at all, such as a
        sentence stating that the store has no objects. The default line
        states that every object is still in use or persistent.
    """
    lines = [f"removed object {label}" for label in result.objects]
    for holder in result.holders:
        lines.append(
            f"dropped {_plural(holder.count, 'view')} of {holder.namespace}/{holder.name} "
            f"held by exited pid {holder.pid}"
        )
    lines.extend(f"removed stale file {path}" for path in result.temp_files)
    lines.extend(f"removed damaged object {label}" for label in result.damaged_removed)
    for item in result.damaged:
        lines.append(
            f"kept damaged object {item.label}, changed less than "
            f"{format_age(DAMAGED_GRACE_SECONDS)} ago: {item.reason}"
        )
        lines.extend(_fix_line(item))
    lines.extend(
        f"skipped symbolic link {path}; memshare never follows or removes links, so "
        "remove it by hand"
        for path in result.skipped_links
    )
    lines.extend(
        f"skipped namespace {folder.namespace!r}: {folder.reason}"
        for folder in result.skipped_folders
    )
    # A namespace folder is removed after its objects, so it comes last.
    lines.extend(f"removed empty namespace {namespace}" for namespace in result.namespaces)

    if not lines:
        if nothing is not None:
            return nothing
        return "Nothing to remove: every object has a running owner or holder, or is persistent."
    return "\n".join(lines)
