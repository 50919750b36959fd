"""pyarrow values through the codec: same type back, buffers in the map, slices stored alone."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from codec_support import round_trip

from memshare.store import codec


def mapped_ranges(path: Path) -> list[tuple[int, int]]:
    """Return (start, end) of this process's maps of ``path``."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == str(path):
                start, end = (int(part, 16) for part in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def buffers_in_map(value: pa.Array, path: Path) -> bool:
    ranges = mapped_ranges(path)
    buffers = [buffer for buffer in value.buffers() if buffer is not None and buffer.size]
    return bool(buffers) and all(
        any(
            start <= buffer.address and buffer.address + buffer.size <= end for start, end in ranges
        )
        for buffer in buffers
    )


def sample_table() -> pa.Table:
    table = pa.table(
        {
            "i": pa.array([1, None, 3], type=pa.int16()),
            "s": pa.array(["a", None, "\U0001f600\0"], type=pa.string()),
            "d": pa.array(["x", "y", "x"]).dictionary_encode(),
            "l": pa.array([[1, 2], None, []], type=pa.list_(pa.int64())),
            "t": pa.array([0, 10**12, None], type=pa.timestamp("ns", tz="UTC")),
            "st": pa.array([{"a": 1}, {"a": None}, None], type=pa.struct([("a", pa.int8())])),
        }
    )
    return table.replace_schema_metadata({"source": "test"})


@pytest.mark.parametrize(
    ("original", "kind"),
    [
        pytest.param(pa.array([1.5, None, 2.5]), "arrow_array", id="array"),
        pytest.param(
            pa.array(["a", "b"], type=pa.large_string()), "arrow_array", id="large-string"
        ),
        pytest.param(pa.array([], type=pa.int8()), "arrow_array", id="empty"),
        pytest.param(pa.chunked_array([[1, 2], [], [3]]), "chunked_array", id="chunked"),
        pytest.param(pa.chunked_array([], type=pa.string()), "chunked_array", id="chunked-empty"),
        pytest.param(sample_table().to_batches()[0], "record_batch", id="record-batch"),
        pytest.param(sample_table(), "table", id="table"),
        pytest.param(
            pa.concat_tables([sample_table(), sample_table()]), "table", id="table-two-chunks"
        ),
        pytest.param(pa.table({"a": [1]}), "table", id="table-no-metadata"),
    ],
)
def test_arrow_round_trip(shm_dir: Path, original: object, kind: str) -> None:
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.kind == kind
    assert type(view) is type(original)
    assert view.equals(original)  # type: ignore[attr-defined]
    if hasattr(original, "schema"):
        assert view.schema.metadata == original.schema.metadata  # type: ignore[attr-defined]
        assert view.schema == original.schema  # type: ignore[attr-defined]
    if isinstance(original, pa.ChunkedArray):
        assert view.num_chunks == original.num_chunks  # type: ignore[attr-defined]


def test_sliced_array_stores_slice(shm_dir: Path) -> None:
    whole = pa.array(np.arange(1_000_000, dtype=np.int64))
    piece = whole.slice(500_000, 10)
    view, encoded, path = round_trip(piece, shm_dir)
    assert view.equals(piece)  # type: ignore[attr-defined]
    assert path.stat().st_size < 4096
    assert encoded.nbytes == 80


def test_sliced_strings_store_slice(shm_dir: Path) -> None:
    whole = pa.array(["x" * 100] * 10_000)
    view, _, path = round_trip(whole.slice(20, 3), shm_dir)
    assert view.to_pylist() == ["x" * 100] * 3  # type: ignore[attr-defined]
    assert path.stat().st_size < 4096


def test_buffers_share_map(shm_dir: Path) -> None:
    view, _, path = round_trip(pa.array(np.arange(100_000, dtype=np.float64)), shm_dir)
    assert isinstance(view, pa.Array)
    assert buffers_in_map(view, path)

    view, _, path = round_trip(sample_table(), shm_dir)
    assert isinstance(view, pa.Table)
    for column in view.columns:
        for chunk in column.chunks:
            assert buffers_in_map(chunk, path)


def test_buffers_read_only(shm_dir: Path) -> None:
    view, _, _ = round_trip(pa.array(np.arange(10, dtype=np.int32)), shm_dir)
    assert isinstance(view, pa.Array)
    data = view.buffers()[1]
    assert not data.is_mutable
    values = np.frombuffer(data, dtype=np.int32)
    with pytest.raises(ValueError, match="read-only"):
        values[0] = 1


def test_table_valid_after_unlink(shm_dir: Path) -> None:
    original = sample_table()
    view, _, path = round_trip(original, shm_dir)
    os.unlink(path)
    gc.collect()
    assert view.equals(original)  # type: ignore[attr-defined]


def test_preview_arrow(shm_dir: Path) -> None:
    view, _, _ = round_trip(pa.array(range(1000)), shm_dir)
    text = codec.preview(view, 2)
    assert text.splitlines()[0] == "Int64Array type=int64 length=1000"
    assert "999" not in text

    view, _, _ = round_trip(pa.table({"a": range(100)}), shm_dir)
    text = codec.preview(view, 2)
    assert text.splitlines()[0] == "Table shape=(100, 1)"
    assert "99" not in text


@pytest.mark.parametrize("kind", ["table", "record_batch"])
def test_preview_arrow_wide(shm_dir: Path, kind: str) -> None:
    table = pa.table({f"c{number}": [1, 2] for number in range(5_000)})
    original = table if kind == "table" else table.to_batches()[0]
    view, _, _ = round_trip(original, shm_dir)
    text = codec.preview(view, 2)
    assert text.splitlines()[0].endswith("shape=(2, 5000)")
    assert text.splitlines()[-1] == "... and 4980 more columns"
    assert "c19:" in text
    assert "c20:" not in text
