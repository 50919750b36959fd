"""mem_apply over numpy arrays gives what a serial loop gives, in order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import memshare
from memshare.store import register_variables, release_variables

WORKERS = [pytest.param(1, id="in-process"), pytest.param(2, id="2-workers")]


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def serial(X: np.ndarray, fn, axis: int) -> np.ndarray:
    return np.apply_along_axis(fn, axis, X)


@pytest.fixture
def matrix() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(37, 23))


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scalar_results(store_root, matrix, workers, order, axis):
    X = np.asarray(matrix, order=order)
    result = memshare.mem_apply(X, np.std, axis, workers=workers, chunksize=3)
    np.testing.assert_array_equal(result, serial(X, np.std, axis))
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("axis", [0, 1])
def test_array_results(store_root, matrix, workers, axis):
    def quantiles(v):
        return np.quantile(v, [0.1, 0.5, 0.9])

    result = memshare.mem_apply(matrix, quantiles, axis, workers=workers)
    expected = serial(matrix, quantiles, axis)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_three_dimensional(store_root, workers, axis):
    X = np.arange(4 * 5 * 6, dtype=np.int64).reshape(4, 5, 6)
    np.testing.assert_array_equal(
        memshare.mem_apply(X, np.sum, axis, workers=workers), serial(X, np.sum, axis)
    )
    np.testing.assert_array_equal(
        memshare.mem_apply(X, np.cumsum, axis, workers=workers), serial(X, np.cumsum, axis)
    )


@pytest.mark.parametrize("workers", WORKERS)
def test_slices_are_readonly_views(store_root, matrix, workers):
    def describe(column):
        return (column.flags.writeable, column.flags.owndata, column.shape)

    result = memshare.mem_apply(matrix, describe, 0, workers=workers)
    assert result == [(False, False, (37,))] * 23


@pytest.mark.parametrize("workers", WORKERS)
def test_closures_and_lambdas(store_root, matrix, workers):
    offset = 10.0

    def shifted_max(column):
        return column.max() + offset

    np.testing.assert_array_equal(
        memshare.mem_apply(matrix, shifted_max, workers=workers), matrix.max(axis=0) + offset
    )
    np.testing.assert_array_equal(
        memshare.mem_apply(matrix, lambda row: row.min(), 1, workers=workers), matrix.min(axis=1)
    )


@pytest.mark.parametrize("workers", WORKERS)
def test_mixed_results_give_list(store_root, matrix, workers):
    def pick(column):
        return None if column[0] > 0 else "negative"

    result = memshare.mem_apply(matrix, pick, workers=workers)
    assert result == [pick(matrix[:, j]) for j in range(matrix.shape[1])]


@pytest.mark.parametrize("workers", WORKERS)
def test_string_results(store_root, matrix, workers):
    result = memshare.mem_apply(matrix, lambda c: f"{c[0]:.3f}", workers=workers)
    assert result.tolist() == [f"{v:.3f}" for v in matrix[0]]


@pytest.mark.parametrize("workers", WORKERS)
def test_simplify_false(store_root, matrix, workers):
    result = memshare.mem_apply(matrix, np.sum, 1, workers=workers, simplify=False)
    assert isinstance(result, list)
    assert result == [np.sum(row) for row in matrix]


@pytest.mark.parametrize("workers", WORKERS)
def test_vars_as_values(store_root, matrix, workers):
    weights = np.linspace(0, 1, matrix.shape[0])

    def weighted(column, w, center):
        return float(np.dot(column - center, w))

    result = memshare.mem_apply(
        matrix, weighted, vars={"w": weights, "center": np.float64(0.5)}, workers=workers
    )
    expected = [float(np.dot(matrix[:, j] - 0.5, weights)) for j in range(matrix.shape[1])]
    np.testing.assert_array_equal(result, expected)
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_vars_and_x_by_name(store_root, matrix, workers):
    weights = matrix[:23, 0].copy()
    register_variables("data", {"X": matrix, "w": weights})
    before = files_under(store_root)

    result = memshare.mem_apply(
        "X", lambda row, w: float(row @ w), 1, vars=["w"], namespace="data", workers=workers
    )
    np.testing.assert_array_equal(result, [float(row @ weights) for row in matrix])

    # Named objects stay registered; nothing else is left behind.
    assert files_under(store_root) == before
    metadata = memshare.retrieve_metadata("data")
    assert metadata["X"].views == 0
    release_variables("data", ["X", "w"])


def test_default_chunks_cover_all(store_root):
    X = np.arange(1001.0)[None, :].repeat(3, axis=0)
    result = memshare.mem_apply(X, lambda c: c[0], 0, workers=2)
    np.testing.assert_array_equal(result, np.arange(1001.0))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        pytest.param({"axis": 2}, ValueError, id="axis-out-of-range"),
        pytest.param({"axis": "rows"}, ValueError, id="axis-string-for-array"),
        pytest.param({"chunksize": 0}, ValueError, id="chunksize-zero"),
        pytest.param({"workers": 0}, ValueError, id="workers-zero"),
        pytest.param({"vars": {"not valid": 1}}, ValueError, id="vars-key"),
        pytest.param({"vars": "w"}, TypeError, id="vars-string"),
    ],
)
def test_bad_arguments(store_root, matrix, kwargs, error):
    with pytest.raises(error):
        memshare.mem_apply(matrix, np.sum, **kwargs)
    assert files_under(store_root) == set()


def test_bad_inputs(store_root):
    with pytest.raises(TypeError, match="mem_lapply"):
        memshare.mem_apply([1, 2, 3], np.sum, workers=1)
    with pytest.raises(ValueError, match="namespace"):
        memshare.mem_apply("X", np.sum, workers=1)
    with pytest.raises(TypeError, match="callable"):
        memshare.mem_apply(np.ones((2, 2)), "sum", workers=1)
    with pytest.raises(KeyError):
        memshare.mem_apply("missing", np.sum, namespace="data", workers=1)
    assert files_under(store_root) == set()
