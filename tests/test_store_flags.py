"""The keyword flags of the store functions take only True or False."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memshare.store import register_variables, release_variables, retrieve_metadata


@pytest.mark.parametrize("flag", ["persist", "overwrite"])
@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"])
def test_register_flag_must_be_bool(store_root: Path, flag: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        register_variables("ns", {"x": np.ones(3)}, **{flag: value})  # type: ignore[arg-type]

    assert list(store_root.iterdir()) == []


def test_require_unheld_must_be_bool(store_root: Path) -> None:
    register_variables("ns", {"x": np.ones(3)})

    with pytest.raises(TypeError, match="require_unheld must be True or False, got str 'no'"):
        release_variables("ns", "x", require_unheld="no")  # type: ignore[arg-type]

    assert "x" in retrieve_metadata("ns")


def test_numpy_bool_accepted(store_root: Path) -> None:
    register_variables("ns", {"x": np.ones(3)}, persist=np.bool_(True))  # type: ignore[arg-type]

    assert retrieve_metadata("ns", "x")["x"].persistent is True
    release_variables("ns", "x")
