"""gc: reaping what killed processes left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    gc,
    register_variables,
    retrieve_metadata,
    retrieve_views,
)
from memshare.store.process import current

# Registers (argv[1] == "persist": persistently) a 100 MB object "ns/big",
# optionally attaches "ns/x", prints "ready", then sleeps until killed.
OWNER = """
import sys, time
import numpy as np
import memshare
if sys.argv[1] in ("own", "persist"):
    memshare.register_variables(
        "ns", {"big": np.ones(100 * 2**20 // 8)}, persist=sys.argv[1] == "persist"
    )
if sys.argv[1] == "hold":
    memshare.retrieve_views("ns", "x")
    memshare.retrieve_views("ns", "x")
print("ready", flush=True)
time.sleep(600)
"""


def _run_and_kill(mode: str) -> int:
    child = subprocess.Popen(
        [sys.executable, "-c", OWNER, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line == "ready\n", child.stderr.read() if child.stderr else ""
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    return child.pid


def test_killed_owner_object_removed(store_root: Path) -> None:
    pid = _run_and_kill("own")
    meta = retrieve_metadata("ns", "big")["big"]
    assert meta.owner_pid == pid
    assert meta.nbytes == 100 * 2**20

    result = gc()

    assert result.objects == ("ns/big",)
    assert result.namespaces == ("ns",)
    assert list(store_root.rglob("*")) == []


def test_killed_holder_reaped(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(10)})
    retrieve_views("ns", "x")
    pid = _run_and_kill("hold")
    assert retrieve_metadata("ns", "x")["x"].views == 3

    result = gc()

    assert [(h.name, h.pid, h.count) for h in result.holders] == [("x", pid, 2)]
    assert result.objects == ()
    holders = retrieve_metadata("ns", "x")["x"].holders
    assert [(h.pid, h.count) for h in holders] == [(os.getpid(), 1)]


def test_persistent_survives_gc(store_root: Path) -> None:
    _run_and_kill("persist")

    result = gc()

    assert result.objects == ()
    view = retrieve_views("ns", "big")["big"]
    assert view.shape == (100 * 2**20 // 8,)
    assert float(view[-1]) == 1.0


def test_live_owner_kept(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(10)})

    result = gc()

    assert result.objects == ()
    assert "x" in retrieve_metadata("ns")


def test_dead_owner_live_holder_kept(store_root: Path) -> None:
    _run_and_kill("own")
    view = retrieve_views("ns", "big")["big"]

    assert gc().objects == ()
    assert float(view[0]) == 1.0

    from memshare.store import release_views

    release_views("ns", "big")
    assert gc().objects == ("ns/big",)


def test_reused_pid_not_alive(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(10)})
    retrieve_views("ns", "x")
    path = store_root / "ns" / "x.json"

    # A record with this process's pid but another start time stands for an
    # earlier process that had the same pid.
    values = json.loads(path.read_text())
    values["holders"][0]["start_time"] -= 1000.0
    values["holders"][0]["start_ticks"] -= 100_000
    values["owner_start_time"] -= 1000.0
    values["owner_start_ticks"] -= 100_000
    path.write_text(json.dumps(values))

    result = gc()

    assert [h.pid for h in result.holders] == [os.getpid()]
    assert result.objects == ("ns/x",)


def test_stale_temp_files(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(10)})
    folder = store_root / "ns"
    dead = _run_and_kill("idle")
    stale = folder / f".x.{dead}-123456-abcdef.tmp"
    stale.write_bytes(b"partial")
    own = folder / f".y.{current().token()}-abcdef.tmp"
    own.write_bytes(b"being written")
    orphan = folder / ("x." + "0" * 32 + ".arrow")
    orphan.write_bytes(b"unreferenced")

    result = gc()

    assert sorted(result.temp_files) == sorted([str(stale), str(orphan)])
    assert not stale.exists()
    assert not orphan.exists()
    assert own.exists()
    assert "x" in retrieve_metadata("ns")


def test_foreign_files_left_alone(store_root: Path) -> None:
    folder = store_root / "ns"
    folder.mkdir(mode=0o700)
    (folder / "notes.txt").write_text("kept")
    (folder / "model.v2.arrow").write_text("kept")

    result = gc()

    assert result.namespaces == ()
    assert result.temp_files == ()
    assert (folder / "notes.txt").read_text() == "kept"
    assert (folder / "model.v2.arrow").read_text() == "kept"


@pytest.mark.parametrize("namespace", ["ns", "other"])
def test_one_namespace(store_root: Path, namespace: str) -> None:
    _run_and_kill("own")

    result = gc(namespace)

    expected = ("ns/big",) if namespace == "ns" else ()
    assert result.objects == expected


def test_clock_change_keeps_holder(store_root: Path) -> None:
    register_variables("ns", {"x": np.zeros(10)})
    retrieve_views("ns", "x")
    path = store_root / "ns" / "x.json"

    # As if the wall clock was set back after registration: epoch start
    # times no longer match, the start in ticks since boot still does.
    values = json.loads(path.read_text())
    values["holders"][0]["start_time"] -= 1000.0
    values["owner_start_time"] -= 1000.0
    path.write_text(json.dumps(values))

    result = gc()

    assert result.holders == ()
    assert result.objects == ()
    assert retrieve_metadata("ns", "x")["x"].views == 1
