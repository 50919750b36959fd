"""The ``memshare-run`` command: check and run a YAML job file.

Exit status: 0 on success, 2 for an invalid job file or invalid arguments
(nothing was registered), 1 when loading data, a step or an output failed
(everything the job registered was released again), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, Final

from memshare.runner.jobfile import JobFileError
from memshare.runner.jobplan import JobPlan, plan_job
from memshare.runner.jobrun import JobFailedError, JobSummary, run_job
from memshare.store.errors import MemshareError

__all__ = ["build_parser", "format_summary", "main"]

logger = logging.getLogger(__name__)

PROG: Final = "memshare-run"
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_INVALID: Final = 2
EXIT_INTERRUPTED: Final = 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``memshare-run``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Run a YAML job file: register its data in the shared-memory store, run each "
            "step's function over columns, rows or list elements in worker processes, "
            "write the outputs and release the data. Relative paths in the job file "
            "resolve against the job file's folder, which is also importable."
        ),
        epilog=(
            "exit status: 0 success; 2 invalid job file or arguments (nothing was "
            "registered); 1 loading data, a step or an output failed (what the job "
            "registered was released); 130 interrupted. Sizes are in MB (10^6 bytes), "
            "times in seconds. See docs/jobs.md for every key of a job file."
        ),
    )

    parser.add_argument("job", metavar="JOB.yaml", help="the job file to run")

    parser.add_argument(
        "--workers", type=_positive_int, metavar="N",
        help="number of worker processes (default: the job's `workers`, else one per CPU "
        "available to this process); 1 runs every step in this process",
    )

    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override a key of the job file by its dotted path before checking; VALUE is "
        "parsed as YAML and null removes the key; repeatable, e.g. "
        "--set data.X.shape=[10000,50] --set steps.0.output=null",
    )

    parser.add_argument(
        "--check", action="store_true",
        help="check the job (schema, data files and columns, functions import and are "
        "callable, names, outputs writable, store names free) and exit without running",
    )

    parser.add_argument(
        "--keep", action="store_true",
        help="keep the data and step results in the store after the job, as persistent "
        "objects of the job's namespace (remove them with `memshare rm NAMESPACE`)",
    )

    parser.add_argument(
        "--quiet", action="store_true",
        help="print neither progress nor the summary; errors are still printed",
    )

    parser.add_argument(
        "--json", action="store_true",
        help="print the summary as one JSON object on stdout (bytes and seconds)",
    )

    parser.add_argument(
        "--root", metavar="PATH",
        help="store root folder for this run; overrides $MEMSHARE_ROOT "
        "(default: $MEMSHARE_ROOT, else /dev/shm/memshare-<uid>)",
    )

    parser.add_argument(
        "--debug", action="store_true",
        help="log DEBUG messages to stderr and print the traceback of an error",
    )

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``memshare-run`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(process)d %(name)s: %(message)s")
    if args.root:
        os.environ["MEMSHARE_ROOT"] = args.root

    try:
        plan = plan_job(args.job, args.overrides, workers=args.workers,
                        keep=True if args.keep else None)
    except JobFileError as error:
        return _report(error, args.debug, EXIT_INVALID)
    except MemshareError as error:
        # The store itself is unusable (root missing or unsafe, platform).
        return _report(error, args.debug, EXIT_FAILED)

    if args.check:
        if args.json:
            print(json.dumps(_check_dict(plan), indent=2))
        elif not args.quiet:
            print(_check_text(plan))
        return EXIT_OK

    terminal = sys.stderr.isatty() and not args.quiet
    announce = (lambda line: print(line, file=sys.stderr, flush=True)) if terminal else None
    try:
        summary = run_job(plan, progress=None if terminal else False, announce=announce)
    except (JobFailedError, MemshareError) as error:
        return _report(error, args.debug, EXIT_FAILED)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; what the job registered was released", file=sys.stderr)
        return EXIT_INTERRUPTED

    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    elif not args.quiet:
        print(format_summary(summary))
    return EXIT_OK


def _report(error: BaseException, debug: bool, status: int) -> int:
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    else:
        print(f"{PROG}: {error}", file=sys.stderr)
    return status


def _check_dict(plan: JobPlan) -> dict[str, Any]:
    return {
        "job": str(plan.path), "valid": True, "namespace": plan.namespace,
        "workers": plan.workers, "keep": plan.keep,
        "data": [{"name": s.name, "source": s.source, "kind": s.kind, "nbytes": s.nbytes}
                 for s in plan.sources],
        "steps": [s.spec.name for s in plan.steps],
    }


def _check_text(plan: JobPlan) -> str:
    size = sum(source.nbytes or 0 for source in plan.sources)
    return (f"{plan.path}: valid: {_count(len(plan.sources), 'data object')} (about "
            f"{_mb(size)}), {_count(len(plan.steps), 'step')}, namespace {plan.namespace}, "
            f"{_count(plan.workers, 'worker')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


def format_summary(summary: JobSummary) -> str:
    """Write the summary of a job as the text ``memshare-run`` prints."""
    lines = [
        f"job {summary.job}: namespace {summary.namespace}, {_count(summary.workers, 'worker')}, "
        f"{summary.wall_s:.2f} s, peak memory {_mb(summary.peak_pss_bytes)} "
        "(PSS of this process and its workers)",
    ]
    data_rows = [[item["name"], item["source"], item["kind"], item["dtype"],
                  " x ".join(str(n) for n in item["shape"]), _mb(item["nbytes"]),
                  f"{item['load_s']:.2f}"] for item in summary.data]
    lines += _table(["data", "source", "kind", "dtype", "shape", "size", "load s"], data_rows)
    step_rows = [[step.name, step.mode, step.input, str(step.slices), str(step.workers),
                  f"{step.wall_s:.2f}", _mb(step.peak_pss_bytes), step.output or "-"]
                 for step in summary.steps]
    lines += _table(["step", "mode", "input", "slices", "workers", "wall s", "peak memory",
                     "output"], step_rows)
    for step in summary.steps:
        if step.result is not None:
            lines += [f"result of {step.name}: {step.result}"]
    if summary.kept:
        lines.append(f"kept in the store: namespace {summary.namespace} "
                     f"(remove with `memshare rm {summary.namespace}`)")
    return "\n".join(lines)
