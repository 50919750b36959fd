"""The ``df.memshare`` accessor, registered on pandas DataFrames at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from memshare.runner.apply import mem_apply

__all__ = ["MemshareAccessor"]


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
