"""The whole benchmark suite: every workload, the scaling sweep and the micro benchmarks.

The suite runs in a folder of its own under ``/dev/shm``, removed at the end. The
memshare store root (``MEMSHARE_ROOT``) is inside it, so the suite neither reads nor
changes the user's objects. joblib's memory-mapping folder (``JOBLIB_TEMP_FOLDER``) is
inside it too, so the sampler can record how much data both keep in shared memory.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from benchmarks import DEFAULT_SCALING_WORKERS, WORKLOADS
from benchmarks.harness import RunPlan, run_workload
from benchmarks.machine import describe_machine, measure_parallel_capacity
from benchmarks.memshare_systems import MEMSHARE_SYSTEMS
from benchmarks.micro import run_micro
from benchmarks.systems import PEERS, System

logger = logging.getLogger(__name__)

__all__ = ["run_suite"]

# One count keeps the smoke run short: every extra count starts a spawn pool, loky
# and memshare workers once more for each system.
QUICK_SCALING_WORKERS: Final = (2,)
DEFAULT_REPEATS: Final = {"quick": 1, "full": 5}
# The sweep runs 4 worker counts on an 800 MB matrix, so it gets fewer repetitions
# to keep a full run near 20 minutes on two cores.
SCALING_REPEATS: Final = {"quick": 1, "full": 2}
# Seconds each idle baseline is sampled: at quick sizes the memory numbers are noise
# anyway, and the baselines would otherwise take a third of the smoke run.
IDLE_SECONDS: Final = {"quick": 0.1, "full": 0.3}


def _all_systems() -> list[System]:
    return [*PEERS, *MEMSHARE_SYSTEMS]


def _import_everything() -> None:
    """Import every system's modules in the parent before anything is measured.

    Otherwise the first run of joblib or memshare grows the parent by the modules it
    imports, after the idle baselines were taken, and that growth would be charged
    to whichever system happened to import them first.
    """
    import multiprocessing.pool  # noqa: F401

    import cloudpickle  # noqa: F401
    import joblib  # noqa: F401
    import matplotlib.pyplot  # noqa: F401

    with contextlib.suppress(ImportError):
        import memshare  # noqa: F401


def _available_cpus() -> int:
    return len(os.sched_getaffinity(0))


def run_suite(
    mode: str,
    workers: list[int] | None,
    scaling_workers: list[int] | None,
    repeats: int | None,
    only: list[str] | None,
    results_dir: Path,
    progress: Callable[[str], None] = print,
) -> Path:
    """Run the selected workloads and return the path of the JSON results file.

    Parameters
    ----------
    mode : str
        ``"quick"`` or ``"full"``: the sizes of every workload.
    workers : list of int or None
        Worker counts for workloads 1 to 4; None means the number of usable CPUs.
    scaling_workers : list of int or None
        Worker counts of the scaling sweep; None means 1, 2, 4, 8 (2 when quick).
    repeats : int or None
        Repetitions per system and worker count; None means the mode's default.
    only : list of str or None
        Workloads to run; None runs all of :data:`WORKLOADS`.
    results_dir : pathlib.Path
        Folder for the JSON file, created if missing.
    """
    started = time.time()
    worker_counts = workers or [_available_cpus()]
    if scaling_workers is None:
        scaling_workers = list(QUICK_SCALING_WORKERS if mode == "quick" else DEFAULT_SCALING_WORKERS)
    repeat_count = repeats or DEFAULT_REPEATS[mode]
    selected = only or list(WORKLOADS)

    # Every object the suite registers and every array joblib dumps lives and dies
    # under this folder (mode 0700, as the store requires of its root).
    root = tempfile.mkdtemp(prefix="memshare-bench-", dir="/dev/shm")
    previous = {name: os.environ.get(name) for name in ("MEMSHARE_ROOT", "JOBLIB_TEMP_FOLDER")}
    os.environ["MEMSHARE_ROOT"] = os.path.join(root, "store")
    os.environ["JOBLIB_TEMP_FOLDER"] = os.path.join(root, "joblib")
    os.mkdir(os.environ["MEMSHARE_ROOT"], mode=0o700)
    os.mkdir(os.environ["JOBLIB_TEMP_FOLDER"], mode=0o700)
    systems = _all_systems()
    _import_everything()

    results: dict[str, Any] = {
        "mode": mode,
        "argv": sys.argv,
        "started_utc": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(),
        "machine": describe_machine(),
        "capacity_start": measure_parallel_capacity(),
        "plan": {
            "workers": worker_counts,
            "scaling_workers": scaling_workers,
            "repeats": repeat_count,
            "scaling_repeats": repeats or SCALING_REPEATS[mode],
            "workloads": selected,
        },
        "systems": {s.name: s.description for s in systems},
        "workloads": {},
    }

    try:
        for name in selected:
            if name == "micro":
                progress("micro: registration, attach and dispatch")
                results["micro"] = run_micro(mode, max(worker_counts), root)
                continue
            if name == "scaling":
                plan = RunPlan(
                    scaling_workers, repeats or SCALING_REPEATS[mode], root, IDLE_SECONDS[mode]
                )
            else:
                plan = RunPlan(worker_counts, repeat_count, root, IDLE_SECONDS[mode])
            results["workloads"][name] = run_workload(name, mode, systems, plan, progress)
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(root, ignore_errors=True)

    results["seconds"] = time.time() - started
    results["load_average_end"] = list(os.getloadavg())
    results["capacity_end"] = measure_parallel_capacity()
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.fromtimestamp(started, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{mode}-{stamp}.json"
    path.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    logger.debug("wrote results to %s", path)
    return path
