"""The example jobs in jobs/, scaled down, against the same computation done serially."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memshare.runner.jobplan import plan_job
from memshare.runner.jobrun import run_job

JOBS = Path(__file__).resolve().parent.parent / "jobs"
sys.path.insert(0, str(JOBS))

import funcs  # noqa: E402  (jobs/funcs.py, the functions the examples call)


def run_example(name: str, output: Path, *overrides: str, step: int = 0) -> None:
    """Run jobs/NAME.yaml on 2 workers with its output redirected to ``output``."""
    plan = plan_job(JOBS / f"{name}.yaml", [*overrides, f"steps.{step}.output={output}"],
                    workers=2)
    summary = run_job(plan, progress=False)
    assert [s.name for s in summary.steps] == [s.spec.name for s in plan.steps]


def test_corr(store_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "corr.npy"
    run_example("corr", output, "data.X.shape=[500,40]", "data.y.shape=[500]")

    X = np.random.default_rng(1).standard_normal((500, 40))
    y = np.random.default_rng(2).standard_normal(500)
    expected = np.array([np.corrcoef(X[:, j], y)[0, 1] for j in range(40)])
    np.testing.assert_allclose(np.load(output), expected, rtol=1e-10)


def test_penguins(store_root: Path, tmp_path: Path) -> None:
    palmerpenguins = pytest.importorskip("palmerpenguins")
    output = tmp_path / "summary.csv"
    run_example("penguins", output)

    frame = palmerpenguins.load_penguins()
    expected = pd.DataFrame({column: funcs.column_summary(frame[column])
                             for column in frame.columns})
    written = pd.read_csv(output, index_col=0)
    assert list(written.columns) == list(frame.columns)
    assert list(written.index) == ["count", "missing", "distinct", "mean", "std", "min", "max"]
    assert written.loc["missing", "sex"] == 11
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, rtol=1e-12)


def test_weather(store_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "stats.parquet"
    run_example("weather", output)

    frame = pd.read_csv(JOBS / "data" / "weather.csv")[["temp_c", "rain_mm", "wind_ms"]]
    expected = frame.astype("float64").apply(funcs.robust_stats)
    written = pd.read_parquet(output)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, rtol=1e-12)


def test_matrices(store_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "products.npy"
    run_example("matrices", output, "data.M.count=30", "data.M.shape=[40,40]",
                "data.v.shape=[40]")

    rng = np.random.default_rng(3)
    matrices = [rng.standard_normal((40, 40)) for _ in range(30)]
    v = np.random.default_rng(4).standard_normal(40)
    np.testing.assert_allclose(np.load(output), np.stack([m @ v for m in matrices]),
                               rtol=1e-12)


def test_distances(store_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "distances.npy"
    run_example("distances", output, "data.X.shape=[800,30]", step=1)

    X = np.random.default_rng(5).random((800, 30))
    expected = np.linalg.norm(X - X.mean(axis=0), axis=1)
    np.testing.assert_allclose(np.load(output), expected, rtol=1e-10)


def test_examples_release_everything(store_root: Path, tmp_path: Path) -> None:
    import memshare

    run_example("distances", tmp_path / "d.npy", "data.X.shape=[100,5]", step=1)
    assert memshare.list_objects() == []
