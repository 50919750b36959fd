"""Bad arguments to ``python -m benchmarks`` fail at once with a usable message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--workers", "0"], "every count must be at least 1", id="zero-workers"),
        pytest.param(["--workers", "two"], "invalid worker list 'two'", id="word-workers"),
        pytest.param(["--scaling-workers", ","], "give at least one count", id="empty-sweep"),
        pytest.param(["--only", "sorting"], "unknown workload(s) ['sorting']", id="unknown-workload"),
        pytest.param(["--quick", "--full"], "not allowed with argument", id="both-modes"),
        pytest.param(["--repeats", "0"], "--repeats must be at least 1, got 0", id="zero-repeats"),
    ],
)
def test_cli_rejects(args: list[str], expected: str) -> None:
    completed = _run(*args)
    assert completed.returncode == 2
    assert expected in completed.stderr


def test_cli_render_missing(tmp_path: Path) -> None:
    completed = _run("--render", str(tmp_path / "absent.json"), "--docs", str(tmp_path))
    assert completed.returncode == 2
    assert "absent.json" in completed.stderr
    assert not (tmp_path / "benchmarks.md").exists()


def test_cli_help_lists_options() -> None:
    completed = _run("--help")
    assert completed.returncode == 0
    for option in ("--quick", "--full", "--workers", "--scaling-workers", "--only"):
        assert option in completed.stdout
