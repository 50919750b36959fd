"""Time zones of tz-aware columns and indexes: exact round trips, or a rejection at encode."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import zoneinfo
from pathlib import Path

import dateutil.tz
import pandas as pd
import pyarrow as pa
import pytest
from codec_support import round_trip

from memshare.store import codec
from memshare.store.errors import UnsupportedTypeError

ZONES = [
    pytest.param(zoneinfo.ZoneInfo("Europe/Berlin"), id="zoneinfo"),
    pytest.param("dateutil/Europe/London", id="dateutil-file"),
    pytest.param(dateutil.tz.tzutc(), id="dateutil-utc"),
    pytest.param(dateutil.tz.tzoffset("X", 5400), id="dateutil-offset"),
    pytest.param(dateutil.tz.tzoffset(None, -3600), id="dateutil-unnamed-offset"),
    pytest.param(dt.timezone.utc, id="datetime-utc"),
    pytest.param(dt.timezone(dt.timedelta(hours=1)), id="datetime-offset"),
    pytest.param(dt.timezone(dt.timedelta(hours=1), "MyZone"), id="datetime-named-offset"),
    pytest.param(dt.timezone(dt.timedelta(hours=-9, minutes=-30), "Far"), id="negative-offset"),
]


def assert_same_zone(view_tz: object, original_tz: object) -> None:
    assert type(view_tz) is type(original_tz)
    assert view_tz == original_tz
    assert repr(view_tz) == repr(original_tz)


@pytest.mark.parametrize("tz", ZONES)
def test_timezone_column_round_trip(shm_dir: Path, tz: object) -> None:
    original = pd.DataFrame({"a": pd.date_range("2024-03-30", periods=48, freq="h", tz=tz)})
    view, _, _ = round_trip(original, shm_dir)
    assert isinstance(view, pd.DataFrame)
    pd.testing.assert_frame_equal(view, original, check_exact=True)
    assert_same_zone(view["a"].dtype.tz, original["a"].dtype.tz)


@pytest.mark.parametrize("tz", ZONES)
def test_timezone_index_round_trip(shm_dir: Path, tz: object) -> None:
    index = pd.date_range("2024-10-26", periods=5, freq="D", tz=tz, name="when")
    original = pd.Series(range(5), index=index)
    view, _, _ = round_trip(original, shm_dir)
    assert isinstance(view, pd.Series)
    pd.testing.assert_series_equal(view, original, check_exact=True)
    assert_same_zone(view.index.tz, original.index.tz)
    assert view.index.freq == original.index.freq


@pytest.mark.parametrize(
    ("tz", "arrow_tz", "label"),
    [
        pytest.param("dateutil/Europe/London", "Europe/London", "Europe/London", id="dateutil"),
        pytest.param(
            dt.timezone(dt.timedelta(hours=1), "MyZone"), "+01:00", "MyZone (+01:00)", id="named"
        ),
        pytest.param(dt.timezone(dt.timedelta(hours=-2)), "-02:00", "-02:00", id="offset"),
        pytest.param("UTC", "UTC", "UTC", id="utc"),
    ],
)
def test_timezone_names(shm_dir: Path, tz: object, arrow_tz: str, label: str) -> None:
    original = pd.DataFrame({"a": pd.date_range("2024", periods=2, tz=tz)})
    encoded = codec.encode(original)
    assert encoded.dtype == f"datetime64[us, {label}]"

    # The object file is a plain Arrow IPC file whose timestamp type carries
    # a time zone name that Arrow defines: an IANA key or an offset.
    path = shm_dir / "frame.arrow"
    encoded.write(str(path))
    with pa.memory_map(str(path)) as source:
        schema = pa.ipc.open_file(source).schema
    assert schema.field("c0").type == pa.timestamp("us", arrow_tz)


@pytest.mark.parametrize(
    "tz",
    [
        pytest.param(dateutil.tz.tzlocal(), id="dateutil-local"),
        pytest.param(dateutil.tz.tzstr("EST5EDT"), id="posix-string"),
        pytest.param(dt.timezone(dt.timedelta(seconds=3630)), id="offset-with-seconds"),
    ],
)
@pytest.mark.parametrize("where", ["column", "index"])
def test_timezone_rejected(tz: object, where: str) -> None:
    values = pd.DatetimeIndex([pd.Timestamp("2024-01-01", tz="UTC")]).tz_convert(tz)
    if where == "column":
        original: pd.DataFrame | pd.Series = pd.DataFrame({"when": values})
        location = "value column 'when'"
    else:
        original = pd.Series([1], index=values)
        location = "value index"
    with pytest.raises(UnsupportedTypeError) as info:
        codec.encode(original)
    message = str(info.value)
    assert message.startswith(location)
    assert repr(tz) in message
    assert "tz_convert" in message
    assert info.value.location == location


def test_timezone_in_new_process(shm_dir: Path) -> None:
    # The zone is rebuilt from the file alone, in a process that never saw it.
    original = pd.DataFrame(
        {
            "london": pd.date_range("2024", periods=3, tz="dateutil/Europe/London"),
            "named": pd.date_range("2024", periods=3, tz=dt.timezone(dt.timedelta(hours=1), "Z1")),
        }
    )
    path = shm_dir / "frame.arrow"
    layout = codec.encode(original).write(str(path))
    script = (
        "import sys, json\n"
        "from memshare.store import codec\n"
        "view = codec.attach(sys.argv[1], json.loads(sys.argv[2]))\n"
        "print(repr(view['london'].dtype.tz))\n"
        "print(repr(view['named'].dtype.tz))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), json.dumps(layout)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        repr(original["london"].dtype.tz),
        repr(original["named"].dtype.tz),
    ]


def test_timezone_pytz(shm_dir: Path) -> None:
    pytz = pytest.importorskip("pytz")
    for tz in (pytz.timezone("America/New_York"), pytz.utc, pytz.FixedOffset(90)):
        original = pd.Series(pd.date_range("2024", periods=3, tz=tz))
        view, _, _ = round_trip(original, shm_dir)
        assert isinstance(view, pd.Series)
        pd.testing.assert_series_equal(view, original, check_exact=True)
        assert_same_zone(view.dtype.tz, original.dtype.tz)
