"""Ctrl-C (SIGINT) in the parent stops the call, releases its objects and propagates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# Run in a child interpreter, which the test interrupts once every worker has
# written its pid to the marker folder (so the call is surely running).
SCRIPT = """
import os, sys, time
import numpy as np
import memshare

markers = sys.argv[1]
mode = sys.argv[2]

def slow(column):
    with open(os.path.join(markers, str(os.getpid())), "w"):
        pass
    time.sleep(0.2)
    return float(column.sum())

X = np.ones((4, 400))
if __name__ == "__main__":
    if mode == "pool":
        with memshare.Pool(2) as pool:
            try:
                pool.apply(X, slow, chunksize=1)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
            result = pool.apply(X[:, :4], np.sum)
            print("reused", result.tolist(), flush=True)
    else:
        memshare.mem_apply(X, slow, workers=2, chunksize=1)
"""


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def interrupt_when_running(tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess, list[int]]:
    markers = tmp_path / "markers"
    markers.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(markers), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(markers)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(os.listdir(markers)) == 2, "the workers never started"
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    workers = [int(name) for name in os.listdir(markers)]
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr), workers


def test_interrupt_propagates(store_root, tmp_path):
    result, workers = interrupt_when_running(tmp_path, "mem_apply")

    assert result.returncode == -signal.SIGINT, result.stderr
    assert "KeyboardInterrupt" in result.stderr
    for pid in workers:
        assert not running(pid)
    assert files_under(store_root) == set()


def test_interrupt_keeps_pool(store_root, tmp_path):
    result, workers = interrupt_when_running(tmp_path, "pool")

    assert result.returncode == 0, result.stderr
    assert "interrupted" in result.stdout
    assert "reused [4.0, 4.0, 4.0, 4.0]" in result.stdout
    for pid in workers:
        assert not running(pid)
    assert files_under(store_root) == set()


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
