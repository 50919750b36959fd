"""Lifetimes: release at exit, persist, fork."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    ObjectNotFoundError,
    register_variables,
    retrieve_metadata,
    retrieve_views,
)

REGISTER = """
import sys
import numpy as np
import memshare
memshare.register_variables("ns", {"temp": np.zeros(8)})
memshare.register_variables("ns", {"kept": np.ones(8)}, persist=True)
memshare.retrieve_views("ns", ["temp", "kept"])
print(sorted(memshare.retrieve_metadata("ns")), flush=True)
"""


def test_exit_releases_owned(store_root: Path, run_python) -> None:
    result = run_python(REGISTER)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == "['kept', 'temp']\n"
    assert sorted(retrieve_metadata("ns")) == ["kept"]
    with pytest.raises(ObjectNotFoundError):
        retrieve_views("ns", "temp")


def test_exit_drops_views(store_root: Path, run_python) -> None:
    run_python(REGISTER)

    meta = retrieve_metadata("ns", "kept")["kept"]

    assert meta.persistent is True
    assert meta.holders == ()
    assert sorted(p.name for p in (store_root / "ns").iterdir()) == sorted(
        ["kept.json", "kept.lock", f"kept.{meta.object_id}.arrow"]
    )


def test_exit_after_overwrite_by_other(store_root: Path, run_python) -> None:
    # The child's object is replaced by this process before the child exits;
    # the child's exit handler must not remove the replacement.
    code = (
        "import sys, numpy as np, memshare\n"
        "memshare.register_variables('ns', {'x': np.zeros(4)})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    register_variables("ns", {"x": np.ones(4)}, overwrite=True)
    child.communicate("\n", timeout=60)

    assert child.returncode == 0
    np.testing.assert_array_equal(retrieve_views("ns", "x")["x"], np.ones(4))


def test_fork_child_owns_nothing(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})
    retrieve_views("ns", "x")
    read, write = os.pipe()

    pid = os.fork()
    if pid == 0:
        # The child runs the store's exit handler, which must touch neither
        # the parent's object nor its holder record. os._exit keeps pytest's
        # own exit handlers from running in the child.
        code = 1
        try:
            from memshare.store import lifecycle, registry

            os.close(read)
            os.write(write, b"%d" % (len(registry.held) + len(registry.owned)))
            os.close(write)
            lifecycle.release_at_exit()
            code = 0
        finally:
            os._exit(code)

    os.close(write)
    child_records = os.read(read, 16)
    os.close(read)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child_records == b"0"
    meta = retrieve_metadata("ns", "x")["x"]
    assert meta.owner_pid == os.getpid()
    assert [(h.pid, h.count) for h in meta.holders] == [(os.getpid(), 1)]


def test_forked_worker_drops_views(store_root: Path) -> None:
    # multiprocessing's fork workers end with os._exit, skipping atexit; the
    # store's multiprocessing finalizer drops their views anyway.
    register_variables("ns", {"x": np.arange(10.0)})
    context = multiprocessing.get_context("fork")
    process = context.Process(target=_hold_without_release, args=("ns", "x"))
    process.start()
    process.join(60)

    assert process.exitcode == 0
    assert retrieve_metadata("ns", "x")["x"].views == 0


def _hold_without_release(namespace: str, name: str) -> None:
    retrieve_views(namespace, name)
