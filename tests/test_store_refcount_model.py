"""Holder counts follow a simple model under any sequence of calls."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memshare.store import (
    ObjectNotFoundError,
    ViewNotHeldError,
    register_variables,
    registry,
    release_variables,
    release_views,
    retrieve_metadata,
    retrieve_views,
)

OPERATIONS = st.lists(
    st.sampled_from(["register", "retrieve", "release_view", "release_object"]),
    max_size=30,
)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_counts_match_model(operations: list[str]) -> None:
    # A root per example: hypothesis reruns the body, and function-scoped
    # fixtures would be shared between its examples.
    root = tempfile.mkdtemp(prefix="memshare-test-", dir="/dev/shm")
    previous = os.environ.get("MEMSHARE_ROOT")
    os.environ["MEMSHARE_ROOT"] = root
    try:
        _run(operations)
    finally:
        registry.forget_root(root)
        shutil.rmtree(root, ignore_errors=True)
        if previous is None:
            del os.environ["MEMSHARE_ROOT"]
        else:
            os.environ["MEMSHARE_ROOT"] = previous


def _run(operations: list[str]) -> None:
    # The model: which registration is current (None: no object) and how
    # many references this process holds on each registration.
    current: int | None = None
    generation = 0
    held: dict[int, int] = {}

    for operation in operations:
        if operation == "register":
            generation += 1
            register_variables("ns", {"x": np.full(3, generation)}, overwrite=True)
            current = generation
        elif operation == "retrieve":
            if current is None:
                with pytest.raises(ObjectNotFoundError):
                    retrieve_views("ns", "x")
            else:
                view = retrieve_views("ns", "x")["x"]
                assert int(view[0]) == current
                held[current] = held.get(current, 0) + 1
        elif operation == "release_view":
            if not any(held.values()):
                with pytest.raises(ViewNotHeldError):
                    release_views("ns", "x")
            else:
                release_views("ns", "x")
                # A reference on the current registration goes first.
                if held.get(current or 0, 0) > 0:
                    held[current or 0] -= 1
                else:
                    stale = next(gen for gen, count in held.items() if count > 0)
                    held[stale] -= 1
        else:
            if current is None:
                with pytest.raises(ObjectNotFoundError):
                    release_variables("ns", "x")
            else:
                release_variables("ns", "x")
                current = None

        if current is not None:
            assert retrieve_metadata("ns", "x")["x"].views == held.get(current, 0)
        else:
            assert retrieve_metadata("ns") == {}
