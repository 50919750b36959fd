"""The store root and its files: location, modes, planted links."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    ObjectNotFoundError,
    StoreRootError,
    UnsupportedPlatformError,
    ViewNotHeldError,
    gc,
    layout,
    list_objects,
    register_variables,
    release_views,
    retrieve_metadata,
    retrieve_views,
)


def test_root_created_private(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = store_root / "nested"
    monkeypatch.setenv("MEMSHARE_ROOT", str(root))

    register_variables("ns", {"x": np.zeros(2)})

    assert root.stat().st_mode & 0o777 == 0o700
    assert retrieve_metadata("ns", "x")["x"].name == "x"


def test_root_read_at_each_call(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_variables("ns", {"x": np.zeros(2)})
    other = store_root / "other"
    monkeypatch.setenv("MEMSHARE_ROOT", str(other))

    assert retrieve_metadata("ns") == {}
    register_variables("ns", {"x": np.ones(2)})
    assert (other / "ns" / "x.json").exists()


def test_default_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMSHARE_ROOT", raising=False)

    assert layout.store_root() == f"/dev/shm/memshare-{os.getuid()}"


def test_no_dev_shm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMSHARE_ROOT", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")

    with pytest.raises(UnsupportedPlatformError, match="set MEMSHARE_ROOT"):
        retrieve_metadata("ns")


def test_missing_parent(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = store_root / "no" / "such" / "folder"
    monkeypatch.setenv("MEMSHARE_ROOT", str(root))

    with pytest.raises(StoreRootError) as info:
        register_variables("ns", {"x": np.zeros(2)})

    assert str(root) in str(info.value)
    assert "MEMSHARE_ROOT" in str(info.value)


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701, 0o777])
def test_root_shared_mode(store_root: Path, mode: int) -> None:
    store_root.chmod(mode)

    with pytest.raises(StoreRootError) as info:
        register_variables("ns", {"x": np.zeros(2)})

    assert f"{mode:#o}" in str(info.value)
    assert "chmod 700" in str(info.value)
    assert list(store_root.iterdir()) == []


def test_root_is_symlink(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = store_root / "target"
    target.mkdir(mode=0o700)
    link = store_root / "link"
    link.symlink_to(target)
    monkeypatch.setenv("MEMSHARE_ROOT", str(link))

    with pytest.raises(StoreRootError, match="symbolic link"):
        register_variables("ns", {"x": np.zeros(2)})

    assert list(target.iterdir()) == []


def test_root_is_file(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = store_root / "file"
    path.write_text("")
    monkeypatch.setenv("MEMSHARE_ROOT", str(path))

    with pytest.raises(StoreRootError, match="not a folder"):
        retrieve_metadata("ns")


def test_namespace_symlink(store_root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (store_root / "ns").symlink_to(elsewhere)

    with pytest.raises(StoreRootError, match="symbolic link"):
        register_variables("ns", {"x": np.zeros(2)})
    result = gc()

    assert result.skipped_links == (str(store_root / "ns"),)
    assert (store_root / "ns").is_symlink()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("suffix", ["json", "lock"])
def test_planted_file_symlink(store_root: Path, suffix: str) -> None:
    victim = store_root / "victim"
    victim.write_text("precious")
    victim.chmod(0o600)
    folder = store_root / "ns"
    folder.mkdir(mode=0o700)
    (folder / f"x.{suffix}").symlink_to(victim)

    with pytest.raises(StoreRootError) as info:
        register_variables("ns", {"x": np.zeros(2)})
    with pytest.raises(StoreRootError):
        retrieve_views("ns", "x")

    assert str(folder / f"x.{suffix}") in str(info.value)
    assert victim.read_text() == "precious"
    leftovers = sorted(p.name for p in folder.iterdir())
    assert leftovers == [f"x.{suffix}"] or leftovers == sorted([f"x.{suffix}", "x.lock"])


def test_planted_data_symlink(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(2)})
    meta = retrieve_metadata("ns", "x")["x"]
    data = store_root / "ns" / f"x.{meta.object_id}.arrow"
    victim = store_root / "victim"
    victim.write_bytes(data.read_bytes())
    data.unlink()
    data.symlink_to(victim)

    with pytest.raises(StoreRootError, match="not a regular file"):
        retrieve_views("ns", "x")

    assert retrieve_metadata("ns", "x")["x"].views == 0


def test_metadata_wrong_mode(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(2)})
    path = store_root / "ns" / "x.json"
    path.chmod(0o644)

    with pytest.raises(StoreRootError, match="chmod 600"):
        retrieve_metadata("ns", "x")


def test_metadata_corrupt(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(2)})
    path = store_root / "ns" / "x.json"
    path.write_text("{not json")

    with pytest.raises(StoreRootError, match="not valid JSON"):
        retrieve_views("ns", "x")


def test_namespace_wrong_mode(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(2)})
    (store_root / "ns").chmod(0o770)

    with pytest.raises(StoreRootError, match="0o770"):
        retrieve_views("ns", "x")


def test_root_not_writable(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests may run as root, which bypasses permission bits, so the
    # access check itself reports the folder as unwritable.
    monkeypatch.setattr(os, "access", lambda path, mode: False)

    with pytest.raises(StoreRootError) as info:
        register_variables("ns", {"x": np.zeros(2)})

    assert str(store_root) in str(info.value)
    assert "MEMSHARE_ROOT" in str(info.value)


def test_foreign_entries_ignored(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(2)})
    (store_root / "notes.txt").write_text("not a namespace")
    (store_root / "ns" / "bad name.json").write_text("{}")

    listed = [(m.namespace, m.name) for m in list_objects()]

    assert listed == [("ns", "x")]
    assert gc().objects == ()
    assert (store_root / "notes.txt").exists()


def test_reads_do_not_create_root(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = store_root / "absent"
    monkeypatch.setenv("MEMSHARE_ROOT", str(root))

    assert retrieve_metadata("ns") == {}
    assert list_objects() == []
    assert gc() == gc()
    with pytest.raises(ObjectNotFoundError):
        retrieve_views("ns", "x")
    with pytest.raises(ViewNotHeldError):
        release_views("ns", "x")

    assert not root.exists()


def test_import_creates_nothing(
    store_root: Path, monkeypatch: pytest.MonkeyPatch, run_python
) -> None:
    root = store_root / "absent"
    monkeypatch.setenv("MEMSHARE_ROOT", str(root))

    result = run_python("import memshare")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not root.exists()
