"""Render a results JSON file into ``benchmarks.md`` with tables, targets and plots.

Everything on the page is generated from the JSON except the reading of the
results. A person writes that reading between the ``NOTES_START`` and
``NOTES_END`` markers, and re-rendering keeps the block.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Final

from benchmarks.harness import summarize
from benchmarks.plots import plot_memory_scaling, plot_times
from benchmarks.targets import evaluate_targets

logger = logging.getLogger(__name__)

__all__ = ["render_page"]

NOTES_START: Final = "<!-- reading:start -->"
NOTES_END: Final = "<!-- reading:end -->"
DEFAULT_NOTES: Final = "(No reading written for this run yet.)"

SPEED_WORKLOADS: Final = ("correlate", "bootstrap", "lapply", "dataframe")
MiB: Final = 2**20


def _bytes(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if abs(value) >= 2**30:
        return f"{value / 2**30:.2f} GiB"
    return f"{value / MiB:.0f} MiB"


def _ratio(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _loads(values: list[float] | None) -> str:
    if not values:
        return "n/a"
    return " / ".join(f"{value:.2f}" for value in values)


def _read_notes(page: Path) -> str:
    """Return the hand-written reading block of an existing page, if any."""
    if not page.exists():
        return DEFAULT_NOTES
    text = page.read_text(encoding="utf-8")
    if NOTES_START in text and NOTES_END in text:
        return text.split(NOTES_START, 1)[1].split(NOTES_END, 1)[0].strip()
    return DEFAULT_NOTES


def _machine_section(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items()
                         if version is not None)
    absent = [name for name, version in machine["versions"].items() if version is None]
    blas = ", ".join(f"{name}={value}" for name, value in machine["blas_threads"].items())
    rows = [
        ("Mode", f"`{results['mode']}`, started {results['started_utc']}, "
                 f"took {results['seconds'] / 60:.1f} min"),
        ("Command", f"`{' '.join(['python -m benchmarks', *results['argv'][1:]])}`"),
        ("CPU", f"{machine['cpu_model']}, {machine['usable_cpus']} usable of "
                f"{machine['logical_cpus']} logical CPUs"),
        ("Memory", _bytes(machine["memory_bytes"])),
        ("/dev/shm", _bytes(machine["shm_bytes"])),
        ("Load average (1, 5, 15 min)",
         f"{_loads(machine['load_average'])} at start, "
         f"{_loads(results.get('load_average_end'))} at end"),
        ("Cores given to 2 CPU-bound processes",
         f"{_ratio(results.get('capacity_start'))} at start, "
         f"{_ratio(results.get('capacity_end'))} at end (2.00 on an idle 2-core machine)"),
        ("Transparent huge pages",
         f"anonymous memory `{machine.get('transparent_hugepage')}`, "
         f"shmem and /dev/shm `{machine.get('shmem_hugepage')}`"),
        ("OS", machine["os"]),
        ("Versions", versions),
        ("Not installed", ", ".join(absent) or "none"),
        ("BLAS threads", blas),
        ("Commit", f"`{machine['git_commit']}`"),
    ]
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return lines


def _workload_table(result: dict[str, Any]) -> list[str]:
    """Table of median time, spread, ratios against memshare and memory overhead."""
    summary = summarize(result["runs"])
    lines = [
        "| system | workers | median s | min-max s | warm / system | cold / system "
        "| PSS overhead | x data | /dev/shm | correct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for (system, workers), stats in summary.items():
        # Serial systems ran once, so they are compared with memshare at every count.
        warm = summary.get(("memshare warm", workers))
        cold = summary.get(("memshare cold", workers))
        warm_ratio = warm["median_s"] / stats["median_s"] if warm else float("nan")
        cold_ratio = cold["median_s"] / stats["median_s"] if cold else float("nan")
        lines.append(
            f"| {system} | {workers} | {stats['median_s']:.3f} "
            f"| {stats['min_s']:.3f}-{stats['max_s']:.3f} | {_ratio(warm_ratio)} "
            f"| {_ratio(cold_ratio)} | {_bytes(stats['overhead_bytes'])} "
            f"| {_ratio(stats['overhead_ratio'])} | {_bytes(stats['shm_bytes'])} "
            f"| {'yes' if stats['correct'] else '**no**'} |"
        )

    errors = [run for run in result["runs"] if "error" in run]
    for run in errors:
        lines.append(f"\n{run['system']} failed at {run['workers']} workers: `{run['error']}`")
    for system, reason in result["skipped"].items():
        lines.append(f"\nSkipped {system}: {reason}.")
    return lines


def _scaling_table(result: dict[str, Any]) -> list[str]:
    summary = summarize(result["runs"])
    workers = sorted({count for _, count in summary})
    systems = list(dict.fromkeys(system for system, _ in summary))
    header = "| system | " + " | ".join(f"{count} workers" for count in workers) + " |"
    lines = [header, "|---|" + "---:|" * len(workers)]
    for system in systems:
        cells = []
        for count in workers:
            stats = summary.get((system, count))
            if stats is None and system.startswith("serial"):
                stats = next(s for (name, _), s in summary.items() if name == system)
            cells.append(
                "" if stats is None else
                f"{_ratio(stats['overhead_ratio'])} x ({stats['median_s']:.1f} s)"
            )
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    for system, reason in result["skipped"].items():
        lines.append(f"\nSkipped {system}: {reason}.")
    return lines


def _registration_lines(registration: dict[str, Any]) -> list[str]:
    lines = [
        f"Registration of a {_bytes(registration['bytes'])} float64 array "
        f"({registration['register']['reps']} repetitions, median):\n",
        "| operation | median s | bandwidth |",
        "|---|---:|---:|",
    ]
    for key, label in (("register", "`register_variables`"),
                       ("copy_fresh_memory", "copy into fresh anonymous memory"),
                       ("write_shm_file", "write into a new /dev/shm file")):
        stats = registration[key]
        lines.append(f"| {label} | {stats['median_s']:.3f} "
                     f"| {stats['bytes_per_s'] / 2**30:.2f} GiB/s |")
    return [*lines, ""]


def _attach_lines(attach: dict[str, Any]) -> list[str]:
    lines = ["| object | attach median | release median |", "|---|---:|---:|"]
    for label in ("small", "large"):
        entry = attach[label]
        lines.append(f"| {_bytes(entry['bytes'])} | {entry['attach']['median_s'] * 1e3:.3f} ms "
                     f"| {entry['release']['median_s'] * 1e3:.3f} ms |")
    return [*lines, ""]


def _column_pass_lines(column_pass: dict[str, Any]) -> list[str]:
    lines = [
        f"Summing every column of a {column_pass['rows']} x {column_pass['cols']} float64 "
        "matrix in one process, pages already mapped:\n",
        "| placement | median ms | min-max ms |", "|---|---:|---:|",
    ]
    for label, stats in column_pass["seconds"].items():
        lines.append(f"| {label} | {stats['median_s'] * 1e3:.1f} "
                     f"| {stats['min_s'] * 1e3:.1f}-{stats['max_s'] * 1e3:.1f} |")
    return [*lines, ""]


def _dispatch_lines(dispatch: dict[str, Any]) -> list[str]:
    lines = [
        f"Dispatch of {dispatch['tasks']} identity tasks on {dispatch['workers']} started "
        "workers:\n",
        "| system | tasks per second |", "|---|---:|",
    ]
    return lines + [f"| {label} | {rate:,.0f} |" for label, rate in dispatch["tasks_per_s"].items()]


def _micro_section(micro: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "skipped" in micro:
        lines.append(f"Registration and attach were skipped: {micro['skipped']}.\n")
    if "registration" in micro:
        lines += _registration_lines(micro["registration"])
    if "attach" in micro:
        lines += _attach_lines(micro["attach"])
    if "column_pass" in micro:
        lines += _column_pass_lines(micro["column_pass"])
    return lines + _dispatch_lines(micro["dispatch"])


def render_page(results_file: Path, docs: Path) -> Path:
    """Render ``results_file`` into ``docs/benchmarks.md`` and ``docs/img/*.png``."""
    results = json.loads(Path(results_file).read_text(encoding="utf-8"))
    page = docs / "benchmarks.md"
    images = docs / "img"
    images.mkdir(parents=True, exist_ok=True)
    notes = _read_notes(page)
    workloads = results["workloads"]
    plan = results["plan"]

    lines = [
        "# Benchmarks",
        "",
        "memshare next to the tools a numpy, pandas or joblib user would pick instead, "
        "on the same workloads in the same run. Every number on this page is rendered "
        "from one results file by `python -m benchmarks`; only the reading at the end is "
        "written by hand.",
        "",
        "## How to run",
        "",
        "```",
        "python -m benchmarks --quick          # every workload at small sizes, under a minute",
        "python -m benchmarks --full           # the sizes below; rewrites this page",
        "python -m benchmarks --full --workers 1,2,4,8 --scaling-workers 1,2,4,8,16",
        "python -m benchmarks --render benchmarks/results/full-<time>.json --docs docs",
        "```",
        "",
        "Raw results go to `benchmarks/results/` as JSON (machine, versions, exact "
        "parameters, every repetition). Ray is compared when it is installed.",
        "",
        "## Machine",
        "",
        *_machine_section(results),
        "",
        "## Method",
        "",
        f"- Each comparison runs every system in the same process, {plan['repeats']} "
        f"repetition(s) per system ({plan['scaling_repeats']} on the scaling sweep), the "
        "order rotated by one system per repetition. Tables give the median and the "
        "min-max spread.",
        "- Ratios `warm / system` and `cold / system` divide memshare's median time by "
        "that system's: below 1 means memshare was faster.",
        "- Memory is PSS summed over the parent and every worker process, sampled by a "
        "separate process every 50 ms or more while the call runs. The table shows the peak minus the idle "
        "baseline of the same system (its workers started, with numpy and pandas "
        "imported, no data) and that overhead as a multiple of the data size. The parent "
        "already holds the input in both, so 1.0 x means one extra copy of the data. "
        "PSS counts a /dev/shm page only while some process maps it, so the `/dev/shm` "
        "column adds the peak size of the memshare store and of joblib's memory-mapping "
        "folder. The forkserver and resource-tracker processes that outlive a pool are "
        "left out of every sum.",
        f"- Parallel peers split the items into {_first_blocks(workloads)} contiguous "
        "blocks per worker, and memshare uses its default chunking. numpy runs with one "
        "BLAS thread in every process.",
        "- \"Cores given to 2 CPU-bound processes\" (Machine table) times a pure-Python "
        "loop in one process and in two at once. Below 2.00, other programs were using "
        "the cores, which caps every parallel speedup on this page.",
        "- Workers are started inside the timed call for multiprocessing and memshare "
        "cold; joblib (whose loky workers persist between calls), Ray and memshare warm "
        "get started workers, as in an interactive session.",
        "",
        "Systems:",
        "",
        *[f"- **{name}**: {description}." for name, description in results["systems"].items()],
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|:---:|",
        *[f"| {row['target']} | {row['measured']} | {row['met']} |"
          for row in evaluate_targets(results)],
        "",
    ]

    speed = [name for name in SPEED_WORKLOADS if name in workloads]
    if speed:
        workers = max(plan["workers"])
        plot_times(workloads, speed, workers, images / "bench_times.png")
        lines += [f"## Workloads 1 to 4 at {workers} workers", "",
                  "![time and memory per workload](img/bench_times.png)", ""]
    for number, name in enumerate(SPEED_WORKLOADS, start=1):
        if name not in workloads:
            continue
        result = workloads[name]
        lines += [f"### {number}. {result['title']}", "",
                  f"{result['items']} items, {_bytes(result['data_bytes'])} of data, "
                  f"parameters `{result['params']}`.", "", *_workload_table(result), ""]

    if "scaling" in workloads:
        result = workloads["scaling"]
        plot_memory_scaling(result, images / "bench_memory_scaling.png")
        lines += [
            "## 5. Memory scaling", "",
            f"{result['title']} ({_bytes(result['data_bytes'])}); each cell is the summed "
            "PSS overhead as a multiple of the data size, with the median time.", "",
            "![summed PSS and time against workers](img/bench_memory_scaling.png)", "",
            *_scaling_table(result), "",
        ]

    if "micro" in results:
        lines += ["## 6. Micro benchmarks", "", *_micro_section(results["micro"]), ""]

    lines += ["## Reading the results", "", NOTES_START, notes, NOTES_END, ""]
    page.write_text("\n".join(lines), encoding="utf-8")
    logger.debug("rendered %s from %s", page, results_file)
    return page


def _first_blocks(workloads: dict[str, Any]) -> int | str:
    for result in workloads.values():
        return int(result["blocks_per_worker"])
    return "several"
