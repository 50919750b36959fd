"""Objects shared between processes: attach, hold, exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from memshare.store import register_variables, retrieve_metadata, retrieve_views

# A child that attaches "ns/x", prints its sum, waits for a line on stdin,
# then (with argv[1] == "release") releases its view and exits.
HOLDER = """
import sys
import memshare
view = memshare.retrieve_views("ns", "x")["x"]
print(float(view.sum()), flush=True)
sys.stdin.readline()
if sys.argv[1] == "release":
    memshare.release_views("ns", "x")
print("done", flush=True)
"""


def _start_holder(mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(child: subprocess.Popen[str]) -> str:
    out, err = child.communicate("\n", timeout=60)
    assert child.returncode == 0, err
    assert err == ""
    return out


def test_child_reads_while_owner_holds(store_root: Path) -> None:
    x = np.arange(1_000_000, dtype=np.float64)
    register_variables("ns", {"x": x})
    mine = retrieve_views("ns", "x")["x"]

    child = _start_holder("release")
    assert child.stdout is not None
    assert float(child.stdout.readline()) == float(x.sum())

    holders = retrieve_metadata("ns", "x")["x"].holders
    assert sorted(h.pid for h in holders) == sorted([os.getpid(), child.pid])
    assert all(h.count == 1 for h in holders)

    _finish(child)
    holders = retrieve_metadata("ns", "x")["x"].holders
    assert [h.pid for h in holders] == [os.getpid()]
    np.testing.assert_array_equal(mine, x)


def test_child_exit_keeps_object(store_root: Path) -> None:
    x = np.arange(1000, dtype=np.int64)
    register_variables("ns", {"x": x})
    before = sorted(p.name for p in (store_root / "ns").iterdir())

    # The child exits without releasing: its exit handler drops its view.
    child = _start_holder("keep")
    assert child.stdout is not None
    assert float(child.stdout.readline()) == float(x.sum())
    assert retrieve_metadata("ns", "x")["x"].views == 1
    _finish(child)

    meta = retrieve_metadata("ns", "x")["x"]
    assert meta.views == 0
    assert meta.owner_pid == os.getpid()
    assert sorted(p.name for p in (store_root / "ns").iterdir()) == before
    np.testing.assert_array_equal(retrieve_views("ns", "x")["x"], x)


def test_child_registers_for_parent(store_root: Path, run_python) -> None:
    code = (
        "import numpy as np, memshare\n"
        "memshare.register_variables('ns', {'y': np.full(5, 7.0)}, persist=True)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr

    view = retrieve_views("ns", "y")["y"]
    np.testing.assert_array_equal(view, np.full(5, 7.0))
    assert retrieve_metadata("ns", "y")["y"].persistent is True


def test_spawned_workers_hold_counts(store_root: Path) -> None:
    import multiprocessing

    register_variables("ns", {"x": np.ones(100)})
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        sums = pool.map(_attach_and_sum, [("ns", "x")] * 4)

    assert sums == [100.0] * 4
    # Each task released its view before returning.
    assert retrieve_metadata("ns", "x")["x"].views == 0


def _attach_and_sum(reference: tuple[str, str]) -> float:
    import memshare

    namespace, name = reference
    total = float(memshare.retrieve_views(namespace, name)[name].sum())
    memshare.release_views(namespace, name)
    return total
