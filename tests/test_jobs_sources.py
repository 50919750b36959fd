"""Data sources of job files: files of each format, generated data, literals, refs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather
import pytest

import memshare
from memshare.runner.jobfile import JobFileError
from memshare.runner.jobplan import plan_job
from memshare.runner.jobrun import run_job
from memshare.runner.jobsources import GENERATE_BLOCK, load_source

FUNCS = '''
def identity(x):
    return x

def total(x):
    return float(x.sum())

def length(x):
    return len(x)

def weighted(x, w):
    return float(x @ w)

def project(x, m):
    return x @ m
'''


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    (tmp_path / "funcs.py").write_text(FUNCS)
    return tmp_path


def source_value(job_dir: Path, source: str, name: str = "D") -> object:
    """Plan a one-step job with ``source`` as data ``D`` and load that source."""
    job = job_dir / "job.yaml"
    job.write_text(f"data:\n  {name}: {source}\nsteps:\n"
                   f"  - {{name: s, lapply: {name}, function: funcs:length}}\n")
    try:
        plan = plan_job(job)
    except JobFileError as error:
        if "`lapply` needs a list" not in str(error):
            raise
        job.write_text(f"data:\n  {name}: {source}\nsteps:\n"
                       f"  - {{name: s, apply: {name}, function: funcs:total}}\n")
        plan = plan_job(job)
    return load_source(plan.sources[0])


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.5, 2.5, np.nan], "b": ["x", "y", "z"], "c": [1, 2, 3]})


@pytest.mark.parametrize("name", ["t.parquet", "t.feather", "t.arrow", "t.csv", "t.tsv",
                                  "t.csv.gz"])
def test_table_formats(store_root: Path, job_dir: Path, table: pd.DataFrame, name: str) -> None:
    path = job_dir / name
    if name.endswith(".parquet"):
        table.to_parquet(path)
    elif name.endswith((".feather", ".arrow")):
        feather.write_feather(table, path)
    else:
        table.to_csv(path, sep="\t" if name.endswith(".tsv") else ",", index=False)

    value = source_value(job_dir, f"{{path: {name}, columns: [a, c], dtype: float32}}")

    assert isinstance(value, pd.DataFrame)
    pd.testing.assert_frame_equal(value.reset_index(drop=True),
                                  table[["a", "c"]].astype("float32"))


def test_table_index_and_column_dtypes(store_root: Path, job_dir: Path,
                                       table: pd.DataFrame) -> None:
    table.to_csv(job_dir / "t.csv", index=False)
    value = source_value(job_dir, "{path: t.csv, index: b, dtype: {c: float64}}")
    assert list(value.index) == ["x", "y", "z"]
    assert list(value.columns) == ["a", "c"]
    assert value["c"].dtype == np.float64


def test_unknown_column(store_root: Path, job_dir: Path, table: pd.DataFrame) -> None:
    table.to_parquet(job_dir / "t.parquet")
    with pytest.raises(JobFileError, match=r"data.D.columns\[1\]: unknown column 'cc'\n  "
                       r"did you mean 'c'\?"):
        source_value(job_dir, "{path: t.parquet, columns: [a, cc]}")


def test_npy_is_memory_mapped(store_root: Path, job_dir: Path) -> None:
    array = np.arange(12.0).reshape(3, 4)
    np.save(job_dir / "a.npy", array)
    value = source_value(job_dir, "{path: a.npy}")
    assert isinstance(value, np.memmap)
    np.testing.assert_array_equal(value, array)

    cast = source_value(job_dir, "{path: a.npy, dtype: int32}")
    assert cast.dtype == np.int32


def test_npy_rejects_table_options(store_root: Path, job_dir: Path) -> None:
    np.save(job_dir / "a.npy", np.zeros(3))
    with pytest.raises(JobFileError, match="`columns` applies to tables, not .npy arrays"):
        source_value(job_dir, "{path: a.npy, columns: [a]}")


def test_format_key_overrides_suffix(store_root: Path, job_dir: Path,
                                     table: pd.DataFrame) -> None:
    table.to_csv(job_dir / "t.data", index=False)
    value = source_value(job_dir, "{path: t.data, format: csv}")
    assert list(value.columns) == ["a", "b", "c"]


def test_normal_equals_one_call(store_root: Path, job_dir: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Small blocks, so that the 50 x 7 array is filled in several pieces.
    monkeypatch.setattr("memshare.runner.jobsources.GENERATE_BLOCK", 16)
    value = source_value(job_dir, "{generate: normal, shape: [50, 7], seed: 9, loc: 2, "
                         "scale: 3}")
    expected = np.random.default_rng(9).standard_normal((50, 7)) * 3 + 2
    np.testing.assert_allclose(value, expected, rtol=1e-15)
    assert GENERATE_BLOCK >= 1 << 20


def test_uniform_and_integers(store_root: Path, job_dir: Path) -> None:
    uniform = source_value(job_dir, "{generate: uniform, shape: [1000], low: -1, high: 1, "
                           "dtype: float32, seed: 4}")
    assert uniform.dtype == np.float32
    expected = np.random.default_rng(4).random(1000, dtype=np.float32) * 2 - 1
    np.testing.assert_allclose(uniform, expected, rtol=1e-6)
    assert uniform.min() >= -1
    assert uniform.max() < 1

    integers = source_value(job_dir, "{generate: integers, shape: [10, 10], low: 5, high: 8, "
                            "dtype: int16}")
    assert integers.dtype == np.int16
    assert set(np.unique(integers)) <= {5, 6, 7}


def test_generated_list(store_root: Path, job_dir: Path) -> None:
    value = source_value(job_dir, "{generate: normal, shape: [3, 2], count: 4, seed: 1}")
    rng = np.random.default_rng(1)
    expected = [rng.standard_normal((3, 2)) for _ in range(4)]
    assert isinstance(value, list)
    assert len(value) == 4
    for item, want in zip(value, expected, strict=True):
        np.testing.assert_array_equal(item, want)


def test_literal_values(store_root: Path, job_dir: Path) -> None:
    assert source_value(job_dir, "{value: [1, 2, 3]}") == [1, 2, 3]
    array = source_value(job_dir, "{value: [[1, 2], [3, 4]], dtype: float64}")
    np.testing.assert_array_equal(array, np.array([[1.0, 2.0], [3.0, 4.0]]))


def test_literal_mapping_rejected(store_root: Path, job_dir: Path) -> None:
    with pytest.raises(JobFileError, match="a mapping cannot be stored as an object"):
        source_value(job_dir, "{value: {a: 1}}")


def test_dataset_columns(store_root: Path, job_dir: Path) -> None:
    pytest.importorskip("palmerpenguins")
    value = source_value(job_dir, "{dataset: palmerpenguins, columns: [species, body_mass_g]}")
    assert value.shape == (344, 2)
    with pytest.raises(JobFileError, match="did you mean 'body_mass_g'"):
        source_value(job_dir, "{dataset: palmerpenguins, columns: [body_mass]}")


def test_two_source_keys(store_root: Path, job_dir: Path) -> None:
    with pytest.raises(JobFileError, match=r"data.D: data entry 'D' has 2 source keys "
                       r"\(generate, value\)"):
        source_value(job_dir, "{generate: normal, shape: [3], value: 1}")


def test_ref_reads_kept_object(store_root: Path, job_dir: Path) -> None:
    """A job that keeps its data, and a second job that uses it by reference."""
    first = job_dir / "first.yaml"
    first.write_text("keep: true\ndata:\n  X: {generate: normal, shape: [30, 4], seed: 3}\n"
                     "steps:\n  - {name: sums, apply: X, function: funcs:total}\n")
    run_job(plan_job(first, workers=2), progress=False)
    kept = {m.name: m for m in memshare.list_objects("first")}
    assert set(kept) == {"X", "sums"}
    assert kept["X"].persistent

    second = job_dir / "second.yaml"
    second.write_text(
        "data:\n"
        "  M: {ref: first/X}\n"
        "  w: {value: [1.0, 2.0, 3.0, 4.0], dtype: float64}\n"
        "  Z: {generate: normal, shape: [30, 5], seed: 4}\n"
        "steps:\n"
        # Input in the other namespace, variable in this job's namespace.
        "  - {name: rows, apply: M, over: rows, function: funcs:weighted, vars: [w],\n"
        "     output: rows.npy}\n"
        # Input in this job's namespace, variable in the other namespace.
        "  - {name: cols, apply: Z, function: funcs:project, vars: {m: M}, output: cols.npy}\n"
    )
    run_job(plan_job(second, workers=2), progress=False)

    X = np.random.default_rng(3).standard_normal((30, 4))
    Z = np.random.default_rng(4).standard_normal((30, 5))
    np.testing.assert_allclose(np.load(job_dir / "rows.npy"), X @ [1.0, 2.0, 3.0, 4.0])
    # Each column of Z times M (30 x 4) gives 4 values, which take the place
    # of axis 0 as in numpy.apply_along_axis: the result is 4 x 5.
    np.testing.assert_allclose(np.load(job_dir / "cols.npy"), X.T @ Z)
    # The referenced objects belong to the first job and stay in the store.
    assert {m.name for m in memshare.list_objects("first")} == {"X", "sums"}
    assert all(m.views == 0 for m in memshare.list_objects("first"))
    assert memshare.list_objects("second") == []
    memshare.release_variables("first", ["X", "sums"])


def test_index_outside_columns(store_root: Path, job_dir: Path, table: pd.DataFrame) -> None:
    table.to_csv(job_dir / "t.csv", index=False)
    value = source_value(job_dir, "{path: t.csv, columns: [a], index: b}")
    assert list(value.index) == ["x", "y", "z"]
    assert list(value.columns) == ["a"]


def test_empty_npy_message(store_root: Path, job_dir: Path) -> None:
    np.save(job_dir / "empty.npy", np.zeros((0, 3)))
    with pytest.raises(JobFileError) as caught:
        source_value(job_dir, "{path: empty.npy}")
    first = str(caught.value).splitlines()[0]
    assert first == (f"{job_dir / 'job.yaml'}:2:13: data.D.path: {job_dir / 'empty.npy'} is "
                     "empty (shape (0, 3))")
