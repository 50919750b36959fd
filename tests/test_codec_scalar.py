"""Scalars, unsupported values and the object file itself."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from codec_support import round_trip

from memshare.store import codec
from memshare.store.errors import DamagedObjectError, UnsupportedTypeError


class Color(enum.IntEnum):
    RED = 1


class Shade(enum.Enum):
    DARK = "dark"


class Label(str):
    """A str subclass, which would come back as a plain str."""


SCALARS = [
    0, -1, 2**63 - 1, -(2**63), 2**63, -(2**200), 1.5, -0.0, math.inf, True, False, None,
    1 + 2j, complex(math.inf, -0.5), "", "a\0b\U0001f600", b"", b"\0\xff",
    np.int8(-3), np.uint64(2**64 - 1), np.float16(0.5), np.longdouble(1) / 3, np.complex64(1j),
    np.bool_(True), np.datetime64("2020-01", "M"), np.datetime64("NaT"), np.timedelta64(5, "h"),
    np.str_("xy"), np.bytes_(b"\0z"),
]  # fmt: skip


@pytest.mark.parametrize(
    "original", [pytest.param(value, id=repr(value)[:30]) for value in SCALARS]
)
def test_scalar_round_trip(shm_dir: Path, original: object) -> None:
    view, encoded, _ = round_trip(original, shm_dir)
    assert encoded.kind == "scalar"
    assert encoded.shape == ()
    assert type(view) is type(original)
    if isinstance(original, np.generic):
        assert view.dtype == original.dtype  # type: ignore[attr-defined]
        assert np.asarray(view).tobytes() == np.asarray(original).tobytes()
    elif isinstance(original, float):
        assert math.copysign(1.0, view) == math.copysign(1.0, original)  # type: ignore[arg-type]
        assert view == original
    else:
        assert view == original


@pytest.mark.parametrize(
    ("original", "nbytes"),
    [
        pytest.param("hello", 5, id="str"),
        pytest.param("", 0, id="empty-str"),
        pytest.param("\u00e9", 2, id="two-byte-char"),
        pytest.param(b"abc", 3, id="bytes"),
        pytest.param(None, 0, id="none"),
        pytest.param(True, 1, id="bool"),
        pytest.param(7, 8, id="int"),
        pytest.param(2**70, len(str(2**70)), id="big-int"),
        pytest.param(1.5, 8, id="float"),
        pytest.param(1 + 2j, 16, id="complex"),
    ],
)
def test_scalar_nbytes(original: object, nbytes: int) -> None:
    assert codec.encode(original).nbytes == nbytes


def test_nan_scalar(shm_dir: Path) -> None:
    view, _, _ = round_trip(float("nan"), shm_dir)
    assert type(view) is float
    assert math.isnan(view)


@pytest.mark.parametrize(
    ("original", "fix"),
    [
        pytest.param(Color.RED, "pass int(x)", id="int-enum"),
        pytest.param(Shade.DARK, "x.value or x.name", id="plain-enum"),
        pytest.param(Label("a"), "pass str(x)", id="str-subclass"),
        pytest.param(decimal.Decimal("1.5"), "float(x)", id="decimal"),
        pytest.param(dt.datetime(2020, 1, 1), "np.datetime64(x)", id="datetime"),
        pytest.param(pd.Timestamp("2020", tz="UTC"), "pd.Series([x])", id="timestamp"),
        pytest.param(dt.date(2020, 1, 1), "np.datetime64(x)", id="date"),
        pytest.param(pd.Timedelta(1, "s"), "np.timedelta64(x)", id="timedelta"),
        pytest.param({"a": 1}, "its own variable", id="dict"),
        pytest.param({1, 2}, "list(x)", id="set"),
        pytest.param(frozenset([1]), "list(x)", id="frozenset"),
        pytest.param(bytearray(b"x"), "bytes(x)", id="bytearray"),
        pytest.param(object(), "numpy array", id="object"),
    ],
)
def test_unsupported_value_error(original: object, fix: str) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        codec.encode(original)
    message = str(info.value)
    assert message.startswith("value ")
    assert fix in message
    assert info.value.location == "value"


@pytest.mark.parametrize(
    ("original", "location"),
    [
        pytest.param("a\ud800", "value", id="scalar"),
        pytest.param(["ok", "b\ud800"], "value[1]", id="packed-list"),
        pytest.param(
            pd.DataFrame({"s": pd.Series(["x", "\udfff"], dtype=object)}),
            "value column 's'",
            id="object-column",
        ),
        pytest.param(
            pd.Series(["\ud800"], dtype="string[python]", name="t"),
            "value (Series 't')",
            id="python-string",
        ),
    ],
)
def test_lone_surrogate_error(original: object, location: str) -> None:
    with pytest.raises(UnsupportedTypeError, match="lone surrogate") as info:
        codec.encode(original)
    assert str(info.value).startswith(location)
    assert "surrogatepass" in str(info.value)


def test_error_is_type_error() -> None:
    with pytest.raises(TypeError):
        codec.encode(object())


def test_write_rejects_nonempty_file(shm_dir: Path) -> None:
    path = shm_dir / "used.arrow"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="already contains 3 bytes"):
        codec.encode(1).write(str(path))
    assert path.read_bytes() == b"old"


def test_write_creates_private_file(shm_dir: Path) -> None:
    path = shm_dir / "new.arrow"
    codec.encode(np.arange(3)).write(str(path))
    assert path.stat().st_mode & 0o777 == 0o600


def test_attach_rejects_unknown_format(shm_dir: Path) -> None:
    path = shm_dir / "one.arrow"
    layout = codec.encode(1).write(str(path))
    with pytest.raises(DamagedObjectError, match="has format 99"):
        codec.attach(str(path), {**layout, "format": 99})
    with pytest.raises(DamagedObjectError, match="outside the object file"):
        codec.attach(str(path), {**layout, "length": layout["length"] + 10})
    with pytest.raises(DamagedObjectError, match="expects a 'table' object"):
        codec.attach(str(path), {**layout, "kind": "table"})
    with pytest.raises(DamagedObjectError, match="invalid kind 'matrix'"):
        codec.attach(str(path), {**layout, "kind": "matrix"})


def test_layout_is_json(shm_dir: Path) -> None:
    import json

    path = shm_dir / "one.arrow"
    layout = codec.encode([np.arange(3), "a"]).write(str(path))
    assert json.loads(json.dumps(layout)) == layout
    assert layout["kind"] == "list"


def test_single_object_file_is_arrow_ipc(shm_dir: Path) -> None:
    path = shm_dir / "one.arrow"
    codec.encode(pa.table({"a": [1, 2]})).write(str(path))
    table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    assert table.column("a").to_pylist() == [1, 2]


def test_preview_scalar(shm_dir: Path) -> None:
    view, _, _ = round_trip("x" * 500, shm_dir)
    text = codec.preview(view, 5)
    assert len(text) == 200
    assert text.endswith("...")
    assert codec.preview(3, 5) == "3"


CHILD_FILE_LIMIT = """
import errno, resource, signal, sys
import numpy as np
from memshare.store import codec

# A file size limit makes the write fail with EFBIG the way a full
# /dev/shm fails with ENOSPC: an OSError raised from inside the IPC writer.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
encoded = codec.encode([np.zeros(100_000), np.ones(100_000)])
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
try:
    encoded.write(sys.argv[1])
except OSError as error:
    print("errno", error.errno == errno.EFBIG)
"""


def test_write_error_propagates(
    shm_dir: Path, run_python: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    path = shm_dir / "limited.arrow"
    result = run_python(CHILD_FILE_LIMIT, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "errno True"
    assert path.stat().st_size <= 1 << 20
