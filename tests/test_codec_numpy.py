"""numpy arrays through the codec: exact round trips, zero-copy read-only views."""

from __future__ import annotations

import gc
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from codec_support import round_trip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from memshare.store import codec
from memshare.store.errors import UnsupportedTypeError


def assert_same_array(view: np.ndarray, original: np.ndarray) -> None:
    assert type(view) is np.ndarray
    assert view.dtype == original.dtype
    assert view.dtype.str == original.dtype.str
    assert view.shape == original.shape
    # Bytes in C order compare every value exactly, NaN and NaT included.
    assert view.tobytes() == original.tobytes()
    assert not view.flags.writeable
    assert view.flags.aligned


ALL_DTYPES = [
    "?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q",
    "e", "f", "d", "g", "F", "D", "G", ">i4", ">f8",
    "M8", "M8[Y]", "M8[M]", "M8[W]", "M8[D]", "M8[h]", "M8[m]", "M8[s]",
    "M8[ms]", "M8[us]", "M8[ns]", "M8[as]",
    "m8", "m8[Y]", "m8[D]", "m8[h]", "m8[m]", "m8[ps]",
    "S1", "S7", "U1", "U5", "V3",
]  # fmt: skip


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_dtype_round_trip(shm_dir: Path, dtype: str) -> None:
    original = np.arange(24).astype(np.dtype(dtype)).reshape(2, 3, 4)
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.kind == "ndarray"
    assert encoded.dtype == str(original.dtype)
    assert encoded.shape == (2, 3, 4)
    assert encoded.nbytes == original.nbytes
    assert_same_array(view, original)


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(np.array(3.5), id="0d"),
        pytest.param(np.array("x", dtype="U3"), id="0d-unicode"),
        pytest.param(np.zeros((0,), "f8"), id="empty"),
        pytest.param(np.zeros((3, 0, 2), "i2"), id="zero-size-3d"),
        pytest.param(np.arange(7, dtype="u1"), id="odd-bytes"),
    ],
)
def test_shape_round_trip(shm_dir: Path, original: np.ndarray) -> None:
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.shape == original.shape
    assert_same_array(view, original)


def test_fortran_order_kept(shm_dir: Path) -> None:
    original = np.asfortranarray(np.arange(30.0).reshape(5, 6))
    view, _, _ = round_trip(original, shm_dir)
    assert_same_array(view, original)
    assert view.flags.f_contiguous
    assert not view.flags.c_contiguous


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(np.arange(100.0).reshape(10, 10)[::2, 1::3], id="strided"),
        pytest.param(np.arange(50)[::-1], id="negative-stride"),
        pytest.param(np.arange(24).reshape(2, 3, 4).transpose(1, 0, 2), id="permuted"),
    ],
)
def test_non_contiguous_stored_c_order(shm_dir: Path, original: np.ndarray) -> None:
    view, _, _ = round_trip(original, shm_dir)
    assert_same_array(view, original)
    assert view.flags.c_contiguous


def test_view_memory_is_map(shm_dir: Path) -> None:
    original = np.random.default_rng(0).random((300, 200))
    view, _, path = round_trip(original, shm_dir)
    assert isinstance(view, np.ndarray)

    # The view's base chain ends in the pyarrow buffer of the read-only map,
    # and the data pointer lies inside that buffer.
    base = view
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    exporter = base.obj if isinstance(base, memoryview) else base
    assert isinstance(exporter, pa.Buffer)
    assert not exporter.is_mutable
    start = view.ctypes.data
    assert exporter.address <= start
    assert start + view.nbytes <= exporter.address + exporter.size
    assert start % 64 == 0
    assert path.stat().st_size < original.nbytes + 4096


def test_view_write_raises(shm_dir: Path) -> None:
    view, _, _ = round_trip(np.arange(10), shm_dir)
    assert isinstance(view, np.ndarray)
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 1
    with pytest.raises(ValueError):
        view.flags.writeable = True


def test_view_valid_after_unlink(shm_dir: Path) -> None:
    original = np.arange(1_000_000, dtype=np.int64)
    view, _, path = round_trip(original, shm_dir)
    del _
    os.unlink(path)
    gc.collect()
    assert isinstance(view, np.ndarray)
    assert int(view.sum()) == int(original.sum())
    assert np.array_equal(view, original)


def test_copy_is_writable(shm_dir: Path) -> None:
    view, _, _ = round_trip(np.arange(5), shm_dir)
    assert isinstance(view, np.ndarray)
    private = view.copy()
    private[0] = 42
    assert private[0] == 42
    assert view[0] == 0


def test_file_readable_by_pyarrow(shm_dir: Path) -> None:
    _, _, path = round_trip(np.arange(4), shm_dir)
    reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
    assert reader.num_record_batches == 1
    assert reader.schema.metadata[b"memshare.kind"] == b"ndarray"


@pytest.mark.parametrize(
    ("original", "words"),
    [
        pytest.param(np.array([1, "a"], dtype=object), "astype(str)", id="object"),
        pytest.param(np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), "DataFrame", id="structured"),
        pytest.param(
            np.array(["a", "bc"], dtype=np.dtypes.StringDType()), "astype('U')", id="stringdtype"
        ),
        pytest.param(np.ma.masked_array([1, 2], mask=[0, 1]), "filled", id="masked"),
    ],
)
def test_unsupported_dtype_error(original: np.ndarray, words: str) -> None:
    with pytest.raises(UnsupportedTypeError, match="value") as info:
        codec.encode(original)
    assert words in str(info.value)
    assert info.value.location == "value"


def test_preview_corner(shm_dir: Path) -> None:
    view, _, _ = round_trip(np.arange(100).reshape(10, 10), shm_dir)
    text = codec.preview(view, 2)
    assert text.splitlines()[0] == "ndarray dtype=int64 shape=(10, 10)"
    assert "[[ 0  1]" in text
    assert "99" not in text


numeric_dtypes = st.one_of(
    hnp.boolean_dtypes(),
    hnp.integer_dtypes(endianness="="),
    hnp.unsigned_integer_dtypes(endianness="="),
    hnp.floating_dtypes(endianness="=", sizes=(16, 32, 64)),
    hnp.complex_number_dtypes(endianness="="),
    hnp.datetime64_dtypes(endianness="="),
    hnp.timedelta64_dtypes(endianness="="),
    hnp.byte_string_dtypes(endianness="=", min_len=1, max_len=4),
    hnp.unicode_string_dtypes(endianness="=", min_len=1, max_len=4),
)


@st.composite
def arrays_in_any_layout(draw: st.DrawFn) -> np.ndarray:
    array = draw(
        hnp.arrays(numeric_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    )
    layout = draw(st.sampled_from(["C", "F", "reversed", "strided", "transposed"]))
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "reversed" and array.ndim > 0:
        return array[::-1]
    if layout == "strided" and array.ndim > 0:
        return array[::2]
    if layout == "transposed":
        return array.T
    return array


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(original=arrays_in_any_layout())
def test_any_array_round_trip(shm_dir: Path, original: np.ndarray) -> None:
    view, encoded, _ = round_trip(original, shm_dir)
    assert isinstance(view, np.ndarray)
    assert encoded.shape == original.shape
    assert_same_array(view, original)
    if original.flags.c_contiguous:
        assert view.flags.c_contiguous
    elif original.flags.f_contiguous:
        assert view.flags.f_contiguous


CHILD_ATTACH = """
import json, sys
import numpy as np
from memshare.store import codec

view = codec.attach(sys.argv[1], json.loads(sys.argv[2]))
try:
    view[0] = 1.0
except ValueError as error:
    print("write:", error)
print("sum:", float(view.sum()), "writeable:", view.flags.writeable)
"""


def test_other_process_attaches(
    shm_dir: Path, run_python: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    original = np.arange(100_000, dtype=np.float64)
    path = shm_dir / "shared.arrow"
    layout = codec.encode(original).write(str(path))
    result = run_python(CHILD_ATTACH, str(path), json.dumps(layout))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "write: assignment destination is read-only" in result.stdout
    assert f"sum: {float(original.sum())} writeable: False" in result.stdout
    assert np.array_equal(codec.attach(str(path), layout), original)
