"""Micro benchmarks: registration bandwidth, attach time and task dispatch rate.

- Registration is compared with two copies of the same bytes: into freshly allocated
  anonymous memory (the page faults included) and into a new file in ``/dev/shm``,
  which is what registration must do at the least.
- Attach time is ``retrieve_views`` of a registered array of two sizes; attaching
  maps the file, so it should not grow with the object.
- Dispatch is tasks per second for a function that returns its argument, on workers
  started before the timed call.
- Column pass is one process summing every column of a C-ordered matrix, from
  numpy's own memory, from a store view, and from a view of a Fortran-ordered copy.
  It separates the cost of strided reads on the store's pages from everything else.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from benchmarks.memshare_systems import memshare_missing
from benchmarks.systems import _shutdown_loky, _warm_up

logger = logging.getLogger(__name__)

__all__ = ["MICRO_SIZES", "run_micro"]

MiB: Final = 2**20

MICRO_SIZES: Final[dict[str, dict[str, int]]] = {
    "quick": {"copy_bytes": 32 * MiB, "small_bytes": MiB, "large_bytes": 64 * MiB,
              "copy_repeats": 3, "attach_repeats": 10, "tasks": 200,
              "column_rows": 1000, "column_cols": 200, "column_repeats": 2},
    "full": {"copy_bytes": 1024 * MiB, "small_bytes": MiB, "large_bytes": 1024 * MiB,
             "copy_repeats": 5, "attach_repeats": 30, "tasks": 10000,
             "column_rows": 10000, "column_cols": 2000, "column_repeats": 3},
}


def _identity(value: Any) -> Any:
    """Return ``value`` unchanged: the trivial task of the dispatch benchmark."""
    return value


def _time(step: Callable[[], Any]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _stats(seconds: list[float], nbytes: int | None = None) -> dict[str, float]:
    """Median and spread of ``seconds``, with bandwidth in bytes/s when ``nbytes`` is given."""
    summary = {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
               "reps": len(seconds)}
    if nbytes is not None:
        summary["bytes_per_s"] = nbytes / summary["median_s"]
    return summary


def _copy_to_fresh_memory(source: np.ndarray) -> None:
    # np.empty of this size is a fresh mmap, so every page is faulted in by the copy.
    target = np.empty_like(source)
    np.copyto(target, source)


def _copy_to_shm_file(source: np.ndarray, root: str) -> None:
    path = os.path.join(root, f"copy-{os.getpid()}.bin")
    try:
        with open(path, "wb") as handle:
            handle.write(memoryview(source).cast("B"))
    finally:
        os.unlink(path)


def measure_registration(nbytes: int, repeats: int, root: str) -> dict[str, Any]:
    """Time registration of a float64 array against the two plain copies, alternating."""
    import memshare

    source = np.random.default_rng(0).standard_normal(nbytes // 8)
    namespace = f"bench-micro-{os.getpid()}"
    timings: dict[str, list[float]] = {"register": [], "copy_fresh_memory": [], "write_shm_file": []}

    def register() -> None:
        memshare.register_variables(namespace, {"array": source})

    for round_index in range(repeats + 1):
        copy_s = _time(lambda: _copy_to_fresh_memory(source))
        write_s = _time(lambda: _copy_to_shm_file(source, root))
        register_s = _time(register)
        # Released at once so the next repetition registers into fresh pages again.
        memshare.release_variables(namespace, "array")

        # Round 0 is discarded: the first large allocation of a process can pay for
        # memory compaction to find huge pages, which later rounds do not.
        if round_index > 0:
            timings["copy_fresh_memory"].append(copy_s)
            timings["write_shm_file"].append(write_s)
            timings["register"].append(register_s)

    result: dict[str, Any] = {"bytes": source.nbytes}
    for name, seconds in timings.items():
        result[name] = _stats(seconds, source.nbytes)
    result["register_vs_copy"] = (
        result["register"]["bytes_per_s"] / result["copy_fresh_memory"]["bytes_per_s"]
    )
    return result


def measure_attach(sizes: dict[str, int], repeats: int) -> dict[str, Any]:
    """Time ``retrieve_views`` and ``release_views`` of registered arrays of each size."""
    import memshare

    namespace = f"bench-micro-{os.getpid()}"
    result: dict[str, Any] = {}
    for label, nbytes in sizes.items():
        array = np.ones(nbytes // 8)
        # Registered for this measurement only and released right after it.
        memshare.register_variables(namespace, {label: array})
        del array
        try:
            attach, release = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                views = memshare.retrieve_views(namespace, label)
                attach.append(time.perf_counter() - start)

                start = time.perf_counter()
                memshare.release_views(namespace, label)
                release.append(time.perf_counter() - start)

                # The map is unmapped here, outside both timings.
                del views
            result[label] = {"bytes": nbytes, "attach": _stats(attach), "release": _stats(release)}
        finally:
            memshare.release_variables(namespace, label)

    labels = list(sizes)
    result["large_vs_small"] = (
        result[labels[1]]["attach"]["median_s"] / result[labels[0]]["attach"]["median_s"]
    )
    return result


def _sum_columns(matrix: np.ndarray) -> None:
    for index in range(matrix.shape[1]):
        matrix[:, index].sum()


def measure_column_pass(rows: int, cols: int, repeats: int) -> dict[str, Any]:
    """Time a column-by-column pass over the same matrix in three memory placements."""
    import memshare

    matrix = np.random.default_rng(0).standard_normal((rows, cols))
    namespace = f"bench-micro-{os.getpid()}"
    # Both registered for this measurement only and released in the finally below.
    memshare.register_variables(
        namespace, {"c_order": matrix, "f_order": np.asfortranarray(matrix)}
    )
    try:
        # This process's holder references, dropped in the inner finally.
        views = memshare.retrieve_views(namespace, ["c_order", "f_order"])
        try:
            placements = {
                "numpy memory, C order": matrix,
                "store view, C order": views["c_order"],
                "store view, Fortran order": views["f_order"],
            }
            timings: dict[str, list[float]] = {label: [] for label in placements}
            # One untimed pass each maps every page first, so that page faults are
            # not counted. Then the placements alternate.
            for round_index in range(repeats + 1):
                for label, placed in placements.items():
                    seconds = _time(lambda placed=placed: _sum_columns(placed))
                    if round_index > 0:
                        timings[label].append(seconds)
        finally:
            memshare.release_views(namespace, ["c_order", "f_order"])
    finally:
        memshare.release_variables(namespace, ["c_order", "f_order"])

    return {
        "rows": rows,
        "cols": cols,
        "seconds": {label: _stats(seconds) for label, seconds in timings.items()},
    }


def measure_dispatch(tasks: int, workers: int) -> dict[str, Any]:
    """Measure tasks per second of the identity function on already started workers."""
    items = list(range(tasks))
    rates: dict[str, Any] = {}

    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(_warm_up, range(workers))
        for label, chunksize in (("mp.Pool chunksize=1", 1), ("mp.Pool default chunksize", None)):
            seconds = _time(lambda chunksize=chunksize: pool.map(_identity, items, chunksize))
            rates[label] = tasks / seconds

    from joblib import Parallel, delayed

    try:
        Parallel(n_jobs=workers)(delayed(_warm_up)(i) for i in range(workers))
        seconds = _time(lambda: Parallel(n_jobs=workers)(delayed(_identity)(i) for i in items))
        rates["joblib loky auto batching"] = tasks / seconds
    finally:
        _shutdown_loky()

    if memshare_missing() is None:
        import memshare

        with memshare.Pool(workers) as pool:
            pool.apply(np.zeros((1, workers)), _warm_up, axis=0, chunksize=1)
            for label, chunksize in (("memshare chunksize=1", 1), ("memshare default chunksize", None)):
                seconds = _time(
                    lambda chunksize=chunksize: pool.lapply(items, _identity, chunksize=chunksize)
                )
                rates[label] = tasks / seconds
    return {"tasks": tasks, "workers": workers, "tasks_per_s": rates}


def run_micro(mode: str, workers: int, root: str) -> dict[str, Any]:
    """Run the three micro benchmarks at the sizes of ``mode``; skip memshare parts it lacks."""
    sizes = MICRO_SIZES[mode]
    result: dict[str, Any] = {"params": dict(sizes)}
    missing = memshare_missing()

    if missing is None:
        result["registration"] = measure_registration(sizes["copy_bytes"], sizes["copy_repeats"], root)
        attach_sizes = {"small": sizes["small_bytes"], "large": sizes["large_bytes"]}
        result["attach"] = measure_attach(attach_sizes, sizes["attach_repeats"])
        result["column_pass"] = measure_column_pass(
            sizes["column_rows"], sizes["column_cols"], sizes["column_repeats"]
        )
    else:
        result["skipped"] = missing

    result["dispatch"] = measure_dispatch(sizes["tasks"], workers)
    return result
