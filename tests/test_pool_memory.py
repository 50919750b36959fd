"""Workers share the object's pages instead of copying them.

PSS splits each shared page among the processes that map it, so the PSS
summed over the parent and the workers counts the shared object once.
``RssAnon`` counts only private anonymous memory, which a zero-copy view does
not add to; a sampler thread reads it while a call runs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np
import pytest

import memshare
from memshare.store import register_variables, release_variables

MB = 1024 * 1024
SIZE = 200 * MB


def status_kb(pid: int, path: str, field: str) -> int:
    with open(f"/proc/{pid}/{path}") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/{path}")


def pss_bytes(pids: list[int]) -> int:
    return sum(status_kb(pid, "smaps_rollup", "Pss") for pid in pids) * 1024


def rss_anon_bytes(pid: int) -> int:
    return status_kb(pid, "status", "RssAnon") * 1024


class Sampler(threading.Thread):
    """Record the maximum of ``measure()`` every few milliseconds until stopped."""

    def __init__(self, measure: Callable[[], int]) -> None:
        super().__init__(daemon=True)
        self.measure = measure
        self.maximum = 0
        self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.01):
            try:
                self.maximum = max(self.maximum, self.measure())
                self.samples += 1
            except (FileNotFoundError, ProcessLookupError):
                continue


def sorted_median(column: np.ndarray) -> float:
    # Sorting takes long enough for the sampler to see every worker busy.
    return float(np.sort(column)[column.size // 2])


@pytest.mark.slow
@pytest.mark.parametrize("axis", [0, 1])
def test_pss_grows_by_one_copy(store_root, axis):
    side = int((SIZE // 8) ** 0.5)
    X = np.random.default_rng(0).random((side, side))

    with memshare.Pool(4) as pool:
        # The first call makes each worker import this test module (fn is
        # pickled by reference to it), which the idle reading must include.
        pool.apply(np.ones((4, 8)), sorted_median)
        processes = [*pool.pids, os.getpid()]
        idle = pss_bytes(processes)

        # A named object stays mapped in the workers after the call, so the
        # reading below sees every worker's mapping at once. A sampler during
        # the call reads the processes one after another while workers are
        # still mapping pages, and then counts some shared pages twice.
        register_variables("data", {"X": X})
        result = pool.apply("X", sorted_median, axis, namespace="data")
        mapped = pss_bytes(processes)
        shared = [status_kb(pid, "smaps_rollup", "Pss_Shmem") for pid in pool.pids]

    release_variables("data", "X")
    assert all(kb > 0 for kb in shared)
    assert mapped - idle <= 1.2 * X.nbytes
    expected = np.sort(X, axis=axis).take(side // 2, axis=axis)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.slow
def test_workers_copy_nothing(store_root):
    side = int((SIZE // 8) ** 0.5)
    X = np.random.default_rng(0).random((side, side))

    with memshare.Pool(2) as pool:
        pool.apply(np.ones((4, 8)), sorted_median)
        idle = {pid: rss_anon_bytes(pid) for pid in pool.pids}
        samplers = [Sampler(lambda pid=pid: rss_anon_bytes(pid) - idle[pid]) for pid in pool.pids]
        for sampler in samplers:
            sampler.start()
        pool.apply(X, sorted_median, 0)
        for sampler in samplers:
            sampler.stopping.set()
            sampler.join()

    # Each worker reads the whole object; a copy would add about X.nbytes / 2.
    for sampler in samplers:
        assert sampler.samples > 0
        assert sampler.maximum < 0.05 * X.nbytes
