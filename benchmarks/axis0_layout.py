"""Measure how to serve columns (axis=0) of a C-ordered matrix to workers.

Columns of a C-ordered matrix are strided: consecutive elements of a column
lie one row apart in memory. Three ways to hand them to ``fn`` are compared:

``strided``
    Register the matrix as it is; each slice is a strided, zero-copy view of
    the map. This is what ``mem_apply`` does.
``fortran``
    Register a Fortran-ordered copy (``np.asfortranarray``), so each column is
    contiguous in the map; the copy is made in the parent before registering.
``blocks``
    Register the matrix as it is; a worker copies the block of columns of its
    task into a contiguous private buffer and hands out rows of that buffer.
    Slices are then private copies, not views of the map.

Part 1 times one process reading views from the store, cold (first pass over
a fresh map, page faults included) and warm. Part 2 times whole
``mem_apply`` calls, including the Fortran copy where it applies. Run::

    python benchmarks/axis0_layout.py --rows 8192 --cols 2048 --workers 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def column_median(column: np.ndarray) -> float:
    return float(np.median(column))


FUNCTIONS: dict[str, Callable[[np.ndarray], Any]] = {
    "sum": np.sum,
    "std": np.std,
    "median": column_median,
}


def strided_pass(view: np.ndarray, fn: Callable[[np.ndarray], Any], block: int) -> list[Any]:
    return [fn(view[:, j]) for j in range(view.shape[1])]


def blocks_pass(view: np.ndarray, fn: Callable[[np.ndarray], Any], block: int) -> list[Any]:
    results = []
    for start in range(0, view.shape[1], block):
        rows = np.ascontiguousarray(view[:, start : start + block].T)
        results.extend(fn(row) for row in rows)
    return results


def seconds(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def single_process(X: np.ndarray, block: int) -> list[tuple[str, str, float, float, float]]:
    """Time registration and cold and warm passes in this process for each layout."""
    import memshare

    rows = []
    for fn_name, fn in FUNCTIONS.items():
        for layout in ("strided", "fortran", "blocks"):
            name = f"{layout}-{fn_name}"
            if layout == "fortran":
                prepare = seconds(lambda: memshare.register_variables(
                    "bench", {name: np.asfortranarray(X)}
                ))
            else:
                prepare = seconds(lambda: memshare.register_variables("bench", {name: X}))

            view = memshare.retrieve_views("bench", name)[name]
            run = blocks_pass if layout == "blocks" else strided_pass
            cold = seconds(lambda: run(view, fn, block))
            warm = min(seconds(lambda: run(view, fn, block)) for _ in range(2))
            del view
            memshare.release_views("bench", name)
            memshare.release_variables("bench", name)
            rows.append((fn_name, layout, prepare, cold, warm))
    return rows


def whole_calls(X: np.ndarray, workers: int) -> list[tuple[str, str, float]]:
    """Time mem_apply end to end: as given (strided) and after a Fortran copy."""
    import memshare

    rows = []
    with memshare.Pool(workers) as pool:
        pool.apply(np.ones((4, 4)), np.sum)
        for fn_name, fn in FUNCTIONS.items():
            strided = min(seconds(lambda: pool.apply(X, fn, 0)) for _ in range(2))
            fortran = min(
                seconds(lambda: pool.apply(np.asfortranarray(X), fn, 0)) for _ in range(2)
            )
            rows.append((fn_name, "strided", strided))
            rows.append((fn_name, "fortran", fortran))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=8192, help="matrix rows (default 8192)")
    parser.add_argument("--cols", type=int, default=2048, help="matrix columns (default 2048)")
    parser.add_argument("--block", type=int, default=64, help="columns per block (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="workers in part 2 (default 2)")
    args = parser.parse_args(argv)

    # A private store root, removed at the end, keeps the benchmark apart
    # from the user's objects.
    root = tempfile.mkdtemp(prefix="memshare-bench-", dir="/dev/shm")
    os.environ["MEMSHARE_ROOT"] = root
    try:
        X = np.random.default_rng(0).random((args.rows, args.cols))
        print(f"matrix {args.rows} x {args.cols} float64, {X.nbytes / 2**20:.0f} MiB, "
              f"{os.cpu_count()} CPUs, numpy {np.__version__}")

        print("\nPart 1: one process, seconds (prepare = copy + register)")
        print("| fn | layout | prepare | cold pass | warm pass |")
        print("|---|---|---|---|---|")
        for fn_name, layout, prepare, cold, warm in single_process(X, args.block):
            print(f"| {fn_name} | {layout} | {prepare:.3f} | {cold:.3f} | {warm:.3f} |")

        print(f"\nPart 2: mem_apply(axis=0) with {args.workers} workers, seconds per call")
        print("| fn | layout | call |")
        print("|---|---|---|")
        for fn_name, layout, call in whole_calls(X, args.workers):
            print(f"| {fn_name} | {layout} | {call:.3f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
