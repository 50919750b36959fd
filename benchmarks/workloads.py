"""Workloads: the data, the per-item function and the reference result of each benchmark.

Every system runs the same per-item function on the same data, so a difference in
time or memory comes from how the system moves data to its workers. An item is a
column of a matrix or a DataFrame, or one element of a list.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "SIZES",
    "WorkloadData",
    "build_workload",
    "column_correlation",
    "count_distinct",
    "data_nbytes",
    "iter_block",
    "matrix_times_vector",
    "median_bootstrap_se",
    "results_match",
    "slice_block",
    "to_array",
]

# Seed of every random input, so that repeated runs measure the same data.
SEED = 20261204

# Parameters per workload and mode. "full" uses the sizes named on the benchmark page,
# and "quick" keeps each workload to a fraction of a second for the smoke test.
SIZES: dict[str, dict[str, dict[str, int]]] = {
    "correlate": {
        "quick": {"rows": 2000, "cols": 200},
        "full": {"rows": 10000, "cols": 2000},
    },
    "bootstrap": {
        "quick": {"rows": 2000, "cols": 24, "resamples": 10},
        "full": {"rows": 10000, "cols": 400, "resamples": 40},
    },
    "lapply": {
        "quick": {"items": 60, "side": 200},
        "full": {"items": 1000, "side": 200},
    },
    "dataframe": {
        "quick": {"rows": 20000, "float_cols": 10, "int_cols": 4, "str_cols": 6},
        "full": {"rows": 1_000_000, "float_cols": 10, "int_cols": 4, "str_cols": 6},
    },
    "scaling": {
        "quick": {"rows": 2000, "cols": 2000},
        "full": {"rows": 10000, "cols": 10000},
    },
}

TITLES: dict[str, str] = {
    "correlate": "Correlate each matrix column with a vector",
    "bootstrap": "Bootstrap standard error of each column's median (compute-bound)",
    "lapply": "lapply: 200 x 200 matrices times a shared vector",
    "dataframe": "Distinct values per column of a mixed DataFrame",
    "scaling": "Memory scaling: correlation on a 10000 x 10000 matrix",
}


@dataclass
class WorkloadData:
    """One workload instance: its data, per-item function and reference result.

    Attributes
    ----------
    name : str
        Short identifier, used as the JSON key.
    kind : str
        ``"apply"`` (columns of a matrix or DataFrame) or ``"lapply"`` (list items).
    data : object
        The large input, built in the parent before any system runs.
    fn : callable
        ``fn(item, **variables)``, a module-level function so that every system can
        pickle it by reference.
    variables : dict
        Small extra arguments shared by every call (the vector of workloads 1 and 3).
    params : dict
        The exact sizes, recorded in the results.
    vectorized : callable or None
        ``vectorized(data, **variables)``: the numpy or pandas one-liner, where one exists.
    reference : numpy.ndarray or None
        The serial loop's result, filled in by the harness, that every system must match.
    """

    name: str
    kind: str
    data: Any
    fn: Callable[..., Any]
    variables: dict[str, Any]
    params: dict[str, int]
    vectorized: Callable[..., Any] | None = None
    reference: np.ndarray | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        """Human-readable title for the report."""
        return TITLES[self.name]

    @property
    def n_items(self) -> int:
        """Number of items the function is applied to."""
        return item_count(self.data)

    @property
    def nbytes(self) -> int:
        """Size of the large input in bytes."""
        return data_nbytes(self.data)


# --- per-item functions -------------------------------------------------------------


def column_correlation(column: np.ndarray, y: np.ndarray) -> float:
    """Compute the Pearson correlation of one column with ``y``."""
    centered = column - column.mean()
    y_centered = y - y.mean()
    return float(centered @ y_centered / math.sqrt((centered @ centered) * (y_centered @ y_centered)))


def correlate_vectorized(matrix: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Compute every column's correlation with ``y`` in one matrix product."""
    centered = matrix - matrix.mean(axis=0)
    y_centered = y - y.mean()
    return (centered.T @ y_centered) / (np.linalg.norm(centered, axis=0) * np.linalg.norm(y_centered))


def median_bootstrap_se(column: np.ndarray, resamples: int) -> float:
    """Estimate the standard error of the column's median from bootstrap resamples.

    The generator is seeded identically for every column, so the result does not
    depend on which worker runs the column or in which order. The column is copied
    once before resampling: gathering from a strided column would make every read
    a TLB miss, and the workload would measure page size instead of compute.
    """
    rng = np.random.default_rng(SEED)
    values = np.ascontiguousarray(column)
    indices = rng.integers(0, values.shape[0], size=(resamples, values.shape[0]))
    medians = np.median(values[indices], axis=1)
    return float(medians.std())


def matrix_times_vector(matrix: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Multiply one list item by the shared vector."""
    return matrix @ v


def count_distinct(column: pd.Series) -> int:
    """Count the distinct non-missing values of one DataFrame column."""
    return int(column.nunique())


def count_distinct_vectorized(frame: pd.DataFrame) -> np.ndarray:
    """Count distinct values of every column with pandas' own reduction."""
    return frame.nunique().to_numpy()


# --- data builders ------------------------------------------------------------------


def _build_matrix(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Build a standard normal matrix and a vector correlated with its first column."""
    rng = np.random.default_rng(SEED)
    matrix = rng.standard_normal((rows, cols))
    y = matrix[:, 0] + rng.standard_normal(rows)
    return matrix, y


def _build_frame(rows: int, float_cols: int, int_cols: int, str_cols: int) -> pd.DataFrame:
    """Build a DataFrame of floats, integers and strings, about 10 % of them missing."""
    rng = np.random.default_rng(SEED)
    columns: dict[str, Any] = {}

    for i in range(float_cols):
        values = rng.standard_normal(rows).round(3)
        values[rng.random(rows) < 0.1] = np.nan
        columns[f"f{i}"] = values

    for i in range(int_cols):
        columns[f"i{i}"] = rng.integers(0, 10 ** (i + 2), size=rows)

    # A vocabulary of a few thousand words keeps the strings realistic in length and
    # gives nunique real hashing work.
    vocabulary = np.array([f"word-{k:05d}" for k in range(5000)], dtype=object)
    for i in range(str_cols):
        words = vocabulary[rng.integers(0, vocabulary.shape[0], size=rows)]
        words[rng.random(rows) < 0.1] = None
        columns[f"s{i}"] = pd.Series(words, dtype="str")

    return pd.DataFrame(columns)


def build_workload(name: str, mode: str) -> WorkloadData:
    """Build workload ``name`` at the sizes of ``mode`` (``"quick"`` or ``"full"``).

    Raises
    ------
    ValueError
        If the workload or the mode is unknown.
    """
    if name not in SIZES:
        raise ValueError(f"unknown workload {name!r}; expected one of {sorted(SIZES)}")
    if mode not in SIZES[name]:
        raise ValueError(f"unknown mode {mode!r}; expected 'quick' or 'full'")
    params = dict(SIZES[name][mode])
    logger.debug("building workload %s (%s) with %s", name, mode, params)

    if name in ("correlate", "scaling"):
        matrix, y = _build_matrix(params["rows"], params["cols"])
        return WorkloadData(
            name, "apply", matrix, column_correlation, {"y": y}, params, correlate_vectorized
        )

    if name == "bootstrap":
        matrix, _ = _build_matrix(params["rows"], params["cols"])
        variables = {"resamples": params["resamples"]}
        return WorkloadData(name, "apply", matrix, median_bootstrap_se, variables, params)

    if name == "lapply":
        rng = np.random.default_rng(SEED)
        side = params["side"]
        items = [rng.standard_normal((side, side)) for _ in range(params["items"])]
        v = rng.standard_normal(side)
        return WorkloadData(name, "lapply", items, matrix_times_vector, {"v": v}, params)

    frame = _build_frame(
        params["rows"], params["float_cols"], params["int_cols"], params["str_cols"]
    )
    return WorkloadData(
        name, "apply", frame, count_distinct, {}, params, count_distinct_vectorized
    )


# --- generic access to items and blocks of items -------------------------------------


def item_count(data: Any) -> int:
    """Return the number of items: columns of a matrix or DataFrame, or list elements."""
    if isinstance(data, np.ndarray | pd.DataFrame):
        return int(data.shape[1])
    return len(data)


def get_item(data: Any, index: int) -> Any:
    """Return item ``index`` of ``data`` without copying where the type allows."""
    if isinstance(data, np.ndarray):
        return data[:, index]
    if isinstance(data, pd.DataFrame):
        return data.iloc[:, index]
    return data[index]


def slice_block(data: Any, start: int, stop: int) -> Any:
    """Return items ``start`` to ``stop`` as one value of the same type as ``data``."""
    if isinstance(data, np.ndarray):
        return data[:, start:stop]
    if isinstance(data, pd.DataFrame):
        return data.iloc[:, start:stop]
    return data[start:stop]


def iter_block(block: Any) -> Iterator[Any]:
    """Yield the items of a block made by :func:`slice_block`."""
    for index in range(item_count(block)):
        yield get_item(block, index)


def block_bounds(n_items: int, n_blocks: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into at most ``n_blocks`` contiguous, near-equal ranges."""
    n_blocks = max(1, min(n_blocks, n_items))
    edges = np.linspace(0, n_items, n_blocks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def data_nbytes(data: Any) -> int:
    """Return the in-memory size of ``data`` in bytes, counting string buffers."""
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(data, pd.DataFrame):
        return int(data.memory_usage(index=False, deep=True).sum())
    return int(sum(data_nbytes(item) for item in data))


def to_array(results: Any) -> np.ndarray:
    """Convert any system's results (list, array, Series) into one numpy array."""
    if isinstance(results, pd.Series | pd.DataFrame):
        return results.to_numpy()
    if isinstance(results, np.ndarray):
        return results
    return np.asarray(list(results))


def results_match(results: Any, reference: np.ndarray) -> bool:
    """Return whether ``results`` equal the serial loop's result within float rounding."""
    array = to_array(results)
    if array.shape != reference.shape:
        return False
    return bool(np.allclose(array.astype(float), reference.astype(float), equal_nan=True))


def run_block_items(fn: Callable[..., Any], items: Sequence[Any] | Any, variables: dict[str, Any]) -> list[Any]:
    """Apply ``fn`` to every item of one block and return the results in order."""
    return [fn(item, **variables) for item in iter_block(items)]
