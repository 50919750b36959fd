"""Namespace folders: removed with their last object, race-free."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    Store,
    lifecycle,
    list_objects,
    register_variables,
    release_variables,
    retrieve_views,
)

# Registers and releases an object over and over in one shared namespace,
# each process under its own name, then prints "done".
CHURN = """
import sys
import numpy as np
import memshare

name = sys.argv[1]
for value in range(300):
    memshare.register_variables("shared", {name: np.full(100, value)})
    view = memshare.retrieve_views("shared", name)[name]
    assert int(view[0]) == value
    memshare.release_views("shared", name)
    memshare.release_variables("shared", name)
print("done", flush=True)
"""


def test_release_removes_folder(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(3), "y": np.ones(3)})

    release_variables("ns", "x")
    assert (store_root / "ns").is_dir()
    release_variables("ns", "y")

    assert list(store_root.iterdir()) == []


def test_root_kept(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(3)})

    release_variables("ns", "x")

    assert store_root.is_dir()
    assert oct(store_root.stat().st_mode & 0o777) == oct(0o700)


def test_store_close_removes_folder(store_root: Path) -> None:
    with Store("_memshare-run-1234") as store:
        store["X"] = np.arange(5)
        store["X"] = np.arange(6)
        assert store["X"].shape == (6,)

    assert list(store_root.iterdir()) == []


def test_exit_removes_folder(store_root: Path, run_python) -> None:  # type: ignore[no-untyped-def]
    code = "import numpy as np, memshare; memshare.register_variables('tmp', {'x': np.zeros(3)})"

    completed = run_python(code)

    assert completed.returncode == 0, completed.stderr
    assert list(store_root.iterdir()) == []


def test_failed_registration_leaves_no_folder(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = lifecycle.write_data
    calls = [0]

    def fail_second(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 2:
            raise OSError(5, "injected write failure")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "write_data", fail_second)

    with pytest.raises(OSError, match="injected"):
        register_variables("ns", {"a": np.zeros(3), "b": np.zeros(3)})

    assert calls[0] == 2
    assert list(store_root.iterdir()) == []


def test_folder_kept_while_objects_remain(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(3)})
    (store_root / "ns" / "notes.txt").write_text("not the store's")

    release_variables("ns", "x")

    assert [p.name for p in (store_root / "ns").iterdir()] == ["notes.txt"]


def test_register_after_folder_removed(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(3)})
    release_variables("ns", "x")

    register_variables("ns", {"x": np.ones(3)})

    assert float(retrieve_views("ns", "x")["x"][0]) == 1.0


def test_concurrent_register_release(store_root: Path) -> None:
    # Each release may remove the folder while another process is between
    # creating it and creating its lock file there.
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHURN, f"x{index}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for index in range(3)
    ]
    for child in children:
        stdout, stderr = child.communicate(timeout=240)
        assert child.returncode == 0, stderr
        assert stdout == "done\n"

    assert list_objects() == []
    assert list(store_root.iterdir()) == []
