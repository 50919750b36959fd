"""Process identity: a pid together with the process start time.

Pids are reused, so a holder or owner recorded only by pid could later match
an unrelated process. The start time the kernel records for a process does
not change while it runs, and a new process with the same pid has a later
one, so the pair names one process for good.

On Linux the identity is compared through ``start_ticks``, the start time in
clock ticks since boot from ``/proc/<pid>/stat``: an exact integer that a
change of the wall clock cannot shift. The epoch ``start_time`` is kept for
display, and for comparison on platforms without ``/proc``, where it is
compared with a small tolerance.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Final

import psutil

__all__ = ["ProcessId", "current", "is_alive", "start_of"]

logger = logging.getLogger(__name__)

# psutil derives the epoch start time from the boot time plus the start
# ticks, so two readings agree unless the wall clock was set in between. The
# tolerance absorbs the rounding of a float written to and read from JSON.
_START_TIME_TOLERANCE: Final = 0.005


@dataclass(frozen=True)
class ProcessId:
    """A process named by its pid and start time.

    Attributes
    ----------
    pid : int
        The process id.
    start_time : float
        Start time in epoch seconds.
    start_ticks : int or None
        Start time in clock ticks since boot (Linux), None elsewhere.
    """

    pid: int
    start_time: float
    start_ticks: int | None = None

    def token(self) -> str:
        """Return ``"<pid>-<start>"`` for use in temporary file names."""
        start = self.start_ticks if self.start_ticks is not None else round(self.start_time * 1000)
        return f"{self.pid}-{start}"

    def matches(self, start_time: float, start_ticks: int | None) -> bool:
        """Tell whether a recorded (start_time, start_ticks) names this process."""
        if start_ticks is not None and self.start_ticks is not None:
            return start_ticks == self.start_ticks
        return abs(start_time - self.start_time) < _START_TIME_TOLERANCE


_current: ProcessId | None = None


def _proc_start_ticks(pid: int) -> int | None:
    # Field 22 of /proc/<pid>/stat; the command name in field 2 may contain
    # spaces and parentheses, so fields are counted after the last ')'.
    # A zombie ('Z': exited, not yet waited for) counts as not running.
    with open(f"/proc/{pid}/stat", "rb") as file:
        fields = file.read().rpartition(b")")[2].split()
    if fields[0] == b"Z":
        return None
    return int(fields[19])


def start_of(pid: int) -> ProcessId | None:
    """Return the identity of the running process `pid`, or None if it does not run.

    A zombie counts as not running: it holds no mappings and will never
    release anything. Another user's process whose start time is hidden is
    returned with ``start_time`` NaN; callers treat it as alive, which never
    deletes data someone still uses.
    """
    ticks: int | None = None
    if os.path.isdir("/proc/self"):
        try:
            ticks = _proc_start_ticks(pid)
        except (FileNotFoundError, ProcessLookupError):
            return None
        if ticks is None:
            return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return ProcessId(pid, float(process.create_time()), ticks)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        logger.debug("start time of pid %d is not readable; assuming it runs", pid)
        return ProcessId(pid, float("nan"), None)


def is_alive(pid: int, start_time: float, start_ticks: int | None = None) -> bool:
    """Tell whether the process recorded as (`pid`, start) still runs.

    Parameters
    ----------
    pid : int
        The recorded pid.
    start_time : float
        The recorded start time, epoch seconds.
    start_ticks : int, optional
        The recorded start in clock ticks since boot; compared exactly when
        given, so a wall-clock change cannot make a live process look dead.
    """
    actual = start_of(pid)
    if actual is None:
        return False
    if actual.start_time != actual.start_time:  # NaN: exists but unreadable
        return True
    return actual.matches(start_time, start_ticks)


def current() -> ProcessId:
    """Return the identity of the calling process.

    The value is cached and recomputed when the pid changes, which is the
    case in a child made by ``os.fork``.
    """
    global _current
    pid = os.getpid()
    if _current is None or _current.pid != pid:
        me = start_of(pid)
        if me is None or me.start_time != me.start_time:
            raise RuntimeError(f"cannot read the start time of the running process {pid}")
        _current = me
    return _current
