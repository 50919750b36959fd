"""numpy arrays: raw bytes in one aligned Arrow buffer, attached with ``np.frombuffer``.

The array's bytes are written as they lie in memory (C or Fortran order), and
the dtype string, shape and order go into the segment's schema metadata. This
handles every fixed-width dtype the same way, including float16, longdouble,
datetime64/timedelta64 of any unit and fixed-width ``S``/``U`` strings, which
Arrow's own types cannot all express.
"""

from __future__ import annotations

import logging
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from memshare.store.codec_segment import (
    RAW_FIELDS,
    plan_raw,
    raw_batch,
    read_raw,
    segment_info,
    with_codec_metadata,
    write_segment,
)
from memshare.store.errors import UnsupportedTypeError

logger = logging.getLogger(__name__)

__all__ = ["NdarrayPart", "check_dtype", "encode_ndarray", "read_ndarray", "preview_ndarray"]


def check_dtype(dtype: np.dtype, location: str) -> None:
    """Raise :class:`UnsupportedTypeError` for dtypes whose bytes are not the values.

    Object and variable-width string arrays hold pointers, and structured
    dtypes would need their field layout kept as well.
    """
    if dtype.kind == "O":
        raise UnsupportedTypeError(
            f"{location} is a numpy array of dtype object, which contains pointers "
            "to Python objects that other processes cannot read; convert it first, e.g. "
            "arr.astype(str) for strings, arr.astype(float) or another numeric dtype "
            "for numbers, or a pandas Series with dtype 'string'",
            location=location,
            dtype=str(dtype),
        )
    if dtype.kind == "T":
        raise UnsupportedTypeError(
            f"{location} is a numpy array of variable-width dtype {dtype}, whose data "
            "lives outside the array buffer; convert it with arr.astype('U') or store "
            "it as a pandas Series with dtype 'string'",
            location=location,
            dtype=str(dtype),
        )
    if dtype.fields is not None:
        raise UnsupportedTypeError(
            f"{location} is a numpy array of structured dtype {dtype}, which is not "
            "supported; store it as pandas.DataFrame(arr) or store each field "
            "(arr['name']) as its own array",
            location=location,
            dtype=str(dtype),
        )


class NdarrayPart:
    """A numpy array ready to be written as one raw segment.

    Parameters
    ----------
    array : numpy.ndarray
        The array. A non-contiguous array is copied once into C order here,
        the only copy the codec makes of numeric data.
    location : str
        Where the array sits in the registered value, for error messages.
    kind : str
        The kind written into the segment: "ndarray", or "scalar" for a numpy
        scalar stored as a 0-d array.
    """

    def __init__(self, array: np.ndarray, location: str, kind: str = "ndarray") -> None:
        self.kind = kind
        check_dtype(array.dtype, location)
        if isinstance(array, np.ma.MaskedArray):
            raise UnsupportedTypeError(
                f"{location} is a numpy masked array, whose mask would be lost; store "
                "arr.filled(fill_value) or the data and arr.mask as two arrays",
                location=location,
            )

        # Both flags are set for 1-d and one-element arrays, which count as C order.
        order: Literal["C", "F"]
        if array.flags.c_contiguous:
            order = "C"
        elif array.flags.f_contiguous:
            order = "F"
        else:
            array = np.ascontiguousarray(array)
            order = "C"

        # A flat uint8 view of the bytes in memory order: datetime64 and other
        # dtypes cannot export the buffer protocol, uint8 always can. The view
        # is zero-copy because the array is contiguous in ``order``.
        flat = np.asarray(array).reshape(-1, order=order).view(np.uint8)

        self.array = array
        self.order = order
        # The display name ("float64", "<U5", "datetime64[ns]") is what users
        # read in `memshare ls`; the schema keeps the exact code with byte order.
        self.dtype = str(array.dtype)
        self.shape: tuple[int, ...] = tuple(int(n) for n in array.shape)
        self.nbytes = int(array.nbytes)
        self._data = pa.py_buffer(flat)

        info = {"dtype": array.dtype.str, "shape": list(self.shape), "order": order}
        self._schema = with_codec_metadata(pa.schema(RAW_FIELDS), self.kind, info)
        self._pad, self.size_bound = plan_raw(self._schema, self.nbytes)

    def write_into(self, out: BinaryIO) -> tuple[int, int]:
        """Write the array as one raw segment and return its (offset, length)."""
        batch = raw_batch(self._schema, self._data, self._pad)
        return write_segment(out, self._schema, [batch])


def encode_ndarray(array: np.ndarray, location: str) -> NdarrayPart:
    """Validate and prepare ``array`` for writing."""
    return NdarrayPart(array, location)


def read_ndarray(reader: ipc.RecordBatchFileReader) -> np.ndarray:
    """Return a read-only array whose memory is the mapped segment's data buffer."""
    info = segment_info(reader.schema)
    dtype = np.dtype(str(info["dtype"]))
    shape = tuple(int(n) for n in info["shape"])
    order: Literal["C", "F"] = "F" if info["order"] == "F" else "C"
    data = read_raw(reader)

    count = 1
    for n in shape:
        count *= n
    if dtype.itemsize == 0 or count == 0:
        # frombuffer rejects zero-size items, and an empty array has no data to share.
        empty = np.empty(shape, dtype=dtype, order=order)
        empty.flags.writeable = False
        return empty

    # The array's base refers to the pyarrow Buffer, which keeps the memory
    # map alive. numpy drops that reference when the array is collected.
    flat = np.frombuffer(data, dtype=dtype, count=count)
    return flat.reshape(shape, order=order)


def preview_ndarray(array: np.ndarray, rows: int) -> str:
    """Return the dtype, shape and the top-left corner of at most ``rows`` rows."""
    header = f"ndarray dtype={array.dtype} shape={array.shape}"
    if array.ndim == 0:
        return f"{header}\n{array[()]!r}"
    rows = max(int(rows), 0)
    corner = array[(slice(0, rows),) + tuple(slice(0, rows) for _ in range(array.ndim - 1))]
    with np.printoptions(threshold=rows * rows + 1, edgeitems=3, linewidth=100):
        body = np.array2string(corner)
    more = " ..." if corner.size < array.size else ""
    return f"{header}\n{body}{more}"
