"""Schema of job files: the top-level keys and the steps.

:func:`parse_job` checks a loaded :class:`~memshare.runner.jobfile.JobDocument`
and returns a :class:`JobSpec`. Data entries are only checked to be mappings
here, because :mod:`memshare.runner.jobsources` checks each source, and
:mod:`memshare.runner.jobplan` checks what needs the whole job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from memshare.runner.jobfile import QUOTE_HINT, JobDocument, Key, describe
from memshare.store.errors import InvalidNameError
from memshare.store.names import validate_name

__all__ = [
    "AXIS_WORDS",
    "JobSpec",
    "STEP_KEYS",
    "StepSpec",
    "TOP_KEYS",
    "check_bool",
    "check_int",
    "check_name",
    "parse_job",
]

TOP_KEYS: Final = ("namespace", "workers", "keep", "description", "data", "steps")
STEP_KEYS: Final = (
    "name", "description", "apply", "lapply", "axis", "over", "function",
    "vars", "args", "kwargs", "output", "chunksize", "simplify",
)
AXIS_WORDS: Final = {"columns": 0, "rows": 1}
EXTENSION_PREFIX: Final = "x-"


@dataclass(frozen=True)
class StepSpec:
    """One checked step of a job.

    ``vars`` maps the keyword argument name of the function to the name of
    the data object or earlier step result passed as its value, and
    ``var_keys`` maps the same argument name to its key path in the file.
    """

    index: int
    name: str
    mode: Literal["apply", "lapply"]
    input: str
    axis: int
    function: str
    vars: dict[str, str]
    var_keys: dict[str, Key]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Path | None
    chunksize: int | None
    simplify: bool

    @property
    def key(self) -> Key:
        """Key path of the step in the job file."""
        return ("steps", self.index)


@dataclass(frozen=True)
class JobSpec:
    """A job whose top level and steps passed the schema checks."""

    doc: JobDocument
    namespace: str
    workers: int | None
    keep: bool
    data: dict[str, dict[str, Any]]
    steps: tuple[StepSpec, ...]


def check_name(doc: JobDocument, path: Key, value: object, what: str,
               at_key: bool = False) -> str:
    """Check a namespace or object name against the store's naming rule.

    ``at_key`` points the message at the mapping key, for names that are keys.
    """
    if isinstance(value, bool) or value is None:
        raise doc.error(path, f"invalid {what} {describe(value)}: YAML read the name as "
                        f"{'a boolean' if value is not None else 'null'}, not as text",
                        QUOTE_HINT, value=value, at_key=at_key)
    try:
        return validate_name(value, what)
    except InvalidNameError as exc:
        raise doc.error(path, f"{exc}", "rename it", value=value, at_key=at_key) from None


def check_int(doc: JobDocument, path: Key, value: object, minimum: int) -> int:
    """Check that ``value`` is an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise doc.error(path, f"expected an integer >= {minimum}, got {describe(value)}",
                        f"write a whole number such as {max(minimum, 4)}", value=value)
    return value


def check_bool(doc: JobDocument, path: Key, value: object) -> bool:
    """Check that ``value`` is a YAML boolean."""
    if not isinstance(value, bool):
        raise doc.error(path, f"expected true or false, got {describe(value)}",
                        "write true or false", value=value)
    return value


def parse_job(doc: JobDocument) -> JobSpec:
    """Check the top level and the steps of ``doc`` and return a :class:`JobSpec`.

    Data sources are only checked to be mappings here; see
    :func:`memshare.runner.jobsources.parse_source`.
    """
    # Top-level keys that start with `x-` are free for the user, e.g. to hold a
    # YAML anchor (`x-common: &common {...}`) that entries merge with `<<: *common`.
    own = {key: value for key, value in doc.data.items() if not _is_extension(key)}
    top = doc.mapping((), own, TOP_KEYS, required=("data", "steps"))

    default_namespace = re.sub(r"[^A-Za-z0-9_.-]", "_", doc.path.stem).lstrip(".-") or "job"
    namespace = check_name(doc, ("namespace",), top.get("namespace", default_namespace),
                           "namespace")
    workers = top.get("workers")
    if workers is not None:
        workers = check_int(doc, ("workers",), workers, 1)
    keep = check_bool(doc, ("keep",), top.get("keep", False))

    data = top["data"]
    if not isinstance(data, dict) or not data:
        raise doc.error(("data",), f"expected a non-empty mapping of names to sources, got "
                        f"{describe(data)}", "declare at least one object, e.g. "
                        "`X: {generate: normal, shape: [1000, 50]}`", value=data)
    for name, source in data.items():
        check_name(doc, ("data", name), name, "object name", at_key=True)
        doc.mapping(("data", name), source, None)

    steps = top["steps"]
    if not isinstance(steps, list) or not steps:
        raise doc.error(("steps",), f"expected a non-empty list of steps, got {describe(steps)}",
                        "add a list item such as `- {name: s, apply: X, function: m:f}`",
                        value=steps)
    parsed = tuple(_parse_step(doc, i, step) for i, step in enumerate(steps))
    return JobSpec(doc=doc, namespace=namespace, workers=workers, keep=keep,
                   data=data, steps=parsed)


def _is_extension(key: object) -> bool:
    return isinstance(key, str) and key.startswith(EXTENSION_PREFIX)


def _parse_step(doc: JobDocument, index: int, raw: object) -> StepSpec:
    path: Key = ("steps", index)
    step = doc.mapping(path, raw, STEP_KEYS, required=("name", "function"))
    name = check_name(doc, (*path, "name"), step["name"], "step name")

    modes = [mode for mode in ("apply", "lapply") if mode in step]
    if len(modes) != 1:
        problem = "has both `apply` and `lapply`" if modes else "has neither `apply` nor `lapply`"
        raise doc.error(path, f"step {name!r} {problem}", "give exactly one: `apply: NAME` "
                        "for an array or DataFrame, `lapply: NAME` for a list")
    mode = modes[0]
    source = step[mode]
    if not isinstance(source, str):
        raise doc.error((*path, mode), f"expected the name of a data object or earlier step, "
                        f"got {describe(source)}", "write a name declared under `data:`",
                        value=source)

    axis = _parse_axis(doc, path, step, mode)

    function = step["function"]
    if not isinstance(function, str) or ":" not in function:
        raise doc.error((*path, "function"), f"expected MODULE:ATTRIBUTE or FILE.py:ATTRIBUTE, "
                        f"got {describe(function)}", "for example `funcs:corr_with` or "
                        "`helpers/stats.py:summary`", value=function)

    variables, var_keys = _parse_vars(doc, (*path, "vars"), step.get("vars", []))

    args = step.get("args", [])
    if not isinstance(args, list):
        raise doc.error((*path, "args"), f"expected a list, got {describe(args)}",
                        "write `args: [1, 2]`", value=args)
    kwargs = doc.mapping((*path, "kwargs"), step.get("kwargs", {}), None)
    for key in kwargs:
        if key in variables:
            raise doc.error((*path, "kwargs", key), f"{key!r} is also passed by `vars`",
                            "pass each keyword argument once", value=key, at_key=True)

    output = step.get("output")
    if output is not None:
        if not isinstance(output, str) or not output.strip():
            raise doc.error((*path, "output"), f"expected a file path, got {describe(output)}",
                            "write a path such as results/corr.npy", value=output)
        output = doc.folder / output

    chunksize = step.get("chunksize")
    if chunksize is not None:
        chunksize = check_int(doc, (*path, "chunksize"), chunksize, 1)
    simplify = check_bool(doc, (*path, "simplify"), step.get("simplify", True))

    return StepSpec(index=index, name=name, mode=mode, input=source, axis=axis,
                    function=function, vars=variables, var_keys=var_keys, args=tuple(args),
                    kwargs=kwargs, output=output, chunksize=chunksize, simplify=simplify)


def _parse_axis(doc: JobDocument, path: Key, step: Mapping[str, Any], mode: str) -> int:
    if mode == "lapply":
        for key in ("axis", "over"):
            if key in step:
                raise doc.error((*path, key), "`lapply` takes the list elements in order and "
                                "has no axis", f"remove `{key}`", value=step[key],
                                at_key=True)
        return 0

    if "axis" in step and "over" in step:
        raise doc.error((*path, "over"), "both `axis` and `over` are given",
                        "keep one of them", value=step["over"], at_key=True)
    if "over" in step:
        over = step["over"]
        if over not in AXIS_WORDS:
            raise doc.error((*path, "over"), f"expected columns or rows, got {describe(over)}",
                            "write `over: columns` (axis 0) or `over: rows` (axis 1)",
                            value=over)
        return AXIS_WORDS[over]
    axis = step.get("axis", 0)
    if isinstance(axis, bool) or not isinstance(axis, int) or axis < 0:
        raise doc.error((*path, "axis"), f"expected an axis number >= 0, got "
                        f"{describe(axis)}", "write `axis: 0` (each column) or `axis: 1` (each "
                        "row), a higher axis for arrays of more dimensions, or `over: "
                        "columns|rows`", value=axis)
    return axis


def _parse_vars(doc: JobDocument, path: Key,
                raw: object) -> tuple[dict[str, str], dict[str, Key]]:
    """Return argument name -> object name, and argument name -> key path, of ``vars``."""
    if isinstance(raw, list):
        pairs = [((*path, i), item, item) for i, item in enumerate(raw)]
    elif isinstance(raw, dict):
        pairs = [((*path, key), key, item) for key, item in raw.items()]
    else:
        raise doc.error(path, f"expected a list of names or a mapping, got {describe(raw)}",
                        "write `vars: [y]` or `vars: {target: y}`", value=raw)

    result: dict[str, str] = {}
    keys: dict[str, Key] = {}
    for item_path, argument, name in pairs:
        if not isinstance(name, str):
            raise doc.error(item_path, f"expected the name of a data object or earlier step, "
                            f"got {describe(name)}", "write a name declared under `data:`",
                            value=name)
        if not isinstance(argument, str) or not argument.isidentifier():
            raise doc.error(item_path, f"{argument!r} cannot be a keyword argument name",
                            f"use the mapping form, e.g. `vars: {{my_arg: {name}}}`",
                            value=argument)
        if argument in result:
            raise doc.error(item_path, f"{argument!r} is listed twice", "list it once",
                            value=argument)
        result[argument] = name
        keys[argument] = item_path
    return result, keys
