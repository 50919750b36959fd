"""PNG plots of benchmark results (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.harness import summarize  # noqa: E402

logger = logging.getLogger(__name__)

__all__ = ["plot_memory_scaling", "plot_times"]

GiB = 2**30

# One fixed color per system, so a system looks the same in every figure.
COLORS = {
    "serial loop": "#7f7f7f",
    "serial vectorized": "#bcbd22",
    "mp.Pool pickling": "#d62728",
    "mp.Pool initializer": "#ff7f0e",
    "fork + global": "#2ca02c",
    "joblib loky": "#9467bd",
    "ray": "#8c564b",
    "memshare cold": "#17becf",
    "memshare warm": "#1f77b4",
}


def plot_times(workloads: dict[str, Any], names: list[str], workers: int, path: Path) -> Path:
    """Draw median wall time (bars, min-max whiskers) and memory overhead per system.

    One row per workload: time on the left, summed PSS overhead as a multiple of the
    data size on the right, all at ``workers`` workers (serial systems at one).
    """
    figure, axes = plt.subplots(len(names), 2, figsize=(12, 2.6 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        result = workloads[name]
        summary = summarize(result["runs"])
        entries = [
            (system, stats) for (system, count), stats in summary.items()
            if count == workers or system.startswith("serial")
        ]
        labels = [system for system, _ in entries]
        colors = [COLORS.get(system, "#333333") for system in labels]
        medians = [stats["median_s"] for _, stats in entries]
        whiskers = [
            [stats["median_s"] - stats["min_s"] for _, stats in entries],
            [stats["max_s"] - stats["median_s"] for _, stats in entries],
        ]

        time_axis = axes[row][0]
        time_axis.barh(labels, medians, xerr=whiskers, color=colors)
        time_axis.invert_yaxis()
        time_axis.set_xlabel("wall time (s), median and min-max")
        time_axis.set_title(result["title"], fontsize=10, loc="left")

        memory_axis = axes[row][1]
        memory_axis.barh(labels, [stats["overhead_ratio"] for _, stats in entries], color=colors)
        memory_axis.invert_yaxis()
        memory_axis.set_yticklabels([])
        memory_axis.set_xlabel("summed PSS over idle baseline (x data size)")

    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    logger.debug("wrote %s", path)
    return path


def plot_memory_scaling(result: dict[str, Any], path: Path) -> Path:
    """Draw summed PSS overhead and wall time against worker count for every system."""
    summary = summarize(result["runs"])
    systems = sorted({system for system, _ in summary}, key=list(COLORS).index)
    workers = sorted({count for _, count in summary})
    data_gib = result["data_bytes"] / GiB

    figure, (memory_axis, time_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    plotted: list[float] = []
    for system in systems:
        # Serial systems ran once; draw them flat across the sweep as a reference.
        if system.startswith("serial"):
            stats = next(s for (name, _), s in summary.items() if name == system)
            points = [(count, stats) for count in workers]
            style = "--"
        else:
            points = [(count, summary[(system, count)]) for count in workers
                      if (system, count) in summary]
            style = "-o"
        counts = [count for count, _ in points]
        overhead = [stats["overhead_bytes"] / GiB for _, stats in points]
        seconds = [stats["median_s"] for _, stats in points]
        plotted += overhead
        color = COLORS.get(system, "#333333")
        memory_axis.plot(counts, overhead, style, label=system, color=color)
        time_axis.plot(counts, seconds, style, label=system, color=color)

    memory_axis.axhline(data_gib, color="black", linewidth=0.8, linestyle=":")
    memory_axis.annotate("1 x data", (workers[0], data_gib), textcoords="offset points",
                         xytext=(2, 4), fontsize=8)
    for axis in (memory_axis, time_axis):
        axis.set_xscale("log", base=2)
        axis.set_xticks(workers, [str(count) for count in workers])
        axis.set_xlabel("workers")
    memory_axis.set_ylabel("summed PSS over idle baseline (GiB)")
    time_axis.set_ylabel("wall time (s), median")
    # Start the axis at zero (or just below a negative, noise-level overhead) so
    # that the 1 x data line and the growth of the copying systems read at a glance.
    low = min(plotted)
    memory_axis.set_ylim(bottom=min(0.0, 1.1 * low), top=1.1 * max(plotted + [data_gib]))
    memory_axis.legend(fontsize=8)
    figure.suptitle(result["title"], fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    logger.debug("wrote %s", path)
    return path
