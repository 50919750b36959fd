"""Lists and tuples: one segment per element and an index segment, read lazily.

::

    offset 0      element 0 segment     (each starts at a multiple of 64 bytes)
                  element 1 segment
                  ...
                  index segment         int64 columns "offset" and "length", one row per element

The layout (or, for a nested list, the parent's index row) points at the
index segment. Attaching maps the index columns as numpy views and builds no
element, so it is O(1) in the number and size of the elements. ``view[i]``
opens the segment of element i only.

A list whose elements are all Python scalars of one type (bool, int within
int64, float, str or bytes, with None allowed) is packed into one segment
with one Arrow column instead. Each segment costs about 1 KiB of IPC
metadata, so a list of a million strings would otherwise take a GiB.
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
    segment_info,
    segment_kind,
    with_codec_metadata,
    write_segment,
)

logger = logging.getLogger(__name__)

__all__ = ["LazySequence", "SequencePart", "preview_sequence", "read_sequence"]

_INDEX_FIELDS: Final = [
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("length", pa.int64(), nullable=False),
]

#: Python scalar types a packed list may hold, with their Arrow types.
_PACKED_TYPES: Final[dict[type, pa.DataType]] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.large_string(),
    bytes: pa.large_binary(),
}

#: Number of elements shown by ``repr`` before "...".
_SHOWN: Final = 3


def _index_batch(schema: pa.Schema, offsets: np.ndarray, lengths: np.ndarray) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(offsets), pa.array(lengths)], schema=schema)


def _packed_type(value: list[object] | tuple[object, ...]) -> type | None:
    """Return the one scalar type of the elements when the list can be packed, else None."""
    types = {type(item) for item in value} - {type(None)}
    if len(types) != 1:
        return None
    (element_type,) = types
    if element_type not in _PACKED_TYPES:
        return None
    if element_type is int and not all(item is None or -(2**63) <= item < 2**63 for item in value):  # type: ignore[operator]
        return None
    return element_type


class SequencePart:
    """A list or tuple ready to be written, element by element or packed.

    Parameters
    ----------
    value : list or tuple
        The sequence. Every element is validated before anything is written.
    location : str
        Where the sequence sits in the registered object, for error messages.
    encode_element : callable
        Encodes one element at a location such as ``value[3]``.
    """

    def __init__(
        self,
        value: list[object] | tuple[object, ...],
        location: str,
        encode_element: Callable[[object, str], Part],
    ) -> None:
        self.kind = "tuple" if isinstance(value, tuple) else "list"
        self.shape: tuple[int, ...] = (len(value),)
        self._elements: list[Part] = []

        packed = _packed_type(value)
        packed_values: pa.Array | None = None
        if packed is not None:
            try:
                packed_values = pa.array(value, type=_PACKED_TYPES[packed])
            except UnicodeEncodeError:
                # Stored element by element instead, whose error names the element.
                packed = None

        self._packed = packed is not None
        if packed is not None and packed_values is not None:
            info = {"length": len(value), "packed": packed.__name__}
            self._schema = with_codec_metadata(
                pa.schema([pa.field("values", packed_values.type)]), self.kind, info
            )
            self._batch = pa.RecordBatch.from_arrays([packed_values], schema=self._schema)
            self.dtype = packed.__name__
            self.nbytes = int(self._batch.nbytes)
            self.size_bound = measure_segment(self._schema, [self._batch]) + ALIGNMENT
            return

        self._elements = [
            encode_element(item, f"{location}[{number}]") for number, item in enumerate(value)
        ]
        self._schema = with_codec_metadata(
            pa.schema(_INDEX_FIELDS), self.kind, {"length": len(value)}
        )

        kinds = list(dict.fromkeys(part.kind for part in self._elements))
        self.dtype = ", ".join(kinds) if kinds else "empty"
        self.nbytes = sum(part.nbytes for part in self._elements)

        # The index's size does not depend on the offsets' values, so zeros
        # measure it. Each element may need up to ALIGNMENT bytes of padding.
        zeros = np.zeros(len(value), dtype=np.int64)
        self._batch = _index_batch(self._schema, zeros, zeros)
        index_size = measure_segment(self._schema, [self._batch])
        self.size_bound = (
            sum(part.size_bound + ALIGNMENT for part in self._elements) + index_size + ALIGNMENT
        )

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write every element, then the index, and return the index's (offset, length)."""
        if self._packed:
            return write_segment(out, self._schema, [self._batch])

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
    if isinstance(
        left, pd.DataFrame | pd.Series | pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table
    ):
        # Same type first: DataFrame.equals and pyarrow's equals reject other types.
        return type(left) is type(right) and bool(left.equals(right))  # type: ignore[attr-defined]
    return bool(left == right)


class LazySequence(Sequence[Any]):
    """A read-only list or tuple view whose elements are built on first access.

    ``len`` is O(1), and ``view[i]`` builds element i once and caches it.
    Negative indices work, and slices are lazy views too. ``kind`` is
    ``"list"`` or ``"tuple"``. A ``"tuple"`` view compares equal to tuples and
    a ``"list"`` view to lists, as Python's own types do. Pickling a view
    pickles the materialized list or tuple.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        kind: str,
        positions: range,
        load: Callable[[int], object],
        cache: dict[int, object] | None = None,
    ) -> None:
        self.kind = kind
        # Positions in the stored list. A slice of the view slices the range.
        self._positions = positions
        self._load = load
        # Elements built so far, keyed by stored position. Slices share the
        # dict, and the elements are dropped with the last view using it.
        self._cache: dict[int, object] = {} if cache is None else cache

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> LazySequence: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return LazySequence(self.kind, self._positions[index], self._load, self._cache)

        count = len(self)
        number = int(index)
        if number < 0:
            number += count
        if not 0 <= number < count:
            raise IndexError(
                f"{self.kind} index {index} is out of range for a {self.kind} of {count} elements"
            )

        position = self._positions[number]
        if position not in self._cache:
            self._cache[position] = self._load(position)
        return self._cache[position]

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
        if len(self) != len(other):
            return False
        return all(_elements_equal(mine, theirs) for mine, theirs in zip(self, other, strict=True))

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
        return f"ndarray({value.dtype}, shape={value.shape})"
    if isinstance(value, pd.DataFrame | pd.Series):
        return f"{type(value).__name__}(shape={value.shape})"
    if isinstance(value, pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table):
        return f"{type(value).__name__}(length={len(value)})"
    if isinstance(value, LazySequence):
        return f"{value.kind}(length={len(value)})"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_sequence(
    reader: ipc.RecordBatchFileReader, load_segment: Callable[[int, int], object]
) -> LazySequence:
    """Return the lazy view of a stored list or tuple from its index (or packed) segment.

    ``load_segment(offset, length)`` builds the view of one element segment.
    """
    batch = reader.get_batch(0)
    info = segment_info(reader.schema)

    if info.get("packed"):
        values = batch.column(0)

        def load(position: int) -> object:
            return values[position].as_py()

    else:
        # Zero-copy views of the index columns: no pass over the elements.
        offsets = np.frombuffer(
            batch.column(0).buffers()[1] or b"", dtype=np.int64, count=batch.num_rows
        )
        lengths = np.frombuffer(
            batch.column(1).buffers()[1] or b"", dtype=np.int64, count=batch.num_rows
        )

        def load(position: int) -> object:
            return load_segment(int(offsets[position]), int(lengths[position]))

    return LazySequence(segment_kind(reader.schema), range(batch.num_rows), load)


def preview_sequence(value: LazySequence | list[object] | tuple[object, ...], rows: int) -> str:
    """Return the kind, the length and one line for each of the first ``rows`` elements."""
    kind = value.kind if isinstance(value, LazySequence) else type(value).__name__
    lines = [f"{kind} length={len(value)}"]
    shown = min(len(value), max(int(rows), 0))
    lines.extend(f"[{position}] {_short_repr(value[position])}" for position in range(shown))
    if len(value) > shown:
        lines.append("...")
    return "\n".join(lines)
