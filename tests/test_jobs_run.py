"""Running jobs: release on success and failure, keep, summaries, step results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import memshare
from memshare.runner.jobplan import plan_job
from memshare.runner.jobrun import JobFailedError, run_job

FUNCS = '''
import numpy as np

def total(x):
    return float(x.sum())

def fail_on_third(x, counter):
    if x[0] == counter:
        raise ValueError(f"bad column starting with {x[0]}")
    return float(x.sum())

def scale(x, factor, offset=0.0):
    return x * factor + offset
'''

JOB = """\
data:
  X: {value: [[0, 1, 2, 3], [4, 5, 6, 7]], dtype: float64}
  c: {value: 2.0}
steps:
  - name: sums
    apply: X
    function: funcs:total
  - name: scaled
    apply: X
    over: rows
    function: funcs:scale
    args: [10]
    kwargs: {offset: 1}
    output: out/scaled.npy
"""


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "funcs.py").write_text(FUNCS)
    path = tmp_path / "job.yaml"
    path.write_text(JOB)
    return path


def stored(store_root: Path) -> list[str]:
    """List the object files left in the store root."""
    return sorted(p.name for p in store_root.rglob("*") if p.is_file())


def test_run_releases_everything(store_root: Path, job: Path) -> None:
    summary = run_job(plan_job(job, workers=2), progress=False)

    assert memshare.list_objects() == []
    assert stored(store_root) == []
    scaled = np.load(job.parent / "out" / "scaled.npy")
    np.testing.assert_array_equal(scaled, np.arange(8.0).reshape(2, 4) * 10 + 1)
    assert summary.steps[0].result is not None
    assert "[ 4.  6.  8. 10.]" in summary.steps[0].result


def test_summary_fields(store_root: Path, job: Path) -> None:
    summary = run_job(plan_job(job, workers=2), progress=False)

    assert [item["name"] for item in summary.data] == ["X", "c"]
    assert summary.data[0]["shape"] == [2, 4]
    assert summary.data[0]["nbytes"] == 64
    assert [(s.name, s.mode, s.slices) for s in summary.steps] == [
        ("sums", "apply", 4), ("scaled", "apply", 2)]
    assert summary.workers == 2
    # Three Python processes with numpy loaded take tens of MB at least.
    assert summary.peak_pss_bytes > 20e6
    assert all(step.peak_pss_bytes > 20e6 for step in summary.steps)
    assert json.loads(json.dumps(summary.as_dict()))["namespace"] == "job"


def test_keep_persists(store_root: Path, job: Path) -> None:
    run_job(plan_job(job, workers=2, keep=True), progress=False)

    kept = {m.name: m for m in memshare.list_objects("job")}
    assert set(kept) == {"X", "c", "sums", "scaled"}
    assert all(m.persistent for m in kept.values())
    memshare.release_variables("job", list(kept))


def test_results_registered_only_when_used(store_root: Path, job: Path) -> None:
    job.write_text(JOB.replace("    apply: X\n    over: rows", "    apply: X\n    over: rows\n"
                               "    vars: {counter: sums}"))
    job.parent.joinpath("funcs.py").write_text(FUNCS + "\n\ndef scale(x, factor, offset=0.0, "
                                               "counter=None):\n    return x * factor + offset\n")
    plan = plan_job(job, workers=2)
    assert [step.register for step in plan.steps] == [True, False]
    assert plan_job(job, keep=True).steps[1].register


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_step_releases(store_root: Path, job: Path, workers: int) -> None:
    job.write_text(JOB.replace("funcs:total", "funcs:fail_on_third\n    vars: {counter: c}"))

    with pytest.raises(JobFailedError) as caught:
        run_job(plan_job(job, workers=workers), progress=False)

    lines = str(caught.value).splitlines()
    assert lines[0] == (f"{job}: steps[0]: step 'sums' failed: ValueError: bad column "
                        "starting with 2.0 on element 2")
    assert lines[1].startswith(f"  raised at {job.parent / 'funcs.py'}:9 in fail_on_third;")
    assert memshare.list_objects() == []
    assert stored(store_root) == []
    assert not (job.parent / "out").exists()


def test_unstorable_result(store_root: Path, job: Path) -> None:
    (job.parent / "funcs.py").write_text(FUNCS + "\n\ndef as_set(x):\n    return {1, 2}\n")
    job.write_text(
        "data:\n  X: {value: [[0, 1], [2, 3]], dtype: float64}\n"
        "steps:\n"
        "  - {name: sets, apply: X, function: funcs:as_set}\n"
        "  - {name: sums, apply: X, function: funcs:fail_on_third, vars: {counter: sets}}\n"
    )

    with pytest.raises(JobFailedError, match="the result of step 'sets' cannot be stored for "
                       "later steps"):
        run_job(plan_job(job, workers=2), progress=False)
    assert memshare.list_objects() == []


def test_output_that_does_not_fit(store_root: Path, job: Path) -> None:
    ragged = "\n\ndef ragged(x):\n    return x[: int(x[0]) + 1]\n"
    (job.parent / "funcs.py").write_text(FUNCS + ragged)
    job.write_text(JOB.replace("funcs:scale", "funcs:ragged").replace(
        "    args: [10]\n    kwargs: {offset: 1}\n", ""))

    with pytest.raises(JobFailedError) as caught:
        run_job(plan_job(job, workers=2), progress=False)

    assert "steps[1].output: writing" in str(caught.value)
    assert "write it as .json" in str(caught.value)
    assert memshare.list_objects() == []
    assert list((job.parent / "out").iterdir()) == []


def test_function_forms(store_root: Path, job: Path) -> None:
    """An installed module, a file by path, and a dotted attribute."""
    helpers = job.parent / "helpers"
    helpers.mkdir()
    (helpers / "stats.py").write_text(
        "import numpy as np\n\n"
        "class Stats:\n    @staticmethod\n    def peak(x):\n        return float(np.max(x))\n\n"
        "def spread(x):\n    return float(np.ptp(x))\n"
    )
    job.write_text(
        "data:\n  X: {generate: normal, shape: [50, 6], seed: 8}\n"
        "steps:\n"
        "  - {name: std, apply: X, function: numpy:std, output: std.npy}\n"
        "  - {name: spread, apply: X, function: helpers/stats.py:spread, output: spread.npy}\n"
        "  - {name: peak, apply: X, function: helpers/stats.py:Stats.peak, output: peak.npy}\n"
    )
    run_job(plan_job(job, workers=2), progress=False)

    X = np.random.default_rng(8).standard_normal((50, 6))
    np.testing.assert_allclose(np.load(job.parent / "std.npy"), X.std(axis=0))
    np.testing.assert_allclose(np.load(job.parent / "spread.npy"), np.ptp(X, axis=0))
    np.testing.assert_allclose(np.load(job.parent / "peak.npy"), X.max(axis=0))


def test_load_failure_releases_earlier_data(store_root: Path, job: Path) -> None:
    (job.parent / "t.csv").write_text("a,b\n1,x\n2,y\n")
    job.write_text(
        "data:\n"
        "  X: {generate: normal, shape: [10, 2]}\n"
        "  T: {path: t.csv, dtype: float64}\n"
        "steps:\n  - {name: sums, apply: T, function: funcs:total}\n"
    )

    with pytest.raises(JobFailedError) as caught:
        run_job(plan_job(job, workers=2), progress=False)

    assert str(caught.value).startswith(f"{job}: data.T: loading data 'T' failed: ValueError:")
    assert memshare.list_objects() == []
    assert stored(store_root) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_failed_keep_run_releases(store_root: Path, job: Path, workers: int) -> None:
    job.write_text(JOB.replace("funcs:total", "funcs:fail_on_third\n    vars: {counter: c}"))

    with pytest.raises(JobFailedError):
        run_job(plan_job(job, workers=workers, keep=True), progress=False)

    assert memshare.list_objects() == []
    assert stored(store_root) == []
    # The names are free again, so the same job can run at once.
    assert plan_job(job, keep=True).keep


@pytest.mark.parametrize("workers", [1, 2])
def test_wrong_keyword_names_function(store_root: Path, job: Path, workers: int) -> None:
    job.write_text(JOB.replace("kwargs: {offset: 1}", "kwargs: {shift: 1}"))

    with pytest.raises(JobFailedError) as caught:
        run_job(plan_job(job, workers=workers), progress=False)

    lines = str(caught.value).splitlines()
    assert "TypeError" in lines[0]
    assert "shift" in lines[0]
    assert lines[1].startswith(f"  raised at the call of scale, defined at "
                               f"{job.parent / 'funcs.py'}:12;")
    assert "jobfunctions.py" not in lines[1]


HEAP_PROBE = """
import re
import sys

from memshare.runner.jobplan import plan_job
from memshare.runner.jobrun import run_job


def anonymous_mb() -> int:
    status = open("/proc/self/status").read()
    return int(re.search(r"RssAnon:\\s+(\\d+) kB", status).group(1)) // 1024


before = anonymous_mb()
run_job(plan_job(sys.argv[1], workers=1), progress=False)
print(anonymous_mb() - before)
"""


def test_loaded_list_heap_returned(store_root: Path, job: Path, run_python) -> None:
    # 1000 matrices of 160 kB (160 MB): freeing them left about 158 MB on
    # glibc's heap of the job's process before malloc_trim was called.
    job.write_text("data:\n  L: {generate: normal, shape: [200, 100], count: 1000}\n"
                   "steps:\n  - {name: sums, lapply: L, function: funcs:total}\n")

    result = run_python(HEAP_PROBE, str(job))

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 60
    assert stored(store_root) == []
