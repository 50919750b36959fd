"""Segments: self-contained Arrow IPC files placed at aligned offsets in one object file.

An object file contains one segment (arrays, frames, Arrow data, scalars) or, for a
list, one segment per element followed by an index segment. Every segment is a
complete Arrow IPC file whose schema metadata names its kind, so a reader needs
only the segment's offset and length. A segment of a single object starts at
offset 0, which makes the whole object file readable with
``pyarrow.ipc.open_file``.

Segments start at multiples of :data:`ALIGNMENT`, and the raw-bytes layout used
for numpy arrays places its data buffer at such a multiple too, so every numpy
view is aligned for its dtype (``np.longdouble`` needs 16 bytes).
"""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Iterable, Mapping
from typing import BinaryIO, Final, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from memshare.store.errors import UnsupportedTypeError

logger = logging.getLogger(__name__)

#: Byte alignment of every segment start and of every raw numpy data buffer.
#: 64 is Arrow's recommended alignment and covers every numpy dtype.
ALIGNMENT: Final = 64

#: Schema metadata keys written by the codec. Values are UTF-8 strings.
KIND_KEY: Final = b"memshare.kind"
INFO_KEY: Final = b"memshare.info"

#: Maximum number of columns that ``memshare show`` prints of a frame or table.
PREVIEW_COLUMNS: Final = 20

#: Version of the file layout. ``attach`` rejects layouts of another version.
FORMAT_VERSION: Final = 1

_ZEROS: Final = bytes(ALIGNMENT)

#: Explicit options, so that each segment skips pyarrow's environment lookups.
_WRITE_OPTIONS: Final = ipc.IpcWriteOptions()


class Part(Protocol):
    """One encoded value that can write itself as a segment (or a list of them)."""

    kind: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    size_bound: int

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write the value at the current (aligned) position and return (offset, length)."""
        ...


class _SegmentSink(io.RawIOBase):
    """A write-only file view whose positions count from where the segment starts.

    The Arrow IPC file writer records block offsets in its footer as positions
    of its sink. Counting from the segment start keeps those offsets valid when
    the segment is later read on its own from a slice of the memory map.
    """

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._out = out
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        # ``out`` is a buffered file, whose write() writes everything or raises.
        count = self._out.write(data)
        self._written += count
        return count

    def tell(self) -> int:
        return self._written


def invalid_unicode(error: UnicodeEncodeError, location: str) -> UnsupportedTypeError:
    """Return the error for a str that Arrow cannot store as UTF-8 (a lone surrogate)."""
    bad = error.object[error.start : error.end]
    return UnsupportedTypeError(
        f"{location} contains the string {error.object!r}, whose character {bad!r} at "
        f"position {error.start} is not valid Unicode (a lone surrogate); remove it, or "
        "store s.encode('utf-8', 'surrogatepass') as bytes",
        location=location,
    )


def pad_to_alignment(out: BinaryIO) -> int:
    """Write zero bytes up to the next multiple of :data:`ALIGNMENT` and return the position."""
    position = out.tell()
    gap = -position % ALIGNMENT
    if gap:
        out.write(_ZEROS[:gap])
    return position + gap


def with_codec_metadata(
    schema: pa.Schema, kind: str, info: Mapping[str, object] | None = None
) -> pa.Schema:
    """Return ``schema`` with the codec's kind and info added to its metadata."""
    metadata = dict(schema.metadata or {})
    metadata[KIND_KEY] = kind.encode()
    metadata[INFO_KEY] = json.dumps(dict(info or {}), sort_keys=True).encode()
    return schema.with_metadata(metadata)


def write_segment(
    out: BinaryIO, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> tuple[int, int]:
    """Write one Arrow IPC file at the next aligned position of ``out``.

    Returns
    -------
    tuple of int
        The segment's offset in the object file and its length in bytes.
    """
    offset = pad_to_alignment(out)
    sink = _SegmentSink(out)
    with ipc.new_file(sink, schema, options=_WRITE_OPTIONS) as writer:
        for batch in batches:
            writer.write_batch(batch)
    length = sink.tell()
    logger.debug("wrote %s segment at offset %d, %d bytes", segment_kind(schema), offset, length)
    return offset, length


def measure_segment(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
    """Return the exact length of the segment ``write_segment`` would write.

    The IPC writer runs against a stream that only counts bytes, so no data
    is copied.
    """
    sink = pa.MockOutputStream()
    with ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return int(sink.size())


def segment_kind(schema: pa.Schema) -> str:
    """Return the kind stored in a segment's schema metadata ('' when missing)."""
    metadata = schema.metadata or {}
    return metadata.get(KIND_KEY, b"").decode()


def segment_info(schema: pa.Schema) -> dict[str, object]:
    """Return the JSON info dict stored in a segment's schema metadata."""
    metadata = schema.metadata or {}
    raw = metadata.get(INFO_KEY)
    if raw is None:
        return {}
    info: dict[str, object] = json.loads(raw)
    return info


def open_segment(mapped: pa.Buffer, offset: int, length: int) -> ipc.RecordBatchFileReader:
    """Open the segment at ``offset`` of the mapped object file, zero-copy.

    Reading the footer and the schema is O(1) in the data size. Batches read
    from the returned reader are slices of ``mapped``.
    """
    if offset < 0 or length <= 0 or offset + length > mapped.size:
        raise ValueError(
            f"segment [{offset}, {offset + length}) lies outside the object file of "
            f"{mapped.size} bytes"
        )
    return ipc.open_file(mapped.slice(offset, length))


# --- raw bytes: one buffer at an aligned offset --------------------------------------
#
# A raw segment has one record batch of one row with two columns. "pad" is a
# binary value whose length is chosen so that the value buffer of "data" (a
# large_binary value holding the raw bytes) starts at a multiple of ALIGNMENT
# from the segment start. The IPC writer pads every body buffer to 8 bytes, so
# the data position moves by exactly the padded pad length.


def raw_batch(schema: pa.Schema, data: pa.Buffer, pad: int) -> pa.RecordBatch:
    """Build the one-row batch that carries ``data`` after ``pad`` filler bytes."""
    pad_offsets = pa.py_buffer(np.array([0, pad], dtype=np.int32))
    pad_values = pa.py_buffer(bytes(pad))
    pad_column = pa.Array.from_buffers(pa.binary(), 1, [None, pad_offsets, pad_values])

    data_offsets = pa.py_buffer(np.array([0, data.size], dtype=np.int64))
    data_column = pa.Array.from_buffers(pa.large_binary(), 1, [None, data_offsets, data])
    return pa.RecordBatch.from_arrays([pad_column, data_column], schema=schema)


RAW_FIELDS: Final = [
    pa.field("pad", pa.binary(), nullable=False),
    pa.field("data", pa.large_binary(), nullable=False),
]


@functools.lru_cache(maxsize=1024)
def _probe_raw(schema_message: bytes, pad: int) -> tuple[int, int]:
    """Write a raw segment with one data byte in memory; return (data position, size).

    The IPC metadata of a one-row batch has the same size whatever the data
    length, because buffer lengths are fixed-width fields, so the probe
    predicts where the real data will land. The result depends only on the
    schema, so it is cached by the schema's IPC message (lists of arrays of
    one dtype and shape probe once).
    """
    schema = ipc.read_schema(pa.py_buffer(schema_message))
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, schema) as writer:
        writer.write_batch(raw_batch(schema, pa.py_buffer(b"\0"), pad))
    image = sink.getvalue()
    data = ipc.open_file(image).get_batch(0).column(1).buffers()[2]
    return data.address - image.address, image.size


def plan_raw(schema: pa.Schema, nbytes: int) -> tuple[int, int]:
    """Choose the pad length that aligns the data of a raw segment.

    Returns
    -------
    tuple of int
        The pad length, and an upper bound of the segment's size for ``nbytes``
        data bytes.
    """
    message = schema.serialize().to_pybytes()
    position, _ = _probe_raw(message, 0)
    pad = -position % ALIGNMENT
    for _ in range(ALIGNMENT // 8):
        position, probe_size = _probe_raw(message, pad)
        if position % ALIGNMENT == 0:
            # The probe contains 1 data byte padded to 8, which the real data replaces.
            return pad, probe_size + nbytes + ALIGNMENT
        pad += 8
    raise RuntimeError(
        f"could not align the data buffer of a raw segment (last position {position})"
    )


def read_raw(reader: ipc.RecordBatchFileReader) -> pa.Buffer:
    """Return the data buffer of a raw segment, a zero-copy slice of the map."""
    column = reader.get_batch(0).column(1)
    data = column.buffers()[2]
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64, count=2)
    if data is None:
        return pa.py_buffer(b"")
    return data.slice(0, int(offsets[1] - offsets[0]))
