"""Writing step results: each format round-trips, labels survive, failures leave nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pytest

from memshare.runner.joboutputs import summarize_result, write_output


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, index_col=0)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return feather.read_table(path).to_pandas()


@pytest.mark.parametrize("extension", [".parquet", ".arrow", ".feather", ".csv"])
def test_series_keeps_labels(tmp_path: Path, extension: str) -> None:
    result = pd.Series([0.5, 1.5, 2.5], index=["a", "b", "c"])
    path = tmp_path / f"out{extension}"
    write_output(result, path, "corr")

    table = read_table(path)
    assert list(table.columns) == ["corr"]
    assert list(table.index) == ["a", "b", "c"]
    np.testing.assert_array_equal(table["corr"].to_numpy(), result.to_numpy())


@pytest.mark.parametrize("extension", [".parquet", ".arrow", ".csv"])
def test_frame_round_trip(tmp_path: Path, extension: str) -> None:
    result = pd.DataFrame({"x": [1.0, np.nan], "y": [3.0, 4.0]}, index=["mean", "std"])
    path = tmp_path / f"out{extension}"
    write_output(result, path, "summary")
    pd.testing.assert_frame_equal(read_table(path), result, check_dtype=False)


def test_matrix_as_table(tmp_path: Path) -> None:
    write_output(np.arange(6.0).reshape(2, 3), tmp_path / "m.parquet", "m")
    table = pd.read_parquet(tmp_path / "m.parquet")
    assert list(table.columns) == ["0", "1", "2"]


def test_npy_drops_labels(tmp_path: Path) -> None:
    write_output(pd.Series([1.0, 2.0], index=["a", "b"]), tmp_path / "s.npy", "s")
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), [1.0, 2.0])


def test_list_of_arrays_as_npy(tmp_path: Path) -> None:
    write_output([np.ones(3), np.zeros(3)], tmp_path / "l.npy", "l")
    assert np.load(tmp_path / "l.npy").shape == (2, 3)


def test_ragged_list_needs_json(tmp_path: Path) -> None:
    ragged = [np.ones(2), np.ones(3)]
    with pytest.raises(ValueError, match="write it as .json"):
        write_output(ragged, tmp_path / "r.npy", "r")
    assert list(tmp_path.iterdir()) == []

    write_output(ragged, tmp_path / "r.json", "r")
    assert json.loads((tmp_path / "r.json").read_text()) == [[1.0, 1.0], [1.0, 1.0, 1.0]]


def test_json_values(tmp_path: Path) -> None:
    write_output(pd.Series([1.0, np.nan], index=["a", "b"]), tmp_path / "s.json", "s")
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": 1.0, "b": None}

    frame = pd.DataFrame({"x": [1, 2]}, index=["p", "q"])
    write_output(frame, tmp_path / "f.json", "f")
    assert json.loads((tmp_path / "f.json").read_text()) == {"x": {"p": 1, "q": 2}}


def test_list_of_dicts_as_rows(tmp_path: Path) -> None:
    write_output([{"n": 1, "ok": True}, {"n": 2, "ok": False}], tmp_path / "d.csv", "d")
    assert (tmp_path / "d.csv").read_text().splitlines() == ["n,ok", "1,True", "2,False"]


def test_creates_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.npy"
    write_output(np.zeros(2), path, "z")
    assert path.is_file()


def test_three_dimensions_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\), but a table has at most 2"):
        write_output(np.zeros((2, 2, 2)), tmp_path / "t.csv", "t")
    assert list(tmp_path.iterdir()) == []


def test_summary_text() -> None:
    assert summarize_result(np.arange(3.0)).splitlines() == ["ndarray float64 (3,)",
                                                           "[0. 1. 2.]"]
    assert summarize_result([1, 2, 3, 4]).splitlines() == ["list of 4 elements",
                                                          "[1, 2, 3, ...]"]
    assert summarize_result(pd.Series([1.5], index=["a"])).splitlines()[0] == "Series (1,)"


def test_all_none_list_names_cause(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every element is None") as caught:
        write_output([None, None, None], tmp_path / "n.npy", "n")
    assert "differ in shape" not in str(caught.value)
    assert not (tmp_path / "n.npy").exists()
