"""pandas DataFrames and Series through the codec: exact dtypes, index, labels, zero-copy."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from codec_support import round_trip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memshare.store import codec
from memshare.store.errors import UnsupportedTypeError


def mapped_ranges(path: Path) -> list[tuple[int, int, str]]:
    """Return (start, end, permissions) of this process's maps of ``path``."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == str(path):
                start, end = (int(part, 16) for part in fields[0].split("-"))
                ranges.append((start, end, fields[1]))
    return ranges


def in_map(address: int, size: int, path: Path) -> bool:
    return any(start <= address and address + size <= end for start, end, _ in mapped_ranges(path))


def assert_same_frame(view: object, original: pd.DataFrame | pd.Series) -> None:
    assert type(view) is type(original)
    if isinstance(original, pd.DataFrame):
        assert isinstance(view, pd.DataFrame)
        pd.testing.assert_frame_equal(
            view, original, check_exact=True, check_column_type=True, check_index_type=True
        )
        assert [repr(dtype) for dtype in view.dtypes] == [repr(dtype) for dtype in original.dtypes]
        assert repr(view.columns) == repr(original.columns)
    else:
        assert isinstance(view, pd.Series)
        pd.testing.assert_series_equal(view, original, check_exact=True, check_index_type=True)
        assert repr(view.dtype) == repr(original.dtype)
        assert view.name == original.name
    assert repr(view.index) == repr(original.index)


def every_dtype_frame(index: pd.Index | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "int8": np.array([1, -2, 3], dtype=np.int8),
            "uint64": np.array([0, 2**64 - 1, 5], dtype=np.uint64),
            "float16": np.array([0.5, np.nan, -1], dtype=np.float16),
            "float64": [1.5, np.nan, -np.inf],
            "bool": [True, False, True],
            "complex": np.array([1 + 2j, np.nan, 0], dtype=np.complex128),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "UInt8": pd.array([None, 2, 3], dtype="UInt8"),
            "Float64": pd.array([1.5, None, np.nan], dtype="Float64"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "string_python": pd.array(["a", None, ""], dtype="string[python]"),
            "string_pyarrow": pd.array(["a\0b", None, "\U0001f600"], dtype="string[pyarrow]"),
            "str": pd.Series(["", None, "\U0001f600x"], dtype="str"),
            "category": pd.Categorical(
                ["a", "b", None], categories=["b", "a", "unused"], ordered=True
            ),
            "int_category": pd.Categorical([10, 20, 10]),
            "datetime": pd.to_datetime(
                ["2020-01-01", None, "1900-05-06 07:08:09.123456"], format="ISO8601"
            ),
            "datetime_ns": pd.to_datetime(["2020-01-01", None, "2262-01-01"]).as_unit("ns"),
            "datetime_tz": pd.to_datetime(["2020-01-01", None, "2021-07-01"]).tz_localize(
                "Europe/Berlin"
            ),
            "timedelta": pd.to_timedelta([1, None, -3], unit="s"),
            "object": pd.Series(["a", None, "c\0"], dtype=object),
            "object_mixed_missing": pd.Series([np.nan, None, pd.NA], dtype=object),
            "arrow_int": pd.Series([1, None, 3], dtype="int64[pyarrow]"),
        }
    )
    if index is not None:
        frame.index = index
    return frame


INDEXES = [
    pytest.param(None, id="range"),
    pytest.param(pd.RangeIndex(10, 4, -2, name="r"), id="range-step"),
    pytest.param(pd.Index([7, 3, 7], name="key"), id="int-named"),
    pytest.param(pd.Index(["x", "y", None], dtype=object), id="object"),
    pytest.param(pd.Index(["x", "y", "z"]), id="str"),
    pytest.param(
        pd.date_range("2021-01-01", periods=3, freq="h", tz="UTC", name="when"),
        id="datetime-tz-freq",
    ),
    pytest.param(
        pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["k", None]), id="multi"
    ),
    pytest.param(pd.CategoricalIndex(["p", "q", "p"]), id="categorical"),
]


@pytest.mark.parametrize("index", INDEXES)
def test_frame_every_dtype(shm_dir: Path, index: pd.Index | None) -> None:
    original = every_dtype_frame(index)
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.kind == "dataframe"
    assert encoded.shape == (3, original.shape[1])
    assert "Int64" in encoded.dtype
    assert_same_frame(view, original)


def test_object_missing_values_kept(shm_dir: Path) -> None:
    original = pd.Series(["a", None, np.nan, pd.NA, ""], dtype=object)
    view, _, _ = round_trip(original, shm_dir)
    assert isinstance(view, pd.Series)
    assert view[1] is None
    assert isinstance(view[2], float)
    assert np.isnan(view[2])
    assert view[3] is pd.NA
    assert view[4] == ""


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param([0, 1, 2], id="int"),
        pytest.param(["a", "a", "b"], id="duplicate"),
        pytest.param(
            pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["top", "sub"]),
            id="multi",
        ),
        pytest.param(pd.Index([1.5, np.nan, 3.0], name="floats"), id="float-nan"),
        pytest.param(pd.Index([("t", 1), "s", None], dtype=object), id="mixed-object"),
        pytest.param(pd.to_datetime(["2020", "2021", "2022"]), id="datetime"),
    ],
)
def test_column_labels_kept(shm_dir: Path, columns: object) -> None:
    original = pd.DataFrame(np.arange(6.0).reshape(2, 3), columns=columns)
    view, _, _ = round_trip(original, shm_dir)
    assert_same_frame(view, original)


def test_series_round_trip(shm_dir: Path) -> None:
    index = pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["x", "y"])
    for original in [
        pd.Series(np.arange(4.0), index=index, name=("tuple", 1)),
        pd.Series(pd.array([1, None, 3, 4], dtype="Int32"), name=None),
        pd.Series(["a", "b", None, "d"], dtype="str", name="s"),
        pd.Series([], dtype="float32", name="empty"),
    ]:
        view, encoded, _ = round_trip(original, shm_dir)
        assert encoded.kind == "series"
        assert_same_frame(view, original)


def test_empty_frames(shm_dir: Path) -> None:
    for original in [
        pd.DataFrame(),
        pd.DataFrame(index=pd.RangeIndex(5)),
        pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="str")}),
    ]:
        view, _, _ = round_trip(original, shm_dir)
        assert_same_frame(view, original)


def test_columns_share_map(shm_dir: Path) -> None:
    rows = 100_000
    original = pd.DataFrame(
        {
            "float": np.random.default_rng(0).random(rows),
            "int": np.arange(rows, dtype=np.int32),
            "bool": np.arange(rows) % 2 == 0,
            "datetime": pd.date_range("2000-01-01", periods=rows, freq="s"),
            "datetime_tz": pd.date_range("2000-01-01", periods=rows, freq="s", tz="Asia/Tokyo"),
            "Int64": pd.array(np.arange(rows), dtype="Int64"),
            "str": pd.Series([f"s{n}" for n in range(rows)], dtype="str"),
        }
    )
    view, _, path = round_trip(original, shm_dir)
    assert isinstance(view, pd.DataFrame)
    ranges = mapped_ranges(path)
    assert ranges
    assert all(permissions.startswith("r-") for _, _, permissions in ranges)

    for name in ["float", "int", "bool", "datetime"]:
        values = view[name].to_numpy()
        assert in_map(values.ctypes.data, values.nbytes, path), name
    instants = view["datetime_tz"].array.asi8
    assert in_map(instants.ctypes.data, instants.nbytes, path)
    masked = view["Int64"].array
    assert in_map(masked._data.ctypes.data, masked._data.nbytes, path)
    assert in_map(masked._mask.ctypes.data, masked._mask.nbytes, path)
    strings = pa.array(view["str"].array)
    data = strings.buffers()[2]
    assert in_map(data.address, data.size, path)


def test_frame_write_raises(shm_dir: Path) -> None:
    original = pd.DataFrame({"a": np.arange(3.0), "b": pd.array([1, 2, 3], dtype="Int64")})
    view, _, _ = round_trip(original, shm_dir)
    assert isinstance(view, pd.DataFrame)
    with pytest.raises(ValueError, match="read-only"):
        view.iloc[0, 0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        view["a"].to_numpy()[1] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        view.loc[1, "b"] = 7
    assert view["a"].tolist() == [0.0, 1.0, 2.0]

    private = view.copy()
    private.iloc[0, 0] = 5.0
    assert private.iloc[0, 0] == 5.0


def test_series_write_raises(shm_dir: Path) -> None:
    view, _, _ = round_trip(pd.Series(np.arange(4), name="n"), shm_dir)
    assert isinstance(view, pd.Series)
    with pytest.raises(ValueError, match="read-only"):
        view.iloc[2] = 10


def test_frame_valid_after_unlink(shm_dir: Path) -> None:
    original = every_dtype_frame(pd.Index(["x", "y", "z"]))
    view, _, path = round_trip(original, shm_dir)
    os.unlink(path)
    gc.collect()
    assert mapped_ranges(path) == [] or all(start < end for start, end, _ in mapped_ranges(path))
    assert_same_frame(view, original)


@pytest.mark.parametrize(
    ("original", "where", "fix"),
    [
        pytest.param(
            pd.DataFrame({"ok": [1, 2], "bad": pd.Series([1, "a"], dtype=object)}),
            "column 'bad'",
            "astype(str)",
            id="object-mixed",
        ),
        pytest.param(
            pd.DataFrame({"b": pd.Series([b"x", b"y"], dtype=object)}),
            "column 'b'",
            "astype(str)",
            id="object-bytes",
        ),
        pytest.param(
            pd.DataFrame({"p": pd.period_range("2020", periods=2, freq="M")}),
            "column 'p'",
            ".dt.to_timestamp()",
            id="period",
        ),
        pytest.param(
            pd.Series([1, 2], index=pd.period_range("2020", periods=2, freq="M")),
            "index",
            ".to_timestamp() for an index",
            id="period-index",
        ),
        pytest.param(
            pd.DataFrame({"i": pd.interval_range(0, 2)}),
            "column 'i'",
            ".array.left and .array.right",
            id="interval",
        ),
        pytest.param(
            pd.DataFrame({"s": pd.arrays.SparseArray([0, 1])}),
            "column 's'",
            ".sparse.to_dense()",
            id="sparse",
        ),
        pytest.param(
            pd.Series([1, 2], index=pd.Index([object(), 1], dtype=object)),
            "index",
            "astype(str)",
            id="object-index",
        ),
        pytest.param(
            pd.DataFrame({"t": pd.Series(["a", pd.NaT], dtype=object)}),
            "column 't'",
            "astype(str)",
            id="object-nat",
        ),
    ],
)
def test_unsupported_column_error(original: object, where: str, fix: str) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        codec.encode(original)
    assert where in str(info.value)
    assert fix in str(info.value)
    assert info.value.location.startswith("value")


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(pd.DataFrame({"p": pd.period_range("2020", periods=2, freq="M")}), id="period"),
        pytest.param(pd.DataFrame({"i": pd.interval_range(0, 2)}), id="interval"),
    ],
)
def test_unsupported_column_no_float_fix(original: pd.DataFrame) -> None:
    # Casting periods or intervals to float fails, so that fix must not be offered.
    with pytest.raises(UnsupportedTypeError) as info:
        codec.encode(original)
    assert "astype(float)" not in str(info.value)


def test_unsupported_label_error() -> None:
    original = pd.DataFrame({frozenset([1]): [1, 2]})
    with pytest.raises(UnsupportedTypeError, match="label frozenset") as info:
        codec.encode(original)
    assert "columns" in info.value.location


def test_preview_head(shm_dir: Path) -> None:
    view, _, _ = round_trip(pd.DataFrame({"a": range(100), "b": ["x"] * 100}), shm_dir)
    text = codec.preview(view, 3)
    lines = text.splitlines()
    assert lines[0] == "DataFrame shape=(100, 2)"
    assert len(lines) == 5
    assert codec.preview(view, 3) == text


def test_preview_wide_frame(shm_dir: Path) -> None:
    view, _, _ = round_trip(pd.DataFrame(np.zeros((2, 20_000))), shm_dir)
    text = codec.preview(view, 2)
    assert text.splitlines()[0] == "DataFrame shape=(2, 20000)"
    assert "..." in text
    assert "19999" in text
    assert "10000" not in text
    assert len(text) < 2_000


def test_preview_series_name_dtype(shm_dir: Path) -> None:
    view, _, _ = round_trip(pd.Series([1, 2, 3], name="price", dtype="int32"), shm_dir)
    lines = codec.preview(view, 2).splitlines()
    assert lines[0] == "Series shape=(3,)"
    assert lines[-1] == "Name: price, dtype: int32"
    assert len(lines) == 4


# --- property: random frames -------------------------------------------------------------

text_values = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=["Cs"]),
    max_size=5,
)


def column_strategy(rows: int) -> st.SearchStrategy[object]:
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    maybe_text = st.one_of(st.none(), text_values)
    ints = st.integers(-(2**31), 2**31 - 1)
    return st.one_of(
        st.lists(ints, min_size=rows, max_size=rows).map(lambda v: np.array(v, dtype=np.int64)),
        st.lists(st.integers(0, 2**16 - 1), min_size=rows, max_size=rows).map(
            lambda v: np.array(v, dtype=np.uint16)
        ),
        st.lists(st.floats(width=32), min_size=rows, max_size=rows).map(
            lambda v: np.array(v, dtype=np.float32)
        ),
        st.lists(floats, min_size=rows, max_size=rows).map(lambda v: np.array(v, dtype=np.float64)),
        st.lists(st.booleans(), min_size=rows, max_size=rows).map(np.array),
        st.lists(st.one_of(st.none(), ints), min_size=rows, max_size=rows).map(
            lambda v: pd.array(v, dtype="Int64")
        ),
        st.lists(st.one_of(st.none(), st.booleans()), min_size=rows, max_size=rows).map(
            lambda v: pd.array(v, dtype="boolean")
        ),
        st.lists(maybe_text, min_size=rows, max_size=rows).map(
            lambda v: pd.array(v, dtype="string[python]")
        ),
        st.lists(maybe_text, min_size=rows, max_size=rows).map(
            lambda v: pd.array(v, dtype="string[pyarrow]")
        ),
        st.lists(maybe_text, min_size=rows, max_size=rows).map(
            lambda v: pd.Series(v, dtype="str").array
        ),
        st.lists(maybe_text, min_size=rows, max_size=rows).map(lambda v: np.array(v, dtype=object)),
        st.lists(st.sampled_from(["a", "b", None]), min_size=rows, max_size=rows).map(
            lambda v: pd.Categorical(v, categories=["b", "a"], ordered=True)
        ),
        st.lists(
            st.one_of(st.none(), st.integers(-(2**31), 2**31)), min_size=rows, max_size=rows
        ).map(
            lambda v: pd.to_datetime([None if x is None else x for x in v], unit="s").tz_localize(
                "America/New_York"
            )
        ),
        st.lists(st.integers(-(10**15), 10**15), min_size=rows, max_size=rows).map(
            lambda v: np.array(v, dtype="m8[ns]")
        ),
        st.lists(st.integers(-(10**15), 10**15), min_size=rows, max_size=rows).map(
            lambda v: np.array(v, dtype="M8[ms]")
        ),
    )


def index_strategy(rows: int) -> st.SearchStrategy[pd.Index]:
    return st.one_of(
        st.builds(
            lambda start, step: pd.RangeIndex(start, start + rows * step, step),
            st.integers(-5, 5),
            st.integers(1, 3),
        ),
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=rows, max_size=rows).map(
            lambda v: pd.Index(v, dtype="int64", name="ints")
        ),
        st.lists(text_values, min_size=rows, max_size=rows).map(lambda v: pd.Index(v, dtype="str")),
        st.lists(st.integers(0, 10**9), min_size=rows, max_size=rows).map(
            lambda v: pd.DatetimeIndex(np.array(v, dtype="M8[s]")).tz_localize("UTC")
        ),
        st.lists(
            st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3)), min_size=rows, max_size=rows
        ).map(
            lambda v: (
                pd.MultiIndex.from_tuples(v, names=["l", "n"])
                if v
                else pd.MultiIndex.from_arrays([[], []], names=["l", "n"])
            )
        ),
    )


label_strategy = st.one_of(
    text_values, st.integers(-5, 5), st.tuples(st.sampled_from(["x", "y"]), st.integers(0, 2))
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(0, 6))
    count = draw(st.integers(0, 4))
    columns = [draw(column_strategy(rows)) for _ in range(count)]
    labels = draw(st.lists(label_strategy, min_size=count, max_size=count))
    frame = pd.DataFrame(
        {number: column for number, column in enumerate(columns)}, index=draw(index_strategy(rows))
    )
    for number, column in enumerate(columns):
        if isinstance(column, np.ndarray) and column.dtype == object:
            # The constructor infers ``str`` for object arrays of strings.
            frame[number] = pd.Series(column, index=frame.index, dtype=object)
    frame.columns = pd.Index(labels, dtype=object) if count else frame.columns
    return frame


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(original=frames())
def test_any_frame_round_trip(shm_dir: Path, original: pd.DataFrame) -> None:
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.shape == original.shape
    assert_same_frame(view, original)


def test_multichunk_arrow_column(shm_dir: Path) -> None:
    parts = [pd.Series(["a", None], dtype="str"), pd.Series(["\U0001f600"], dtype="str")]
    original = pd.DataFrame(
        {
            "s": pd.concat(parts, ignore_index=True),
            "a": pd.Series(["x", "y", None], dtype=pd.ArrowDtype(pa.string())),
        }
    )
    assert original["s"].array._pa_array.num_chunks == 2
    view, _, _ = round_trip(original, shm_dir)
    assert_same_frame(view, original)
