"""Chunking, worker and thread defaults, and the progress bar."""

from __future__ import annotations

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import memshare
from memshare.runner.tasks import default_chunksize, plan_chunks


@pytest.mark.parametrize(
    "count, workers, expected",
    [
        pytest.param(1000, 2, 125, id="four-tasks-per-worker"),
        pytest.param(7, 4, 1, id="fewer-elements-than-tasks"),
        pytest.param(0, 2, 1, id="empty"),
    ],
)
def test_default_chunksize(count, workers, expected):
    assert default_chunksize(count, workers) == expected


def test_chunks_cover_range():
    chunks = plan_chunks(10, 4)
    assert chunks == [(0, 4), (4, 8), (8, 10)]


def test_chunksize_sets_tasks(store_root):
    # Each task reports the pid that ran it; chunks of 5 keep 5 equal pids together.
    pids = memshare.mem_apply(np.zeros((2, 20)), lambda c: os.getpid(), workers=2, chunksize=5)
    for start in range(0, 20, 5):
        assert len(set(pids[start : start + 5])) == 1


def test_default_workers(store_root):
    cpus = len(os.sched_getaffinity(0))
    with memshare.Pool() as pool:
        # One CPU means one worker, which runs in this process.
        assert len(pool.pids) == (cpus if cpus > 1 else 0)


def max_blas_threads(_column: np.ndarray) -> int:
    return max((pool["num_threads"] for pool in threadpool_info()), default=1)


def test_threads_limited(store_root):
    X = np.zeros((2, 4))
    result = memshare.mem_apply(X, max_blas_threads, workers=2)
    assert result.max() <= max(1, len(os.sched_getaffinity(0)) // 2)


def test_threads_override(store_root):
    if not threadpool_info():
        pytest.skip("numpy was built without a BLAS thread pool")
    X = np.zeros((2, 4))
    result = memshare.mem_apply(X, max_blas_threads, workers=2, threads=3)
    assert result.tolist() == [3] * 4


def test_progress_forced_on(store_root, capsys):
    memshare.mem_apply(np.zeros((2, 30)), np.sum, workers=2, progress=True)
    err = capsys.readouterr().err
    assert "30/30" in err
    assert "slice" in err


def test_progress_off_without_terminal(store_root, capsys):
    memshare.mem_apply(np.zeros((2, 30)), np.sum, workers=2)
    assert capsys.readouterr().err == ""


def test_bad_threads():
    with pytest.raises(ValueError, match="threads"):
        memshare.Pool(1, threads=0)


def test_bad_namespace():
    with pytest.raises(memshare.InvalidNameError, match="namespace"):
        memshare.Pool(1, namespace="../escape")
