"""A worker that dies is reported at once with its task and exit status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import memshare


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def sigkill_self(column: np.ndarray) -> float:
    # The kernel's OOM killer ends a process with the same signal.
    if column[0] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(column[0])


def exit_hard(column: np.ndarray) -> float:
    if column[0] == 5:
        os._exit(7)
    return float(column[0])


def segfault(column: np.ndarray) -> float:
    if column[0] == 5:
        import ctypes

        ctypes.string_at(0)
    return float(column[0])


CRASHES = [
    pytest.param(sigkill_self, -signal.SIGKILL, "SIGKILL", id="sigkill"),
    pytest.param(exit_hard, 7, None, id="os-exit"),
    pytest.param(segfault, -signal.SIGSEGV, "SIGSEGV", id="segfault"),
]


@pytest.mark.parametrize("fn, exitcode, signal_name", CRASHES)
def test_crash_reported(store_root, fn, exitcode, signal_name):
    X = np.arange(12.0)[None, :].repeat(3, axis=0)

    with pytest.raises(memshare.WorkerCrashedError) as info:
        memshare.mem_apply(X, fn, workers=2, chunksize=2)

    error = info.value
    assert error.exitcode == exitcode
    assert error.signal_name == signal_name
    assert error.start <= 5 < error.stop
    assert "died with" in str(error)
    assert files_under(store_root) == set()


def test_pool_replaces_dead_worker(store_root):
    X = np.arange(12.0)[None, :].repeat(3, axis=0)

    with memshare.Pool(2) as pool:
        before = set(pool.pids)
        with pytest.raises(memshare.WorkerCrashedError):
            pool.apply(X, sigkill_self, chunksize=2)

        # The dead worker was replaced before the error reached the caller.
        after = set(pool.pids)
        result = pool.apply(X + 100, sigkill_self)

    np.testing.assert_array_equal(result, np.arange(100.0, 112.0))
    assert len(after) == 2
    assert len(before - after) == 1
    assert files_under(store_root) == set()


def test_idle_worker_killed_between_calls(store_root):
    X = np.ones((3, 8))

    with memshare.Pool(2) as pool:
        victim = pool.pids[0]
        os.kill(victim, signal.SIGKILL)
        while os.path.exists(f"/proc/{victim}") and _state(victim) != "Z":
            time.sleep(0.01)

        result = pool.apply(X, np.sum)
        assert victim not in pool.pids

    np.testing.assert_array_equal(result, [3.0] * 8)
    assert files_under(store_root) == set()


def test_closed_pool_stops_workers(store_root):
    pool = memshare.Pool(2)
    processes = pool.pids
    pool.close()

    for pid in processes:
        assert not os.path.exists(f"/proc/{pid}") or _state(pid) == "Z"
    with pytest.raises(RuntimeError, match="closed"):
        pool.apply(np.ones((2, 2)), np.sum)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_parent_killed_workers_exit(store_root, tmp_path):
    script = (
        "import sys, time, memshare\n"
        "if __name__ == '__main__':\n"
        "    pool = memshare.Pool(2)\n"
        "    print(*pool.pids, flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in child.stdout.readline().split()]
        assert len(workers) == 2
    finally:
        child.kill()
        child.wait()

    # Each worker gets EOF on its pipe and exits on its own.
    deadline = time.monotonic() + 30
    while any(_state(pid) not in ("gone", "Z") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in workers:
        assert _state(pid) in ("gone", "Z")
