"""pandas DataFrame and Series: one record batch of columns and index levels.

The segment's fields are named by position (``c0``, ``c1``, ... for columns,
``i0``, ... for index levels), so duplicate and non-string labels need no
escaping. The labels, the index layout and each column's rebuild spec go into
the schema metadata as JSON. How each dtype is stored is described in
:mod:`memshare.store.codec_columns`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from memshare.store.codec_columns import decode_column, dtype_label, encode_column
from memshare.store.codec_segment import (
    ALIGNMENT,
    PREVIEW_COLUMNS,
    measure_segment,
    segment_info,
    segment_kind,
    with_codec_metadata,
    write_segment,
)
from memshare.store.errors import UnsupportedTypeError

logger = logging.getLogger(__name__)

__all__ = ["FramePart", "preview_frame", "read_frame"]

Spec = dict[str, Any]


# --- labels: column labels and index names as typed JSON ---------------------------------


def _label_to_json(label: object, location: str) -> object:
    """Encode one label so that JSON keeps its Python type."""
    if label is None or isinstance(label, str | bool):
        return label
    if isinstance(label, np.bool_):
        return bool(label)
    if isinstance(label, int | np.integer):
        return int(label)
    if isinstance(label, float | np.floating):
        # repr keeps nan and inf, which JSON numbers cannot hold.
        return {"float": repr(float(label))}
    if isinstance(label, tuple):
        return {"tuple": [_label_to_json(item, location) for item in label]}
    if isinstance(label, dt.datetime | np.datetime64):
        return {"timestamp": pd.Timestamp(label).isoformat()}
    raise UnsupportedTypeError(
        f"{location} has the label {label!r} of type {type(label).__qualname__}, which "
        "cannot be stored; use str, int, float, bool, None, timestamps or tuples of "
        "these as labels, e.g. rename with df.columns = df.columns.map(str)",
        location=location,
        label=repr(label),
    )


def _label_from_json(value: object) -> object:
    if isinstance(value, dict):
        if "float" in value:
            return float(value["float"])
        if "tuple" in value:
            return tuple(_label_from_json(item) for item in value["tuple"])
        return pd.Timestamp(value["timestamp"])
    return value


def _labels_to_json(labels: pd.Index, location: str) -> Spec:
    """Encode a column index (flat, MultiIndex or RangeIndex) with its dtypes."""
    if isinstance(labels, pd.RangeIndex):
        name = _label_to_json(labels.name, location)
        return {"range": [labels.start, labels.stop, labels.step], "name": name}
    if isinstance(labels, pd.MultiIndex):
        return {
            "levels": [
                _labels_to_json(labels.get_level_values(i), location) for i in range(labels.nlevels)
            ],
            "names": [_label_to_json(name, location) for name in labels.names],
        }
    values = [_label_to_json(label, location) for label in labels]
    return {
        "values": values,
        "dtype": str(labels.dtype),
        "name": _label_to_json(labels.name, location),
    }


def _labels_from_json(spec: Spec) -> pd.Index:
    if "range" in spec:
        return pd.RangeIndex(*spec["range"], name=_label_from_json(spec["name"]))
    if "levels" in spec:
        levels = [_labels_from_json(level) for level in spec["levels"]]
        return pd.MultiIndex.from_arrays(
            levels, names=[_label_from_json(name) for name in spec["names"]]
        )
    values = [_label_from_json(value) for value in spec["values"]]
    return pd.Index(values, dtype=spec["dtype"], name=_label_from_json(spec["name"]))


# --- row index ---------------------------------------------------------------------------


def _as_index(values: object, name: object) -> pd.Index:
    # Passing the dtype stops pandas from inferring ``str`` for object arrays.
    return pd.Index(values, dtype=values.dtype, name=name, copy=False)  # type: ignore[attr-defined]


def _encode_index(index: pd.Index, location: str) -> tuple[list[pa.Array], Spec]:
    """Return the index's Arrow arrays (none for a RangeIndex) and its spec."""
    if isinstance(index, pd.RangeIndex):
        return [], {
            "range": [index.start, index.stop, index.step],
            "name": _label_to_json(index.name, location),
        }

    if isinstance(index, pd.MultiIndex):
        # Each level is a dictionary array of the level's codes and values,
        # which keeps the levels (unused values included) and codes exactly.
        arrays: list[pa.Array] = []
        level_specs: list[Spec] = []
        for number, (level, codes) in enumerate(zip(index.levels, index.codes, strict=True)):
            values, values_spec = encode_column(level, f"{location} index level {number}")
            codes = np.asarray(codes)
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), values))
            level_specs.append(values_spec)
        names = [_label_to_json(name, location) for name in index.names]
        return arrays, {"multi": level_specs, "names": names}

    array, spec = encode_column(index, f"{location} index")
    freq = getattr(index, "freqstr", None)
    return [array], {"flat": spec, "name": _label_to_json(index.name, location), "freq": freq}


def _decode_index(arrays: list[pa.Array], spec: Spec) -> pd.Index:
    if "range" in spec:
        return pd.RangeIndex(*spec["range"], name=_label_from_json(spec["name"]))

    if "multi" in spec:
        levels = []
        codes = []
        for array, values_spec in zip(arrays, spec["multi"], strict=True):
            levels.append(_as_index(decode_column(array.dictionary, values_spec), None))
            codes.append(array.indices.fill_null(-1).to_numpy())
        names = [_label_from_json(name) for name in spec["names"]]
        return pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)

    index = _as_index(decode_column(arrays[0], spec["flat"]), _label_from_json(spec["name"]))
    if spec.get("freq") is not None:
        # NOTE: pandas checks the frequency against the values, which is one
        # pass over the index (not over the columns), so attach is O(rows) here.
        index = type(index)(index, freq=spec["freq"])
    return index


# --- frames ------------------------------------------------------------------------------


def _dtype_summary(dtypes: list[str]) -> str:
    unique = list(dict.fromkeys(dtypes))
    return ", ".join(unique)


class FramePart:
    """A DataFrame or Series ready to be written as one segment.

    Parameters
    ----------
    value : pandas.DataFrame or pandas.Series
        The value. Its numpy and Arrow buffers are referenced, not copied.
    location : str
        Where the value sits in the registered object, for error messages.
    """

    def __init__(self, value: pd.DataFrame | pd.Series, location: str) -> None:
        if isinstance(value, pd.Series):
            self.kind = "series"
            columns = [value]
            labels = None
        else:
            self.kind = "dataframe"
            columns = [value.iloc[:, number] for number in range(value.shape[1])]
            labels = value.columns

        arrays: list[pa.Array] = []
        names: list[str] = []
        column_specs: list[Spec] = []
        for number, column in enumerate(columns):
            if labels is None:
                where = f"{location} (Series {column.name!r})"
            else:
                where = f"{location} column {labels[number]!r}"
            array, spec = encode_column(column, where)
            arrays.append(array)
            names.append(f"c{number}")
            column_specs.append(spec)

        index_arrays, index_spec = _encode_index(value.index, location)
        arrays.extend(index_arrays)
        names.extend(f"i{number}" for number in range(len(index_arrays)))

        info: Spec = {"rows": len(value), "columns": column_specs, "index": index_spec}
        if labels is None:
            info["name"] = _label_to_json(value.name, location)
        else:
            info["labels"] = _labels_to_json(labels, f"{location} columns")

        fields = [pa.field(name, array.type) for name, array in zip(names, arrays, strict=True)]
        self._schema = with_codec_metadata(pa.schema(fields), self.kind, info)
        self._batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)

        self.dtype = _dtype_summary([dtype_label(column.dtype) for column in columns])
        self.shape: tuple[int, ...] = tuple(int(n) for n in value.shape)
        self.nbytes = int(self._batch.nbytes)
        self.size_bound = measure_segment(self._schema, [self._batch]) + ALIGNMENT

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write the frame as one segment and return its (offset, length)."""
        return write_segment(out, self._schema, [self._batch])


def read_frame(reader: ipc.RecordBatchFileReader) -> pd.DataFrame | pd.Series:
    """Rebuild the DataFrame or Series whose columns share the map where possible."""
    kind = segment_kind(reader.schema)
    info = segment_info(reader.schema)
    batch = reader.get_batch(0)
    column_specs: list[Spec] = info["columns"]
    count = len(column_specs)

    columns = [
        decode_column(batch.column(number), spec) for number, spec in enumerate(column_specs)
    ]
    index_arrays = [batch.column(number) for number in range(count, batch.num_columns)]
    index = _decode_index(index_arrays, info["index"])

    # pandas 3 infers the ``str`` dtype for object arrays of strings, unless
    # they arrive as a Series of dtype object. The Series shares the frame's
    # index object, so no alignment happens.
    columns = [
        pd.Series(column, index=index, dtype=object, copy=False)
        if isinstance(column, np.ndarray) and column.dtype.kind == "O"
        else column
        for column in columns
    ]

    if kind == "series":
        return pd.Series(columns[0], index=index, name=_label_from_json(info["name"]), copy=False)

    # Integer keys keep one block per column (no consolidation copy) and allow
    # duplicate labels, which are set afterwards.
    frame = pd.DataFrame(dict(enumerate(columns)), index=index, copy=False)
    frame.columns = _labels_from_json(info["labels"])
    return frame


def preview_frame(value: pd.DataFrame | pd.Series, rows: int) -> str:
    """Return the shape and the head of a frame (at most PREVIEW_COLUMNS columns) or Series.

    A Series preview ends with its name and dtype, as pandas prints them.
    """
    head = value.head(max(int(rows), 0))
    with pd.option_context("display.max_colwidth", 30):
        if isinstance(value, pd.DataFrame):
            # to_string ignores display.max_columns, so the limit is passed here.
            body = head.to_string(max_cols=PREVIEW_COLUMNS, line_width=100)
            return f"DataFrame shape={value.shape}\n{body}"
        body = head.to_string(name=True, dtype=True)
    return f"Series shape={value.shape}\n{body}"
