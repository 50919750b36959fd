"""Damaged object files and layouts: attach raises DamagedObjectError with a fix that fits."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memshare.store import codec
from memshare.store.errors import DamagedObjectError, MemshareError

OBJECT_ID = "0123456789abcdef0123456789abcdef"

VALUES = [
    pytest.param(np.arange(10_000.0), id="ndarray"),
    pytest.param(pd.DataFrame({"a": np.arange(1000), "s": ["x"] * 1000}), id="dataframe"),
    pytest.param([np.arange(10), np.ones(3)], id="list"),
    pytest.param("hello", id="scalar"),
]


def write_store_file(folder: Path, value: object) -> tuple[Path, dict[str, object]]:
    """Write ``value`` where the store keeps object ns/x: <root>/ns/x.<object id>.arrow."""
    namespace = folder / "ns"
    namespace.mkdir(exist_ok=True)
    path = namespace / f"x.{OBJECT_ID}.arrow"
    layout = codec.encode(value).write(str(path))
    return path, layout


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_file(shm_dir: Path, value: object, keep: float) -> None:
    path, layout = write_store_file(shm_dir, value)
    os.truncate(path, int(path.stat().st_size * keep))
    with pytest.raises(DamagedObjectError) as info:
        codec.attach(str(path), layout)
    message = str(info.value)
    assert message.startswith(f"cannot read the object file {path}: ")
    assert "lies outside the object file" in message
    assert message.endswith("run 'memshare rm --force ns/x' and register the object again")
    assert info.value.path == str(path)
    assert info.value.namespace == "ns"
    assert info.value.name == "x"


@pytest.mark.parametrize("position", [-16, -64, -200])
def test_overwritten_footer(shm_dir: Path, position: int) -> None:
    path, layout = write_store_file(shm_dir, pd.DataFrame({"a": np.arange(10)}))
    with open(path, "r+b") as file:
        file.seek(position, os.SEEK_END)
        file.write(b"\xff" * 12)
    with pytest.raises(DamagedObjectError, match="memshare rm --force ns/x"):
        codec.attach(str(path), layout)


def test_damaged_list_element(shm_dir: Path) -> None:
    # Elements are read on first access, so a damaged element fails there.
    path, layout = write_store_file(shm_dir, [np.arange(100), np.arange(5)])
    # Element 0 is written first, at offset 0, exactly as it would be alone,
    # so its segment ends where the file of the element alone ends.
    alone = codec.encode(np.arange(100)).write(str(shm_dir / "alone.arrow"))
    with open(path, "r+b") as file:
        file.seek(int(alone["length"]) - 10)
        file.write(b"\xff" * 10)
    view = codec.attach(str(path), layout)
    assert isinstance(view, codec.LazySequence)
    with pytest.raises(DamagedObjectError, match="memshare rm --force ns/x"):
        view[0]
    assert list(view[1]) == list(range(5))


def test_damaged_file_outside_store(shm_dir: Path) -> None:
    path = shm_dir / "loose.arrow"
    layout = codec.encode(np.arange(100)).write(str(path))
    os.truncate(path, 100)
    with pytest.raises(DamagedObjectError) as info:
        codec.attach(str(path), layout)
    assert str(info.value).endswith(f"remove the file {path} and write the object again")
    assert info.value.namespace is None
    assert info.value.name is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"format": 99}, "has format 99", id="format"),
        pytest.param({"kind": "matrix"}, "invalid kind 'matrix'", id="kind"),
        pytest.param({"kind": "table"}, "expects a 'table' object", id="wrong-kind"),
        pytest.param({"offset": "x"}, "no valid offset and length", id="offset"),
        pytest.param({"length": None}, "no valid offset and length", id="length"),
    ],
)
def test_damaged_layout(shm_dir: Path, change: dict[str, object], reason: str) -> None:
    path, layout = write_store_file(shm_dir, np.arange(3))
    with pytest.raises(DamagedObjectError) as info:
        codec.attach(str(path), {**layout, **change})
    assert reason in str(info.value)
    assert "memshare rm --force ns/x" in str(info.value)


def test_damaged_error_family(shm_dir: Path) -> None:
    path, layout = write_store_file(shm_dir, np.arange(3))
    os.truncate(path, 10)
    with pytest.raises(DamagedObjectError) as info:
        codec.attach(str(path), layout)
    error = info.value
    assert isinstance(error, MemshareError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DamagedObjectError
    assert str(copy) == str(error)
    assert copy.path == error.path
