"""The codec: a value becomes one Arrow IPC object file, and a file becomes a read-only view.

::

    encode(value) -> Encoded          validate, build Arrow data in memory (no I/O)
    Encoded.write(path) -> layout     write the object file in one pass
    attach(path, layout) -> view      map the file read-only, build views in O(1) of the size

Each kind of value has its own module (``codec_numpy``, ``codec_pandas``,
``codec_arrow``, ``codec_list``, ``codec_scalar``). This module dispatches by
type and owns the file format's entry points. The store calls these functions,
and it creates the file, names it and removes it on failure.
"""

from __future__ import annotations

import functools
import logging
import mmap
import os
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from memshare.store.codec_arrow import ArrowPart, preview_arrow, read_arrow
from memshare.store.codec_errors import damaged_object
from memshare.store.codec_list import LazySequence, SequencePart, preview_sequence, read_sequence
from memshare.store.codec_numpy import encode_ndarray, preview_ndarray, read_ndarray
from memshare.store.codec_pandas import FramePart, preview_frame, read_frame
from memshare.store.codec_scalar import ScalarPart, conversion_hint, is_scalar, read_scalar
from memshare.store.codec_segment import (
    FORMAT_VERSION,
    Part,
    open_segment,
    segment_kind,
)
from memshare.store.errors import DamagedObjectError, UnsupportedTypeError

logger = logging.getLogger(__name__)

__all__ = ["DamagedObjectError", "Encoded", "attach", "encode", "preview"]

#: Size in bytes of the write buffer for the object file.
_WRITE_BUFFER: Final = 1 << 20

#: Kinds an object file can hold, as reported by ``Encoded.kind``.
KINDS: Final = (
    "ndarray",
    "dataframe",
    "series",
    "list",
    "tuple",
    "arrow_array",
    "chunked_array",
    "record_batch",
    "table",
    "scalar",
)


class Encoded:
    """A validated value, prepared in memory and ready to be written once.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    dtype : str
        Human-readable element type (numpy dtype string, column dtypes, ...).
    shape : tuple of int
        Array shape, (rows, columns) of a frame, (length,) of a list.
    nbytes : int
        Logical size of the data in bytes.
    size_bound : int
        Upper bound of the object file's size, for a free-space check before
        writing.
    """

    def __init__(self, part: Part) -> None:
        self._part = part
        self.kind: str = part.kind
        self.dtype: str = part.dtype
        self.shape: tuple[int, ...] = part.shape
        self.nbytes: int = part.nbytes
        self.size_bound: int = part.size_bound

    def __repr__(self) -> str:
        return (
            f"Encoded(kind={self.kind!r}, dtype={self.dtype!r}, shape={self.shape}, "
            f"nbytes={self.nbytes}, size_bound={self.size_bound})"
        )

    def write(self, path: str) -> dict[str, Any]:
        """Write the complete object file at ``path`` and return its layout.

        The store creates ``path`` empty with mode 0600 and removes it if this
        raises. A non-empty file is rejected with ``ValueError``.

        Returns
        -------
        dict
            A small JSON-serializable layout that :func:`attach` needs.
        """
        # The store normally created the file already. If it is missing,
        # O_CREAT with mode 0600 creates it private instead of failing.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        # Buffering joins the many small IPC metadata writes. Buffers larger
        # than the buffer go to the file directly, without a copy.
        with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER) as out:
            # Rewriting a file that another process maps would make its views
            # fault with SIGBUS, so only a fresh, empty file is accepted.
            existing = os.fstat(fd).st_size
            if existing:
                raise ValueError(
                    f"object file {path} already contains {existing} bytes; write to a new, "
                    "empty file and rename it into place"
                )
            offset, length = self._part.write_into(out)
            size = out.tell()
        layout = {"format": FORMAT_VERSION, "kind": self.kind, "offset": offset, "length": length}
        logger.debug(
            "wrote %s object to %s: %d bytes (bound %d), pid %d",
            self.kind,
            path,
            size,
            self.size_bound,
            os.getpid(),
        )
        return layout


# --- encoding ----------------------------------------------------------------------------


def encode_part(value: object, location: str) -> Part:
    """Validate ``value`` and return the part that writes it.

    ``location`` describes where ``value`` sits in the registered object
    (``value``, ``value[3]``) so that errors point at it.
    """
    if isinstance(value, np.ndarray):
        return encode_ndarray(value, location)
    if isinstance(value, pd.DataFrame | pd.Series):
        return FramePart(value, location)
    if isinstance(value, pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table):
        return ArrowPart(value)
    if isinstance(value, LazySequence):
        # A list view registered again is stored like the list or tuple it shows.
        value = tuple(value) if value.kind == "tuple" else list(value)
    if isinstance(value, list | tuple):
        return SequencePart(value, location, encode_part)
    if is_scalar(value):
        return ScalarPart(value, location)
    if isinstance(value, dict):
        raise UnsupportedTypeError(
            f"{location} is a dict, which cannot be stored as one object; register each "
            "entry as its own variable, or store list(d.values())",
            location=location,
            type_name="dict",
        )

    fix = conversion_hint(value) or (
        "store a numpy array, a pandas DataFrame or Series, a pyarrow Array, "
        "ChunkedArray, RecordBatch or Table, a list or tuple of these, or a scalar "
        "(int, float, bool, complex, str, bytes, None, numpy scalar)"
    )
    raise UnsupportedTypeError(
        f"{location} has type {type(value).__module__}.{type(value).__qualname__}, which "
        f"cannot be stored; {fix}",
        location=location,
        type_name=type(value).__qualname__,
    )


def encode(value: object) -> Encoded:
    """Validate ``value`` and prepare its Arrow data in memory, zero-copy where possible.

    Raises
    ------
    UnsupportedTypeError
        When the value, or a part of it, cannot be stored. The message names
        where in the value the problem is and what to convert it to.
    """
    return Encoded(encode_part(value, "value"))


# --- attaching ---------------------------------------------------------------------------

_Reader = Callable[[Any], object]

_READERS: Final[dict[str, _Reader]] = {
    "ndarray": read_ndarray,
    "dataframe": read_frame,
    "series": read_frame,
    "arrow_array": read_arrow,
    "chunked_array": read_arrow,
    "record_batch": read_arrow,
    "table": read_arrow,
    "scalar": read_scalar,
}


#: Errors that reading a damaged file or layout raises. pyarrow's ArrowInvalid
#: is a ValueError, and a damaged IPC footer raises OSError even though the
#: file is already mapped. Missing or mistyped entries in the stored JSON
#: raise KeyError, IndexError or TypeError.
_READ_ERRORS: Final = (ValueError, KeyError, IndexError, TypeError, OSError, pa.ArrowException)


def read_part(
    mapped: pa.Buffer, path: str, offset: int, length: int, expected_kind: str | None = None
) -> object:
    """Build the view of the segment at ``offset`` of the mapped file at ``path``.

    ``expected_kind``, when given, is checked against the kind the segment
    records, so that a layout paired with the wrong file fails clearly.

    Raises
    ------
    DamagedObjectError
        When the segment cannot be read as it was written.
    """
    try:
        reader = open_segment(mapped, offset, length)
        kind = segment_kind(reader.schema)
        if expected_kind is not None and kind != expected_kind:
            raise ValueError(
                f"the layout expects a {expected_kind!r} object but the segment at offset "
                f"{offset} contains {kind!r}"
            )
        if kind in ("list", "tuple"):
            # Elements are read from the same map when they are first accessed,
            # and each read raises this same error if its segment is damaged.
            return read_sequence(reader, functools.partial(read_part, mapped, path))
        read = _READERS.get(kind)
        if read is None:
            raise ValueError(
                f"the segment at offset {offset} has kind {kind!r}, which this version of "
                "memshare cannot read"
            )
        return read(reader)
    except _READ_ERRORS as error:
        raise damaged_object(path, str(error)) from error


def attach(path: str, layout: dict[str, Any]) -> object:
    """Map the object file at ``path`` read-only and return its view.

    The work is O(1) in the object size: only Arrow metadata is read, and
    numpy, pandas and pyarrow views point into the map. A DataFrame costs
    O(columns), because each column gets its own pandas array.

    The map lives as long as any view (or any element read from a list view)
    refers to it, even after the file is unlinked.

    Raises
    ------
    DamagedObjectError
        When the layout or the file is damaged or has another format version.
        The message names the file and the fix.
    """
    version = layout.get("format")
    if version != FORMAT_VERSION:
        raise damaged_object(
            path,
            f"its layout has format {version!r}, but this version of memshare reads "
            f"format {FORMAT_VERSION}",
        )
    kind = layout.get("kind")
    if kind not in KINDS:
        raise damaged_object(path, f"its layout has the invalid kind {kind!r}")

    mapped = map_read_only(path)

    try:
        offset = int(layout["offset"])
        length = int(layout["length"])
    except (KeyError, TypeError, ValueError) as error:
        raise damaged_object(path, f"its layout has no valid offset and length ({error})") from None
    view = read_part(mapped, path, offset, length, str(kind))
    logger.debug("attached %s object from %s, pid %d", kind, path, os.getpid())
    return view


def map_read_only(path: str) -> pa.Buffer:
    """Map the whole file at ``path`` with PROT_READ and return it as one buffer.

    A write through any view faults instead of changing the shared data. The
    map is made with :mod:`mmap` rather than ``pyarrow.memory_map`` because
    pyarrow's ``read_buffer`` calls ``madvise(MADV_WILLNEED)`` on the whole
    file, which makes attaching cost time in proportion to the size. The
    returned buffer keeps the mmap object alive, and the mmap object cannot be
    closed while any buffer exported from it exists, so the map lives until
    the last view is garbage-collected.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            return pa.py_buffer(b"")
        region = mmap.mmap(file.fileno(), size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    # Closing the file releases its descriptor; the map does not need it.
    return pa.py_buffer(region)


# --- preview -----------------------------------------------------------------------------


def preview(view: object, rows: int) -> str:
    """Return a short, deterministic text of ``view`` for ``memshare show``.

    Shows the head of a frame, the top-left corner of a matrix, the first
    elements of a list, or a scalar's repr, with at most ``rows`` rows.
    """
    if isinstance(view, np.ndarray):
        return preview_ndarray(view, rows)
    if isinstance(view, pd.DataFrame | pd.Series):
        return preview_frame(view, rows)
    if isinstance(view, pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table):
        return preview_arrow(view, rows)
    if isinstance(view, LazySequence | list | tuple):
        return preview_sequence(view, rows)
    text = repr(view)
    return text if len(text) <= 200 else text[:197] + "..."
