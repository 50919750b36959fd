"""Lists and tuples: one segment per element and an index segment, read lazily.

::

    offset 0      element 0 segment     (each starts at a multiple of 64 bytes)
                  element 1 segment
                  ...
                  index segment         int64 columns "offset" and "length", one row per element

The layout (or, for a nested list, the parent's index row) points at the
index segment. Attaching maps the index columns as numpy views and builds no
element, so it is O(1) in the number and size of the elements; ``view[i]``
opens the segment of element i only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, Final, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from memshare.store.codec_segment import (
    ALIGNMENT,
    Part,
    measure_segment,
    segment_kind,
    with_codec_metadata,
    write_segment,
)

logger = logging.getLogger(__name__)

__all__ = ["LazySequence", "SequencePart", "preview_sequence", "read_sequence"]

_INDEX_FIELDS: Final = [pa.field("offset", pa.int64(), nullable=False), pa.field("length", pa.int64(), nullable=False)]

#: Number of elements shown by ``repr`` and ``preview`` before "...".
_SHOWN: Final = 3


def _index_batch(schema: pa.Schema, offsets: np.ndarray, lengths: np.ndarray) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(offsets), pa.array(lengths)], schema=schema)


class SequencePart:
    """A list or tuple whose elements are encoded parts, ready to be written.

    Parameters
    ----------
    value : list or tuple
        The sequence. Every element is validated before anything is written.
    location : str
        Where the sequence sits in the registered object, for error messages.
    encode_element : callable
        Encodes one element at a location such as ``value[3]``.
    """

    def __init__(self, value: list[object] | tuple[object, ...], location: str, encode_element: Callable[[object, str], Part]) -> None:
        self.kind = "tuple" if isinstance(value, tuple) else "list"
        self._elements = [encode_element(item, f"{location}[{number}]") for number, item in enumerate(value)]
        self._schema = with_codec_metadata(pa.schema(_INDEX_FIELDS), self.kind, {"length": len(value)})

        kinds = list(dict.fromkeys(part.kind for part in self._elements))
        self.dtype = ", ".join(kinds) if kinds else "empty"
        self.shape: tuple[int, ...] = (len(value),)
        self.nbytes = sum(part.nbytes for part in self._elements)

        # The index's size does not depend on the offsets' values, so zeros
        # measure it. Each element may need up to ALIGNMENT bytes of padding.
        zeros = np.zeros(len(value), dtype=np.int64)
        index_size = measure_segment(self._schema, [_index_batch(self._schema, zeros, zeros)])
        self.size_bound = sum(part.size_bound + ALIGNMENT for part in self._elements) + index_size + ALIGNMENT

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write every element, then the index; return the index's (offset, length)."""
        offsets = np.empty(len(self._elements), dtype=np.int64)
        lengths = np.empty(len(self._elements), dtype=np.int64)
        for number, part in enumerate(self._elements):
            offsets[number], lengths[number] = part.write_into(out)
        return write_segment(out, self._schema, [_index_batch(self._schema, offsets, lengths)])


def _elements_equal(left: object, right: object) -> bool:
    """Compare two elements the way a user would: by value, for arrays and frames too."""
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        return (
            isinstance(left, np.ndarray)
            and isinstance(right, np.ndarray)
            and left.dtype == right.dtype
            and bool(np.array_equal(left, right))
        )
    if isinstance(left, pd.DataFrame | pd.Series):
        return type(left) is type(right) and bool(left.equals(right))
    if isinstance(left, pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table):
        return type(left) is type(right) and bool(left.equals(right))
    return bool(left == right)


class LazySequence(Sequence[Any]):
    """A read-only list or tuple view whose elements are built on first access.

    ``len`` is O(1), ``view[i]`` builds element i (once, then it is cached),
    negative indices and slices work, slices are lazy too. ``kind`` is
    ``"list"`` or ``"tuple"``; a ``"tuple"`` view compares equal to tuples and
    a ``"list"`` view to lists, as Python's own types do. Pickling a view
    pickles the materialized list or tuple.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        kind: str,
        offsets: np.ndarray,
        lengths: np.ndarray,
        load: Callable[[int, int], object],
        cache: dict[int, object] | None = None,
    ) -> None:
        self.kind = kind
        self._offsets = offsets
        self._lengths = lengths
        self._load = load
        # Elements built so far, keyed by segment offset. Slices share the
        # dict, and the elements are dropped with the last view using it.
        self._cache: dict[int, object] = {} if cache is None else cache

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> LazySequence: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return LazySequence(self.kind, self._offsets[index], self._lengths[index], self._load, self._cache)

        count = len(self)
        position = int(index)
        if position < 0:
            position += count
        if not 0 <= position < count:
            raise IndexError(f"{self.kind} index {index} is out of range for a {self.kind} of {count} elements")

        offset = int(self._offsets[position])
        if offset not in self._cache:
            self._cache[offset] = self._load(offset, int(self._lengths[position]))
        return self._cache[offset]

    def __iter__(self) -> Iterator[Any]:
        for position in range(len(self)):
            yield self[position]

    @property
    def materialized_count(self) -> int:
        """Number of elements built so far (shared with slices of this view)."""
        return len(self._cache)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazySequence):
            if other.kind != self.kind:
                return False
        elif not isinstance(other, tuple if self.kind == "tuple" else list):
            return NotImplemented
        if len(self) != len(other):  # type: ignore[arg-type]
            return False
        return all(_elements_equal(mine, theirs) for mine, theirs in zip(self, other, strict=True))  # type: ignore[call-overload]

    def __repr__(self) -> str:
        shown = ", ".join(_short_repr(self[position]) for position in range(min(len(self), _SHOWN)))
        more = ", ..." if len(self) > _SHOWN else ""
        return f"<memshare {self.kind} view of {len(self)} elements: [{shown}{more}]>"

    def __reduce__(self) -> tuple[Any, ...]:
        items = list(self)
        if self.kind == "tuple":
            return (tuple, (items,))
        return (list, (items,))


def _short_repr(value: object) -> str:
    """Return a one-line description of an element: type and shape for data, repr for scalars."""
    if isinstance(value, np.ndarray):
        return f"ndarray({value.dtype.str}, shape={value.shape})"
    if isinstance(value, pd.DataFrame | pd.Series):
        return f"{type(value).__name__}(shape={value.shape})"
    if isinstance(value, pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table):
        return f"{type(value).__name__}(length={len(value)})"
    if isinstance(value, LazySequence):
        return f"{value.kind}(length={len(value)})"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_sequence(reader: ipc.RecordBatchFileReader, load: Callable[[int, int], object]) -> LazySequence:
    """Return the lazy view of a stored list or tuple from its index segment."""
    batch = reader.get_batch(0)
    offsets = np.frombuffer(batch.column(0).buffers()[1] or b"", dtype=np.int64, count=batch.num_rows)
    lengths = np.frombuffer(batch.column(1).buffers()[1] or b"", dtype=np.int64, count=batch.num_rows)
    return LazySequence(segment_kind(reader.schema), offsets, lengths, load)


def preview_sequence(value: LazySequence | list[object] | tuple[object, ...], rows: int) -> str:
    """Return the kind, the length and one line for each of the first ``rows`` elements."""
    kind = value.kind if isinstance(value, LazySequence) else type(value).__name__
    lines = [f"{kind} length={len(value)}"]
    shown = min(len(value), max(int(rows), 0))
    lines.extend(f"[{position}] {_short_repr(value[position])}" for position in range(shown))
    if len(value) > shown:
        lines.append("...")
    return "\n".join(lines)
