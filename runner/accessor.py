"""The ``df.memshare`` and ``s.memshare`` accessors, registered on pandas at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from memshare.runner.apply import mem_apply, mem_lapply

__all__ = ["MemshareAccessor", "SeriesAccessor"]


@pd.api.extensions.register_dataframe_accessor("memshare")
class MemshareAccessor:
    """Run memshare calls on a DataFrame: ``df.memshare.apply(fn, axis=0)``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The DataFrame the accessor was reached from.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def apply(self, fn: Callable[..., Any], axis: int | str = 0, **options: Any) -> Any:
        """Apply ``fn`` to each column (``axis=0``) or row (``axis=1``) in worker processes.

        Same as ``mem_apply(df, fn, axis, **options)``; ``options`` are the
        keyword arguments of :func:`memshare.mem_apply`.
        """
        return mem_apply(self._frame, fn, axis, **options)


@pd.api.extensions.register_series_accessor("memshare")
class SeriesAccessor:
    """Run memshare calls on a Series: ``s.memshare.apply(fn)``.

    Parameters
    ----------
    series : pandas.Series
        The Series the accessor was reached from.
    """

    def __init__(self, series: pd.Series) -> None:
        self._series = series

    def apply(self, fn: Callable[..., Any], **options: Any) -> pd.Series:
        """Apply ``fn`` to each value in worker processes, as ``Series.apply`` does.

        The values are registered as a list of Python scalars (a copy, unlike
        the zero-copy columns of :meth:`MemshareAccessor.apply`), so this
        pays off only when ``fn`` is slow per value. ``options`` are the
        keyword arguments of :func:`memshare.mem_lapply`.

        Returns
        -------
        pandas.Series
            The results, with the Series' index and name.
        """
        results = mem_lapply(self._series.tolist(), fn, **options)
        return pd.Series(results, index=self._series.index, name=self._series.name)
