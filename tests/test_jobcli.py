"""The memshare-run command as a subprocess: exit codes, messages, --json, --check."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORR = REPO / "jobs" / "corr.yaml"
# Scaled down from 10000 x 2000, and printed instead of written to jobs/results.
SMALL = ["--set", "data.X.shape=[300,20]", "--set", "data.y.shape=[300]",
         "--set", "steps.0.output=null"]


def memshare_run(*args: str, root: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run the installed memshare-run console script."""
    script = Path(sys.executable).with_name("memshare-run")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**os.environ, "MEMSHARE_ROOT": str(root)})


def objects_in(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_help_lists_options(store_root: Path) -> None:
    result = memshare_run("--help", root=store_root)
    assert result.returncode == 0
    for option in ("--workers", "--set", "--check", "--keep", "--quiet", "--json", "--debug",
                   "--root"):
        assert option in result.stdout
    assert "MB (10^6 bytes)" in result.stdout


def test_corr_summary(store_root: Path) -> None:
    result = memshare_run(str(CORR), "--workers", "2", *SMALL, root=store_root)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "job " in result.stdout
    assert "corr  apply  X      20      2" in result.stdout
    assert "result of corr: ndarray float64 (20,)" in result.stdout
    assert objects_in(store_root) == []


def test_corr_json(store_root: Path) -> None:
    result = memshare_run(str(CORR), "--workers", "2", "--json", *SMALL, root=store_root)

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["namespace"] == "corr"
    assert summary["steps"][0]["slices"] == 20
    assert summary["steps"][0]["workers"] == 2
    assert summary["peak_pss_bytes"] > 0
    assert summary["data"][0]["shape"] == [300, 20]


def test_check_runs_nothing(store_root: Path) -> None:
    result = memshare_run(str(CORR), "--check", root=store_root)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{CORR}: valid: 2 data objects (about 160.1 MB), 1 step,")
    assert list(store_root.iterdir()) == []


def test_quiet_prints_nothing(store_root: Path) -> None:
    result = memshare_run(str(CORR), "--quiet", "--workers", "2", *SMALL, root=store_root)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == ""


def test_invalid_job_exit_2(store_root: Path, tmp_path: Path) -> None:
    job = tmp_path / "bad.yaml"
    job.write_text(CORR.read_text().replace("over: columns", "over: diagonal"))

    result = memshare_run(str(job), root=store_root)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"memshare-run: {job}:12:11: steps[0].over: expected columns or "
                               "rows, got 'diagonal'")
    assert "Traceback" not in result.stderr
    assert list(store_root.iterdir()) == []


def test_bad_arguments_exit_2(store_root: Path) -> None:
    assert memshare_run(str(CORR), "--workers", "0", root=store_root).returncode == 2
    missing = memshare_run("nothere.yaml", root=store_root)
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[0] == "memshare-run: nothere.yaml: job file not found"
    bad_set = memshare_run(str(CORR), "--set", "workers", root=store_root)
    assert bad_set.returncode == 2
    assert "invalid KEY=VALUE 'workers'" in bad_set.stderr


@pytest.fixture
def failing_job(tmp_path: Path) -> Path:
    (tmp_path / "funcs.py").write_text("def explode(x):\n    raise KeyError('no such label')\n")
    job = tmp_path / "fail.yaml"
    job.write_text("data:\n  X: {generate: uniform, shape: [10, 4]}\n"
                   "steps:\n  - {name: boom, apply: X, function: funcs:explode}\n")
    return job


def test_failing_step_exit_1(store_root: Path, failing_job: Path) -> None:
    result = memshare_run(str(failing_job), "--workers", "2", root=store_root)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    # Every element fails, and the first failure that reaches the parent is reported.
    assert re.fullmatch(rf"memshare-run: {re.escape(str(failing_job))}: steps\[0\]: step 'boom' "
                        r"failed: KeyError: 'no such label' on element \d+", lines[0])
    assert lines[1].startswith(f"  raised at {failing_job.parent / 'funcs.py'}:2 in explode")
    assert objects_in(store_root) == []


def test_debug_prints_traceback(store_root: Path, failing_job: Path) -> None:
    result = memshare_run(str(failing_job), "--workers", "2", "--debug", root=store_root)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "KeyError: 'no such label'" in result.stderr
    assert ", line 2, in explode" in result.stderr


def test_root_option(store_root: Path, tmp_path: Path) -> None:
    other = store_root / "other-root"
    result = memshare_run(str(CORR), "--keep", "--workers", "2", "--root", str(other), *SMALL,
                          root=store_root)
    assert result.returncode == 0, result.stderr
    assert "kept in the store: namespace corr (remove with `memshare rm corr`)" in result.stdout
    assert sorted(p.name.split(".")[0] for p in (other / "corr").glob("*.json")) == ["X", "corr",
                                                                                     "y"]


def test_interrupt_releases(store_root: Path, tmp_path: Path) -> None:
    (tmp_path / "funcs.py").write_text("import time\n\ndef slow(x):\n    time.sleep(0.2)\n"
                                       "    return float(x.sum())\n")
    job = tmp_path / "slow.yaml"
    job.write_text("data:\n  X: {generate: uniform, shape: [10, 200]}\n"
                   "steps:\n  - {name: sums, apply: X, function: funcs:slow}\n")
    script = Path(sys.executable).with_name("memshare-run")
    process = subprocess.Popen([str(script), str(job), "--workers", "2"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "MEMSHARE_ROOT": str(store_root)})
    try:
        # Wait until the job has registered X, then give the step time to start.
        deadline = time.monotonic() + 60
        while not list(store_root.glob("slow/X*.arrow")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(store_root.glob("slow/X*.arrow"))
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == ("memshare-run: interrupted; what the job "
                                               "registered was released")
    assert objects_in(store_root) == []


def test_check_json(store_root: Path) -> None:
    result = memshare_run(str(CORR), "--check", "--json", "--workers", "3", root=store_root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["workers"] == 3
    assert report["steps"] == ["corr"]
    assert [item["nbytes"] for item in report["data"]] == [160_000_000, 80_000]
