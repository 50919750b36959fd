"""Fixtures shared by every test file: a private store root per test and a
helper that runs Python code in a fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SHM = "/dev/shm"


@pytest.fixture
def store_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point ``MEMSHARE_ROOT`` at a fresh 0700 folder under /dev/shm.

    The folder and everything in it are removed after the test. The records
    this process keeps for that root (views, owned objects) are forgotten
    first, so that its exit handler does not look for a removed folder.
    """
    base = SHM if os.path.isdir(SHM) else None
    root = Path(tempfile.mkdtemp(prefix="memshare-test-", dir=base))
    monkeypatch.setenv("MEMSHARE_ROOT", str(root))
    try:
        yield root
    finally:
        # Imported here so that collecting the tests does not import memshare.
        from memshare.store import registry

        registry.forget_root(str(root))
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """Return a fresh folder under /dev/shm for tests that write files directly."""
    folder = Path(tempfile.mkdtemp(prefix="memshare-test-codec-", dir=SHM))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Return a function that runs a Python snippet in a new interpreter.

    The child inherits the environment, so it sees the test's
    ``MEMSHARE_ROOT``. Extra positional arguments become ``sys.argv[1:]``.
    The caller checks ``returncode``, ``stdout`` and ``stderr``.
    """

    def run(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=os.environ.copy(),
        )

    return run
