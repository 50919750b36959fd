"""Attaching maps the shared file: no private copy in the reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memshare.store import register_variables

SIZE = 200 * 2**20

# Reports how much the child's private anonymous memory (RssAnon: where any
# copy would land) and its mapped shared memory (RssShmem) grow while it
# attaches the object and reads every element.
READER = """
import memshare

def status(field):
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)

anon, shmem = status("RssAnon"), status("RssShmem")
view = memshare.retrieve_views("ns", "x")["x"]
total = int(view.sum(dtype="int64"))
print(total, status("RssAnon") - anon, status("RssShmem") - shmem)
"""


@pytest.mark.slow
def test_attach_no_private_copy(store_root: Path, run_python) -> None:
    x = np.arange(SIZE // 8, dtype=np.int64) % 1000
    expected = int(x.sum())
    register_variables("ns", {"x": x})
    del x

    result = run_python(READER)

    assert result.returncode == 0, result.stderr
    total, anon_growth, shmem_growth = (int(n) for n in result.stdout.split())
    assert total == expected
    # numpy's reduction buffers and the import of pyarrow stay far below
    # this margin; a copy of the array would add the full 200 MiB.
    assert anon_growth < SIZE // 4, anon_growth
    assert shmem_growth > SIZE * 0.9, shmem_growth
