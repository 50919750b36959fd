"""Result shapes and copies match numpy and pandas, whatever the worker count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import memshare

WORKERS = [pytest.param(1, id="in-process"), pytest.param(2, id="2-workers")]


def identity(column: np.ndarray) -> np.ndarray:
    return column


@pytest.mark.parametrize("workers", WORKERS)
def test_returned_slices_are_writable(store_root, workers):
    X = np.arange(12.0).reshape(3, 4)

    result = memshare.mem_lapply([X[0], X[1]], identity, workers=workers)
    stacked = memshare.mem_apply(X, identity, workers=workers, simplify=False)

    for value in [*result, *stacked]:
        assert value.flags.writeable
    np.testing.assert_array_equal(stacked[1], X[:, 1])


@pytest.mark.parametrize("workers", WORKERS)
def test_one_dimensional_like_numpy(store_root, workers):
    x = np.arange(5.0)

    result = memshare.mem_apply(x, np.sum, workers=workers)
    expected = np.apply_along_axis(np.sum, 0, x)

    assert isinstance(result, np.ndarray)
    assert result.shape == expected.shape == ()
    assert result == expected


def summarize(column: pd.Series) -> dict[str, float]:
    return {"min": float(column.min()), "max": float(column.max())}


@pytest.mark.parametrize("workers", WORKERS)
def test_dict_results_keep_labels(store_root, workers):
    frame = pd.DataFrame({"x": [1.0, 5.0], "grp": [2.0, 3.0]})

    by_column = memshare.mem_apply(frame, summarize, axis=0, workers=workers)
    by_row = memshare.mem_apply(frame, summarize, axis=1, workers=workers)

    assert list(by_column.columns) == ["x", "grp"]
    assert list(by_column.index) == ["min", "max"]
    assert by_column.loc["max", "x"] == 5.0
    assert list(by_row.index) == [0, 1]
    assert list(by_row.columns) == ["min", "max"]
    assert by_row.loc[1, "min"] == 3.0


def test_dict_results_differing_keys_stay_list(store_root):
    frame = pd.DataFrame({"x": [1.0], "y": [2.0]})

    result = memshare.mem_apply(frame, lambda c: {c.name: 1}, workers=1)

    assert result == [{"x": 1}, {"y": 1}]


@pytest.mark.parametrize("workers", WORKERS)
def test_series_accessor(store_root, workers):
    series = pd.Series([1.0, 4.0, 9.0], index=["a", "b", "c"], name="v")

    result = series.memshare.apply(np.sqrt, workers=workers)

    pd.testing.assert_series_equal(result, series.apply(np.sqrt))
