"""Run every system on every workload, alternating systems, and collect raw results.

Each repetition runs every system once, in an order rotated by one place per
repetition, so slow drift of a shared machine spreads over all systems. Right before
each run the harness measures that system's idle memory baseline: its workers
started, with imports, and no data.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.memory import PssSampler, helper_pss, measure_idle
from benchmarks.systems import BLOCKS_PER_WORKER, System
from benchmarks.workloads import WorkloadData, build_workload, results_match, to_array

logger = logging.getLogger(__name__)

__all__ = ["RunPlan", "run_workload", "summarize"]

@dataclass
class RunPlan:
    """Worker counts, repetitions and sampling settings for one workload.

    Attributes
    ----------
    workers : list of int
        Worker counts to measure every parallel system at.
    repeats : int
        Repetitions per system and worker count.
    shm_folder : str
        Folder holding the memshare store root and joblib's memory maps, whose size
        is sampled with the memory.
    idle_seconds : float
        How long each idle baseline is sampled; idle workers do not change their
        memory, so a few samples suffice.
    """

    workers: list[int]
    repeats: int
    shm_folder: str
    idle_seconds: float = 0.3


def _rotated(systems: Sequence[System], shift: int) -> list[System]:
    shift %= len(systems)
    return [*systems[shift:], *systems[:shift]]


def _measure_baseline(system: System, work: WorkloadData, workers: int, plan: RunPlan) -> dict[str, Any]:
    """Sample the system's idle workers; return the sample or the error."""
    try:
        with system.idle(work, workers):
            sample = measure_idle(plan.idle_seconds, plan.shm_folder)
    except Exception as error:  # noqa: BLE001 - any failure is recorded, not fatal
        logger.warning("baseline of %s failed: %r", system.name, error)
        return {"error": repr(error)}
    return {"pss": sample.mean_pss, "processes": sample.peak_processes}


def _run_once(
    system: System, work: WorkloadData, workers: int, rep: int, baseline: dict[str, Any], root: str
) -> dict[str, Any]:
    """Time one call of ``system`` on ``work`` while sampling memory; return the record."""
    record: dict[str, Any] = {"system": system.name, "workers": workers, "rep": rep}
    try:
        with system.session(work, workers) as call:
            with PssSampler(root) as sampler:
                start = time.perf_counter()
                result = call()
                record["seconds"] = time.perf_counter() - start
    except Exception as error:  # noqa: BLE001 - a failing system must not stop the others
        logger.warning("%s failed on %s: %r", system.name, work.name, error)
        record["error"] = f"{type(error).__name__}: {error}"
        record["traceback"] = traceback.format_exc(limit=8)
        return record

    assert sampler.result is not None
    memory = sampler.result
    record.update(
        peak_pss=memory.peak_pss,
        peak_processes=memory.peak_processes,
        peak_store_bytes=memory.peak_folder,
        samples=memory.samples,
    )
    record["baseline"] = baseline
    if "pss" in baseline:
        record["overhead_bytes"] = memory.peak_pss - baseline["pss"]
        record["overhead_ratio"] = record["overhead_bytes"] / work.nbytes

    # The serial loop's first result is the reference every other result must match.
    if work.reference is None and system.name == "serial loop":
        work.reference = to_array(result)
    if work.reference is not None:
        record["correct"] = results_match(result, work.reference)
    logger.info(
        "%-22s %-20s workers=%d rep=%d %.3fs overhead=%.2fx",
        work.name, system.name, workers, rep, record["seconds"],
        record.get("overhead_ratio", float("nan")),
    )
    return record


def run_workload(
    name: str,
    mode: str,
    systems: Sequence[System],
    plan: RunPlan,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build workload ``name``, run every system on it and return the raw results."""
    started = time.perf_counter()
    load_average = list(os.getloadavg())
    work = build_workload(name, mode)
    progress(f"{name}: {work.title}, {work.nbytes / 2**20:.0f} MiB, {work.n_items} items")

    skipped = {s.name: reason for s in systems if (reason := s.skip_reason(work))}
    runnable = [s for s in systems if s.name not in skipped]
    runs: list[dict[str, Any]] = []

    for index, workers in enumerate(plan.workers):
        # Serial systems ignore the worker count, so they run at the first one only.
        active = [s for s in runnable if s.parallel or index == 0]
        for rep in range(plan.repeats):
            for system in _rotated(active, rep):
                # The baseline is taken right before each run, so the parent's own
                # drift (heap growth, imports) between runs does not count as overhead.
                baseline = _measure_baseline(system, work, workers, plan)
                runs.append(_run_once(system, work, workers, rep, baseline, plan.shm_folder))
        progress(f"  {workers} workers done after {time.perf_counter() - started:.0f}s")

    return {
        "title": work.title,
        "kind": work.kind,
        "params": work.params,
        "data_bytes": work.nbytes,
        "items": work.n_items,
        "blocks_per_worker": BLOCKS_PER_WORKER,
        "skipped": skipped,
        "helper_pss": helper_pss(),
        "runs": runs,
        "load_average_start": load_average,
        "seconds": time.perf_counter() - started,
        "pid": os.getpid(),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    """Reduce runs to median, minimum and maximum time and memory per system and workers."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for run in runs:
        if "seconds" in run:
            groups.setdefault((run["system"], run["workers"]), []).append(run)

    summary: dict[tuple[str, int], dict[str, float]] = {}
    for key, group in groups.items():
        seconds = [run["seconds"] for run in group]
        overheads = [run["overhead_bytes"] for run in group if "overhead_bytes" in run]
        ratios = [run["overhead_ratio"] for run in group if "overhead_ratio" in run]
        summary[key] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "max_s": max(seconds),
            "reps": len(seconds),
            "overhead_bytes": statistics.median(overheads) if overheads else float("nan"),
            "overhead_ratio": statistics.median(ratios) if ratios else float("nan"),
            "shm_bytes": statistics.median(run["peak_store_bytes"] for run in group),
            "correct": all(run.get("correct", True) for run in group),
        }
    return summary
