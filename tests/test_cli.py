"""The ``memshare`` inspection command, in-process and as the installed script.

Objects are registered by the test process or by child processes that hold
views or are killed, each test in its own store root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pytest
from memshare.store import cli, cli_format
from memshare.store.cli import main
from memshare.store.cli_format import format_age, format_shape, format_size

import memshare

SCRIPT: Final = Path(sys.executable).parent / "memshare"

LISTING_HEADERS: Final = [
    "NAMESPACE",
    "NAME",
    "KIND",
    "DTYPE",
    "SHAPE",
    "SIZE",
    "VIEWS",
    "OWNER",
    "PERSISTENT",
    "AGE",
]

# A child that takes one view, reports its pid, and keeps the view until its
# stdin is closed; its normal exit then drops the view.
_HOLD_VIEW: Final = """
import os
import sys

import memshare

namespace, name = sys.argv[1], sys.argv[2]
view = memshare.retrieve_views(namespace, name)[name]
print(os.getpid(), flush=True)
sys.stdin.read()
"""

# A child that registers one non-persistent array and waits to be killed.
_REGISTER_AND_WAIT: Final = """
import sys

import numpy as np
import memshare

memshare.register_variables(sys.argv[1], {sys.argv[2]: np.arange(1000.0)})
print("registered", flush=True)
sys.stdin.read()
"""


def _start_child(code: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start a child running `code` and return it with the first line it printed."""
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert child.stdout is not None
    first_line = child.stdout.readline()
    if not first_line:
        _, stderr = child.communicate(timeout=60)
        pytest.fail(f"the child exited before it was ready:\n{stderr}")
    return child, first_line


@contextmanager
def _view_held_by_child(namespace: str, name: str) -> Iterator[int]:
    """Hold one view of the object in a child process and yield its pid."""
    child, first_line = _start_child(_HOLD_VIEW, namespace, name)
    try:
        yield int(first_line)
    finally:
        # Closing stdin lets the child exit normally, which drops its view.
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr


def _run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )


@pytest.fixture
def other_root() -> Iterator[Path]:
    """A second empty store root under /dev/shm, removed after the test."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = Path(tempfile.mkdtemp(prefix="memshare-test-other-", dir=base))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _listing_rows(output: str) -> dict[tuple[str, str], list[str]]:
    """Split the ``ls`` table into cells, keyed by (namespace, name)."""
    lines = output.splitlines()
    assert lines[0].split() == LISTING_HEADERS
    rows = {}
    for line in lines[1:]:
        cells = line.split()
        rows[(cells[0], cells[1])] = cells
    return rows


# --- formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nbytes", "expected"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (3 * 2**30, "3.0 GiB")],
)
def test_format_size(nbytes: int, expected: str) -> None:
    assert format_size(nbytes) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(-5.0, "0s"), (59.9, "59s"), (60.0, "1m"), (7200.0, "2h"), (3 * 86400.0, "3d")],
)
def test_format_age(seconds: float, expected: str) -> None:
    assert format_age(seconds) == expected


@pytest.mark.parametrize(("shape", "expected"), [((), "()"), ((7,), "7"), ((200, 100), "200x100")])
def test_format_shape(shape: tuple[int, ...], expected: str) -> None:
    assert format_shape(shape) == expected


# --- ls ----------------------------------------------------------------------------------


def test_ls_empty_store(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls"]) == 0

    captured = capsys.readouterr()
    assert captured.out == f"No objects in the store root {store_root}.\n"
    assert captured.err == ""


def test_ls_empty_store_json(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == []


def test_ls_missing_root_creates_nothing(
    other_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = other_root / "absent"

    assert main(["--root", str(missing), "ls"]) == 0

    assert "No objects" in capsys.readouterr().out
    assert not missing.exists()


def test_ls_table(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"matrix": np.zeros((200, 100))})
    frame = pd.DataFrame({"species": ["Adelie", "Gentoo"], "mass": [3750, 5000]})
    memshare.register_variables("penguins", {"frame": frame}, persist=True)

    assert main(["ls"]) == 0

    rows = _listing_rows(capsys.readouterr().out)
    assert set(rows) == {("demo", "matrix"), ("penguins", "frame")}
    matrix = rows[("demo", "matrix")]
    assert matrix[2] == "ndarray"
    assert matrix[4] == "200x100"
    assert matrix[5:7] == ["156.2", "KiB"]
    assert matrix[7] == "0"
    assert matrix[8] == str(os.getpid())
    assert matrix[9] == "no"
    assert rows[("penguins", "frame")][2] == "dataframe"
    assert "yes" in rows[("penguins", "frame")]


def test_ls_one_namespace(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("first", {"a": np.ones(3)})
    memshare.register_variables("second", {"b": np.ones(3)})

    assert main(["ls", "second"]) == 0

    assert set(_listing_rows(capsys.readouterr().out)) == {("second", "b")}


def test_ls_json_keys(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"matrix": np.zeros((20, 10), dtype=np.float32)})

    assert main(["ls", "--json"]) == 0

    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1
    record = records[0]
    for key in (
        "namespace",
        "name",
        "kind",
        "dtype",
        "shape",
        "nbytes",
        "views",
        "owner_pid",
        "persistent",
    ):
        assert key in record, f"key {key!r} missing from {sorted(record)}"
    assert record["namespace"] == "demo"
    assert record["name"] == "matrix"
    assert record["kind"] == "ndarray"
    assert record["shape"] == [20, 10]
    assert record["nbytes"] == 20 * 10 * 4
    assert record["views"] == 0
    assert record["owner_pid"] == os.getpid()
    assert record["owner_running"] is True
    assert record["persistent"] is False


# --- info --------------------------------------------------------------------------------


def test_info_lists_holder_pids(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"values": np.arange(10.0)})

    with _view_held_by_child("demo", "values") as child_pid:
        assert main(["info", "demo/values"]) == 0
        text = capsys.readouterr().out
        assert main(["info", "demo/values", "--json"]) == 0
        record = json.loads(capsys.readouterr().out)

    assert "object:     demo/values" in text
    assert "views:      1" in text
    assert f"pid {child_pid} (running): 1 view" in text
    assert f"owner pid:  {os.getpid()} (running)" in text
    assert record["views"] == 1
    assert [holder["pid"] for holder in record["holders"]] == [child_pid]
    assert record["holders"][0]["running"] is True


# --- show --------------------------------------------------------------------------------


def test_show_matrix_corner(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"matrix": np.arange(100 * 50).reshape(100, 50)})

    assert main(["show", "demo/matrix", "--rows", "3"]) == 0

    text = capsys.readouterr().out
    assert "100" in text  # first element of the third row
    assert "4999" not in text  # the last element lies outside the corner
    assert memshare.retrieve_metadata("demo", "matrix")["matrix"].views == 0


def test_show_frame_head(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"species": ["Adelie", "Gentoo", "Chinstrap"], "mass": [3750, 5000, 3500]})
    memshare.register_variables("penguins", {"frame": frame})

    assert main(["show", "penguins/frame", "--rows", "2"]) == 0

    text = capsys.readouterr().out
    assert "species" in text
    assert "Gentoo" in text
    assert "Chinstrap" not in text
    assert memshare.retrieve_metadata("penguins", "frame")["frame"].views == 0


def test_show_list_head(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = [np.array([11, 12]), np.array([21, 22]), np.array([31, 32])]
    memshare.register_variables("demo", {"items": items})

    assert main(["show", "demo/items", "--rows", "2"]) == 0

    # The preview lists the first elements by index.
    text = capsys.readouterr().out
    assert "[1]" in text
    assert "[2]" not in text
    assert memshare.retrieve_metadata("demo", "items")["items"].views == 0


# --- rm ----------------------------------------------------------------------------------


def test_rm_held_object_needs_force(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"values": np.arange(10.0)})

    with _view_held_by_child("demo", "values") as child_pid:
        assert main(["rm", "demo/values"]) == 1
        refused = capsys.readouterr()
        assert memshare.retrieve_metadata("demo", "values")["values"].views == 1

        assert main(["rm", "demo/values", "--force"]) == 0
        forced = capsys.readouterr()

    assert refused.out == ""
    assert refused.err.count("\n") == 1
    assert refused.err.startswith("memshare: error: cannot remove demo/values")
    assert f"pid {child_pid} (1 view)" in refused.err
    assert "--force" in refused.err
    assert forced.out.startswith("removed demo/values")
    assert str(child_pid) in forced.out
    assert memshare.list_objects("demo") == []


def test_rm_namespace_is_all_or_nothing(
    store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memshare.register_variables("demo", {"free": np.ones(3), "held": np.ones(3)})

    with _view_held_by_child("demo", "held"):
        assert main(["rm", "demo"]) == 1
        assert "demo/held is held by pid" in capsys.readouterr().err
        remaining = [meta.name for meta in memshare.list_objects("demo")]
        assert remaining == ["free", "held"]

    assert main(["rm", "demo"]) == 0
    assert capsys.readouterr().out.splitlines() == ["removed demo/free", "removed demo/held"]
    assert memshare.list_objects("demo") == []


def test_rm_view_taken_after_check(
    store_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    memshare.register_variables("demo", {"free": np.ones(3), "held": np.ones(3)})
    # Hiding the holders from the command's own check acts like a view taken
    # between that check and the removal, which release_variables catches.
    monkeypatch.setattr(cli, "_live_holders", lambda meta: [])

    with _view_held_by_child("demo", "held") as child_pid:
        assert main(["rm", "demo"]) == 1
        captured = capsys.readouterr()

    assert captured.out == "removed demo/free\n"
    assert captured.err.count("\n") == 1
    assert f"demo/held is held by pid {child_pid} (1 view)" in captured.err
    assert "Already removed: demo/free." in captured.err
    assert [meta.name for meta in memshare.list_objects("demo")] == ["held"]


def test_rm_empty_namespace(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})

    assert main(["rm", "nothing"]) == 1

    assert "namespace 'nothing' has no objects" in capsys.readouterr().err


# --- gc ----------------------------------------------------------------------------------


def test_gc_after_owner_killed(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    child, _ = _start_child(_REGISTER_AND_WAIT, "crash", "values")
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL

    assert main(["ls"]) == 0
    row = _listing_rows(capsys.readouterr().out)[("crash", "values")]
    assert row[8:10] == [str(child.pid), "(exited)"]

    assert main(["gc"]) == 0

    output = capsys.readouterr().out
    assert "removed object crash/values" in output
    assert "removed empty namespace crash" in output
    assert memshare.list_objects() == []
    assert list(store_root.iterdir()) == []


def test_gc_with_nothing_to_remove(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})

    assert main(["gc", "--json"]) == 0

    result = json.loads(capsys.readouterr().out)
    assert result == {
        "objects": [],
        "holders": [],
        "temp_files": [],
        "namespaces": [],
        "damaged_removed": [],
        "damaged": [],
        "skipped_links": [],
        "skipped_folders": [],
    }
    assert len(memshare.list_objects("demo")) == 1


# --- errors and options ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["info", "show", "rm"])
def test_missing_object_exits_1(
    store_root: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    memshare.register_variables("demo", {"present": np.ones(3)})

    assert main([command, "demo/absent"]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("memshare: error: no object 'absent' in namespace 'demo'")
    assert "present" in captured.err  # the message lists what the namespace has


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["list"], id="unknown-command"),
        pytest.param(["info", "no-slash"], id="no-slash"),
        pytest.param(["info", "demo/"], id="empty-name"),
        pytest.param(["show", "demo/x", "--rows", "0"], id="zero-rows"),
        pytest.param(["show", "demo/x", "--rows", "many"], id="text-rows"),
        pytest.param(["ls", "bad name"], id="invalid-namespace"),
        pytest.param(["info", "demo/../x"], id="invalid-name"),
        pytest.param(["ls", "--color"], id="unknown-option"),
    ],
)
def test_bad_usage_exits_2(
    store_root: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error:" in captured.err
    assert "Traceback" not in captured.err


def test_debug_shows_traceback(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "info", "demo/absent"]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert "memshare.store.cli: running memshare info" in lines[0]
    assert "Traceback (most recent call last):" in lines
    assert lines[-1].startswith("memshare: error: no object 'absent'")


def test_interrupt_exits_130(
    store_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "ls", interrupted)

    assert main(["ls"]) == 130

    assert capsys.readouterr().err == "memshare: interrupted\n"


def test_root_that_is_a_file(other_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_folder = other_root / "file"
    not_a_folder.write_text("")

    assert main(["--root", str(not_a_folder), "ls"]) == 1

    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert f"store root {not_a_folder} is not a folder" in captured.err
    assert f"this run used --root {not_a_folder}; pass another --root instead" in captured.err


def test_closed_stdout_is_quiet(store_root: Path) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})
    read_end, write_end = os.pipe()
    os.close(read_end)

    try:
        completed = subprocess.run(
            [str(SCRIPT), "ls"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=os.environ.copy(),
            check=False,
        )
    finally:
        os.close(write_end)

    assert completed.returncode == 1
    assert completed.stderr == ""


@pytest.mark.parametrize("command", ["ls", "info", "show", "rm", "gc"])
def test_help_names_options(capsys: pytest.CaptureFixture[str], command: str) -> None:
    assert main([command, "--help"]) == 0

    text = capsys.readouterr().out
    assert text.startswith(f"usage: memshare {command}")
    assert "--root PATH" in text
    assert "store root folder for this run" in text


def test_root_option_overrides_environment(
    store_root: Path,
    other_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})

    assert main(["--root", str(other_root), "ls", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

    monkeypatch.setenv("MEMSHARE_ROOT", str(other_root))
    assert main(["ls", "--json", "--root", str(store_root)]) == 0
    names = [record["name"] for record in json.loads(capsys.readouterr().out)]
    assert names == ["values"]
    assert os.environ["MEMSHARE_ROOT"] == str(other_root)


# --- the installed script ----------------------------------------------------------------


def test_script_lists_objects(store_root: Path) -> None:
    memshare.register_variables("demo", {"values": np.arange(5.0)})

    completed = _run_script("ls", "--json")

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    records = json.loads(completed.stdout)
    assert [(record["namespace"], record["name"]) for record in records] == [("demo", "values")]


def test_script_missing_object(store_root: Path) -> None:
    completed = _run_script("info", "demo/absent")

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith("memshare: error:")


def test_script_bad_usage(store_root: Path) -> None:
    completed = _run_script("show", "demo/x", "--rows", "-1")

    assert completed.returncode == 2
    assert "expected a positive integer, got '-1'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_script_root_option(store_root: Path, other_root: Path) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})

    in_other = _run_script("--root", str(other_root), "ls")
    in_store = _run_script("ls", "--root", str(store_root))

    assert in_other.returncode == 0, in_other.stderr
    assert in_other.stdout == f"No objects in the store root {other_root}.\n"
    assert in_store.returncode == 0, in_store.stderr
    assert set(_listing_rows(in_store.stdout)) == {("demo", "values")}


# --- damaged objects and links -----------------------------------------------------------


def _damage(store_root: Path, namespace: str, name: str) -> Path:
    path = store_root / namespace / f"{name}.json"
    path.write_text("{not json")
    return path


def test_ls_shows_damaged(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables(
        "demo", {"bad": np.ones(3), "good": np.ones(3), "open": np.ones(3)}
    )
    path = _damage(store_root, "demo", "bad")
    (store_root / "demo" / "open.json").chmod(0o644)

    assert main(["ls"]) == 0

    captured = capsys.readouterr()
    table, _, notes = captured.out.partition("\n\n")
    rows = _listing_rows(table)
    assert rows[("demo", "bad")][2:] == ["DAMAGED"] + ["-"] * 7
    assert rows[("demo", "open")][2:] == ["DAMAGED"] + ["-"] * 7
    assert rows[("demo", "good")][2] == "ndarray"
    assert f"demo/bad is damaged and cannot be retrieved: the metadata file {path}" in notes
    assert "mode 0o644" in notes
    # Every damaged object gets its own fix line, and only one.
    assert notes.count("  remove its files with: memshare rm --force demo/bad\n") == 1
    assert notes.count("  remove its files with: memshare rm --force demo/open\n") == 1
    assert notes.count("memshare rm --force demo/bad") == 1
    assert "remove the file" not in notes
    assert captured.err == ""


def test_ls_json_damaged(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"bad": np.ones(3), "good": np.ones(3)})
    path = _damage(store_root, "demo", "bad")

    assert main(["ls", "--json"]) == 0

    records = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["damaged"]) for r in records] == [("bad", True), ("good", False)]
    assert records[0]["path"] == str(path)
    assert "not valid JSON" in records[0]["error"]
    assert records[0]["fix"] == "memshare rm --force demo/bad"


@pytest.mark.parametrize("target", ["demo/bad", "demo"])
def test_rm_damaged_needs_force(
    store_root: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    memshare.register_variables("demo", {"bad": np.ones(3), "good": np.ones(3)})
    _damage(store_root, "demo", "bad")
    before = sorted(p.name for p in (store_root / "demo").iterdir())

    assert main(["rm", target]) == 1

    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "cannot tell whether these objects are held" in captured.err
    assert "demo/bad" in captured.err
    assert "Nothing was removed. Pass --force" in captured.err
    assert sorted(p.name for p in (store_root / "demo").iterdir()) == before


def test_rm_force_removes_damaged(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"bad": np.ones(3), "good": np.ones(3)})
    _damage(store_root, "demo", "bad")

    assert main(["rm", "demo/bad", "--force"]) == 0

    assert capsys.readouterr().out == "removed damaged object demo/bad\n"
    names = sorted(p.name for p in (store_root / "demo").iterdir())
    assert [name for name in names if name.startswith("bad")] == []
    assert [meta.name for meta in memshare.list_objects("demo")] == ["good"]


def test_rm_force_namespace_with_damaged(
    store_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memshare.register_variables("demo", {"bad": np.ones(3), "good": np.ones(3)})
    _damage(store_root, "demo", "bad")

    assert main(["rm", "demo", "--force"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == ["removed demo/good", "removed damaged object demo/bad"]
    assert list(store_root.iterdir()) == []


def test_gc_reports_damaged_and_links(
    store_root: Path, other_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memshare.register_variables("demo", {"bad": np.ones(3)})
    _damage(store_root, "demo", "bad")
    (store_root / "linked").symlink_to(other_root)

    assert main(["gc"]) == 0

    output = capsys.readouterr().out
    assert "kept damaged object demo/bad, changed less than 10m ago" in output
    assert "memshare rm --force demo/bad" in output
    assert f"skipped symbolic link {store_root / 'linked'}" in output
    assert (store_root / "linked").is_symlink()


# --- liveness ----------------------------------------------------------------------------


def test_liveness_gets_start_ticks(store_root: Path) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})
    memshare.retrieve_views("demo", "values")
    meta = memshare.retrieve_metadata("demo", "values")["values"]
    calls: list[tuple[int, float, int | None]] = []

    # The default of start_ticks lets a caller that passes only two
    # arguments run, so that the recorded None shows the omission.
    def is_running(pid: int, start_time: float, start_ticks: int | None = None) -> bool:
        calls.append((pid, start_time, start_ticks))
        return True

    cli_format.format_listing([meta], is_running)
    cli_format.format_info(meta, is_running)
    cli_format.info_record(meta, is_running)

    assert meta.owner_start_ticks is not None
    assert meta.holders[0].start_ticks is not None
    assert len(calls) >= 5
    assert (meta.owner_pid, meta.owner_start_time, meta.owner_start_ticks) in calls
    holder = meta.holders[0]
    assert (holder.pid, holder.start_time, holder.start_ticks) in calls
    assert all(ticks is not None for _, _, ticks in calls)


# --- findings of a first-time user -------------------------------------------------------


def test_unexpected_error_is_one_line(
    store_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise ValueError("segment out of range")

    monkeypatch.setitem(cli._COMMANDS, "ls", broken)

    assert main(["ls"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("memshare: error: ValueError: segment out of range; run the")
    assert "--debug" in err

    assert main(["--debug", "ls"]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert "Traceback (most recent call last):" in lines
    assert lines[-1] == "memshare: error: ValueError: segment out of range"


def test_truncated_data_file(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"values": np.arange(100_000.0)})
    (data,) = (store_root / "demo").glob("values.*.arrow")
    os.truncate(data, 4000)

    assert main(["show", "demo/values"]) == 1

    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err

    assert main(["ls"]) == 0

    notes = capsys.readouterr().out.partition("\n\n")[2]
    assert f"demo/values is damaged: its data file {data} has 4000 bytes" in notes
    assert "  remove its files with: memshare rm --force demo/values" in notes

    assert main(["ls", "--json"]) == 0

    (record,) = json.loads(capsys.readouterr().out)
    assert "has 4000 bytes" in record["data_file_problem"]


@pytest.mark.parametrize("kind", ["link", "open-mode"])
def test_bad_namespace_folder_skipped(
    store_root: Path, other_root: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})
    bad = store_root / "bad"
    if kind == "link":
        bad.symlink_to(other_root)
        fix = f"remove the link with rm {bad}"
    else:
        bad.mkdir(mode=0o755)
        bad.chmod(0o755)
        fix = f"run chmod 700 {bad} or remove the folder"

    assert main(["ls"]) == 0

    captured = capsys.readouterr()
    assert ("demo", "values") in _listing_rows(captured.out.partition("\n\n")[0])
    assert f"skipped namespace 'bad': namespace folder {bad}" in captured.out
    assert fix in captured.out
    assert "MEMSHARE_ROOT" not in captured.out

    with pytest.warns(UserWarning, match="skipped namespace 'bad'"):
        assert [meta.name for meta in memshare.list_objects()] == ["values"]

    assert main(["gc"]) == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    assert f"skipped symbolic link {bad}" in captured.out or fix in captured.out
    assert bad.exists() or bad.is_symlink()


def test_bad_namespace_named_fails(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (store_root / "bad").mkdir(mode=0o755)
    (store_root / "bad").chmod(0o755)

    assert main(["ls", "bad"]) == 1

    err = capsys.readouterr().err
    assert f"run chmod 700 {store_root / 'bad'} or remove the folder" in err
    assert "MEMSHARE_ROOT" not in err


def test_ls_counts_exited_holders(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("demo", {"values": np.ones(3)})
    memshare.retrieve_views("demo", "values")
    child, _ = _start_child(_HOLD_VIEW, "demo", "values")
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=60)

    assert main(["ls"]) == 0

    row = _listing_rows(capsys.readouterr().out)[("demo", "values")]
    # SIZE "24 B" takes cells 5 and 6, so VIEWS starts at cell 7.
    assert row[7:10] == ["2", "(1", "exited)"]


@pytest.mark.parametrize(
    ("setup", "argv", "expected"),
    [
        pytest.param("missing", ["gc"], "the store root {root} does not exist.", id="no-root"),
        pytest.param("empty", ["gc"], "the store root {root} has no objects.", id="empty"),
        pytest.param(
            "object",
            ["gc", "nosuchns"],
            "there is no namespace 'nosuchns' in the store root {root}",
            id="mistyped-namespace",
        ),
    ],
)
def test_gc_says_why_nothing(
    store_root: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    argv: list[str],
    expected: str,
) -> None:
    root = store_root
    if setup == "missing":
        root = store_root / "absent"
        argv = ["--root", str(root), *argv]
    elif setup == "object":
        memshare.register_variables("demo", {"values": np.ones(3)})

    assert main(argv) == 0

    output = capsys.readouterr().out
    assert output == f"Nothing to remove: {expected.format(root=root)}" + (
        "; run 'memshare ls' to see the stored namespaces.\n" if setup == "object" else "\n"
    )
    assert not (store_root / "absent").exists()


def test_gc_lists_namespace_last(store_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memshare.register_variables("old", {"y": np.ones(3)})
    path = _damage(store_root, "old", "y")
    for file in (store_root / "old").iterdir():
        os.utime(file, (1, 1))

    assert main(["gc"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "removed damaged object old/y",
        "removed empty namespace old",
    ]
    assert not path.exists()
