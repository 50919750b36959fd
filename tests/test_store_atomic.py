"""Registration is all or nothing: full disk, Ctrl-C, bad values."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memshare.store import (
    ObjectNotFoundError,
    StoreFullError,
    UnsupportedTypeError,
    codec,
    register_variables,
    retrieve_metadata,
    retrieve_views,
)

# The child caps its file size at 1 MiB (with SIGXFSZ ignored, so a write
# past the cap fails with EFBIG) and registers 8 MiB.
FSIZE_CHILD = """
import resource, signal
import numpy as np
import memshare
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
try:
    memshare.register_variables("ns", {"small": np.zeros(10), "big": np.zeros(2**20)})
except memshare.StoreFullError as error:
    print(type(error).__name__, error)
"""


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_file_size_limit(store_root: Path, run_python) -> None:
    result = run_python(FSIZE_CHILD)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("StoreFullError writing ns/big failed")
    assert "--shm-size" in result.stdout
    assert _files(store_root) == []


def test_size_bound_too_large(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_encode = codec.encode

    def huge(value: object) -> codec.Encoded:
        encoded = real_encode(value)
        encoded.size_bound = 2**62
        return encoded

    monkeypatch.setattr(codec, "encode", huge)

    with pytest.raises(StoreFullError) as info:
        register_variables("ns", {"x": np.zeros(4)})

    error = info.value
    assert error.needed == 2**62
    assert f"needs up to {2**62} bytes ({2**62 / 2**30:.2f} GiB)" in str(error)
    assert f"{error.free} bytes ({error.free / 2**30:.2f} GiB) free" in str(error)
    assert "MEMSHARE_ROOT" in str(error)
    assert _files(store_root) == []


def _failing_write(exception: BaseException) -> Any:
    def write(self: codec.Encoded, path: str) -> dict[str, Any]:
        with open(path, "wb") as file:
            file.write(b"partial data")
        raise exception

    return write


@pytest.mark.parametrize(
    "exception",
    [
        pytest.param(KeyboardInterrupt(), id="ctrl-c"),
        pytest.param(RuntimeError("serializer failed"), id="exception"),
        pytest.param(OSError(errno.ENOSPC, "No space left on device"), id="enospc"),
    ],
)
def test_failed_write_leaves_nothing(
    store_root: Path, monkeypatch: pytest.MonkeyPatch, exception: BaseException
) -> None:
    monkeypatch.setattr(codec.Encoded, "write", _failing_write(exception))
    expected = StoreFullError if isinstance(exception, OSError) else type(exception)

    with pytest.raises(expected):
        register_variables("ns", {"x": np.zeros(4)})

    assert _files(store_root) == []


def test_second_failure_releases_first(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = codec.Encoded.write
    calls = []

    def second_fails(self: codec.Encoded, path: str) -> dict[str, Any]:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(self, path)

    monkeypatch.setattr(codec.Encoded, "write", second_fails)

    with pytest.raises(KeyboardInterrupt):
        register_variables("ns", {"a": np.zeros(4), "b": np.ones(4)})

    assert len(calls) == 2
    assert _files(store_root) == []
    with pytest.raises(ObjectNotFoundError):
        retrieve_views("ns", "a")


def test_failed_overwrite_keeps_old(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_variables("ns", {"x": np.zeros(4)})
    before = _files(store_root)
    monkeypatch.setattr(codec.Encoded, "write", _failing_write(KeyboardInterrupt()))

    with pytest.raises(KeyboardInterrupt):
        register_variables("ns", {"x": np.ones(4)}, overwrite=True)

    assert _files(store_root) == before
    np.testing.assert_array_equal(retrieve_views("ns", "x")["x"], np.zeros(4))


def test_unsupported_value(store_root: Path) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        register_variables("ns", {"ok": np.zeros(4), "bad": object()})

    assert "ns/bad" in str(info.value)
    assert info.value.name == "bad"
    assert _files(store_root) == []
    assert retrieve_metadata("ns") == {}


def test_metadata_write_full(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_variables("ns", {"x": np.zeros(4)})
    before = _files(store_root)
    real_replace = os.replace

    def full(source: str, target: str) -> None:
        if target.endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", full)

    with pytest.raises(StoreFullError, match="x.json"):
        retrieve_views("ns", "x")
    with pytest.raises(StoreFullError):
        register_variables("ns", {"y": np.zeros(4)})

    monkeypatch.setattr(os, "replace", real_replace)
    assert _files(store_root) == before
    assert retrieve_metadata("ns", "x")["x"].views == 0
