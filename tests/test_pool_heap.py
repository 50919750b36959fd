"""Workers keep freed heap memory, so per-slice temporaries do not fault in fresh pages."""

from __future__ import annotations

import resource
from pathlib import Path

import numpy as np

import memshare
from memshare.runner.heap import keep_heap_in_worker


def make_temporaries() -> float:
    """Allocate three 4 MB arrays at once and free them, as a per-slice computation does."""
    first = np.ones(1 << 19)
    second = first * 2.0
    third = first + second
    return float(third.sum())


def faults_of_temporaries(column: np.ndarray) -> int:
    """Count minor page faults over 20 rounds of :func:`make_temporaries`."""
    make_temporaries()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        make_temporaries()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_heap_thresholds_apply() -> None:
    assert keep_heap_in_worker() is True


def test_temporaries_reuse_heap(store_root: Path) -> None:
    # 20 rounds of 12 MB touch 61440 pages. A worker that returned the freed
    # heap to the system after each round would fault them all in again.
    faults = memshare.mem_apply(np.zeros((4, 2)), faults_of_temporaries, workers=2)
    assert faults.shape == (2,)
    assert faults.max() < 2000
