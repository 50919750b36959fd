"""File and packaged-table data sources of job files: ``path:`` and ``dataset:``.

Checking reads only what is cheap. That is the header of a ``.npy`` file,
the schema and row count of Parquet and Arrow files, the first row of CSV and
TSV files, and the whole of a packaged table (a few hundred rows). Loading reads the
data, selects ``columns``, sets the ``index`` column and casts to ``dtype``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from memshare.runner.jobfile import JobDocument, JobFileError, Key, describe

__all__ = [
    "DATASETS", "FORMATS", "load_dataset", "load_path", "numpy_dtype", "parse_dataset",
    "parse_path",
]

# Result of each checker: the checked options, the store kind of the value,
# and its size in bytes where known before loading.
Checked = tuple[dict[str, Any], str, int | None]

FORMATS: Final = {
    ".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".feather": "arrow",
    ".arrow": "arrow", ".ipc": "arrow", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
}
COMPRESSION_SUFFIXES: Final = (".gz", ".bz2", ".xz", ".zst")

# Tables shipped by packages: dataset name -> (module, loader function, the
# memshare extra that installs the module).
DATASETS: Final[dict[str, tuple[str, str, str]]] = {
    "palmerpenguins": ("palmerpenguins", "load_penguins", "data"),
}


def parse_path(doc: JobDocument, key: Key, options: dict[str, Any]) -> Checked:
    """Check a ``path:`` source: the file exists, its format, columns and size."""
    raw_path = options["path"]
    if not isinstance(raw_path, str) or not raw_path:
        raise doc.error((*key, "path"), f"expected a file path, got {describe(raw_path)}",
                        "write a path relative to the job file's folder", value=raw_path)
    path = doc.folder / raw_path
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "was not found"
        raise doc.error((*key, "path"), f"data file {str(path)!r} {problem}",
                        "relative paths resolve against the job file's folder "
                        f"({doc.folder})", value=raw_path)

    fmt = options.get("format") or _format_from_name(path)
    if fmt not in set(FORMATS.values()):
        where = (*key, "format") if "format" in options else (*key, "path")
        raise doc.error(where, f"unknown data format of {raw_path!r}",
                        "use a .npy, .parquet, .feather/.arrow, .csv or .tsv file, or set "
                        "`format:` to npy, parquet, arrow, csv or tsv", value=fmt or raw_path)

    checked = {**options, "path": path, "format": fmt}
    try:
        if fmt == "npy":
            return _check_npy(doc, key, checked)
        columns, rows = _table_header(path, fmt)
    except JobFileError:
        # _check_npy's own errors already name the file and the fix.
        raise
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        raise doc.error((*key, "path"), f"cannot read {fmt} file {str(path)!r}: {exc}",
                        f"check that it is a valid {fmt} file", value=raw_path) from None
    return _check_table(doc, key, checked, columns, rows)


def _format_from_name(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
        return FORMATS.get(suffixes[-1]) if suffixes and suffixes[-1] in (".csv", ".tsv") else None
    return FORMATS.get(suffixes[-1]) if suffixes else None


def _check_npy(doc: JobDocument, key: Key, options: dict[str, Any]) -> Checked:
    for option in ("columns", "index"):
        if option in options:
            raise doc.error((*key, option), f"`{option}` applies to tables, not .npy arrays",
                            f"remove `{option}`", value=options[option], at_key=True)
    with open(options["path"], "rb") as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.hasobject:
        raise doc.error((*key, "path"), f"{options['path']} contains Python objects "
                        f"(dtype {dtype})", "save a numeric, bool or fixed-width string array",
                        value=str(options["path"]))
    if 0 in shape:
        raise doc.error((*key, "path"), f"{options['path']} is empty (shape {shape})",
                        "point to a file with data", value=str(options["path"]))
    if "dtype" in options:
        dtype = numpy_dtype(doc, (*key, "dtype"), options["dtype"])
    return options, "ndarray", math.prod(shape) * dtype.itemsize


def _load_npy(options: dict[str, Any]) -> np.ndarray:
    # A read-only memory map: registering it streams the file once into the
    # store instead of holding a private copy in this process.
    array = np.load(options["path"], mmap_mode="r", allow_pickle=False)
    if "dtype" in options:
        return array.astype(options["dtype"])
    return array


def _table_header(path: Path, fmt: str) -> tuple[list[str], int | None]:
    """Return the column names and row count (``None`` if unknown) of a table file."""
    if fmt == "parquet":
        meta = pq.ParquetFile(path)
        return list(meta.schema_arrow.names), meta.metadata.num_rows
    if fmt == "arrow":
        with pa.memory_map(str(path)) as source:
            try:
                reader = pa.ipc.open_file(source)
                rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
                return list(reader.schema.names), rows
            except pa.ArrowInvalid:
                source.seek(0)
                return list(pa.ipc.open_stream(source).schema.names), None
    try:
        head = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", nrows=1)
    except pd.errors.EmptyDataError:
        return [], 0
    return [str(c) for c in head.columns], len(head)


def _read_table(fmt: str, options: dict[str, Any]) -> pd.DataFrame:
    path, columns = options["path"], _columns_to_read(options)
    if fmt == "parquet":
        return pd.read_parquet(path, columns=columns)
    if fmt == "arrow":
        with pa.memory_map(str(path)) as source:
            try:
                table = pa.ipc.open_file(source).read_all()
            except pa.ArrowInvalid:
                source.seek(0)
                table = pa.ipc.open_stream(source).read_all()
        if columns is not None:
            table = table.select(columns)
        return table.to_pandas()
    return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",", usecols=columns)


# ----------------------------------------------------------------------------- tables


def _check_table(doc: JobDocument, key: Key, options: dict[str, Any], columns: list[str],
                 rows: int | None) -> Checked:
    """Check ``columns``, ``index`` and ``dtype`` of a table source against its columns."""
    where = options.get("path", options.get("dataset"))
    if rows == 0 or not columns:
        raise doc.error(key, f"{where} contains no rows", "point to a table with data",
                        value=str(where))

    selected = options.get("columns")
    if selected is not None:
        if not isinstance(selected, list) or not selected:
            raise doc.error((*key, "columns"), f"expected a non-empty list of column names, "
                            f"got {describe(selected)}", "write `columns: [a, b]`",
                            value=selected)
        for i, column in enumerate(selected):
            _check_column(doc, (*key, "columns", i), column, columns)

    # The index may be any column of the file, listed in `columns` or not.
    if "index" in options:
        _check_column(doc, (*key, "index"), options["index"], columns)
    if selected is not None:
        columns = [str(c) for c in selected]

    dtype = options.get("dtype")
    if isinstance(dtype, dict):
        for column, item in dtype.items():
            _check_column(doc, (*key, "dtype", column), column, columns)
            _pandas_dtype(doc, (*key, "dtype", column), item)
    elif dtype is not None:
        _pandas_dtype(doc, (*key, "dtype"), dtype)
    return options, "dataframe", None


def _check_column(doc: JobDocument, key: Key, column: object, columns: list[str]) -> None:
    if column not in columns:
        close = difflib.get_close_matches(str(column), columns, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"columns: {', '.join(columns)}"
        raise doc.error(key, f"unknown column {describe(column)}", fix, value=column)


def _columns_to_read(options: dict[str, Any]) -> list[str] | None:
    """Return ``columns`` plus the ``index`` column when it is not among them."""
    columns = options.get("columns")
    if columns is None or "index" not in options or options["index"] in columns:
        return columns
    return [*columns, options["index"]]


def _finish_table(frame: pd.DataFrame, options: dict[str, Any]) -> pd.DataFrame:
    """Apply ``columns``, ``index`` and ``dtype`` to a loaded table."""
    if options.get("columns") is not None:
        frame = frame[_columns_to_read(options)]
    if "index" in options:
        frame = frame.set_index(options["index"])
    if "dtype" in options:
        frame = frame.astype(options["dtype"])
    return frame


def parse_dataset(doc: JobDocument, key: Key, options: dict[str, Any]) -> Checked:
    """Check a ``dataset:`` source: the package is installed, and its columns."""
    dataset = options["dataset"]
    if dataset not in DATASETS:
        raise doc.error((*key, "dataset"), f"unknown dataset {describe(dataset)}",
                        f"known datasets: {', '.join(DATASETS)}", value=dataset)
    module_name, _, extra = DATASETS[dataset]
    if importlib.util.find_spec(module_name) is None:
        raise doc.error((*key, "dataset"), f"dataset {dataset!r} needs the package "
                        f"{module_name!r}, which is not installed",
                        f"install it: pip install 'memshare[{extra}]'", value=dataset)

    # The bundled tables are a few hundred rows, so reading one to check the
    # column names costs less than a millisecond per row of the job file.
    frame = _read_dataset(dataset)
    columns = [str(c) for c in frame.columns]
    return _check_table(doc, key, options, columns, len(frame))


def _read_dataset(dataset: str) -> pd.DataFrame:
    module_name, loader, _ = DATASETS[dataset]
    return getattr(importlib.import_module(module_name), loader)()


# ----------------------------------------------------------------------------- dtypes


def numpy_dtype(doc: JobDocument, key: Key, value: object) -> np.dtype:
    """Check a numpy dtype name; object dtypes cannot be shared."""
    try:
        dtype = np.dtype(value)  # type: ignore[call-overload]
    except TypeError:
        raise doc.error(key, f"unknown dtype {describe(value)}", "use a numpy dtype such as "
                        "float64, float32, int32 or bool", value=value) from None
    if dtype.hasobject:
        raise doc.error(key, "dtype object cannot be shared", "use a numeric or bool dtype",
                        value=value)
    return dtype


def _pandas_dtype(doc: JobDocument, key: Key, value: object) -> None:
    try:
        pd.api.types.pandas_dtype(value)
    except TypeError:
        raise doc.error(key, f"unknown dtype {describe(value)}", "use a dtype such as float64, "
                        "int64, bool, str or category", value=value) from None



def load_path(options: dict[str, Any]) -> np.ndarray | pd.DataFrame:
    """Read the file of a checked ``path:`` source."""
    if options["format"] == "npy":
        return _load_npy(options)
    return _finish_table(_read_table(options["format"], options), options)


def load_dataset(options: dict[str, Any]) -> pd.DataFrame:
    """Load the table of a checked ``dataset:`` source."""
    return _finish_table(_read_dataset(options["dataset"]), options)
