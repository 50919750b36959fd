"""Data sources of job files: checking a ``data:`` entry and loading its value.

Each entry under ``data:`` has exactly one source key:

- ``path``: a ``.npy``, ``.parquet``, ``.feather``/``.arrow``, ``.csv`` or
  ``.tsv`` file (CSV and TSV may be compressed: ``.gz``, ``.bz2``, ``.xz``,
  ``.zst``);
- ``generate``: random ``normal``, ``uniform`` or ``integers`` data of a
  ``shape`` from a ``seed``, or a list of ``count`` such arrays;
- ``value``: a small literal written in the job file;
- ``ref``: ``namespace/name`` of an object already in the store;
- ``dataset``: a table shipped by a Python package (``palmerpenguins``).

:func:`parse_source` runs at check time and reads only file headers, so that a
job is validated completely before anything is registered.
:func:`load_source` builds the value when the job runs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from memshare.runner.jobfile import JobDocument, Key, check_int, check_name, describe

__all__ = ["Source", "load_source", "parse_source"]

logger = logging.getLogger(__name__)

SOURCE_KEYS: Final = ("path", "generate", "value", "ref", "dataset")
COMMON_KEYS: Final = ("description",)
TABLE_KEYS: Final = ("columns", "dtype", "index")
OPTION_KEYS: Final = {
    "path": ("format", *TABLE_KEYS),
    "generate": ("shape", "seed", "dtype", "count", "loc", "scale", "low", "high"),
    "value": ("dtype",),
    "ref": (),
    "dataset": TABLE_KEYS,
}

FORMATS: Final = {
    ".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".feather": "arrow",
    ".arrow": "arrow", ".ipc": "arrow", ".csv": "csv", ".tsv": "tsv", ".tab": "tsv",
}
COMPRESSION_SUFFIXES: Final = (".gz", ".bz2", ".xz", ".zst")
# Parameters of each distribution with their defaults; `high` of integers is
# required, so its default is never used.
DISTRIBUTION_PARAMS: Final[dict[str, dict[str, float]]] = {
    "normal": {"loc": 0.0, "scale": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "integers": {"low": 0, "high": 0},
}
DISTRIBUTIONS: Final = tuple(DISTRIBUTION_PARAMS)

# Tables shipped by packages: dataset name -> (module, loader function, the
# memshare extra that installs the module).
DATASETS: Final[dict[str, tuple[str, str, str]]] = {
    "palmerpenguins": ("palmerpenguins", "load_penguins", "data"),
}

# Random data is produced into the preallocated result in blocks of this many
# elements (32 MiB of float64), so a large matrix never exists twice.
GENERATE_BLOCK: Final = 1 << 22


@dataclass(frozen=True)
class Source:
    """One checked ``data:`` entry.

    Attributes
    ----------
    name : str
        Object name the value is registered under (for ``ref``, the name the
        steps use).
    key : Key
        Key path of the entry, ``("data", name)``.
    source : str
        The source key (``path``, ``generate``, ``value``, ``ref``, ``dataset``).
    options : dict
        The checked options; ``path`` is absolute.
    kind : str or None
        The store kind the value will have (``ndarray``, ``dataframe``,
        ``list``, ``scalar``, ...), ``None`` where only loading can tell.
    nbytes : int or None
        Estimated size in bytes, where known before loading.
    """

    name: str
    key: Key
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    nbytes: int | None = None


def parse_source(doc: JobDocument, name: str, raw: dict[str, Any]) -> Source:
    """Check the ``data:`` entry ``name`` and return a :class:`Source`.

    Reads file headers (not the data) to check formats, columns and emptiness.
    """
    key: Key = ("data", name)
    present = [k for k in SOURCE_KEYS if raw.get(k) is not None]
    if len(present) != 1:
        problem = f"has {len(present)} source keys ({', '.join(present)})" if present else (
            "has no source key"
        )
        raise doc.error(key, f"data entry {name!r} {problem}",
                        f"give exactly one of: {', '.join(SOURCE_KEYS)}")
    kind = present[0]
    options = doc.mapping(key, raw, (kind, *OPTION_KEYS[kind], *COMMON_KEYS))
    parser = _PARSERS[kind]
    source = parser(doc, key, name, options)
    logger.debug("checked data %s: %s, kind %s, about %s bytes", name, kind, source.kind,
                 source.nbytes)
    return source


def load_source(source: Source) -> Any:
    """Build the value of ``source`` (not for ``ref`` sources, which are already stored)."""
    options = source.options
    logger.debug("loading data %s from %s", source.name, source.source)
    if source.source == "path":
        fmt = options["format"]
        if fmt == "npy":
            return _load_npy(options)
        return _finish_table(_read_table(fmt, options), options)
    if source.source == "generate":
        return _generate(options)
    if source.source == "value":
        value = options["value"]
        return np.asarray(value, dtype=options["dtype"]) if "dtype" in options else value
    if source.source == "dataset":
        return _finish_table(_load_dataset(options["dataset"]), options)
    raise ValueError(f"source {source.source!r} of {source.name!r} has no value to load")


# ----------------------------------------------------------------------------- files


def _parse_path(doc: JobDocument, key: Key, name: str, options: dict[str, Any]) -> Source:
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
            return _check_npy(doc, key, name, checked)
        columns, rows = _table_header(path, fmt)
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as exc:
        raise doc.error((*key, "path"), f"cannot read {fmt} file {str(path)!r}: {exc}",
                        f"check that it is a valid {fmt} file", value=raw_path) from None
    return _check_table(doc, key, name, "path", checked, columns, rows)


def _format_from_name(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes = suffixes[:-1]
        return FORMATS.get(suffixes[-1]) if suffixes and suffixes[-1] in (".csv", ".tsv") else None
    return FORMATS.get(suffixes[-1]) if suffixes else None


def _check_npy(doc: JobDocument, key: Key, name: str, options: dict[str, Any]) -> Source:
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
        dtype = _numpy_dtype(doc, (*key, "dtype"), options["dtype"])
    return Source(name, key, "path", options, "ndarray", math.prod(shape) * dtype.itemsize)


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
    path, columns = options["path"], options.get("columns")
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


def _check_table(doc: JobDocument, key: Key, name: str, source: str, options: dict[str, Any],
                 columns: list[str], rows: int | None) -> Source:
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
        columns = [str(c) for c in selected]

    if "index" in options:
        _check_column(doc, (*key, "index"), options["index"], columns)

    dtype = options.get("dtype")
    if isinstance(dtype, dict):
        for column, item in dtype.items():
            _check_column(doc, (*key, "dtype", column), column, columns)
            _pandas_dtype(doc, (*key, "dtype", column), item)
    elif dtype is not None:
        _pandas_dtype(doc, (*key, "dtype"), dtype)
    return Source(name, key, source, options, "dataframe")


def _check_column(doc: JobDocument, key: Key, column: object, columns: list[str]) -> None:
    if column not in columns:
        close = difflib.get_close_matches(str(column), columns, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"columns: {', '.join(columns)}"
        raise doc.error(key, f"unknown column {describe(column)}", fix, value=column)


def _finish_table(frame: pd.DataFrame, options: dict[str, Any]) -> pd.DataFrame:
    """Apply ``columns``, ``index`` and ``dtype`` to a loaded table."""
    if options.get("columns") is not None:
        frame = frame[options["columns"]]
    if "index" in options:
        frame = frame.set_index(options["index"])
    if "dtype" in options:
        frame = frame.astype(options["dtype"])
    return frame


def _parse_dataset(doc: JobDocument, key: Key, name: str, options: dict[str, Any]) -> Source:
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
    frame = _load_dataset(dataset)
    columns = [str(c) for c in frame.columns]
    return _check_table(doc, key, name, "dataset", options, columns, len(frame))


def _load_dataset(dataset: str) -> pd.DataFrame:
    module_name, loader, _ = DATASETS[dataset]
    return getattr(importlib.import_module(module_name), loader)()


# ----------------------------------------------------------------------------- generated


def _parse_generate(doc: JobDocument, key: Key, name: str, options: dict[str, Any]) -> Source:
    distribution = options["generate"]
    if distribution not in DISTRIBUTIONS:
        close = difflib.get_close_matches(str(distribution), DISTRIBUTIONS, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(DISTRIBUTIONS)}"
        raise doc.error((*key, "generate"), f"unknown distribution {describe(distribution)}",
                        fix, value=distribution)

    if "shape" not in options:
        raise doc.error(key, "missing required key `shape`", "add for example "
                        "`shape: [1000, 50]`")
    shape = options["shape"]
    shape = [shape] if isinstance(shape, int) and not isinstance(shape, bool) else shape
    if not isinstance(shape, list) or not shape:
        raise doc.error((*key, "shape"), f"expected a list of sizes, got {describe(shape)}",
                        "write for example `shape: [1000, 50]`", value=shape)
    shape = tuple(check_int(doc, (*key, "shape", i), size, 1) for i, size in enumerate(shape))

    default = "int64" if distribution == "integers" else "float64"
    dtype = _numpy_dtype(doc, (*key, "dtype"), options.get("dtype", default))
    if distribution == "integers":
        valid, allowed = dtype.kind in "iu", "an integer dtype such as int64 or int32"
    else:
        valid, allowed = dtype in (np.float32, np.float64), "float32 or float64"
    if not valid:
        raise doc.error((*key, "dtype"), f"{distribution} data cannot have dtype {dtype}",
                        f"use {allowed}", value=str(dtype))

    params = {"seed": check_int(doc, (*key, "seed"), options.get("seed", 0), 0)}
    if distribution == "integers" and "high" not in options:
        raise doc.error(key, "integers need `high` (the exclusive upper bound)",
                        "add for example `low: 0` and `high: 10`")
    for param, fallback in DISTRIBUTION_PARAMS[distribution].items():
        value = options.get(param, fallback)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise doc.error((*key, param), f"expected a number, got {describe(value)}",
                            f"write for example `{param}: {fallback}`", value=value)
        params[param] = value
    for param in ("loc", "scale", "low", "high"):
        if param in options and param not in params:
            raise doc.error((*key, param), f"`{param}` does not apply to {distribution} data",
                            f"remove `{param}`", value=options[param], at_key=True)
    if "low" in params and params["low"] >= params["high"]:
        raise doc.error((*key, "high"), f"high ({params['high']}) must be greater than low "
                        f"({params['low']})", "raise `high`", value=params["high"])

    count = options.get("count")
    nbytes = math.prod(shape) * dtype.itemsize
    checked = {"generate": distribution, "shape": shape, "dtype": dtype, **params}
    if count is None:
        return Source(name, key, "generate", checked, "ndarray", nbytes)
    checked["count"] = check_int(doc, (*key, "count"), count, 1)
    return Source(name, key, "generate", checked, "list", nbytes * checked["count"])


def _generate(options: dict[str, Any]) -> np.ndarray | list[np.ndarray]:
    rng = np.random.default_rng(options["seed"])
    if "count" in options:
        return [_fill(rng, options) for _ in range(options["count"])]
    return _fill(rng, options)


def _fill(rng: np.random.Generator, options: dict[str, Any]) -> np.ndarray:
    """Fill a new array block by block from ``rng``.

    For normal and uniform data the values equal one call of
    ``standard_normal``/``random`` over the whole shape, scaled, because both
    draw the same stream in order.
    """
    out = np.empty(options["shape"], dtype=options["dtype"])
    flat = out.reshape(-1)
    distribution = options["generate"]
    for start in range(0, flat.size, GENERATE_BLOCK):
        block = flat[start : start + GENERATE_BLOCK]
        if distribution == "normal":
            rng.standard_normal(out=block, dtype=out.dtype)
            block *= options["scale"]
            block += options["loc"]
        elif distribution == "uniform":
            rng.random(out=block, dtype=out.dtype)
            block *= options["high"] - options["low"]
            block += options["low"]
        else:
            block[...] = rng.integers(options["low"], options["high"], size=block.size,
                                      dtype=out.dtype)
    return out


# ----------------------------------------------------------------------------- literals


def _parse_value(doc: JobDocument, key: Key, name: str, options: dict[str, Any]) -> Source:
    value = options["value"]
    if isinstance(value, dict):
        raise doc.error((*key, "value"), "a mapping cannot be stored as an object",
                        "use a list or a scalar, or pass constants to the function with "
                        "`kwargs:`", value=value)
    if isinstance(value, list) and not value:
        raise doc.error((*key, "value"), "the list is empty", "give at least one element",
                        value=value)
    if "dtype" not in options:
        return Source(name, key, "value", options, "list" if isinstance(value, list) else "scalar")

    dtype = _numpy_dtype(doc, (*key, "dtype"), options["dtype"])
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise doc.error((*key, "value"), f"cannot convert the value to a {dtype} array: {exc}",
                        "give numbers in equal-length nested lists", value=value) from None
    return Source(name, key, "value", {**options, "dtype": dtype}, "ndarray", array.nbytes)


def _parse_ref(doc: JobDocument, key: Key, name: str, options: dict[str, Any]) -> Source:
    ref = options["ref"]
    if not isinstance(ref, str) or ref.count("/") != 1:
        raise doc.error((*key, "ref"), f"expected NAMESPACE/NAME, got {describe(ref)}",
                        "write for example `ref: corr/X`", value=ref)
    namespace, object_name = ref.split("/")
    check_name(doc, (*key, "ref"), namespace, "namespace")
    check_name(doc, (*key, "ref"), object_name, "object name")
    # The object's existence and kind are checked against the store in
    # jobrun, which reads the store's metadata.
    return Source(name, key, "ref", {"namespace": namespace, "name": object_name})


# ----------------------------------------------------------------------------- dtypes


def _numpy_dtype(doc: JobDocument, key: Key, value: object) -> np.dtype:
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


_PARSERS: Final[dict[str, Callable[[JobDocument, Key, str, dict[str, Any]], Source]]] = {
    "path": _parse_path,
    "generate": _parse_generate,
    "value": _parse_value,
    "ref": _parse_ref,
    "dataset": _parse_dataset,
}
