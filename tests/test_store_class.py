"""The Store class: dictionary syntax over one namespace."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    ObjectExistsError,
    ObjectNotFoundError,
    Store,
    register_variables,
    retrieve_metadata,
)
from memshare.store.errors import ForeignObjectError


def test_set_get(store_root: Path) -> None:
    with Store("ns") as store:
        store["x"] = np.arange(5)
        view = store["x"]

        np.testing.assert_array_equal(view, np.arange(5))
        assert "x" in store
        assert "y" not in store
        assert store.keys() == ["x"]
        assert list(store) == ["x"]
        assert len(store) == 1
        assert store.metadata("x").views == 1


def test_exit_releases(store_root: Path) -> None:
    with Store("ns") as store:
        store["x"] = np.arange(5)
        view = store["x"]

    assert retrieve_metadata("ns") == {}
    # The view outlives the object: its pages stay mapped.
    assert int(view.sum()) == 10


def test_exit_drops_views_of_others(store_root: Path) -> None:
    register_variables("ns", {"shared": np.ones(3)})

    with Store("ns") as store:
        store["shared"]
        store["shared"]
        assert store.metadata("shared").views == 2

    meta = retrieve_metadata("ns", "shared")["shared"]
    assert meta.views == 0
    assert meta.owner_pid == os.getpid()


def test_replace_own(store_root: Path) -> None:
    with Store("ns") as store:
        store["x"] = np.zeros(3)
        first = store.metadata("x").object_id
        store["x"] = np.ones(3)

        assert store.metadata("x").object_id != first
        np.testing.assert_array_equal(store["x"], np.ones(3))


def test_no_replace_foreign(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(3)})

    with Store("ns") as store, pytest.raises(ObjectExistsError):
        store["x"] = np.ones(3)

    assert "x" in retrieve_metadata("ns")


def test_delete(store_root: Path) -> None:
    with Store("ns") as store:
        store["x"] = np.zeros(3)
        store["x"]
        del store["x"]

        assert "x" not in store
        with pytest.raises(ObjectNotFoundError):
            store["x"]
        with pytest.raises(ObjectNotFoundError):
            del store["x"]


def test_persist(store_root: Path) -> None:
    with Store("ns", persist=True) as store:
        store["x"] = np.zeros(3)
        store["x"]

    meta = retrieve_metadata("ns", "x")["x"]
    assert meta.persistent is True
    assert meta.views == 0


def test_close_twice(store_root: Path) -> None:
    store = Store("ns")
    store["x"] = np.zeros(3)
    store.close()
    store.close()

    assert retrieve_metadata("ns") == {}


def test_bad_namespace() -> None:
    with pytest.raises(ValueError, match="invalid namespace"):
        Store("../up")


def test_delete_foreign_object(store_root: Path) -> None:
    register_variables("ns", {"other": np.ones(3)})

    with Store("ns") as store, pytest.raises(KeyError, match="release_variables") as caught:
        del store["other"]

    assert isinstance(caught.value, ForeignObjectError)
    assert "other" in retrieve_metadata("ns")


@pytest.mark.parametrize("value", ["no", 1, None])
def test_persist_must_be_bool(store_root: Path, value: object) -> None:
    with pytest.raises(TypeError, match="persist must be True or False"):
        Store("ns", persist=value)  # type: ignore[arg-type]
