"""The built wheel installs into a fresh virtual environment and works there.

The editable install used by the other tests maps ``memshare.store`` and
``memshare.runner`` onto ``store/`` and ``runner/`` in the checkout, so it
cannot show a module missing from the wheel or a broken console script. This
test builds the wheel from a copy of the repository, installs it with its
dependencies into a new venv, and uses it from a folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

REPOSITORY: Final = Path(__file__).resolve().parents[1]

# Paths in the checkout that are not part of the source: the developer's venv,
# git data, and outputs of earlier builds or test runs.
_NOT_SOURCE: Final = (
    ".venv",
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    ".mypy_cache",
    "results",
)

# Substrings of pip's output when it cannot reach the package index. Only
# these make the test skip; any other failure of build or install fails it.
_UNREACHABLE_MARKERS: Final = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Max retries exceeded",
    "ConnectTimeoutError",
    "ReadTimeoutError",
)

# Runs inside the fresh venv, from a folder outside the checkout, and prints
# what the test asserts on as one JSON object.
_USE_INSTALLED: Final = """
import json
import sysconfig
from pathlib import Path

import numpy as np

import memshare
import memshare.store

site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
values = np.arange(1000, dtype=np.float64).reshape(100, 10)
memshare.register_variables("packaging", {"values": values})
view = memshare.retrieve_views("packaging", "values")["values"]
facts = {
    "store_file": str(Path(memshare.store.__file__).resolve()),
    "site_packages": str(site_packages),
    "equal": bool(np.array_equal(view, values)),
    "writeable": bool(view.flags.writeable),
}
del view
memshare.release_views("packaging", "values")
memshare.release_variables("packaging", "values")
print(json.dumps(facts))
"""


def _run_step(command: list[str], step: str, cwd: Path, env: dict[str, str]) -> str:
    """Run one build or install step; skip if the package index is unreachable."""
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=240
    )
    output = completed.stdout + completed.stderr
    if completed.returncode == 0:
        return output

    if any(marker in output for marker in _UNREACHABLE_MARKERS):
        pytest.skip(f"the package index cannot be reached, so {step} failed: {output[-300:]}")
    pytest.fail(f"{step} failed with exit status {completed.returncode}:\n{output[-4000:]}")


@pytest.fixture
def work_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder, removed after the test because the venv takes hundreds of MB."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_wheel_installs_and_runs(work_dir: Path, store_root: Path) -> None:
    # PYTHONPATH could make the venv import the checkout instead of the wheel.
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")
    }
    env["MEMSHARE_ROOT"] = str(store_root)

    # Build from a copy so that setuptools' build/ and *.egg-info folders do
    # not appear in the checkout while other tests use it.
    source = work_dir / "source"
    shutil.copytree(REPOSITORY, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    dist = work_dir / "dist"
    _run_step(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        "building the wheel",
        cwd=work_dir,
        env=env,
    )
    wheels = sorted(dist.glob("memshare-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"

    wheel_files = set(zipfile.ZipFile(wheels[0]).namelist())
    for expected in (
        "memshare/__init__.py",
        "memshare/py.typed",
        "memshare/store/__init__.py",
        "memshare/store/cli.py",
        "memshare/runner/__init__.py",
    ):
        assert expected in wheel_files, f"{expected} is missing from {wheels[0].name}"

    venv = work_dir / "venv"
    _run_step([sys.executable, "-m", "venv", str(venv)], "creating the venv", cwd=work_dir, env=env)
    venv_python = venv / "bin" / "python"
    _run_step(
        # --no-compile skips writing .pyc files for numpy, pandas and pyarrow,
        # the slowest part of the install. Imports work without them.
        [str(venv_python), "-m", "pip", "install", "--no-compile", str(wheels[0])],
        "installing the wheel",
        cwd=work_dir,
        env=env,
    )

    outside = work_dir / "outside"
    outside.mkdir()
    completed = subprocess.run(
        [str(venv_python), "-c", _USE_INSTALLED],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    facts = json.loads(completed.stdout)
    assert Path(facts["store_file"]).is_relative_to(facts["site_packages"]), facts
    assert Path(facts["site_packages"]).is_relative_to(venv.resolve()), facts
    assert facts["equal"]
    assert not facts["writeable"]

    for script in ("memshare", "memshare-run"):
        completed = subprocess.run(
            [str(venv / "bin" / script), "--help"],
            cwd=outside,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert completed.returncode == 0, f"{script} --help failed:\n{completed.stderr}"
        assert completed.stdout.startswith("usage:"), completed.stdout
        assert completed.stderr == "", completed.stderr
