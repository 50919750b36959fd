"""Command line: ``python -m benchmarks --quick`` or ``--full`` from the repository root.

Writes the raw results as JSON and renders the Markdown page with its plots.
"""

from __future__ import annotations

import os

# Every process (parent, pool workers, loky workers) runs its numpy with one BLAS
# thread unless the user chose otherwise, so that "serial" means one core and the
# parallel systems do not oversubscribe the cores. Set before numpy is imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent

# Only the light package constants are imported at module level: spawned pool workers
# import this module as __mp_main__, and importing the suite here would load memshare
# and pyarrow into every one of them.
from benchmarks import DEFAULT_SCALING_WORKERS, WORKLOADS  # noqa: E402


def _worker_list(text: str) -> list[int]:
    """Parse ``"1,2,4"`` into ``[1, 2, 4]`` for argparse."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid worker list {text!r}: expected positive integers separated by commas, "
            "e.g. 1,2,4"
        ) from None
    if not counts:
        raise argparse.ArgumentTypeError(
            f"invalid worker list {text!r}: give at least one count, e.g. 1,2,4"
        )
    if any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError(
            f"invalid worker list {text!r}: every count must be at least 1"
        )
    return counts


def _workload_list(text: str) -> list[str]:
    """Parse a comma-separated list of workload names for argparse."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown workload(s) {unknown or text!r}; choose from {', '.join(WORKLOADS)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Compare memshare with serial loops, multiprocessing, joblib and Ray on the "
            "same workloads, measuring wall time and summed PSS memory."
        ),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true",
        help="small sizes, one repetition: a smoke run of every workload (the default)",
    )
    size.add_argument(
        "--full", action="store_true",
        help="the sizes on the benchmark page; takes about 20 minutes on 2 cores",
    )
    parser.add_argument(
        "--workers", type=_worker_list, default=None, metavar="N,N,...",
        help="worker counts for workloads 1 to 4 (default: the number of usable CPUs)",
    )
    parser.add_argument(
        "--scaling-workers", type=_worker_list, default=None, metavar="N,N,...",
        help=f"worker counts of the memory-scaling workload (default: "
        f"{','.join(map(str, DEFAULT_SCALING_WORKERS))})",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, metavar="N",
        help="repetitions per system and worker count (default: 1 quick, 5 full; "
        "2 full on the scaling sweep)",
    )
    parser.add_argument(
        "--only", type=_workload_list, default=None, metavar="NAME,...",
        help=f"run only these workloads: {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--results", type=Path, default=REPOSITORY / "benchmarks" / "results", metavar="DIR",
        help="folder for the raw JSON results (default: benchmarks/results)",
    )
    parser.add_argument(
        "--docs", type=Path, default=None, metavar="DIR",
        help="folder for benchmarks.md and img/ (default: docs/ for --full, the results "
        "folder for --quick, so a smoke run never overwrites the published page)",
    )
    parser.add_argument(
        "--render", type=Path, default=None, metavar="JSON",
        help="only render the page from an existing results file, without running",
    )
    parser.add_argument("--verbose", action="store_true", help="log every run at INFO level")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or only render them) and return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.repeats is not None and args.repeats < 1:
        print(f"error: --repeats must be at least 1, got {args.repeats}", file=sys.stderr)
        return 2

    from benchmarks.report import render_page
    from benchmarks.suite import run_suite

    mode = "full" if args.full else "quick"
    docs = args.docs or (REPOSITORY / "docs" if mode == "full" else args.results)

    if args.render is not None:
        if not args.render.is_file():
            print(f"error: results file {args.render} not found; pass a JSON file written "
                  "by an earlier run (see benchmarks/results/)", file=sys.stderr)
            return 2
        page = render_page(args.render, docs)
        print(f"rendered {page}")
        return 0

    results_file = run_suite(
        mode=mode,
        workers=args.workers,
        scaling_workers=args.scaling_workers,
        repeats=args.repeats,
        only=args.only,
        results_dir=args.results,
    )
    print(f"results written to {results_file}")
    page = render_page(results_file, docs)
    print(f"rendered {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
