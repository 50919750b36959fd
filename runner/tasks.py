"""Task descriptors, chunking and slicing of attached objects.

The parent sends each worker one :class:`CallSpec` per call and then only
``(call_id, task_id, start, stop)`` tuples. A worker turns a flat element
index into a slice of a view with :class:`Slicer`, so the data never travels
through a pipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "CALL_PREFIX",
    "CallSpec",
    "ObjectRef",
    "Slicer",
    "TASKS_PER_WORKER",
    "count_elements",
    "default_chunksize",
    "element_labels",
    "grid_shape",
    "plan_chunks",
]

# Start of the names under which a call registers the values passed to it.
CALL_PREFIX: Final = "_call-"

# Four tasks per worker keep the per-task round trip (about 0.1 ms) small next
# to the work while still balancing load when some elements are slower.
TASKS_PER_WORKER: Final = 4

# Slicing rule by which a worker cuts element i out of the attached object.
#   "ndarray": 1-D slice along ``axis`` of the array as stored, a strided
#       view when ``axis`` is not the array's fastest-varying axis.
#   "frame_columns" / "frame_rows": ``df.iloc[:, i]`` / ``df.iloc[i]``.
#   "items": ``items[i]`` of a stored list or tuple.
SliceKind = Literal["ndarray", "frame_columns", "frame_rows", "items"]


class ObjectRef(NamedTuple):
    """One registration of an object: the object id changes when a name is reused.

    ``root`` is the caller's ``MEMSHARE_ROOT`` (``None`` when unset). Workers
    inherit their environment from the forkserver, which may predate a change
    of the variable, so they use the root sent with the reference instead.
    """

    root: str | None
    namespace: str
    name: str
    object_id: str


@dataclass(frozen=True)
class CallSpec:
    """Arguments shared by every task of one call, sent once per worker and call.

    Attributes
    ----------
    call_id : int
        Number of the call within its pool, echoed in every reply.
    target : ObjectRef
        The object that is sliced.
    slice_kind : SliceKind
        How an element is cut out of the target's view.
    axis : int
        Axis along which a 1-D slice runs, for ``slice_kind="ndarray"``.
    count : int
        Number of elements of the call.
    variables : dict of str to ObjectRef
        Keyword argument name of ``fn`` -> object passed as its value.
    """

    call_id: int
    target: ObjectRef
    slice_kind: SliceKind
    axis: int
    count: int
    variables: dict[str, ObjectRef] = field(default_factory=dict)

    def refs(self) -> list[ObjectRef]:
        """List the target and every variable (the objects a worker attaches)."""
        return [self.target, *self.variables.values()]


def default_chunksize(count: int, workers: int) -> int:
    """Pick the number of elements per task for ``count`` elements on ``workers``."""
    if count <= 0:
        return 1
    return max(1, math.ceil(count / (workers * TASKS_PER_WORKER)))


def plan_chunks(count: int, chunksize: int) -> list[tuple[int, int]]:
    """Split ``range(count)`` into ``[start, stop)`` ranges of ``chunksize`` elements."""
    return [(start, min(start + chunksize, count)) for start in range(0, count, chunksize)]


class Slicer:
    """Cut element ``i`` of a call out of an attached view.

    Parameters
    ----------
    view : object
        The target's view (array, DataFrame, or list-like).
    slice_kind : SliceKind
        See :class:`CallSpec`.
    axis : int
        Axis of the 1-D slices for ``slice_kind="ndarray"``.
    """

    def __init__(self, view: Any, slice_kind: SliceKind, axis: int) -> None:
        self.view = view
        self.slice_kind = slice_kind
        self._grid: tuple[int, ...] = ()
        self._rows: Any = None

        if slice_kind == "ndarray":
            # moveaxis returns a strided view, so slicing it copies nothing.
            moved = np.moveaxis(view, axis, -1)
            self._grid = moved.shape[:-1]
            self._rows = moved

    def __call__(self, index: int) -> Any:
        kind = self.slice_kind
        if kind == "ndarray":
            if len(self._grid) == 1:
                return self._rows[index]
            return self._rows[np.unravel_index(index, self._grid)]
        if kind == "frame_columns":
            return self.view.iloc[:, index]
        if kind == "frame_rows":
            return self.view.iloc[index]
        return self.view[index]


def count_elements(value: Any, slice_kind: SliceKind, axis: int) -> int:
    """Count the elements a call over ``value`` has."""
    if slice_kind == "ndarray":
        return math.prod(grid_shape(value.shape, axis))
    if slice_kind == "frame_columns":
        return int(value.shape[1])
    if slice_kind == "frame_rows":
        return int(value.shape[0])
    return len(value)


def grid_shape(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    """Return the shape of the grid of 1-D slices along ``axis`` (``shape`` without ``axis``)."""
    return shape[:axis] + shape[axis + 1 :]


def element_labels(value: Any, slice_kind: SliceKind) -> pd.Index | None:
    """Return the labels of the elements of a DataFrame call, else ``None``."""
    if slice_kind == "frame_columns":
        return value.columns
    if slice_kind == "frame_rows":
        return value.index
    return None
