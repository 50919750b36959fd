"""The benchmark harness end to end: ``python -m benchmarks --quick`` into a temp folder.

The run takes most of a minute on two cores, so it happens once per module and
the tests below check its output. No test looks at a timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.memshare_systems import MEMSHARE_SYSTEMS
from benchmarks.report import NOTES_END, NOTES_START, render_page
from benchmarks import WORKLOADS
from benchmarks.systems import PEERS

REPOSITORY = Path(__file__).resolve().parent.parent
SYSTEM_NAMES = [system.name for system in (*PEERS, *MEMSHARE_SYSTEMS)]

pytestmark = pytest.mark.slow


def _bench_roots() -> set[str]:
    return {entry for entry in os.listdir("/dev/shm") if entry.startswith("memshare-bench-")}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the quick suite once and return its paths, output and parsed results."""
    folder = tmp_path_factory.mktemp("bench")
    roots_before = _bench_roots()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick",
         "--results", str(folder / "results"), "--docs", str(folder / "docs")],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=240,
    )
    files = sorted((folder / "results").glob("quick-*.json"))
    return {
        "completed": completed,
        "folder": folder,
        "files": files,
        "results": json.loads(files[0].read_text()) if files else None,
        "leftover_roots": _bench_roots() - roots_before,
    }


def test_quick_exits_cleanly(quick_run: dict[str, Any]) -> None:
    completed = quick_run["completed"]
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert len(quick_run["files"]) == 1


def test_quick_covers_workloads(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    for name in WORKLOADS:
        if name == "micro":
            assert "micro" in results
        else:
            assert name in results["workloads"], name


def test_quick_covers_systems(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    for name, result in results["workloads"].items():
        measured = {run["system"] for run in result["runs"] if "seconds" in run}
        accounted = measured | set(result["skipped"])
        missing = [system for system in SYSTEM_NAMES if system not in accounted]
        assert not missing, f"{name}: no run and no skip reason for {missing}"


def test_quick_runs_succeed(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    for name, result in results["workloads"].items():
        failed = [(run["system"], run["error"]) for run in result["runs"] if "error" in run]
        assert not failed, f"{name}: {failed}"


def test_quick_answers_match(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    for name, result in results["workloads"].items():
        wrong = [run["system"] for run in result["runs"] if run.get("correct") is False]
        assert not wrong, f"{name}: answers differ from the serial loop for {wrong}"


def test_quick_records_memory(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    for result in results["workloads"].values():
        for run in result["runs"]:
            assert run["peak_pss"] > 0
            assert "pss" in run["baseline"], run


def test_quick_records_machine(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    machine = results["machine"]
    for key in ("cpu_model", "usable_cpus", "memory_bytes", "shm_bytes", "versions"):
        assert machine[key], key
    assert machine["versions"]["numpy"]
    assert results["capacity_start"] > 0
    assert results["capacity_end"] > 0


def test_quick_measures_micro(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert results is not None
    micro = results["micro"]
    assert micro["registration"]["register"]["bytes_per_s"] > 0
    assert micro["attach"]["large_vs_small"] > 0
    assert all(rate > 0 for rate in micro["dispatch"]["tasks_per_s"].values())
    assert len(micro["column_pass"]["seconds"]) == 3


def test_quick_renders_page(quick_run: dict[str, Any]) -> None:
    docs = quick_run["folder"] / "docs"
    page = (docs / "benchmarks.md").read_text()
    assert "## Targets" in page
    assert "## 5. Memory scaling" in page
    for image in ("bench_times.png", "bench_memory_scaling.png"):
        assert (docs / "img" / image).stat().st_size > 0, image
        assert f"img/{image}" in page


def test_render_keeps_reading(quick_run: dict[str, Any]) -> None:
    docs = quick_run["folder"] / "docs"
    page = docs / "benchmarks.md"
    text = page.read_text()
    before, rest = text.split(NOTES_START, 1)
    _, after = rest.split(NOTES_END, 1)
    page.write_text(f"{before}{NOTES_START}\nWritten by hand.\n{NOTES_END}{after}")

    render_page(quick_run["files"][0], docs)

    assert "Written by hand." in page.read_text()


def test_quick_removes_store_root(quick_run: dict[str, Any]) -> None:
    assert quick_run["leftover_roots"] == set()
