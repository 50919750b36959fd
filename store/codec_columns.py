"""pandas columns and index levels as single Arrow arrays, and back.

Every column is stored as one Arrow array plus a small JSON ``spec`` that
records how to rebuild the exact pandas dtype. The storage is chosen so that
attaching shares the map wherever pandas can hold foreign memory:

===================================  ======================================  ===========
pandas dtype                         Arrow storage                           on attach
===================================  ======================================  ===========
numpy int, uint, float               same Arrow type, no validity bitmap     shared
numpy bool                           uint8                                   shared
numpy complex, longdouble            fixed_size_binary                       shared
datetime64, timedelta64 (numpy)      timestamp / duration, NaT kept as is    shared
datetime64 with time zone            timestamp with tz, NaT kept as is       shared
``str``, ``string[pyarrow]``         large_string                            shared
``pd.ArrowDtype``                    the column's own Arrow array            shared
Int*/UInt*/Float*/``boolean``        struct of raw values and uint8 mask     shared
``category``                         dictionary (categories encoded alike)   rebuilt
``string[python]``                   large_string                            rebuilt
object holding only str              large_string (+ uint8 missing codes)    rebuilt
===================================  ======================================  ===========

No validity bitmap is written for numpy data, so NaN and NaT stay exactly as
they are (pyarrow's own ``from_pandas`` would turn them into nulls, and
``to_pandas`` would then have to copy to fill them back in).
"""

from __future__ import annotations

import logging
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from memshare.store.codec_segment import invalid_unicode
from memshare.store.codec_timezone import decode_timezone, encode_timezone, timezone_label
from memshare.store.errors import UnsupportedTypeError

logger = logging.getLogger(__name__)

__all__ = ["decode_column", "dtype_label", "encode_column"]

Spec = dict[str, Any]

#: numpy dtype kinds whose bytes are the values, so a column can share the map.
_RAW_KINDS: Final = "biufcMm"

#: Codes of the missing values of an object column, in the uint8 "missing" child.
_MISSING_CODES: Final = {"value": 0, "None": 1, "nan": 2, "NA": 3}
_MISSING_VALUES: Final[dict[int, object]] = {1: None, 2: np.nan, 3: pd.NA}

#: Names of pandas' masked (nullable) dtypes, stored as raw values plus a raw mask.
_MASKED_NAMES: Final = frozenset(
    [
        "Int8",
        "Int16",
        "Int32",
        "Int64",
        "UInt8",
        "UInt16",
        "UInt32",
        "UInt64",
        "Float32",
        "Float64",
        "boolean",
    ]
)


def _raw_arrow_type(dtype: np.dtype) -> pa.DataType:
    """Return the Arrow type whose values have exactly the bytes of ``dtype``."""
    if dtype.byteorder == ">":
        return pa.binary(dtype.itemsize)
    if dtype.kind == "b":
        return pa.uint8()
    if dtype.kind in "iuf" and dtype.itemsize <= 8:
        return pa.from_numpy_dtype(dtype)
    if dtype.kind in "Mm":
        unit, count = np.datetime_data(dtype)
        if count == 1 and unit in ("s", "ms", "us", "ns"):
            return pa.timestamp(unit) if dtype.kind == "M" else pa.duration(unit)
    return pa.binary(dtype.itemsize)


def _raw_array(values: np.ndarray, arrow_type: pa.DataType | None = None) -> pa.Array:
    """Wrap a 1-d numpy array as an Arrow array without copying (unless strided)."""
    values = np.ascontiguousarray(values)
    if arrow_type is None:
        arrow_type = _raw_arrow_type(values.dtype)
    data = pa.py_buffer(values.view(np.uint8)) if values.size else pa.py_buffer(b"")
    return pa.Array.from_buffers(arrow_type, len(values), [None, data])


def _raw_values(array: pa.Array, dtype: np.dtype) -> np.ndarray:
    """Return the values of a raw array as a read-only numpy view of its buffer."""
    data = array.buffers()[1]
    if len(array) == 0 or data is None:
        empty = np.empty(0, dtype=dtype)
        empty.flags.writeable = False
        return empty
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _single_chunk(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return one Arrow array. Several chunks are concatenated, which copies them."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            return values.chunk(0)
        return values.combine_chunks()
    return values


def _unsupported(location: str, dtype: object, fix: str) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"{location} has dtype {dtype}, which cannot be stored; {fix}",
        location=location,
        dtype=str(dtype),
    )


def dtype_label(dtype: object) -> str:
    """Return the dtype's name for listings, with a readable time zone name."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[{dtype.unit}, {timezone_label(dtype.tz)}]"
    return str(dtype)


def _extension_fix(dtype: object) -> str:
    """Return the conversion to suggest for an extension dtype with no storage here."""
    if isinstance(dtype, pd.PeriodDtype):
        return (
            "convert it to timestamps with .dt.to_timestamp() (.to_timestamp() for an "
            "index), or to text with .astype(str)"
        )
    if isinstance(dtype, pd.IntervalDtype):
        return (
            "store the bounds as two columns, from .array.left and .array.right, or "
            "convert it to text with .astype(str)"
        )
    if isinstance(dtype, pd.SparseDtype):
        return "convert it with .sparse.to_dense()"
    return "convert it with .astype() to a numpy dtype, 'str' or a pd.ArrowDtype"


def _encode_object(values: np.ndarray, location: str) -> tuple[pa.Array, Spec]:
    """Store an object column that holds only str and missing values."""
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred not in ("string", "empty"):
        raise _unsupported(
            location,
            f"object (holding {inferred} values)",
            "only object columns of str are supported; convert it with .astype(str), "
            "to a numeric dtype, or to pd.StringDtype()",
        )

    missing = pd.isna(values)
    try:
        strings = pa.array(values, type=pa.large_string(), from_pandas=True)
    except UnicodeEncodeError as error:
        raise invalid_unicode(error, location) from None
    if not missing.any():
        return strings, {"as": "object_string"}

    # Keep which missing value each slot had, so None, NaN and pd.NA come back as given.
    codes = np.zeros(len(values), dtype=np.uint8)
    for position in np.flatnonzero(missing):
        item = values[position]
        if item is None:
            codes[position] = _MISSING_CODES["None"]
        elif item is pd.NA:
            codes[position] = _MISSING_CODES["NA"]
        elif isinstance(item, float):
            codes[position] = _MISSING_CODES["nan"]
        else:
            raise _unsupported(
                location,
                f"object (holding the missing value {item!r})",
                "use None, float('nan') or pd.NA for missing strings",
            )
    array = pa.StructArray.from_arrays([strings, _raw_array(codes)], names=["values", "missing"])
    return array, {"as": "object_string", "missing": True}


def encode_column(values: pd.Series | pd.Index, location: str) -> tuple[pa.Array, Spec]:
    """Convert a column or index level to one Arrow array and its rebuild spec.

    Raises
    ------
    UnsupportedTypeError
        For object columns holding anything but str, and for dtypes with no
        storage here (period, interval, sparse, other extension dtypes).
    """
    dtype = values.dtype

    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            return _encode_object(np.asarray(values, dtype=object), location)
        if dtype.kind not in _RAW_KINDS:
            raise _unsupported(location, dtype, "convert it to a numeric or string dtype")
        return _raw_array(np.asarray(values)), {"as": "numpy", "dtype": dtype.str}

    if isinstance(dtype, pd.DatetimeTZDtype):
        arrow_tz, tz_spec = encode_timezone(dtype.tz, dtype.unit, location)
        # asi8 is a view of the UTC instants, which is what Arrow's timestamp stores.
        instants = np.asarray(values.array.asi8)
        arrow_type = pa.timestamp(dtype.unit, arrow_tz)
        spec = {"as": "datetimetz", "unit": dtype.unit, "tz": arrow_tz, "timezone": tz_spec}
        return _raw_array(instants, arrow_type), spec

    if isinstance(dtype, pd.StringDtype):
        na_value = "nan" if dtype.na_value is np.nan else "NA"
        spec = {"as": "string", "storage": dtype.storage, "na_value": na_value}
        # Arrow-backed strings convert without a copy, python storage by a copy.
        try:
            return _single_chunk(pa.array(values.array, type=pa.large_string())), spec
        except UnicodeEncodeError as error:
            raise invalid_unicode(error, location) from None

    if isinstance(dtype, pd.ArrowDtype):
        return _single_chunk(pa.array(values.array)), {"as": "arrow"}

    if isinstance(dtype, pd.CategoricalDtype):
        categorical = values.array
        categories, categories_spec = encode_column(dtype.categories, f"{location} categories")
        codes = np.asarray(categorical.codes)
        indices = pa.array(codes, mask=codes < 0)
        array = pa.DictionaryArray.from_arrays(indices, categories, ordered=bool(dtype.ordered))
        return array, {
            "as": "category",
            "ordered": bool(dtype.ordered),
            "categories": categories_spec,
        }

    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.name in _MASKED_NAMES:
        masked = values.array
        # The public constructors (IntegerArray, FloatingArray, BooleanArray)
        # take the values and the bool mask as numpy arrays, so keep both raw.
        data, mask = masked._data, masked._mask
        array = pa.StructArray.from_arrays(
            [_raw_array(data), _raw_array(mask)], names=["values", "mask"]
        )
        return array, {"as": "masked", "dtype": dtype.name, "values": data.dtype.str}

    raise _unsupported(location, dtype, _extension_fix(dtype))


def decode_column(array: pa.Array, spec: Spec) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Rebuild the pandas array of a stored column, sharing the map where the spec allows."""
    storage = spec["as"]

    if storage == "numpy":
        dtype = np.dtype(spec["dtype"])
        return _raw_values(array, dtype)

    if storage == "datetimetz":
        # Files written before the "timezone" entry existed carry only the
        # name, which pandas parses itself.
        tz = decode_timezone(spec["timezone"]) if "timezone" in spec else spec["tz"]
        # DatetimeTZDtype.__from_arrow__ wraps the int64 buffer without a copy
        # when the array has no validity bitmap, which the encoder guarantees.
        return pd.DatetimeTZDtype(spec["unit"], tz).__from_arrow__(array)

    if storage == "string":
        na_value = np.nan if spec["na_value"] == "nan" else pd.NA
        return pd.StringDtype(spec["storage"], na_value=na_value).__from_arrow__(array)

    if storage == "arrow":
        return pd.arrays.ArrowExtensionArray(pa.chunked_array([array]))

    if storage == "category":
        dictionary = array.dictionary
        values = decode_column(dictionary, spec["categories"])
        categories = pd.Index(values, dtype=values.dtype, copy=False)
        codes = array.indices.fill_null(-1).to_numpy()
        dtype = pd.CategoricalDtype(categories, ordered=spec["ordered"])
        return pd.Categorical.from_codes(codes, dtype=dtype)

    if storage == "masked":
        dtype = pd.api.types.pandas_dtype(spec["dtype"])
        values = _raw_values(array.field("values"), np.dtype(spec["values"]))
        mask = _raw_values(array.field("mask"), np.dtype(bool))
        return dtype.construct_array_type()(values, mask, copy=False)

    if storage == "object_string":
        # Python str objects cannot live in the map, so this column is built in
        # this process. It is made read-only like the shared columns.
        if not spec.get("missing"):
            objects = array.to_numpy(zero_copy_only=False)
        else:
            objects = array.field("values").to_numpy(zero_copy_only=False)
            codes = _raw_values(array.field("missing"), np.dtype(np.uint8))
            for code, value in _MISSING_VALUES.items():
                objects[codes == code] = value
        objects.flags.writeable = False
        return objects

    raise ValueError(
        f"column storage {storage!r} is unknown to this version of memshare; "
        "register the object again with this version"
    )
