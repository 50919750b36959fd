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

File and packaged-table sources live in :mod:`memshare.runner.jobtables`.
:func:`parse_source` runs at check time and reads only file headers, so that a
job is validated completely before anything is registered.
:func:`load_source` builds the value when the job runs.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from memshare.runner.jobfile import JobDocument, Key, describe
from memshare.runner.jobschema import check_int, check_name
from memshare.runner.jobtables import (
    Checked,
    load_dataset,
    load_path,
    numpy_dtype,
    parse_dataset,
    parse_path,
)

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

# Parameters of each distribution with their defaults; `high` of integers is
# required, so its default is never used.
DISTRIBUTION_PARAMS: Final[dict[str, dict[str, float]]] = {
    "normal": {"loc": 0.0, "scale": 1.0},
    "uniform": {"low": 0.0, "high": 1.0},
    "integers": {"low": 0, "high": 0},
}
DISTRIBUTIONS: Final = tuple(DISTRIBUTION_PARAMS)


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
    checked, value_kind, nbytes = _PARSERS[kind](doc, key, options)
    logger.debug("checked data %s: %s, kind %s, about %s bytes", name, kind, value_kind, nbytes)
    return Source(name, key, kind, checked, value_kind, nbytes)


def load_source(source: Source) -> Any:
    """Build the value of ``source`` (not for ``ref`` sources, which are already stored)."""
    options = source.options
    logger.debug("loading data %s from %s", source.name, source.source)
    if source.source == "path":
        return load_path(options)
    if source.source == "generate":
        return _generate(options)
    if source.source == "value":
        value = options["value"]
        return np.asarray(value, dtype=options["dtype"]) if "dtype" in options else value
    if source.source == "dataset":
        return load_dataset(options)
    raise ValueError(f"source {source.source!r} of {source.name!r} has no value to load")


# ----------------------------------------------------------------------------- generated


def _parse_generate(doc: JobDocument, key: Key, options: dict[str, Any]) -> Checked:
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
    dtype = numpy_dtype(doc, (*key, "dtype"), options.get("dtype", default))
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
        return checked, "ndarray", nbytes
    checked["count"] = check_int(doc, (*key, "count"), count, 1)
    return checked, "list", nbytes * checked["count"]


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


def _parse_value(doc: JobDocument, key: Key, options: dict[str, Any]) -> Checked:
    value = options["value"]
    if isinstance(value, dict):
        raise doc.error((*key, "value"), "a mapping cannot be stored as an object",
                        "use a list or a scalar, or pass constants to the function with "
                        "`kwargs:`", value=value)
    if isinstance(value, list) and not value:
        raise doc.error((*key, "value"), "the list is empty", "give at least one element",
                        value=value)
    if "dtype" not in options:
        return options, "list" if isinstance(value, list) else "scalar", None

    dtype = numpy_dtype(doc, (*key, "dtype"), options["dtype"])
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise doc.error((*key, "value"), f"cannot convert the value to a {dtype} array: {exc}",
                        "give numbers in equal-length nested lists", value=value) from None
    return {**options, "dtype": dtype}, "ndarray", array.nbytes


def _parse_ref(doc: JobDocument, key: Key, options: dict[str, Any]) -> Checked:
    ref = options["ref"]
    if not isinstance(ref, str) or ref.count("/") != 1:
        raise doc.error((*key, "ref"), f"expected NAMESPACE/NAME, got {describe(ref)}",
                        "write for example `ref: corr/X`", value=ref)
    namespace, object_name = ref.split("/")
    check_name(doc, (*key, "ref"), namespace, "namespace")
    check_name(doc, (*key, "ref"), object_name, "object name")
    # The object's existence and kind are checked against the store in
    # jobrun, which reads the store's metadata.
    return {"namespace": namespace, "name": object_name}, None, None


_PARSERS: Final[dict[str, Callable[[JobDocument, Key, dict[str, Any]], Checked]]] = {
    "path": parse_path,
    "generate": _parse_generate,
    "value": _parse_value,
    "ref": _parse_ref,
    "dataset": parse_dataset,
}
