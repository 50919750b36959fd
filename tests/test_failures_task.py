"""An exception in fn, or a value that cannot be pickled, fails the call cleanly."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import memshare
from memshare.runner.errors import RemoteTraceback

WORKERS = [pytest.param(1, id="in-process"), pytest.param(2, id="2-workers")]


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def fail_on_seven(column: np.ndarray) -> float:
    if column[0] == 7:
        raise ValueError(f"bad column starting with {column[0]}")
    return float(column.sum())


@pytest.mark.parametrize("workers", WORKERS)
def test_error_names_element(store_root, workers):
    X = np.arange(20.0)[None, :].repeat(4, axis=0)

    with pytest.raises(memshare.TaskError) as info:
        memshare.mem_apply(X, fail_on_seven, vars=None, workers=workers, chunksize=2)

    error = info.value
    assert error.index == 7
    assert error.exc_type == "ValueError"
    assert "bad column starting with 7.0" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert isinstance(error.__cause__.__cause__, RemoteTraceback)
    assert "fail_on_seven" in str(error.__cause__.__cause__)
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_pool_usable_after_error(store_root, workers):
    X = np.arange(20.0)[None, :].repeat(4, axis=0)
    with memshare.Pool(workers) as pool:
        pids = pool.pids
        with pytest.raises(memshare.TaskError):
            pool.apply(X, fail_on_seven)
        result = pool.apply(X + 100, fail_on_seven)
        assert pool.pids == pids

    np.testing.assert_array_equal(result, (X + 100).sum(axis=0))
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_lapply_error_index(store_root, workers):
    items = [np.arange(3.0), np.arange(4.0), np.zeros(0)]

    with pytest.raises(memshare.TaskError) as info:
        memshare.mem_lapply(items, lambda a: a.max(), workers=workers)

    assert info.value.index == 2
    assert info.value.label is None
    assert files_under(store_root) == set()


def test_unpicklable_result(store_root):
    X = np.arange(4.0)[None, :]

    with pytest.raises(memshare.TaskError, match="cannot be pickled") as info:
        memshare.mem_apply(X, lambda c: threading.Lock() if c[0] == 2 else 1, workers=2)

    assert info.value.index == 2
    assert files_under(store_root) == set()


def test_unpicklable_function(store_root):
    lock = threading.Lock()

    def locked_sum(column):
        with lock:
            return column.sum()

    with pytest.raises(memshare.FunctionNotPicklableError, match="workers=1"):
        memshare.mem_apply(np.ones((3, 4)), locked_sum, workers=2)
    assert files_under(store_root) == set()

    # In-process runs need no pickling.
    result = memshare.mem_apply(np.ones((3, 4)), locked_sum, workers=1)
    np.testing.assert_array_equal(result, [3.0] * 4)


def test_unpicklable_exception(store_root):
    class LocalError(Exception):
        def __init__(self, a, b):
            super().__init__(a)
            self.lock = threading.Lock()

    def raise_local(column):
        raise LocalError("local failure", 2)

    with pytest.raises(memshare.TaskError, match="local failure") as info:
        memshare.mem_apply(np.ones((3, 4)), raise_local, workers=2)
    # The class name survives although the exception itself could not be sent.
    assert info.value.exc_type.endswith("LocalError")
    assert "with RuntimeError" not in str(info.value)
    assert files_under(store_root) == set()


def interrupt_on_three(column: np.ndarray) -> float:
    if column[0] == 3:
        raise KeyboardInterrupt("raised by fn")
    return float(column[0])


def test_keyboard_interrupt_is_task_error(store_root):
    X = np.arange(8.0)[None, :].repeat(2, axis=0)

    with pytest.raises(memshare.TaskError) as info:
        memshare.mem_apply(X, interrupt_on_three, workers=2, chunksize=1)

    assert info.value.index == 3
    assert info.value.exc_type == "KeyboardInterrupt"
    assert files_under(store_root) == set()


def fail_all_slow_first(column: np.ndarray) -> float:
    # Element 0 fails last, after later elements have already failed.
    if column[0] == 0:
        time.sleep(0.5)
    raise ValueError(f"element {int(column[0])} failed")


def test_lowest_failing_element_reported(store_root):
    X = np.arange(8.0)[None, :].repeat(2, axis=0)

    with pytest.raises(memshare.TaskError) as info:
        memshare.mem_apply(X, fail_all_slow_first, workers=2, chunksize=1)

    assert info.value.index == 0
    assert "element 0 failed" in str(info.value)


def test_sys_exit_is_task_error(store_root):
    def exit_now(column):
        raise SystemExit(3)

    with pytest.raises(memshare.TaskError, match="SystemExit"):
        memshare.mem_apply(np.ones((3, 4)), exit_now, workers=2)
    assert files_under(store_root) == set()


@pytest.mark.parametrize("workers", WORKERS)
def test_error_names_label(store_root, workers):
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 0.0], "c": [3.0, 4.0]})

    def inverse_min(column):
        if (column == 0).all():
            raise ZeroDivisionError(f"column {column.name} is all zero")
        return 1 / column.min()

    with pytest.raises(memshare.TaskError) as info:
        memshare.mem_apply(frame, inverse_min, workers=workers)

    assert info.value.index == 1
    assert info.value.label == "b"
    assert "label 'b'" in str(info.value)
    assert files_under(store_root) == set()


@pytest.mark.slow
def test_pool_survives_many_failures(store_root):
    X = np.arange(40.0)[None, :].repeat(2, axis=0)

    def sometimes(column, mode):
        if column[0] == 13 and mode[0] == 1:
            raise ValueError("planned failure")
        if column[0] == 17 and mode[0] == 2:
            os._exit(3)
        return column[0]

    with memshare.Pool(2) as pool:
        for round_number in range(30):
            mode = np.array([round_number % 3])
            if mode[0] == 0:
                result = pool.apply(X, sometimes, vars={"mode": mode}, chunksize=3)
                np.testing.assert_array_equal(result, np.arange(40.0))
            else:
                expected = memshare.TaskError if mode[0] == 1 else memshare.WorkerCrashedError
                with pytest.raises(expected):
                    pool.apply(X, sometimes, vars={"mode": mode}, chunksize=3)
        assert len(pool.pids) == 2

    assert files_under(store_root) == set()
