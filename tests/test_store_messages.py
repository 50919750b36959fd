"""Wording of the store's errors: what they list and how they count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memshare.store import (
    ObjectInUseError,
    ObjectNotFoundError,
    register_variables,
    release_variables,
    release_views,
    retrieve_views,
)
from memshare.store.errors import ViewNotHeldError
from memshare.store.names import MAX_LISTED_NAMES

_HOLD: str = """
import sys

import memshare

memshare.retrieve_views("ns", "x")
print("held", flush=True)
sys.stdin.read()
"""


def test_not_found_caps_names(store_root: Path) -> None:
    register_variables("ns", {f"item{i:03d}": i for i in range(60)} | {"weights": 1})

    with pytest.raises(ObjectNotFoundError) as caught:
        retrieve_views("ns", "weigths")

    message = str(caught.value)
    listed = message.rpartition("objects in that namespace: ")[2]
    assert listed.startswith("weights, item000, ")  # the closest match comes first
    assert listed.count(", ") == MAX_LISTED_NAMES - 1
    assert listed.endswith(f" and {61 - MAX_LISTED_NAMES} more")


def test_not_found_lists_small_namespace(store_root: Path) -> None:
    register_variables("ns", {"a": 1, "b": 2})

    with pytest.raises(ObjectNotFoundError, match=r"objects in that namespace: a, b$"):
        retrieve_views("ns", "zz")


def test_view_not_held_names(store_root: Path) -> None:
    register_variables("ns", {"zz": 1})

    with pytest.raises(ViewNotHeldError) as caught:
        release_views("ns", "zz")

    assert "holds no view of 'zz' in namespace 'ns'" in str(caught.value)
    assert "[" not in str(caught.value)


def test_in_use_counts_views(store_root: Path) -> None:
    register_variables("ns", {"x": np.ones(3)})
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"

        with pytest.raises(ObjectInUseError) as caught:
            release_variables("ns", "x", require_unheld=True)
    finally:
        child.communicate(timeout=60)

    assert f"pid {child.pid} (1 view)" in str(caught.value)
