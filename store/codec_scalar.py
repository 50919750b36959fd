"""Scalars: Python int, float, bool, complex, str, bytes, None and numpy scalars.

A numpy scalar is stored as a 0-d array (raw bytes, like any array) and comes
back as a numpy scalar of the same dtype. A Python scalar is stored as a
one-row Arrow batch and comes back as the same Python type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import fractions
import logging
from typing import BinaryIO, Final

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from memshare.store.codec_numpy import NdarrayPart, read_ndarray
from memshare.store.codec_segment import (
    ALIGNMENT,
    invalid_unicode,
    measure_segment,
    segment_info,
    with_codec_metadata,
    write_segment,
)
from memshare.store.errors import UnsupportedTypeError

logger = logging.getLogger(__name__)

__all__ = ["ScalarPart", "conversion_hint", "is_scalar", "read_scalar"]

#: Python scalar types stored as they are, with their Arrow type. Integers
#: outside int64 are stored as decimal text, and complex as two float64 fields.
_PYTHON_TYPES: Final[dict[type, pa.DataType]] = {
    type(None): pa.null(),
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    complex: pa.struct([("real", pa.float64()), ("imag", pa.float64())]),
    str: pa.large_string(),
    bytes: pa.large_binary(),
}

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def conversion_hint(value: object) -> str | None:
    """Return the conversion to suggest for a common value that cannot be stored.

    Returns None when no specific conversion fits, so the caller lists every
    kind of value that can be stored instead.
    """
    if isinstance(value, enum.Enum):
        for base in _PYTHON_TYPES:
            if isinstance(value, base):
                return f"pass {base.__name__}(x) for an enum member"
        return "store x.value or x.name for an enum member"
    for base in _PYTHON_TYPES:
        if isinstance(value, base):
            # A subclass would come back as its base type and lose its behaviour.
            return f"pass {base.__name__}(x), because a subclass would come back as {base.__name__}"
    if isinstance(value, set | frozenset):
        return "store list(x) or sorted(x)"
    if isinstance(value, bytearray | memoryview):
        return "store bytes(x)"
    if isinstance(value, dt.datetime | dt.date):
        return (
            "store np.datetime64(x) for a value without a time zone, or pd.Series([x]) "
            "to keep its time zone"
        )
    if isinstance(value, dt.timedelta):
        return "store np.timedelta64(x)"
    if isinstance(value, decimal.Decimal | fractions.Fraction):
        return "store float(x), or str(x) to keep every digit"
    return None


def is_scalar(value: object) -> bool:
    """Tell whether ``value`` is a scalar kind the codec stores."""
    return type(value) in _PYTHON_TYPES or isinstance(value, np.generic)


def _logical_size(value: object) -> int:
    """Return the size of a Python scalar's data, without Arrow's offsets and bitmaps.

    A str counts its UTF-8 bytes, bytes its length, an int beyond int64 the
    digits of the decimal text it is stored as, and None counts 0.
    """
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, bool):
        return 1
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return len(str(value))
    if isinstance(value, complex):
        return 16
    return 8


class ScalarPart:
    """A scalar ready to be written as one segment.

    Parameters
    ----------
    value : object
        An exact Python scalar type (subclasses such as ``IntEnum`` are not
        accepted because they would come back as their base type) or a numpy
        scalar.
    location : str
        Where the value sits in the registered object, for error messages.
    """

    kind = "scalar"

    def __init__(self, value: object, location: str) -> None:
        self.shape: tuple[int, ...] = ()
        self._array_part: NdarrayPart | None = None

        if isinstance(value, np.generic):
            # A 0-d array carries every numpy dtype, datetime units included.
            self._array_part = NdarrayPart(np.asarray(value), location, kind=self.kind)
            self.dtype = self._array_part.dtype
            self.nbytes = self._array_part.nbytes
            self.size_bound = self._array_part.size_bound
            return

        python_type = type(value)
        if python_type not in _PYTHON_TYPES:
            raise UnsupportedTypeError(
                f"{location} is a scalar of type {python_type.__qualname__}, which cannot be "
                "stored; convert it to int, float, bool, complex, str, bytes or a numpy scalar",
                location=location,
                type_name=python_type.__qualname__,
            )

        stored: object = value
        arrow_type = _PYTHON_TYPES[python_type]
        as_text = python_type is int and not _INT64_MIN <= value <= _INT64_MAX  # type: ignore[operator]
        if as_text:
            stored = str(value)
            arrow_type = pa.large_string()
        elif python_type is complex:
            stored = {"real": value.real, "imag": value.imag}  # type: ignore[attr-defined]

        info = {"python": python_type.__name__, "as_text": as_text}
        self._schema = with_codec_metadata(
            pa.schema([pa.field("value", arrow_type)]), self.kind, info
        )
        try:
            array = pa.array([stored], type=arrow_type)
        except UnicodeEncodeError as error:
            raise invalid_unicode(error, location) from None
        self._batch = pa.RecordBatch.from_arrays([array], schema=self._schema)

        self.dtype = python_type.__name__
        self.nbytes = _logical_size(value)
        self.size_bound = measure_segment(self._schema, [self._batch]) + ALIGNMENT

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write the scalar as one segment and return its (offset, length)."""
        if self._array_part is not None:
            return self._array_part.write_into(out)
        return write_segment(out, self._schema, [self._batch])


def read_scalar(reader: ipc.RecordBatchFileReader) -> object:
    """Return the stored scalar as its original Python or numpy type."""
    info = segment_info(reader.schema)
    if "dtype" in info:
        # A numpy scalar is stored as a 0-d array, and indexing copies the value out.
        return read_ndarray(reader)[()]

    value = reader.get_batch(0).column(0)[0].as_py()

    python_type = str(info["python"])
    if info.get("as_text"):
        return int(value)
    if python_type == "complex":
        return complex(value["real"], value["imag"])
    return value
