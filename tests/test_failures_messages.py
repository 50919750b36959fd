"""Error messages name what the caller passed and the likely cause of a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import memshare


def sigkill_on_five(column: np.ndarray) -> float:
    if column[0] == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return float(column[0])


def test_crash_sigkill_names_oom(store_root):
    X = np.arange(12.0)[None, :].repeat(3, axis=0)

    with pytest.raises(memshare.WorkerCrashedError) as info:
        memshare.mem_apply(X, sigkill_on_five, workers=2, chunksize=2)

    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert "SIGKILL while running elements" in lines[0]
    assert "OOM killer" in lines[1]
    assert "__main__" not in str(info.value)
    assert info.value.started


UNGUARDED = """
import numpy as np
import memshare

print(memshare.mem_apply(np.ones((3, 4)), np.sum, workers=2))
"""


def test_crash_at_start_up(store_root, tmp_path):
    # Without the guard, each worker runs the script again while it starts,
    # and multiprocessing refuses to start processes from there.
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)

    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-2:]
    assert "during start-up, before running any element" in last[0]
    assert "running elements" not in last[0]
    assert "if __name__ == '__main__':" in last[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_x_named_as_argument(store_root, workers):
    X = np.array([[1, "a"]], dtype=object)

    with pytest.raises(memshare.UnsupportedTypeError) as info:
        memshare.mem_apply(X, np.sum, workers=workers)

    message = str(info.value)
    assert message.startswith("cannot pass X to the workers: X is a numpy array of dtype object")
    assert "_call-" not in message
    assert "_memshare-run-" not in message
    assert info.value.argument == "X"


def test_bad_var_named_as_argument(store_root):
    with pytest.raises(memshare.UnsupportedTypeError) as info:
        memshare.mem_lapply([1, 2], len, workers=1, vars={"y": np.array([object()])})

    message = str(info.value)
    assert message.startswith("cannot pass vars['y'] to the workers: vars['y'] is")
    assert "_call-" not in message


def test_var_names_need_namespace(store_root):
    with pytest.raises(ValueError, match=r"vars=\['y'\] names registered objects, so pass namespace="):
        memshare.mem_apply(np.ones((2, 2)), np.sum, workers=1, vars=["y"])

    # Nothing was registered before the check.
    assert memshare.list_objects() == []


@pytest.mark.parametrize(
    "call, argument",
    [
        pytest.param(lambda: memshare.mem_apply("X", np.sum, workers=1), "X", id="apply"),
        pytest.param(lambda: memshare.mem_lapply("L", len, workers=1), "items", id="lapply"),
    ],
)
def test_name_needs_namespace(store_root, call, argument):
    with pytest.raises(ValueError) as info:
        call()

    message = str(info.value)
    assert message.startswith(f"{argument}=")
    assert "namespace=" in message


def test_named_list_called_list(store_root):
    memshare.register_variables("ns", {"L": [1, 2, 3]})

    with pytest.raises(memshare.UnsupportedTypeError) as info:
        memshare.mem_apply("L", np.sum, namespace="ns", workers=1)

    message = str(info.value)
    assert "is a list;" in message
    assert "LazySequence" not in message
    memshare.release_variables("ns", "L")
