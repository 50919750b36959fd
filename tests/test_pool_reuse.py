"""A Pool keeps its workers and their views between calls, and never serves stale data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import memshare
from memshare.store import register_variables, release_variables, retrieve_metadata


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def mapped_store_files(pid: int, root: Path) -> set[str]:
    """Return the store files that process ``pid`` has memory-mapped."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].startswith(str(root)):
                found.add(fields[5].strip())
    return found


def holder_counts(namespace: str, name: str) -> dict[int, int]:
    metadata = retrieve_metadata(namespace, name)[name]
    return {holder.pid: holder.count for holder in metadata.holders}


def test_workers_stay_warm(store_root):
    X = np.arange(24.0).reshape(4, 6)

    with memshare.Pool(2) as pool:
        pids = pool.pids
        first = pool.apply(X, np.sum)
        second = pool.apply(X, np.max, 1)
        assert pool.pids == pids

    np.testing.assert_array_equal(first, X.sum(axis=0))
    np.testing.assert_array_equal(second, X.max(axis=1))


def test_named_object_mapped_once(store_root):
    register_variables("data", {"X": np.arange(200.0).reshape(10, 20)})

    with memshare.Pool(2) as pool:
        for _ in range(3):
            pool.apply("X", np.sum, namespace="data", chunksize=1)

        # Each worker that ran a task holds exactly one reference.
        counts = holder_counts("data", "X")
        assert set(counts) <= set(pool.pids)
        assert set(counts.values()) == {1}

    # Closing the pool dropped every worker's reference.
    assert holder_counts("data", "X") == {}
    release_variables("data", "X")


def test_reregistered_name_not_stale(store_root):
    register_variables("data", {"X": np.zeros((3, 4))})

    with memshare.Pool(2) as pool:
        before = pool.apply("X", np.sum, namespace="data")
        register_variables("data", {"X": np.ones((3, 4))}, overwrite=True)
        after = pool.apply("X", np.sum, namespace="data")

        # No worker keeps the replaced registration mapped.
        live = {os.path.basename(p) for pid in pool.pids for p in mapped_store_files(pid, store_root)}
        object_id = retrieve_metadata("data", "X")["X"].object_id
        assert all(object_id in name for name in live)

    np.testing.assert_array_equal(before, [0.0] * 4)
    np.testing.assert_array_equal(after, [3.0] * 4)
    release_variables("data", "X")


def test_released_object_unmapped(store_root):
    register_variables("data", {"X": np.ones((3, 4)), "Y": np.ones((2, 2))})

    with memshare.Pool(2) as pool:
        pool.apply("X", np.sum, namespace="data")
        assert any(mapped_store_files(pid, store_root) for pid in pool.pids)

        release_variables("data", "X")
        # The next call notices the release and makes the workers unmap X.
        pool.apply("Y", np.sum, namespace="data")
        for pid in pool.pids:
            assert not any("/X." in path for path in mapped_store_files(pid, store_root))

    release_variables("data", "Y")
    assert files_under(store_root) == set()


def test_call_objects_unmapped(store_root):
    with memshare.Pool(2) as pool:
        pool.apply(np.ones((5, 6)), lambda c, w: c @ w, vars={"w": np.ones(5)}, namespace="scratch")
        pool.lapply([np.ones(2), np.zeros(3)], np.sum, namespace="scratch")

        for pid in pool.pids:
            assert mapped_store_files(pid, store_root) == set()
    assert files_under(store_root) == set()


def test_in_process_pool(store_root):
    with memshare.Pool(1) as pool:
        assert pool.pids == []
        result = pool.apply(np.arange(6.0).reshape(2, 3), np.sum)

    np.testing.assert_array_equal(result, [3.0, 5.0, 7.0])
    assert files_under(store_root) == set()
