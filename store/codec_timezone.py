"""Time zones of tz-aware datetime columns, recorded so that any process can rebuild them.

pandas accepts time zone objects from ``zoneinfo``, ``datetime``, ``dateutil``
and ``pytz``, but their ``str()`` is not always a name pandas can parse back:
a dateutil zone prints as ``tzfile('/usr/share/zoneinfo/Europe/London')`` and a
named fixed offset as its bare name. So each zone is recorded as an IANA key or
a fixed UTC offset (with its name), plus the library that made it, and attach
rebuilds an equal object of the same type. The Arrow timestamp type gets the
key or a ``+HH:MM`` offset, the two forms Arrow defines.

A zone with no key and no fixed offset (dateutil's ``tzlocal()``, which
depends on the attaching process, a POSIX ``tzstr``, or a zone read from a
file outside the system database) is rejected at encode.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import zoneinfo
from typing import Any, Final

import dateutil.tz
import pandas as pd

from memshare.store.errors import UnsupportedTypeError

__all__ = ["decode_timezone", "encode_timezone", "timezone_label"]

Spec = dict[str, Any]

#: Libraries whose zone objects can be rebuilt, as recorded in the spec.
_LIBRARIES: Final = ("zoneinfo", "datetime", "dateutil", "pytz")


def _offset_seconds(tz: dt.tzinfo) -> int | None:
    """Return the UTC offset of a fixed zone in seconds.

    Returns None when the zone has no fixed offset, or when the offset is not
    a whole number of minutes.
    """
    offset = tz.utcoffset(None)
    if offset is None:
        return None
    seconds = offset.total_seconds()
    # Arrow's offset form is +HH:MM, so offsets with seconds have no Arrow name.
    if seconds % 60 != 0:
        return None
    return int(seconds)


def _dateutil_key(tz: dt.tzinfo) -> str | None:
    """Return the IANA key of a dateutil ``tzfile`` read from a zoneinfo folder.

    dateutil has no public accessor for the key, so it is taken from the file
    name. The caller checks that the key rebuilds an equal zone.
    """
    # NOTE: ``_filename`` is private to dateutil (present in 4.0.0). If a later
    # version drops it, these zones are rejected at encode, never stored wrongly.
    filename = getattr(tz, "_filename", None)
    if not isinstance(filename, str):
        return None
    if not os.path.isabs(filename):
        return filename
    parts = filename.split(os.sep)
    if "zoneinfo" not in parts:
        return None
    # The key is what follows the last "zoneinfo" folder, as in
    # /usr/share/zoneinfo/Europe/London.
    last = len(parts) - 1 - parts[::-1].index("zoneinfo")
    key = "/".join(parts[last + 1 :])
    return key or None


def _describe(tz: dt.tzinfo) -> Spec | None:
    """Return the spec that names ``tz``, or None when it has no key or fixed offset."""
    if isinstance(tz, zoneinfo.ZoneInfo):
        return {"library": "zoneinfo", "zone": tz.key} if tz.key else None

    if isinstance(tz, dt.timezone):
        seconds = _offset_seconds(tz)
        if seconds is None:
            return None
        name = tz.tzname(None)
        # An unnamed offset reports a generated name such as "UTC+01:00".
        default = dt.timezone(dt.timedelta(seconds=seconds)).tzname(None)
        return {"library": "datetime", "offset": seconds, "name": None if name == default else name}

    if isinstance(tz, dateutil.tz.tzutc):
        # dateutil.tz.gettz("UTC") returns a tzfile, not this class, so the
        # class is recorded as well.
        return {"library": "dateutil", "zone": "UTC", "class": "tzutc"}
    if isinstance(tz, dateutil.tz.tzoffset):
        seconds = _offset_seconds(tz)
        if seconds is None:
            return None
        return {"library": "dateutil", "offset": seconds, "name": tz.tzname(None)}
    if isinstance(tz, dateutil.tz.tzfile):
        key = _dateutil_key(tz)
        return {"library": "dateutil", "zone": key} if key else None

    if type(tz).__module__.split(".")[0] == "pytz":
        zone = getattr(tz, "zone", None)
        if isinstance(zone, str):
            return {"library": "pytz", "zone": zone}
        seconds = _offset_seconds(tz)
        return None if seconds is None else {"library": "pytz", "offset": seconds, "name": None}

    return None


def decode_timezone(spec: Spec) -> dt.tzinfo | str:
    """Rebuild the zone recorded by :func:`encode_timezone`.

    Returns a zone object, or an IANA key that pandas turns into a
    ``zoneinfo.ZoneInfo``.
    """
    library = spec["library"]
    if library not in _LIBRARIES:
        raise ValueError(f"time zone library {library!r} is unknown to this version of memshare")

    if "zone" in spec:
        key = str(spec["zone"])
        if library == "dateutil" and spec.get("class") == "tzutc":
            return dateutil.tz.UTC
        if library == "dateutil":
            zone = dateutil.tz.gettz(key)
            if zone is None:
                raise ValueError(f"dateutil has no time zone {key!r} on this machine")
            return zone
        if library == "pytz":
            pytz = _pytz()
            # Without pytz, zoneinfo gives the same rules under the same key.
            return key if pytz is None else pytz.timezone(key)
        return key

    seconds = int(spec["offset"])
    name = spec.get("name")
    if library == "dateutil":
        return dateutil.tz.tzoffset(name, seconds)
    offset = dt.timedelta(seconds=seconds)
    if library == "pytz":
        pytz = _pytz()
        if pytz is not None:
            return pytz.FixedOffset(seconds // 60)
        # Without pytz, a datetime.timezone has the same offset.
        return dt.timezone(offset)
    return dt.timezone(offset, name) if name is not None else dt.timezone(offset)


def _pytz() -> Any:
    """Return the pytz module, or None when it is not installed.

    pandas 3 no longer requires pytz, so it is imported only for zones that
    came from it.
    """
    try:
        return importlib.import_module("pytz")
    except ImportError:
        return None


def _arrow_name(spec: Spec) -> str:
    """Return the Arrow timestamp tz of a spec: the IANA key or a +HH:MM offset."""
    if "zone" in spec:
        return str(spec["zone"])
    seconds = int(spec["offset"])
    if seconds == 0:
        return "UTC"
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _rebuilds_exactly(spec: Spec, unit: str, tz: dt.tzinfo) -> bool:
    """Tell whether the spec gives back a zone of the same type, rules and name."""
    try:
        rebuilt = pd.DatetimeTZDtype(unit, decode_timezone(spec)).tz
    except (ValueError, TypeError, KeyError, zoneinfo.ZoneInfoNotFoundError):
        return False
    return type(rebuilt) is type(tz) and rebuilt == tz and repr(rebuilt) == repr(tz)


def encode_timezone(tz: dt.tzinfo, unit: str, location: str) -> tuple[str, Spec]:
    """Return the Arrow tz name and the JSON spec of a column's time zone.

    Raises
    ------
    UnsupportedTypeError
        When the zone has neither an IANA key nor a fixed offset in whole
        minutes, or when the recorded form would not rebuild it exactly.
    """
    spec = _describe(tz)
    if spec is None or not _rebuilds_exactly(spec, unit, tz):
        raise UnsupportedTypeError(
            f"{location} has the time zone {tz!r}, which other processes cannot rebuild "
            "because it has no IANA name and no fixed UTC offset in whole minutes; convert "
            "it with .tz_convert() (or .dt.tz_convert() for a column) to an IANA name such "
            "as 'Europe/London', a fixed offset such as '+01:00', or 'UTC'",
            location=location,
            dtype=f"datetime64[{unit}, {tz!r}]",
        )
    return _arrow_name(spec), spec


def timezone_label(tz: dt.tzinfo) -> str:
    """Return a short name of ``tz`` for listings: its IANA key or its +HH:MM offset."""
    spec = _describe(tz)
    if spec is None:
        return str(tz)
    name = spec.get("name")
    if name:
        return f"{name} ({_arrow_name(spec)})"
    return _arrow_name(spec)
