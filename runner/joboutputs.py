"""Outputs of job steps: checking output paths, writing results, short summaries.

The format follows the file extension, and the conversion follows the result:

===============  ==========================================================
extension        what is written
===============  ==========================================================
``.npy``         the result as one array; labels of a Series or DataFrame
                 are dropped
``.parquet``,    a table: a DataFrame as it is, a Series as one column named
``.arrow``,      after the step (its labels as the index), an array as
``.feather``     columns ``0``, ``1``, ... or one column named after the step
``.csv``         the same table as text; the index is written unless it is
                 the default ``0..n-1``
``.json``        nested lists for arrays and lists, ``{label: value}`` for a
                 Series, ``{column: {label: value}}`` for a DataFrame; NaN
                 becomes null
===============  ==========================================================

A file is written under a temporary name in the same folder and renamed when
complete, so a failed write never leaves a half-written output.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from memshare.runner.jobfile import JobDocument, Key

__all__ = ["OUTPUT_FORMATS", "check_output", "summarize_result", "write_output"]

logger = logging.getLogger(__name__)

OUTPUT_FORMATS: Final = {
    ".npy": "npy", ".parquet": "parquet", ".arrow": "arrow", ".feather": "arrow",
    ".csv": "csv", ".json": "json",
}


def check_output(doc: JobDocument, key: Key, path: Path) -> None:
    """Check that ``path`` has a known extension and that its folder is writable.

    A missing folder is fine when its nearest existing parent is a writable
    folder, because :func:`write_output` creates it.
    """
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise doc.error(key, f"unknown output format {path.suffix or path.name!r}",
                        f"use one of {', '.join(OUTPUT_FORMATS)}", value=str(path))
    if path.is_dir():
        raise doc.error(key, f"output {str(path)!r} is a folder", "name a file in it",
                        value=str(path))

    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise doc.error(key, f"cannot create the output folder {str(path.parent)!r}: "
                        f"{str(folder)!r} is a file", "choose another output path",
                        value=str(path))
    # Creating a file is the only test that holds for root, for read-only
    # mounts and for folders such as /proc, where os.access reports "writable".
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".memshare-check-", dir=folder)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise doc.error(key, f"output folder {str(folder)!r} is not writable: "
                        f"{error.strerror or error}", "choose a folder you can write to, or "
                        "change its permissions", value=str(path)) from None


def write_output(result: Any, path: Path, name: str) -> None:
    """Write ``result`` to ``path`` in the format of its extension.

    Raises
    ------
    ValueError
        If the result cannot be written in that format, for example a list
        of arrays of different shapes as ``.npy``. The message names a
        format that fits.
    OSError
        If writing fails. No file is left at ``path`` or under a temporary name.
    """
    fmt = OUTPUT_FORMATS[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "npy":
            with open(temporary, "wb") as stream:
                np.save(stream, _as_array(result, ".npy"), allow_pickle=False)
        elif fmt == "json":
            with open(temporary, "w", encoding="utf-8") as stream:
                json.dump(_as_json(result), stream, allow_nan=False)
                stream.write("\n")
        elif fmt == "csv":
            frame = _as_frame(result, name)
            frame.to_csv(temporary, index=not isinstance(frame.index, pd.RangeIndex))
        else:
            table = pa.Table.from_pandas(_as_frame(result, name, string_columns=True))
            if fmt == "parquet":
                pq.write_table(table, temporary)
            else:
                with pa.OSFile(str(temporary), "wb") as sink:
                    with pa.ipc.new_file(sink, table.schema) as writer:
                        writer.write_table(table)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    logger.debug("wrote %s output of step %s to %s", fmt, name, path)


def _as_array(result: Any, extension: str) -> np.ndarray:
    if isinstance(result, (pd.Series, pd.DataFrame)):
        array = result.to_numpy()
    else:
        try:
            array = np.asarray(result)
        except ValueError:
            array = np.empty(0, dtype=object)
    if array.dtype.hasobject:
        if isinstance(result, list) and all(item is None for item in result):
            reason = "every element is None (the function returned nothing)"
        else:
            reason = "its elements differ in shape or type"
        raise ValueError(f"the result ({_kind(result)}) cannot be written as {extension}, "
                         f"because {reason}; write it as .json, or "
                         "return numbers or arrays of one shape from the function")
    return array


def _as_frame(result: Any, name: str, string_columns: bool = False) -> pd.DataFrame:
    """Turn a result into a DataFrame, keeping Series and DataFrame labels."""
    if isinstance(result, pd.DataFrame):
        frame = result
    elif isinstance(result, pd.Series):
        frame = result.to_frame(name=result.name if result.name is not None else name)
    elif isinstance(result, list) and result and all(isinstance(x, dict) for x in result):
        frame = pd.DataFrame(result)
    else:
        array = _as_array(result, "a table")
        if array.ndim > 2:
            raise ValueError(f"the result has shape {array.shape}, but a table has at most 2 "
                             "dimensions; write it as .npy or .json")
        frame = pd.DataFrame(array if array.ndim == 2 else {name: np.atleast_1d(array)})
    if string_columns and not all(isinstance(c, str) for c in frame.columns):
        # Parquet and Arrow need string column names.
        frame = frame.rename(columns=str)
    return frame


def _as_json(value: Any) -> Any:
    """Convert a result to JSON values, with null for NaN and infinities."""
    if isinstance(value, pd.DataFrame):
        return {str(column): _as_json(value[column]) for column in value.columns}
    if isinstance(value, pd.Series):
        return {str(label): _as_json(item) for label, item in value.items()}
    if isinstance(value, np.ndarray):
        return _as_json(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _as_json(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _kind(result: Any) -> str:
    if isinstance(result, (np.ndarray, pd.Series, pd.DataFrame)):
        return f"{type(result).__name__} of shape {result.shape}"
    if isinstance(result, list):
        types = sorted({type(item).__name__ for item in result})
        return f"list of {len(result)} ({', '.join(types[:3])})"
    return type(result).__name__


def summarize_result(result: Any, rows: int = 6) -> str:
    """Describe a result in a few lines: its type and shape, and its first values."""
    if isinstance(result, np.ndarray):
        values = np.array2string(result, threshold=rows, edgeitems=rows // 2, precision=4)
        return f"ndarray {result.dtype} {result.shape}\n{values}"
    if isinstance(result, pd.Series):
        text = result.to_string(max_rows=rows, float_format=lambda x: f"{x:.4g}")
        return f"Series {result.shape}\n{text}"
    if isinstance(result, pd.DataFrame):
        text = result.to_string(max_rows=rows, max_cols=rows, float_format=lambda x: f"{x:.4g}")
        return f"DataFrame {result.shape}\n{text}"
    if isinstance(result, list):
        head = ", ".join(_short(item) for item in result[:3])
        more = ", ..." if len(result) > 3 else ""
        return f"list of {len(result)} elements\n[{head}{more}]"
    return _short(result)


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray {value.dtype} {value.shape}"
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return f"{type(value).__name__} {value.shape}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
