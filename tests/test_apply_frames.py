"""mem_apply and the df.memshare accessor over DataFrames match DataFrame.apply."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import memshare
from memshare.store import register_variables, release_variables

WORKERS = [pytest.param(1, id="in-process"), pytest.param(2, id="2-workers")]


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame(
        {
            "x": rng.normal(size=30),
            "n": rng.integers(0, 100, size=30),
            "flag": rng.random(30) > 0.5,
            "when": pd.date_range("2024-01-01", periods=30, freq="D"),
            "name": [f"row{i}" for i in range(30)],
        },
        index=pd.Index([f"r{i}" for i in range(30)], name="id"),
    )


@pytest.mark.parametrize("workers", WORKERS)
def test_columns_scalar(store_root, frame, workers):
    result = memshare.mem_apply(frame, lambda s: s.iloc[3], 0, workers=workers)
    expected = frame.apply(lambda s: s.iloc[3], axis=0)

    assert isinstance(result, pd.Series)
    assert list(result.index) == list(frame.columns)
    assert result.tolist() == expected.tolist()
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_column_series_named(store_root, frame, workers):
    result = memshare.mem_apply(frame, lambda s: (s.name, len(s), s.dtype.kind), 0, workers=workers)
    assert result == [(c, 30, frame[c].dtype.kind) for c in frame.columns]


@pytest.mark.parametrize("workers", WORKERS)
def test_rows_scalar(store_root, frame, workers):
    def describe(row):
        return f"{row.name}:{row['name']}:{row['n']}"

    result = memshare.mem_apply(frame, describe, 1, workers=workers)
    expected = frame.apply(describe, axis=1)
    pd.testing.assert_series_equal(result, expected, check_names=False)


@pytest.mark.parametrize("workers", WORKERS)
def test_series_results_give_frame(store_root, frame, workers):
    numeric = frame[["x", "n"]]

    def summary(s):
        return pd.Series({"low": s.min(), "high": s.max()})

    by_column = memshare.mem_apply(numeric, summary, 0, workers=workers)
    pd.testing.assert_frame_equal(by_column, numeric.apply(summary, axis=0), check_names=False)

    by_row = memshare.mem_apply(numeric, summary, 1, workers=workers)
    pd.testing.assert_frame_equal(by_row, numeric.apply(summary, axis=1), check_names=False)


@pytest.mark.parametrize("workers", WORKERS)
def test_array_results_give_frame(store_root, frame, workers):
    numeric = frame[["x", "n"]]

    def ends(s):
        return np.array([s.iloc[0], s.iloc[-1]], dtype=float)

    by_column = memshare.mem_apply(numeric, ends, 0, workers=workers)
    assert list(by_column.columns) == ["x", "n"]
    np.testing.assert_array_equal(by_column.to_numpy(), numeric.iloc[[0, -1]].to_numpy(float))

    by_row = memshare.mem_apply(numeric, ends, 1, workers=workers)
    assert list(by_row.index) == list(numeric.index)
    np.testing.assert_array_equal(by_row.to_numpy(), numeric.to_numpy(float))


@pytest.mark.parametrize("workers", WORKERS)
def test_accessor(store_root, frame, workers):
    numeric = frame[["x", "n"]]
    result = numeric.memshare.apply(lambda s: s.sum(), workers=workers)
    pd.testing.assert_series_equal(result, numeric.sum(), check_names=False)

    rows = numeric.memshare.apply(lambda r: r["x"] * 2, axis="columns", workers=workers)
    np.testing.assert_array_equal(rows.to_numpy(), numeric["x"].to_numpy() * 2)


@pytest.mark.parametrize("workers", WORKERS)
def test_frame_by_name(store_root, frame, workers):
    register_variables("data", {"df": frame})

    result = memshare.mem_apply("df", lambda s: s.iloc[0], namespace="data", workers=workers)
    assert result.tolist() == frame.iloc[0].tolist()

    release_variables("data", "df")
    assert files_under(store_root) == set()


def test_column_view_is_zero_copy(store_root, frame):
    def shares_map(column):
        return not column.to_numpy().flags.writeable

    result = memshare.mem_apply(frame[["x", "n"]], shares_map, workers=2)
    assert result.tolist() == [True, True]


def test_bad_axis(store_root, frame):
    with pytest.raises(ValueError, match="axis"):
        memshare.mem_apply(frame, len, 2, workers=1)
    assert files_under(store_root) == set()
