"""pyarrow Array, ChunkedArray, RecordBatch and Table, stored natively.

Arrow data is written as it is: an Array becomes a one-column record batch,
a ChunkedArray one record batch per chunk, a RecordBatch itself, and a Table
one record batch per table batch. The IPC writer writes only the visible
range of a sliced array. Attaching returns the same pyarrow type whose
buffers are slices of the map.
"""

from __future__ import annotations

import logging
from typing import BinaryIO, Final, TypeAlias

import pyarrow as pa
import pyarrow.ipc as ipc

from memshare.store.codec_segment import (
    ALIGNMENT,
    INFO_KEY,
    KIND_KEY,
    PREVIEW_COLUMNS,
    measure_segment,
    segment_info,
    segment_kind,
    with_codec_metadata,
    write_segment,
)

logger = logging.getLogger(__name__)

__all__ = ["ArrowPart", "preview_arrow", "read_arrow"]

#: Name of the single field that carries an Array or a ChunkedArray.
_VALUES: Final = "values"

ArrowValue: TypeAlias = pa.Array | pa.ChunkedArray | pa.RecordBatch | pa.Table


def _describe_schema(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


class ArrowPart:
    """An Arrow value ready to be written as one segment.

    Parameters
    ----------
    value : pyarrow.Array, ChunkedArray, RecordBatch or Table
        The value. Its buffers are referenced, not copied.
    """

    def __init__(self, value: ArrowValue) -> None:
        if isinstance(value, pa.Array | pa.ChunkedArray):
            single = isinstance(value, pa.Array)
            self.kind = "arrow_array" if single else "chunked_array"
            schema = pa.schema([pa.field(_VALUES, value.type)])
            chunks = [value] if single else value.chunks
            batches = [pa.RecordBatch.from_arrays([chunk], schema=schema) for chunk in chunks]
            self.dtype = str(value.type)
            self.shape: tuple[int, ...] = (len(value),)
            user_metadata = None
        else:
            self.kind = "record_batch" if isinstance(value, pa.RecordBatch) else "table"
            schema = value.schema
            batches = [value] if isinstance(value, pa.RecordBatch) else value.to_batches()
            self.dtype = _describe_schema(schema)
            self.shape = (value.num_rows, value.num_columns)
            user_metadata = schema.metadata

        # The codec's keys are added to the user's schema metadata and removed
        # again on attach, so the metadata comes back as given (None included).
        info = {"has_metadata": user_metadata is not None}
        self._schema = with_codec_metadata(schema, self.kind, info)
        self._batches = [batch.replace_schema_metadata(self._schema.metadata) for batch in batches]

        self.nbytes = int(value.nbytes)
        self.size_bound = measure_segment(self._schema, self._batches) + ALIGNMENT

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write the value as one segment and return its (offset, length)."""
        return write_segment(out, self._schema, self._batches)


def _user_schema(schema: pa.Schema, has_metadata: bool) -> pa.Schema:
    """Return ``schema`` without the codec's metadata keys."""
    if not has_metadata:
        return schema.remove_metadata()
    metadata = {
        key: value
        for key, value in (schema.metadata or {}).items()
        if key not in (KIND_KEY, INFO_KEY)
    }
    return schema.with_metadata(metadata)


def read_arrow(reader: ipc.RecordBatchFileReader) -> ArrowValue:
    """Return the stored Arrow value, whose buffers are slices of the map."""
    kind = segment_kind(reader.schema)
    info = segment_info(reader.schema)
    schema = _user_schema(reader.schema, bool(info.get("has_metadata")))
    batches = [reader.get_batch(number) for number in range(reader.num_record_batches)]

    if kind == "arrow_array":
        return batches[0].column(0)
    if kind == "chunked_array":
        return pa.chunked_array([batch.column(0) for batch in batches], type=schema.field(0).type)
    if kind == "record_batch":
        return batches[0].replace_schema_metadata(schema.metadata)
    return pa.Table.from_batches(batches, schema=reader.schema).replace_schema_metadata(
        schema.metadata
    )


def preview_arrow(value: ArrowValue, rows: int) -> str:
    """Return the type and the first ``rows`` rows of an Arrow value.

    A RecordBatch or Table shows at most :data:`PREVIEW_COLUMNS` columns,
    because pyarrow lists every field of the schema.
    """
    rows = max(int(rows), 0)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        header = f"{type(value).__name__} type={value.type} length={len(value)}"
        body = value.slice(0, rows).to_string(window=rows)
        return f"{header}\n{body}"

    header = f"{type(value).__name__} shape=({value.num_rows}, {value.num_columns})"
    shown = value.select(range(min(value.num_columns, PREVIEW_COLUMNS)))
    body = shown.slice(0, rows).to_string(preview_cols=PREVIEW_COLUMNS)
    hidden = value.num_columns - shown.num_columns
    if hidden:
        body += f"\n... and {hidden} more columns"
    return f"{header}\n{body}"
