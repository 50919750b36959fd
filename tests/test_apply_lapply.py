"""mem_lapply over lists of arrays and DataFrames gives the serial results in order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import memshare
from memshare.store import register_variables, release_variables

WORKERS = [pytest.param(1, id="in-process"), pytest.param(2, id="2-workers")]


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


@pytest.mark.parametrize("workers", WORKERS)
def test_arrays(store_root, workers):
    items = [np.arange(n, dtype=np.float64) for n in range(1, 12)]

    result = memshare.mem_lapply(items, lambda a: a.sum(), workers=workers, chunksize=2)

    assert result == [a.sum() for a in items]
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_frames(store_root, workers):
    items = [
        pd.DataFrame({"a": np.arange(n), "b": [f"s{i}" for i in range(n)]}) for n in (2, 5, 3)
    ]

    result = memshare.mem_lapply(items, lambda df: (len(df), df["b"].iloc[-1]), workers=workers)

    assert result == [(len(df), df["b"].iloc[-1]) for df in items]


@pytest.mark.parametrize("workers", WORKERS)
def test_returns_any_value(store_root, workers):
    items = (np.ones(2), np.zeros(3))

    result = memshare.mem_lapply(items, lambda a: None if a[0] else {"n": a.size}, workers=workers)

    assert result == [None if a[0] else {"n": a.size} for a in items]


@pytest.mark.parametrize("workers", WORKERS)
def test_vars(store_root, workers):
    items = [np.arange(3.0), np.arange(5.0)]
    scale = np.array([10.0])

    result = memshare.mem_lapply(
        items, lambda a, scale: a.sum() * scale[0], vars={"scale": scale}, workers=workers
    )

    assert result == [30.0, 100.0]
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_list_by_name(store_root, workers):
    items = [np.arange(4.0), np.arange(2.0)]
    register_variables("data", {"items": items})
    before = files_under(store_root)

    result = memshare.mem_lapply("items", np.sum, namespace="data", workers=workers)

    assert result == [6.0, 1.0]
    assert files_under(store_root) == before
    release_variables("data", "items")


def test_empty_list(store_root):
    assert memshare.mem_lapply([], len, workers=2) == []
    assert files_under(store_root) == set()


def test_not_a_list(store_root):
    with pytest.raises(TypeError, match="list"):
        memshare.mem_lapply(np.arange(3), len, workers=1)
    register_variables("data", {"X": np.arange(3)})
    with pytest.raises(TypeError, match="mem_apply"):
        memshare.mem_lapply("X", len, namespace="data", workers=1)
    release_variables("data", "X")
    assert files_under(store_root) == set()
