"""Summed PSS of this process and all its descendants, sampled while work runs.

PSS (proportional set size) charges each resident page to the processes mapping it
in equal shares, so the sum over a process tree counts a page shared by the parent
and eight workers once, not nine times. A tmpfs page (``/dev/shm``) counts only
while some process maps it, so the sampler also records the size of a folder such
as the memshare store root, which shows data that sits in shared memory unmapped.

The forkserver and resource trackers that multiprocessing, loky and the memshare
runner leave running are left out of the sums (see :data:`HELPER_MARKERS`);
:func:`helper_pss` measures them apart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

logger = logging.getLogger(__name__)

__all__ = [
    "MemorySample",
    "PssSampler",
    "folder_bytes",
    "helper_pss",
    "measure_idle",
    "tree_pss",
]

# Shortest pause between samples. Each sample walks the page tables of every process
# in the tree, so the sampler stretches its pause to keep its own CPU use near a
# tenth of one core, which matters on a two-core machine.
MIN_INTERVAL_S: Final = 0.05
SAMPLER_DUTY: Final = 0.1


def process_pss(pid: int) -> int:
    """Return the PSS of one process in bytes, or 0 if it has exited.

    ``/proc/<pid>/smaps_rollup`` gives the total in one read, much faster than
    summing ``/proc/<pid>/smaps`` per mapping.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        # The process exited between listing and reading: it holds no memory now.
        return 0
    return 0


# Command-line fragments of the long-lived helpers that multiprocessing and loky start
# beside a pool: the forkserver and the resource trackers. They outlive the pool that
# started them, so counting them would charge one system's helper to every later one.
HELPER_MARKERS: Final = ("forkserver", "resource_tracker")

_helper_cache: dict[tuple[int, float], bool] = {}


def is_helper(process: psutil.Process) -> bool:
    """Return whether ``process`` is a forkserver or resource tracker of this process.

    Only direct children of this process qualify: workers forked by the forkserver
    share its command line but are real workers and stay counted.
    """
    try:
        key = (process.pid, process.create_time())
        if key not in _helper_cache:
            command = " ".join(process.cmdline())
            _helper_cache[key] = process.ppid() == os.getpid() and any(
                marker in command for marker in HELPER_MARKERS
            )
        return _helper_cache[key]
    except psutil.Error:
        return False


def tree_pids(include_helpers: bool = False) -> list[int]:
    """List this process and its descendants, without helpers unless asked."""
    root = psutil.Process()
    try:
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    return [root.pid] + [
        child.pid for child in children if include_helpers or not is_helper(child)
    ]


def tree_pss(include_helpers: bool = False) -> tuple[int, int]:
    """Return the summed PSS in bytes of this process and its descendants, and their count."""
    pids = tree_pids(include_helpers)
    return sum(process_pss(pid) for pid in pids), len(pids)


def helper_pss() -> int:
    """Return the summed PSS in bytes of the helpers that :func:`tree_pss` leaves out."""
    helpers = [
        child for child in psutil.Process().children(recursive=True) if is_helper(child)
    ]
    return sum(process_pss(child.pid) for child in helpers)


def folder_bytes(folder: str | Path | None) -> int:
    """Return the total size of the regular files under ``folder`` (0 if missing)."""
    if folder is None:
        return 0
    total = 0
    for dirpath, _dirnames, filenames in os.walk(folder):
        for filename in filenames:
            try:
                total += os.stat(os.path.join(dirpath, filename)).st_size
            except FileNotFoundError:
                # Removed while walking, e.g. a temporary file renamed into place.
                continue
    return total


@dataclass
class MemorySample:
    """Peak and mean of the summed PSS over one measured interval.

    Attributes
    ----------
    peak_pss : int
        Highest summed PSS of the process tree, in bytes.
    mean_pss : int
        Mean over the samples, in bytes.
    peak_processes : int
        Most processes seen in the tree at once.
    peak_folder : int
        Largest size of the watched folder, in bytes (0 when none was watched).
    samples : int
        Number of samples taken.
    """

    peak_pss: int
    mean_pss: int
    peak_processes: int
    peak_folder: int
    samples: int


class PssSampler:
    """Sample the summed PSS of this process tree on a background thread.

    Use as a context manager around the work to measure; ``result`` holds the
    :class:`MemorySample` after exit. One sample is taken at entry and one at exit,
    so even work shorter than the interval is measured.

    Parameters
    ----------
    folder : str or pathlib.Path, optional
        A folder whose file sizes are recorded with each sample.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = folder
        self.result: MemorySample | None = None
        self._values: list[int] = []
        self._processes = 0
        self._folder_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pss-sampler", daemon=True)

    def _sample(self) -> float:
        """Take one sample and return how long it took in seconds."""
        start = time.perf_counter()
        pss, count = tree_pss()
        self._values.append(pss)
        self._processes = max(self._processes, count)
        self._folder_peak = max(self._folder_peak, folder_bytes(self.folder))
        return time.perf_counter() - start

    def _loop(self) -> None:
        while True:
            cost = self._sample()
            if self._stop.wait(max(MIN_INTERVAL_S, cost / SAMPLER_DUTY)):
                return

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.result = MemorySample(
            peak_pss=max(self._values),
            mean_pss=int(sum(self._values) / len(self._values)),
            peak_processes=self._processes,
            peak_folder=self._folder_peak,
            samples=len(self._values),
        )
        logger.debug("pid %d sampled PSS: %s", os.getpid(), self.result)


def measure_idle(duration_s: float = 0.3, folder: str | Path | None = None) -> MemorySample:
    """Sample the process tree while it idles for ``duration_s`` seconds."""
    with PssSampler(folder) as sampler:
        time.sleep(duration_s)
    assert sampler.result is not None
    return sampler.result
