"""Workers exit when the process that called them is killed, even mid-element."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

import memshare

# The caller prints its worker pids, then runs a call whose elements each
# sleep far longer than the test waits, so only the caller watch can end them.
CALLER = """
import sys, time
import numpy as np
import memshare


def slow(column):
    time.sleep(600)
    return 0.0


if __name__ == "__main__":
    with memshare.Pool(2) as pool:
        print(*pool.pids, flush=True)
        pool.apply(np.ones((3, 4)), slow)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _busy(pid: int) -> bool:
    # A worker inside fn sleeps in time.sleep with its slice attached.
    try:
        return any("memshare-test-" in m.path for m in psutil.Process(pid).memory_maps())
    except psutil.NoSuchProcess:
        return False


def test_busy_workers_exit_after_sigterm(store_root):
    caller = subprocess.Popen([sys.executable, "-c", CALLER], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        workers = [int(pid) for pid in caller.stdout.readline().split()]
        assert len(workers) == 2

        # Wait until both workers are inside fn, so they do not read their pipes.
        deadline = time.monotonic() + 60
        while not all(_busy(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_busy(pid) for pid in workers)

        # The caller stays a zombie until caller.wait() below, and workers
        # must treat a zombie caller as gone.
        os.kill(caller.pid, signal.SIGTERM)

        deadline = time.monotonic() + 30
        while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in workers:
            assert _gone(pid), f"worker pid {pid} outlived its caller"
        assert caller.wait(30) == -signal.SIGTERM

        # With caller and workers gone, gc removes what the call registered.
        memshare.gc()
        assert memshare.list_objects() == []
    finally:
        caller.kill()
        caller.wait()
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
