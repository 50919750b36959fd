"""Broken job files: each gives one exact error and leaves the store untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import memshare
import memshare.runner.joboutputs as joboutputs
from memshare.runner.jobfile import JobFileError
from memshare.runner.jobplan import plan_job

FUNCS = '''
import numpy as np

def corr_with(x, y):
    return float(np.corrcoef(x, y)[0, 1])

def first(x):
    return x[0]

NOT_CALLABLE = 3
'''

BASE = """\
data:
  X: {generate: normal, shape: [20, 3], seed: 1}
  y: {generate: normal, shape: [20], seed: 2}
  L: {generate: normal, shape: [4, 4], count: 3}
steps:
  - name: corr
    apply: X
    function: funcs:corr_with
    vars: [y]
"""

LATER_STEP = "  - name: later\n    apply: X\n    function: funcs:first\n"


def listing(root: Path) -> list[str]:
    """List every path under the store root, to compare before and after."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    (tmp_path / "funcs.py").write_text(FUNCS)
    (tmp_path / "notes.txt").write_text("not a table\n")
    (tmp_path / "empty.csv").write_text("a,b\n")
    (tmp_path / "afile").write_text("")
    return tmp_path


CASES = [
    pytest.param(
        BASE.replace("[20, 3], seed", "[20, 3, seed"),
        "job.yaml:2:47: invalid YAML: expected ',' or ']', but got '}'",
        "fix the syntax there",
        id="yaml-syntax",
    ),
    pytest.param(
        BASE + "    output: a.npy\n    output: b.npy\n",
        "job.yaml:11:5: invalid YAML: duplicate key 'output'",
        "fix the syntax there",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        BASE.replace("function:", "fucntion:"),
        "job.yaml:8:5: steps[0].fucntion: unknown key 'fucntion'",
        "did you mean `function`?",
        id="unknown-key",
    ),
    pytest.param(
        BASE.replace("    apply: X\n", "    apply: X\n    axis: two\n"),
        "job.yaml:8:11: steps[0].axis: expected an axis number >= 0, got 'two'",
        "write `axis: 0` (each column) or `axis: 1` (each row)",
        id="wrong-type",
    ),
    pytest.param(
        BASE.replace("{generate: normal, shape: [20, 3], seed: 1}", "{path: nothere.csv}"),
        "job.yaml:2:13: data.X.path: data file '{dir}/nothere.csv' was not found",
        "relative paths resolve against the job file's folder ({dir})",
        id="missing-data-file",
    ),
    pytest.param(
        BASE.replace("{generate: normal, shape: [20, 3], seed: 1}", "{path: notes.txt}"),
        "job.yaml:2:13: data.X.path: unknown data format of 'notes.txt'",
        "use a .npy, .parquet, .feather/.arrow, .csv or .tsv file",
        id="unknown-format",
    ),
    pytest.param(
        BASE.replace("funcs:corr_with", "nosuch:corr_with"),
        "job.yaml:8:15: steps[0].function: module 'nosuch' was not found",
        "put nosuch.py in the job's folder ({dir}) or install the package",
        id="function-module-missing",
    ),
    pytest.param(
        BASE.replace("funcs:corr_with", "funcs:corr_wiht"),
        "job.yaml:8:15: steps[0].function: 'funcs' has no attribute 'corr_wiht'",
        "did you mean 'corr_with'?",
        id="function-attribute-missing",
    ),
    pytest.param(
        BASE.replace("funcs:corr_with", "funcs:NOT_CALLABLE"),
        "job.yaml:8:15: steps[0].function: 'funcs:NOT_CALLABLE' is not callable: "
        "it is 3",
        "name a function or another callable",
        id="function-not-callable",
    ),
    pytest.param(
        BASE.replace("vars: [y]", "vars: [z]"),
        "job.yaml:9:12: steps[0].vars[0]: undefined name 'z': it is neither data nor an "
        "earlier step",
        "declare z under `data:`",
        id="unknown-var",
    ),
    pytest.param(
        BASE.replace("apply: X", "apply: later") + LATER_STEP,
        "job.yaml:7:12: steps[0].apply: 'later' is the result of a later step (steps[1])",
        "steps run in order; move that step before this one",
        id="step-uses-later-name",
    ),
    pytest.param(
        BASE.replace("apply: X", "apply: Xs"),
        "job.yaml:7:12: steps[0].apply: undefined name 'Xs': it is neither data nor an "
        "earlier step",
        "did you mean 'X'?",
        id="step-uses-undefined-name",
    ),
    pytest.param(
        BASE.replace("apply: X", "apply: L"),
        "job.yaml:7:12: steps[0].apply: 'L' is a list, and `apply` needs an array or DataFrame",
        "use `lapply: L` to call the function on each element",
        id="apply-on-list",
    ),
    pytest.param(
        BASE.replace("apply: X", "lapply: X"),
        "job.yaml:7:13: steps[0].lapply: 'X' is an ndarray, and `lapply` needs a list",
        "use `apply: X` with `axis: 0` (columns) or `axis: 1` (rows)",
        id="lapply-on-matrix",
    ),
    pytest.param(
        "data: {}\nsteps: [{name: a, apply: X, function: funcs:first}]\n",
        "job.yaml:1:7: data: expected a non-empty mapping of names to sources, got {}",
        "declare at least one object",
        id="empty-data-mapping",
    ),
    pytest.param(
        BASE.replace("{generate: normal, shape: [20, 3], seed: 1}", "{path: empty.csv}"),
        "job.yaml:2:6: data.X: {dir}/empty.csv contains no rows",
        "point to a table with data",
        id="empty-data-file",
    ),
    pytest.param(
        BASE.replace("{generate: normal, shape: [20, 3], seed: 1}", "{value: []}"),
        "job.yaml:2:14: data.X.value: the list is empty",
        "give at least one element",
        id="empty-data-value",
    ),
    pytest.param(
        BASE + "  - name: corr\n    apply: X\n    function: funcs:first\n",
        "job.yaml:10:11: steps[1].name: duplicate name 'corr': a step already has it",
        "give every data object and step its own name",
        id="duplicate-step-names",
    ),
    pytest.param(
        BASE.replace("name: corr", "name: y"),
        "job.yaml:6:11: steps[0].name: duplicate name 'y': a data object already has it",
        "give every data object and step its own name",
        id="step-name-equals-data",
    ),
    pytest.param(
        BASE + "    output: afile/out.npy\n",
        "job.yaml:10:13: steps[0].output: cannot create the output folder '{dir}/afile': "
        "'{dir}/afile' is a file",
        "choose another output path",
        id="output-parent-is-file",
    ),
    pytest.param(
        BASE + "    output: out.txt\n",
        "job.yaml:10:13: steps[0].output: unknown output format '.txt'",
        "use one of .npy, .parquet, .arrow, .feather, .csv, .json",
        id="unknown-output-format",
    ),
    pytest.param(
        BASE.replace("    apply: X\n", "    apply: X\n    lapply: L\n"),
        "job.yaml:6:5: steps[0]: step 'corr' has both `apply` and `lapply`",
        "give exactly one",
        id="apply-and-lapply",
    ),
    pytest.param(
        BASE.replace("    function: funcs:corr_with\n", ""),
        "job.yaml:6:5: steps[0]: missing required key `function`",
        "add `function:` under steps[0]",
        id="missing-function",
    ),
    pytest.param(
        "workers: 0\n" + BASE,
        "job.yaml:1:10: workers: expected an integer >= 1, got 0",
        "write a whole number",
        id="workers-zero",
    ),
    pytest.param(
        BASE.replace("shape: [20, 3]", "shape: [20, -3]"),
        "job.yaml:2:37: data.X.shape[1]: expected an integer >= 1, got -3",
        "write a whole number",
        id="negative-shape",
    ),
    pytest.param(
        BASE.replace("generate: normal, shape: [20, 3]", "generate: gauss, shape: [20, 3]"),
        "job.yaml:2:17: data.X.generate: unknown distribution 'gauss'",
        "use one of normal, uniform, integers",
        id="unknown-distribution",
    ),
    pytest.param(
        BASE.replace("{generate: normal, shape: [20, 3], seed: 1}",
                     "{generate: integers, shape: [20, 3]}"),
        "job.yaml:2:6: data.X: integers need `high` (the exclusive upper bound)",
        "add for example `low: 0` and `high: 10`",
        id="integers-without-high",
    ),
    pytest.param(
        BASE.replace("{generate: normal, shape: [20, 3], seed: 1}", "{ref: other/X}"),
        "job.yaml:2:12: data.X.ref: object other/X was not found in the store",
        "register it first",
        id="ref-missing",
    ),
    pytest.param(
        BASE.replace("    apply: X\n", "    apply: X\n    axis: 2\n"),
        "job.yaml:8:11: steps[0].axis: axis 2 is out of range for 'X' of shape (20, 3)",
        "use an axis from 0 to 1",
        id="axis-out-of-range",
    ),
]


@pytest.mark.parametrize(("text", "first_line", "fix"), CASES)
def test_broken_job(store_root: Path, job_dir: Path, text: str, first_line: str,
                    fix: str) -> None:
    job = job_dir / "job.yaml"
    job.write_text(text)
    before = listing(store_root)

    with pytest.raises(JobFileError) as caught:
        plan_job(job)

    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    expected = first_line.replace("{dir}", str(job_dir)).removeprefix("job.yaml:")
    assert lines[0].startswith(f"{job}:{expected}")
    assert fix.replace("{dir}", str(job_dir)) in lines[1]
    assert listing(store_root) == before


def test_error_fields(store_root: Path, job_dir: Path) -> None:
    job = job_dir / "job.yaml"
    job.write_text(BASE.replace("funcs:corr_with", "funcs:NOT_CALLABLE"))
    with pytest.raises(JobFileError) as caught:
        plan_job(job)
    assert caught.value.line == 8
    assert caught.value.column == 15
    assert caught.value.key == "steps[0].function"
    assert caught.value.value == "funcs:NOT_CALLABLE"


def test_output_folder_not_writable(store_root: Path, job_dir: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    locked = job_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:
        # Root passes permission checks, so the test makes creating a file in
        # this one folder fail, as it does for other users.
        real_mkstemp = joboutputs.tempfile.mkstemp

        def mkstemp(prefix: str, dir: Path) -> tuple[int, str]:
            if Path(dir) == locked:
                raise PermissionError(13, "Permission denied", str(dir))
            return real_mkstemp(prefix=prefix, dir=dir)

        monkeypatch.setattr(joboutputs.tempfile, "mkstemp", mkstemp)
    job = job_dir / "job.yaml"
    job.write_text(BASE + "    output: locked/sub/out.npy\n")
    before = listing(store_root)

    with pytest.raises(JobFileError) as caught:
        plan_job(job)

    lines = str(caught.value).splitlines()
    assert lines[0] == (f"{job}:10:13: steps[0].output: output folder '{locked}' is not "
                        "writable: Permission denied")
    assert "choose a folder you can write to" in lines[1]
    assert listing(store_root) == before


def test_name_taken_in_store(store_root: Path, job_dir: Path) -> None:
    import memshare

    memshare.register_variables("job", {"X": [1, 2]})
    job = job_dir / "job.yaml"
    job.write_text(BASE)
    before = listing(store_root)

    with pytest.raises(JobFileError) as caught:
        plan_job(job)

    assert f"data.X: the store already contains job/X, which the job registers (owner pid "
    f"{os.getpid()})" in str(caught.value)
    assert "memshare rm job" in str(caught.value)
    assert listing(store_root) == before
    memshare.release_variables("job", "X")


def test_bad_override(store_root: Path, job_dir: Path) -> None:
    job = job_dir / "job.yaml"
    job.write_text(BASE)

    with pytest.raises(JobFileError) as caught:
        plan_job(job, ["data.X.shape=[10,"])
    assert str(caught.value).startswith(f"{job}: --set data.X.shape=[10,: the value is not "
                                        "valid YAML")

    with pytest.raises(JobFileError) as caught:
        plan_job(job, ["steps.3.output=a.npy"])
    assert "steps has 1 entries, so '3' is not a valid index" in str(caught.value)

    with pytest.raises(JobFileError) as caught:
        plan_job(job, ["data.X.shape=[10, 0]"])
    assert str(caught.value).startswith(f"{job}: --set data.X.shape=[10, 0]: "
                                        "data.X.shape[1]: expected an integer >= 1")


def test_unknown_var_in_mapping(store_root: Path, job_dir: Path) -> None:
    job = job_dir / "job.yaml"
    job.write_text(BASE.replace("vars: [y]", "vars: {y: y, z: nothing}"))
    with pytest.raises(JobFileError) as caught:
        plan_job(job)
    assert str(caught.value).startswith(f"{job}:9:21: steps[0].vars.z: undefined name "
                                        "'nothing'")


def test_check_creates_no_root(tmp_path: Path, job_dir: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "no-root-yet"
    monkeypatch.setenv("MEMSHARE_ROOT", str(root))
    job = job_dir / "job.yaml"
    job.write_text(BASE)
    plan_job(job)
    job.write_text(BASE.replace("{generate: normal, shape: [20, 3], seed: 1}", "{ref: other/X}"))
    with pytest.raises(JobFileError, match="object other/X was not found in the store"):
        plan_job(job)
    assert not root.exists()


@pytest.mark.parametrize("module", ["json.py", "random.py", "email"])
def test_module_named_like_stdlib(store_root: Path, job_dir: Path, module: str) -> None:
    # The step's own module is funcs.py; the other file still shadows the
    # standard module in every process that puts the job's folder first.
    if module.endswith(".py"):
        (job_dir / module).write_text("raise ImportError('imported from the job folder')\n")
    else:
        (job_dir / module).mkdir()
        (job_dir / module / "__init__.py").write_text("")
    job = job_dir / "job.yaml"
    job.write_text(BASE)
    before = listing(store_root)

    with pytest.raises(JobFileError) as caught:
        plan_job(job)

    first, fix = str(caught.value).splitlines()
    assert first == (f"{job}:8:15: steps[0].function: the job's folder {job_dir} contains "
                     f"{module}, named like a standard-library module, and the workers would "
                     "import it in place of that module")
    assert f"rename it, e.g. to job_{module}" in fix
    assert listing(store_root) == before


def test_output_in_proc(store_root: Path, job_dir: Path) -> None:
    # /proc accepts no new files, even from root, although os.access reports it writable.
    job = job_dir / "job.yaml"
    job.write_text(BASE + "    output: /proc/r.npy\n")

    with pytest.raises(JobFileError) as caught:
        plan_job(job)

    assert str(caught.value).splitlines()[0].startswith(
        f"{job}:10:13: steps[0].output: output folder '/proc' is not writable")


def test_existing_objects_all_named(store_root: Path, job_dir: Path) -> None:
    memshare.register_variables("job", {"X": [1, 2], "y": [3]}, persist=True)
    memshare.register_variables("job", {"other": [4]})
    job = job_dir / "job.yaml"
    job.write_text(BASE)

    with pytest.raises(JobFileError) as caught:
        plan_job(job)

    first, fix = str(caught.value).splitlines()
    assert "the store already contains job/X, job/y, which the job registers" in first
    assert "`memshare rm job/X` and `memshare rm job/y`" in fix
    assert "gc" not in fix
    memshare.release_variables("job", ["X", "y", "other"])
