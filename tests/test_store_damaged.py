"""Damaged metadata and planted links: listed, released and collected without
blocking the other objects."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    StoreRootError,
    gc,
    list_objects,
    register_variables,
    release_variables,
    retrieve_metadata,
)
from memshare.store.api import scan_objects
from memshare.store.collect import DAMAGED_GRACE_SECONDS


def _damage(store_root: Path, namespace: str, name: str) -> Path:
    path = store_root / namespace / f"{name}.json"
    path.write_text("{not json")
    return path


def _age(*paths: Path) -> None:
    # As if the files were last changed before the grace period began.
    old = time.time() - DAMAGED_GRACE_SECONDS - 60
    for path in paths:
        os.utime(path, (old, old), follow_symlinks=False)


def test_list_skips_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2), "good": np.ones(2)})
    path = _damage(store_root, "ns", "bad")

    with pytest.warns(UserWarning, match="memshare rm --force ns/bad") as caught:
        listed = list_objects()

    assert [(m.namespace, m.name) for m in listed] == [("ns", "good")]
    assert str(path) in str(caught[0].message)


def test_retrieve_metadata_skips_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2), "good": np.ones(2)})
    _damage(store_root, "ns", "bad")

    with pytest.warns(UserWarning, match="ns/bad"):
        names = list(retrieve_metadata("ns"))

    assert names == ["good"]
    with pytest.raises(StoreRootError, match="not valid JSON"):
        retrieve_metadata("ns", "bad")


def test_scan_reports_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2), "good": np.ones(2)})
    path = _damage(store_root, "ns", "bad")

    objects, damaged = scan_objects("ns")

    assert [m.name for m in objects] == ["good"]
    assert [(d.label, d.path) for d in damaged] == [("ns/bad", str(path))]
    assert "not valid JSON" in damaged[0].reason


def test_release_removes_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2)})
    _damage(store_root, "ns", "bad")

    release_variables("ns", "bad")

    assert list(store_root.iterdir()) == []


def test_release_require_unheld_keeps_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2), "good": np.ones(2)})
    _damage(store_root, "ns", "bad")
    before = sorted(p.name for p in (store_root / "ns").iterdir())

    with pytest.raises(StoreRootError, match="cannot tell whether ns/bad is held"):
        release_variables("ns", ["good", "bad"], require_unheld=True)

    assert sorted(p.name for p in (store_root / "ns").iterdir()) == before


def test_gc_keeps_recent_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2)})
    path = _damage(store_root, "ns", "bad")

    result = gc()

    assert [(d.label, d.path) for d in result.damaged] == [("ns/bad", str(path))]
    assert result.damaged_removed == ()
    assert path.exists()


def test_gc_removes_old_damaged(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2), "good": np.ones(2)})
    path = _damage(store_root, "ns", "bad")
    data = list((store_root / "ns").glob("bad.*.arrow"))
    assert len(data) == 1
    _age(path, *data)

    result = gc()

    assert result.damaged_removed == ("ns/bad",)
    assert result.damaged == ()
    remaining = sorted(p.name for p in (store_root / "ns").iterdir())
    assert [name for name in remaining if name.startswith("bad")] == []
    assert "good" in retrieve_metadata("ns")


def test_gc_removes_damaged_namespace(store_root: Path) -> None:
    register_variables("ns", {"bad": np.zeros(2)})
    path = _damage(store_root, "ns", "bad")
    _age(path, *(store_root / "ns").glob("bad.*.arrow"))

    result = gc()

    assert result.namespaces == ("ns",)
    assert list(store_root.iterdir()) == []


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("x.json", id="metadata"),
        pytest.param("x.lock", id="lock"),
        pytest.param("x." + "0" * 32 + ".arrow", id="data"),
        pytest.param(".x.1-2-abcdef.tmp", id="temp"),
    ],
)
def test_gc_skips_links(store_root: Path, entry: str) -> None:
    victim = store_root / "victim"
    victim.write_text("precious")
    victim.chmod(0o600)
    register_variables("other", {"y": np.zeros(2)})
    folder = store_root / "ns"
    folder.mkdir(mode=0o700)
    link = folder / entry
    link.symlink_to(victim)
    _age(link)

    result = gc()

    assert result.skipped_links == (str(link),)
    assert link.is_symlink()
    assert victim.read_text() == "precious"
    assert result.objects == ()
    assert "y" in retrieve_metadata("other")


def test_gc_continues_after_link(  # type: ignore[no-untyped-def]
    store_root: Path, tmp_path: Path, run_python
) -> None:
    # Namespaces are visited in name order: the link comes first, and the
    # object of a dead owner after it must still be collected.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (store_root / "a").symlink_to(elsewhere)
    code = (
        "import os, numpy as np, memshare\n"
        "memshare.register_variables('b', {'x': np.zeros(3)})\n"
        "os._exit(0)\n"
    )
    completed = run_python(code)
    assert completed.returncode == 0, completed.stderr

    result = gc()

    assert result.skipped_links == (str(store_root / "a"),)
    assert result.objects == ("b/x",)
    assert (store_root / "a").is_symlink()
    assert list(elsewhere.iterdir()) == []
