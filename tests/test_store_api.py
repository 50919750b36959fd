"""register/retrieve/release/metadata in one process."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import memshare
from memshare.store import (
    ObjectExistsError,
    ObjectNotFoundError,
    ViewNotHeldError,
    register_variables,
    release_variables,
    release_views,
    retrieve_metadata,
    retrieve_views,
)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_roundtrip_numpy(store_root: Path) -> None:
    x = np.arange(1000, dtype=np.float64).reshape(100, 10)
    register_variables("ns", {"x": x})

    view = retrieve_views("ns", "x")["x"]

    np.testing.assert_array_equal(view, x)
    assert view.flags.writeable is False
    assert not np.shares_memory(view, x)


def test_view_is_read_only(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(10)})
    view = retrieve_views("ns", "x")["x"]

    with pytest.raises(ValueError):
        view[0] = 1.0


def test_metadata_fields(store_root: Path) -> None:
    x = np.ones((3, 4), dtype=np.int32)
    register_variables("ns", {"x": x})

    meta = retrieve_metadata("ns", "x")["x"]

    assert meta.namespace == "ns"
    assert meta.name == "x"
    assert meta.kind == "ndarray"
    assert meta.shape == (3, 4)
    assert meta.nbytes == x.nbytes
    assert meta.owner_pid == os.getpid()
    assert meta.holders == ()
    assert meta.views == 0
    assert meta.persistent is False
    assert meta.as_dict()["shape"] == [3, 4]


def test_holder_counts_per_call(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4), "y": np.ones(4)})

    retrieve_views("ns", ["x", "y"])
    retrieve_views("ns", "x")
    assert retrieve_metadata("ns", "x")["x"].views == 2
    assert retrieve_metadata("ns", "y")["y"].views == 1

    release_views("ns", "x")
    holders = retrieve_metadata("ns", "x")["x"].holders
    assert [(h.pid, h.count) for h in holders] == [(os.getpid(), 1)]

    release_views("ns", ["x", "y"])
    assert retrieve_metadata("ns", "x")["x"].views == 0
    assert retrieve_metadata("ns", "y")["y"].views == 0


def test_release_not_held(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    with pytest.raises(ViewNotHeldError, match="holds no view"):
        release_views("ns", "x")


def test_release_after_object_released(store_root: Path) -> None:
    register_variables("ns", {"x": np.arange(4.0)})
    view = retrieve_views("ns", "x")["x"]
    release_variables("ns", "x")

    release_views("ns", "x")

    assert view.sum() == 6.0
    with pytest.raises(ViewNotHeldError):
        release_views("ns", "x")


def test_exists_error(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    with pytest.raises(ObjectExistsError, match="overwrite=True"):
        register_variables("ns", {"x": np.ones(4)})
    np.testing.assert_array_equal(retrieve_views("ns", "x")["x"], np.zeros(4))


def test_overwrite_keeps_old_view(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})
    old_view = retrieve_views("ns", "x")["x"]
    old_id = retrieve_metadata("ns", "x")["x"].object_id

    register_variables("ns", {"x": np.ones(4)}, overwrite=True)

    new_meta = retrieve_metadata("ns", "x")["x"]
    assert new_meta.object_id != old_id
    assert new_meta.views == 0
    np.testing.assert_array_equal(old_view, np.zeros(4))
    np.testing.assert_array_equal(retrieve_views("ns", "x")["x"], np.ones(4))
    release_views("ns", "x")
    release_views("ns", "x")
    expected = sorted(["ns/x.json", "ns/x.lock", f"ns/x.{new_meta.object_id}.arrow"])
    assert _files(store_root) == expected


def test_release_variables(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    release_variables("ns", "x")

    with pytest.raises(ObjectNotFoundError, match="'x'"):
        retrieve_views("ns", "x")
    with pytest.raises(ObjectNotFoundError):
        release_variables("ns", "x")
    assert _files(store_root) == []


def test_retrieve_missing_takes_nothing(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    with pytest.raises(ObjectNotFoundError, match="objects in that namespace: x"):
        retrieve_views("ns", ["x", "missing"])

    assert retrieve_metadata("ns", "x")["x"].views == 0


def test_missing_namespace(store_root: Path) -> None:
    with pytest.raises(ObjectNotFoundError):
        retrieve_views("nothing", "x")
    assert retrieve_metadata("nothing") == {}
    assert memshare.list_objects("nothing") == []


def test_list_objects(store_root: Path) -> None:
    register_variables("a", {"x": np.zeros(2), "y": np.zeros(3)})
    register_variables("b", {"x": np.zeros(4)})

    listed = [(m.namespace, m.name) for m in memshare.list_objects()]

    assert listed == [("a", "x"), ("a", "y"), ("b", "x")]
    assert [m.name for m in memshare.list_objects("a")] == ["x", "y"]


def test_file_modes(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    assert store_root.stat().st_mode & 0o777 == 0o700
    assert (store_root / "ns").stat().st_mode & 0o777 == 0o700
    for path in (store_root / "ns").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_facade_exports() -> None:
    for name in (
        "register_variables",
        "retrieve_views",
        "release_views",
        "release_variables",
        "retrieve_metadata",
        "list_objects",
    ):
        assert name in memshare.__all__


def test_require_unheld(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})
    retrieve_views("ns", "x")

    with pytest.raises(memshare.ObjectInUseError, match=rf"held by pid {os.getpid()} \(1 view\)"):
        release_variables("ns", "x", require_unheld=True)
    assert "x" in retrieve_metadata("ns")

    release_views("ns", "x")
    release_variables("ns", "x", require_unheld=True)
    assert retrieve_metadata("ns") == {}


def test_release_variables_missing_removes_nothing(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    with pytest.raises(ObjectNotFoundError, match="'y'"):
        release_variables("ns", ["x", "y"])

    assert "x" in retrieve_metadata("ns")


def test_repeated_name_counts_once(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(4)})

    views = retrieve_views("ns", ["x", "x"])

    assert list(views) == ["x"]
    assert retrieve_metadata("ns", "x")["x"].views == 1


def test_require_unheld_removes_nothing(store_root: Path) -> None:
    register_variables("ns", {"a": np.zeros(4), "b": np.zeros(4)})
    retrieve_views("ns", "b")

    with pytest.raises(memshare.ObjectInUseError, match="ns/b"):
        release_variables("ns", ["a", "b"], require_unheld=True)

    assert sorted(retrieve_metadata("ns")) == ["a", "b"]
