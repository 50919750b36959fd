"""Assembly of per-element results into an array, Series, DataFrame or list.

The rules, applied only with ``simplify=True``:

- numpy input: when every result is a number (Python or numpy scalar, bool),
  or every result is a ``str``, the output is an array of the grid shape,
  which is the input shape without ``axis``. When every result is an array
  of one shape ``s``, the output has ``s`` in place of ``axis``, as
  :func:`numpy.apply_along_axis` does.
- DataFrame input: scalars of any type (numbers, strings, timestamps,
  ``None``; mixed types give an object Series, as ``DataFrame.apply`` does)
  give a Series indexed by the labels. Series with one common index, dicts
  with one common set of keys, or 1-D arrays of one length give a DataFrame
  whose columns (``axis=0``) or rows (``axis=1``) are the labels.
- Anything else, e.g. ``None``, dicts, or numbers mixed with strings in a
  call over an array, gives the plain list.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["assemble_array", "assemble_frame", "writable_copy"]


def writable_copy(result: Any) -> Any:
    """Return ``result``, copied if it is a read-only array, such as fn's slice of the view.

    Without this, whether a returned array is writable would depend on the
    worker count: in-process results can be views of the read-only shared
    map, and a pickled read-only array also arrives read-only. A view of the
    map would also keep the object mapped after the call released it.
    """
    if isinstance(result, np.ndarray) and not result.flags.writeable:
        return result.copy()
    return result


def _category(value: Any) -> str | None:
    """Name the kind of result for simplification, or ``None`` if it cannot be stacked."""
    if isinstance(value, np.ndarray):
        return "ndarray"
    if isinstance(value, (numbers.Number, np.bool_)):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def _common_category(results: list[Any]) -> str | None:
    categories = {_category(value) for value in results}
    if len(categories) != 1:
        return None
    category = categories.pop()
    if category == "ndarray" and len({value.shape for value in results}) != 1:
        return None
    return category


def assemble_array(
    results: list[Any], grid: tuple[int, ...], axis: int, simplify: bool
) -> np.ndarray | list[Any]:
    """Build the result of a call over a numpy array.

    Parameters
    ----------
    results : list
        ``fn``'s return values in element order (C order over ``grid``).
    grid : tuple of int
        Input shape without ``axis``.
    axis : int
        Axis the slices ran along.
    simplify : bool
        ``False`` returns ``results`` unchanged.
    """
    if not simplify:
        return results
    if not results:
        return np.empty(grid)

    category = _common_category(results)
    if category in ("number", "str"):
        return np.array(results).reshape(grid)
    if category != "ndarray":
        return results

    # Stack to grid + s, then move the result's own axes to where ``axis`` was.
    stacked = np.stack(results).reshape(grid + results[0].shape)
    own_axes = list(range(len(grid), stacked.ndim))
    return np.moveaxis(stacked, own_axes, [axis + k for k in range(len(own_axes))])


def assemble_frame(
    results: list[Any], labels: pd.Index, axis: int, simplify: bool
) -> pd.Series | pd.DataFrame | list[Any]:
    """Build the result of a call over the columns (``axis=0``) or rows of a DataFrame."""
    if not simplify:
        return results
    if not results:
        return pd.Series([], index=labels, dtype=float)

    if all(pd.api.types.is_scalar(value) for value in results):
        return pd.Series(results, index=labels)

    category = _common_category(results)

    if category == "ndarray" and results[0].ndim == 1:
        matrix = np.stack(results)
        if axis == 0:
            return pd.DataFrame(matrix.T, columns=labels)
        return pd.DataFrame(matrix, index=labels)

    if all(isinstance(value, dict) for value in results):
        # Dicts with the same keys are records, as returned by a per-column
        # summary; the keys become the other axis (in the first dict's order).
        keys = list(results[0])
        if keys and all(value.keys() == results[0].keys() for value in results):
            results = [pd.Series(value, index=keys) for value in results]

    if all(isinstance(value, pd.Series) for value in results):
        first = results[0].index
        if all(value.index.equals(first) for value in results):
            if axis == 0:
                frame = pd.concat(results, axis=1)
                frame.columns = labels
                return frame
            frame = pd.DataFrame(results)
            frame.index = labels
            return frame
    return results
