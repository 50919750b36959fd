"""Functions the example jobs in this folder call, one slice or element at a time.

Each job file names them as ``funcs:NAME``: the job file's folder is
importable, so ``funcs`` is this file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def corr_with(column: np.ndarray, y: np.ndarray) -> float:
    """Return the Pearson correlation of ``column`` with ``y``."""
    x_centered = column - column.mean()
    y_centered = y - y.mean()
    scale = np.sqrt((x_centered @ x_centered) * (y_centered @ y_centered))
    return float(x_centered @ y_centered / scale)


def column_summary(column: pd.Series) -> pd.Series:
    """Summarize one column of any dtype.

    Returns the count of present values, the count of missing ones, the
    number of distinct values, and for numeric columns the mean, standard
    deviation, minimum and maximum (NaN for other columns).
    """
    present = column.dropna()
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    return pd.Series(
        {
            "count": float(len(present)),
            "missing": float(len(column) - len(present)),
            "distinct": float(present.nunique()),
            "mean": float(present.mean()) if numeric else np.nan,
            "std": float(present.std()) if numeric else np.nan,
            "min": float(present.min()) if numeric else np.nan,
            "max": float(present.max()) if numeric else np.nan,
        }
    )


def robust_stats(column: pd.Series) -> pd.Series:
    """Return the median, interquartile range and missing fraction of a numeric column."""
    q1, median, q3 = column.quantile([0.25, 0.5, 0.75])
    return pd.Series(
        {"median": median, "iqr": q3 - q1, "missing_fraction": float(column.isna().mean())}
    )


def matvec(matrix: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the product of ``matrix`` with the vector ``v``."""
    return matrix @ v


def column_mean(column: np.ndarray) -> float:
    """Return the mean of one column."""
    return float(column.mean())


def distance_to(row: np.ndarray, center: np.ndarray) -> float:
    """Return the Euclidean distance of ``row`` from ``center``."""
    return float(np.linalg.norm(row - center))
