"""Loading job files: marks, anchors, --set overrides and schema defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from memshare.runner.jobfile import JobFileError, apply_override, format_key, load_job_file
from memshare.runner.jobschema import parse_job

JOB = """\
data:
  X: &matrix {generate: normal, shape: [10, 4]}
  Y:
    <<: *matrix
    seed: 7
steps:
  - name: first
    apply: X
    function: funcs:f
"""


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "my job.v2.yaml"
    path.write_text(JOB)
    return path


def test_marks_of_values_and_keys(job: Path) -> None:
    doc = load_job_file(job)
    assert doc.marks[("steps", 0, "function")] == (9, 15)
    assert doc.key_marks[("steps", 0, "function")] == (9, 5)
    assert doc.marks[("data", "X", "shape", 1)] == (2, 45)


def test_merge_keys(job: Path) -> None:
    doc = load_job_file(job)
    assert doc.data["data"]["Y"] == {"generate": "normal", "shape": [10, 4], "seed": 7}


def test_defaults(job: Path) -> None:
    spec = parse_job(load_job_file(job))
    # The file name has a space, which names may not contain.
    assert spec.namespace == "my_job.v2"
    assert spec.workers is None
    assert spec.keep is False
    step = spec.steps[0]
    assert (step.mode, step.input, step.axis, step.vars, step.output) == (
        "apply", "X", 0, {}, None)
    assert step.simplify is True


def test_over_rows_and_vars_mapping(job: Path) -> None:
    job.write_text(JOB.replace("    apply: X\n", "    apply: X\n    over: rows\n"
                               "    vars: {center: Y}\n    output: out/r.npy\n"))
    step = parse_job(load_job_file(job)).steps[0]
    assert step.axis == 1
    assert step.vars == {"center": "Y"}
    assert step.output == job.parent / "out" / "r.npy"


def test_override_paths(job: Path) -> None:
    doc = load_job_file(job)
    apply_override(doc, "data.X.shape=[100, 5]")
    apply_override(doc, "steps[0].output=r.json")
    apply_override(doc, "workers=3")
    apply_override(doc, "data.Z.value=1.5")
    assert doc.data["data"]["X"]["shape"] == [100, 5]
    assert doc.data["steps"][0]["output"] == "r.json"
    assert doc.data["workers"] == 3
    assert doc.data["data"]["Z"] == {"value": 1.5}

    apply_override(doc, "steps.0.output=null")
    assert "output" not in doc.data["steps"][0]


def test_override_errors_name_the_override(job: Path) -> None:
    doc = load_job_file(job)
    apply_override(doc, "workers=many")
    with pytest.raises(JobFileError) as caught:
        parse_job(doc)
    assert str(caught.value).splitlines()[0] == (
        f"{job}: --set workers=many: workers: expected an integer >= 1, got 'many'")
    assert caught.value.line is None


def test_override_into_scalar(job: Path) -> None:
    doc = load_job_file(job)
    with pytest.raises(JobFileError, match=r"steps\[0\].name is 'first', not a "
                       "mapping or list"):
        apply_override(doc, "steps.0.name.x=1")


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("", "the job file is empty", id="empty"),
    pytest.param("- a\n- b\n", "expected a mapping, got ['a', 'b']", id="list"),
    pytest.param("data: {X: !!python/object:os.system {}}\n", "bad.yaml:1:11: invalid YAML: "
                 "the tag 'tag:yaml.org,2002:python/object:os.system' is not supported",
                 id="python-tag"),
    pytest.param("data: {X: !!python/name:os.system ''}\n", "bad.yaml:1:11: invalid YAML: "
                 "could not determine a constructor", id="python-scalar-tag"),
    pytest.param("data: !!set {a, b}\n", "invalid YAML: the tag 'tag:yaml.org,2002:set' is "
                 "not supported", id="set-tag"),
])
def test_bad_documents(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(JobFileError) as caught:
        load_job_file(path)
    assert message in str(caught.value)


def test_integer_data_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  1: {value: 3}\nsteps: [{name: s, apply: X, function: m:f}]\n")
    with pytest.raises(JobFileError, match=r"bad.yaml:2:3: data\[1\]: invalid object name 1"):
        parse_job(load_job_file(path))


def test_format_key() -> None:
    assert format_key(("steps", 0, "vars", "center")) == "steps[0].vars.center"
    assert format_key(()) == ""


def test_override_quoted_dotted_key(job: Path) -> None:
    doc = load_job_file(job)
    apply_override(doc, 'data."X.v2".value=1')
    apply_override(doc, "data.'Y.v3'.value=2")
    assert doc.data["data"]["X.v2"] == {"value": 1}
    assert doc.data["data"]["Y.v3"] == {"value": 2}
    assert "X" in doc.data["data"]


@pytest.mark.parametrize("key", ["a..b", "a.", '"a".', 'a"b"', "steps[0]x", "=1"])
def test_override_malformed_key(job: Path, key: str) -> None:
    doc = load_job_file(job)
    text = key if "=" in key else f"{key}=1"
    with pytest.raises(JobFileError, match="invalid KEY=VALUE"):
        apply_override(doc, text)


def test_extension_keys_hold_anchors(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("x-matrix: &matrix {generate: normal, shape: [10, 4]}\n"
                    "data:\n  X: *matrix\n  Y:\n    <<: *matrix\n    seed: 7\n"
                    "steps: [{name: s, apply: X, function: m:f}]\n")
    spec = parse_job(load_job_file(path))
    assert spec.data["Y"] == {"generate": "normal", "shape": [10, 4], "seed": 7}


def test_other_unknown_top_key(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("common: 1\ndata: {X: {value: 1}}\n"
                    "steps: [{name: s, apply: X, function: m:f}]\n")
    with pytest.raises(JobFileError, match="job.yaml:1:1: common: unknown key 'common'"):
        parse_job(load_job_file(path))


@pytest.mark.parametrize(("name", "shown"), [("no", "false"), ("on", "true"), ("null", "null")])
def test_unquoted_yaml_word_as_name(tmp_path: Path, name: str, shown: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(f"data:\n  {name}: {{value: 3}}\nsteps: [{{name: s, apply: X, "
                    "function: m:f}]\n")
    with pytest.raises(JobFileError) as caught:
        parse_job(load_job_file(path))
    first, fix = str(caught.value).splitlines()
    assert first.endswith(f"job.yaml:2:3: data.{shown}: invalid object name {shown}: YAML read "
                          "the name as " + ("null" if shown == "null" else "a boolean")
                          + ", not as text")
    assert "quote such a name, e.g. 'no':" in fix
