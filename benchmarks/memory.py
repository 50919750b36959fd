"""Summed PSS of the benchmark process and all its descendants, sampled while work runs.

PSS (proportional set size) charges each resident page to the processes mapping it
in equal shares, so the sum over a process tree counts a page shared by the parent
and eight workers once, not nine times. A tmpfs page (``/dev/shm``) counts only
while some process maps it, so the sampler also records the size of a folder such
as the memshare store root, which shows data that sits in shared memory unmapped.

Sampling runs in a separate process (``python -m benchmarks.memory``), not a thread:
a thread would wait for the GIL whenever the measured code holds it, for example
while pickling a large array, and would miss exactly the peaks that matter. The
sampler process leaves itself out of the sums, and also the forkserver and resource
trackers that multiprocessing, loky and the memshare runner leave running (see
:data:`HELPER_MARKERS`); :func:`helper_pss` measures those apart.

Protocol on the sampler's stdin and stdout, one line each: ``start`` -> ``ready``
(after the first sample), ``stop`` -> one JSON object with the result.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Final

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

# Command-line fragments of the long-lived helpers that multiprocessing and loky start
# beside a pool: the forkserver and the resource trackers. They outlive the pool that
# started them, so counting them would charge one system's helper to every later one.
HELPER_MARKERS: Final = ("forkserver", "resource_tracker")


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
        # The process exited between listing and reading, so it uses no memory now.
        return 0
    return 0


_helper_cache: dict[tuple[int, float], bool] = {}


def is_helper(process: psutil.Process, root_pid: int) -> bool:
    """Return whether ``process`` is a forkserver or resource tracker started by ``root_pid``.

    Only direct children of the root qualify: workers forked by the forkserver
    share its command line but are real workers and stay counted.
    """
    try:
        key = (process.pid, process.create_time())
        if key not in _helper_cache:
            command = " ".join(process.cmdline())
            _helper_cache[key] = process.ppid() == root_pid and any(
                marker in command for marker in HELPER_MARKERS
            )
        return _helper_cache[key]
    except psutil.Error:
        return False


def _descendants(root_pid: int) -> Iterator[psutil.Process]:
    try:
        yield from psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return


def tree_pss(root_pid: int | None = None, exclude: int | None = None) -> tuple[int, int]:
    """Return the summed PSS in bytes of a process tree, and the number of processes.

    Helpers (see :func:`is_helper`) and the process ``exclude`` are left out.
    """
    root = root_pid or os.getpid()
    pids = [root] + [
        child.pid for child in _descendants(root)
        if child.pid != exclude and not is_helper(child, root)
    ]
    return sum(process_pss(pid) for pid in pids), len(pids)


def helper_pss(root_pid: int | None = None) -> int:
    """Return the summed PSS in bytes of the helpers that :func:`tree_pss` leaves out."""
    root = root_pid or os.getpid()
    return sum(process_pss(child.pid) for child in _descendants(root) if is_helper(child, root))


def folder_bytes(folder: str | Path | None) -> int:
    """Return the total size of the regular files under ``folder`` (0 if missing)."""
    if not folder:
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


# --- the sampler process --------------------------------------------------------------


def _sample_until_stop(root_pid: int, folder: str, commands: int) -> MemorySample:
    """Sample the tree of ``root_pid`` until a line arrives on ``commands`` (a file descriptor)."""
    values: list[int] = []
    processes = 0
    folder_peak = 0
    first = True
    while True:
        cpu_start = time.process_time()
        pss, count = tree_pss(root_pid, exclude=os.getpid())
        values.append(pss)
        processes = max(processes, count)
        folder_peak = max(folder_peak, folder_bytes(folder))
        cost = time.process_time() - cpu_start
        if first:
            print("ready", flush=True)
            first = False
        ready, _, _ = select.select([commands], [], [], max(MIN_INTERVAL_S, cost / SAMPLER_DUTY))
        if ready:
            os.read(commands, 64)
            # One last sample, so that work shorter than the interval is still seen.
            pss, count = tree_pss(root_pid, exclude=os.getpid())
            values.append(pss)
            processes = max(processes, count)
            return MemorySample(
                peak_pss=max(values),
                mean_pss=int(sum(values) / len(values)),
                peak_processes=processes,
                peak_folder=folder_peak,
                samples=len(values),
            )


def _serve(root_pid: int) -> None:
    """Serve ``start <folder>`` and ``stop`` commands from stdin until it closes."""
    commands = sys.stdin.fileno()
    while True:
        line = os.read(commands, 4096).decode()
        if not line:
            return
        if line.startswith("start"):
            folder = line.strip()[len("start"):].strip()
            result = _sample_until_stop(root_pid, folder, commands)
            print(json.dumps(asdict(result)), flush=True)


class _SamplerProcess:
    """The parent's handle on the one long-lived sampler process."""

    def __init__(self) -> None:
        # Started once and reused: a new interpreter per measurement would add a
        # tenth of a second to every one of the hundreds of measurements.
        # The package's parent folder goes on the path, so that the sampler finds
        # this module whatever the current directory is.
        package_parent = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.memory", "--root-pid", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONPATH": path},
        )
        logger.debug("started PSS sampler pid %d", self.process.pid)

    @property
    def stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    @property
    def stdout(self) -> IO[str]:
        assert self.process.stdout is not None
        return self.process.stdout

    def start(self, folder: str | Path | None) -> None:
        self.stdin.write(f"start {folder or ''}\n")
        self.stdin.flush()
        reply = self.stdout.readline().strip()
        if reply != "ready":
            raise RuntimeError(f"PSS sampler pid {self.process.pid} failed to start: {reply!r}")

    def stop(self) -> MemorySample:
        self.stdin.write("stop\n")
        self.stdin.flush()
        return MemorySample(**json.loads(self.stdout.readline()))

    def close(self) -> None:
        # Closing stdin ends the sampler's loop; it exits on its own.
        self.stdin.close()
        self.process.wait(timeout=10)
        logger.debug("stopped PSS sampler pid %d", self.process.pid)


_sampler: _SamplerProcess | None = None


def _get_sampler() -> _SamplerProcess:
    global _sampler
    if _sampler is None or _sampler.process.poll() is not None:
        _sampler = _SamplerProcess()
        atexit.register(_sampler.close)
    return _sampler


class PssSampler:
    """Sample the summed PSS of this process tree while the ``with`` block runs.

    ``result`` is the :class:`MemorySample` after exit. One sample is taken
    before the block starts and one after it ends, so even short work is measured.

    Parameters
    ----------
    folder : str or pathlib.Path, optional
        A folder whose total file size is recorded with each sample.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = folder
        self.result: MemorySample | None = None

    def __enter__(self) -> PssSampler:
        _get_sampler().start(self.folder)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.result = _get_sampler().stop()
        logger.debug("pid %d sampled PSS: %s", os.getpid(), self.result)


def measure_idle(duration_s: float = 0.3, folder: str | Path | None = None) -> MemorySample:
    """Sample the process tree while it idles for ``duration_s`` seconds."""
    sampler = PssSampler(folder)
    with sampler:
        time.sleep(duration_s)
    if sampler.result is None:
        raise RuntimeError("the PSS sampler returned no result")
    return sampler.result


def main() -> None:
    """Entry point of the sampler process."""
    parser = argparse.ArgumentParser(description="PSS sampler serving the benchmark harness")
    parser.add_argument("--root-pid", type=int, required=True,
                        help="pid whose process tree is sampled")
    args = parser.parse_args()
    _serve(args.root_pid)


if __name__ == "__main__":
    main()
