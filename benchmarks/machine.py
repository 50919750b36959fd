"""Description of the machine and software a benchmark ran on, stored with its results."""

from __future__ import annotations

import importlib.metadata
import logging
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

__all__ = ["describe_machine", "measure_parallel_capacity", "package_versions"]

# Packages whose versions change the numbers: the store's codec, the peers and the
# BLAS-backed numerics.
PACKAGES = ("memshare", "numpy", "pandas", "pyarrow", "joblib", "psutil", "cloudpickle", "ray")


def _cpu_model() -> str:
    """Return the CPU model name from ``/proc/cpuinfo``, or the platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit(repository: Path) -> str | None:
    """Return the checked-out commit, with ``-dirty`` when tracked files changed."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(repository), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repository), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if status else commit


def _read_setting(path: str) -> str | None:
    """Return the first line of a sysfs setting file, or None where it does not exist."""
    try:
        with open(path, encoding="ascii") as handle:
            return handle.readline().strip()
    except OSError:
        return None


def _spin(iterations: int) -> int:
    """Burn CPU in pure Python; the unit of work of the capacity probe."""
    total = 0
    for index in range(iterations):
        total += index
    return total


def measure_parallel_capacity(processes: int = 2, iterations: int = 5_000_000) -> float:
    """Estimate how many cores this machine gives to ``processes`` CPU-bound processes now.

    Times one process doing a fixed amount of pure-Python work, then ``processes``
    processes doing the same work at once. The returned value is
    ``processes * t_one / t_all``: ``processes`` on an idle machine with that many
    cores, less when other programs use some of the cores.
    """
    context = multiprocessing.get_context("fork")

    def run_together(count: int) -> float:
        workers = [context.Process(target=_spin, args=(iterations,)) for _ in range(count)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - start

    single = run_together(1)
    together = run_together(processes)
    return processes * single / together


def package_versions() -> dict[str, str | None]:
    """Return the installed version of each package in ``PACKAGES`` (None if absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_machine() -> dict[str, Any]:
    """Collect CPU, core count, memory, ``/dev/shm`` size, OS and package versions."""
    shm = shutil.disk_usage("/dev/shm") if os.path.isdir("/dev/shm") else None
    repository = Path(__file__).resolve().parent.parent
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "shm_bytes": shm.total if shm else None,
        "shm_free_bytes": shm.free if shm else None,
        "load_average": list(os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python_executable": sys.executable,
        "versions": package_versions(),
        "git_commit": _git_commit(repository),
        "transparent_hugepage": _read_setting("/sys/kernel/mm/transparent_hugepage/enabled"),
        "shmem_hugepage": _read_setting("/sys/kernel/mm/transparent_hugepage/shmem_enabled"),
        "blas_threads": {
            name: os.environ.get(name)
            for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        },
    }
