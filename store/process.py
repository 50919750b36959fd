"""Process identity: a pid together with the process start time.

Pids are reused, so a holder or owner recorded only by pid could later match
an unrelated process. The start time the kernel records for a process does
not change while it runs, and a new process with the same pid has a later
one, so the pair names one process for good.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import psutil

__all__ = ["ProcessId", "current", "is_alive", "start_time_of"]

logger = logging.getLogger(__name__)

# psutil derives the start time from the boot time plus the start ticks in
# /proc/<pid>/stat, so two readings of the same process agree; the tolerance
# only absorbs the rounding of a float written to and read back from JSON.
_START_TIME_TOLERANCE = 0.005


@dataclass(frozen=True)
class ProcessId:
    """A process named by its pid and start time (epoch seconds)."""

    pid: int
    start_time: float

    def token(self) -> str:
        """Return ``"<pid>-<start time in ms>"`` for use in file names."""
        return f"{self.pid}-{round(self.start_time * 1000)}"


_current: ProcessId | None = None


def start_time_of(pid: int) -> float | None:
    """Return the start time of process `pid`, or None if it does not run.

    A zombie (exited, not yet waited for by its parent) counts as not
    running: it holds no mappings and will never release anything.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        # Another user's process: it exists, but its start time is hidden.
        # Treating it as alive never deletes data someone still uses.
        logger.debug("start time of pid %d is not readable; assuming it runs", pid)
        return float("nan")


def is_alive(pid: int, start_time: float) -> bool:
    """Tell whether the process `pid` that started at `start_time` still runs."""
    actual = start_time_of(pid)
    if actual is None:
        return False
    if actual != actual:  # NaN: exists but unreadable
        return True
    return abs(actual - start_time) < _START_TIME_TOLERANCE


def current() -> ProcessId:
    """Return the identity of the calling process.

    The value is cached and recomputed when the pid changes, which is the
    case in a child made by ``os.fork``.
    """
    global _current
    pid = os.getpid()
    if _current is None or _current.pid != pid:
        start_time = start_time_of(pid)
        if start_time is None or start_time != start_time:
            raise RuntimeError(f"cannot read the start time of the running process {pid}")
        _current = ProcessId(pid, start_time)
    return _current
