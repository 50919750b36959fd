"""Job files: YAML loading with line and column marks, ``--set`` overrides, schema.

A job file is read into plain Python values plus a table of where each value
sits in the file, so that every later check (here, in
:mod:`memshare.runner.jobsources` and in :mod:`memshare.runner.jobrun`) can
raise a :class:`JobFileError` that names the file, the line and column, the key
path such as ``steps[0].function``, the bad value and the fix.

This module checks the top level and the steps. Data sources are checked by
:mod:`memshare.runner.jobsources`; names, functions and outputs that need the
whole job are checked by :mod:`memshare.runner.jobrun`.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from memshare.store.errors import InvalidNameError, MemshareError
from memshare.store.names import validate_name

__all__ = [
    "JobDocument",
    "JobFileError",
    "JobSpec",
    "apply_override",
    "check_bool",
    "check_int",
    "check_name",
    "describe",
    "StepSpec",
    "Key",
    "format_key",
    "load_job_file",
    "parse_job",
]

logger = logging.getLogger(__name__)

# One element of a key path: a mapping key or a list index.
Key = tuple[str | int, ...]

TOP_KEYS: Final = ("namespace", "workers", "keep", "description", "data", "steps")
STEP_KEYS: Final = (
    "name", "description", "apply", "lapply", "axis", "over", "function",
    "vars", "args", "kwargs", "output", "chunksize", "simplify",
)
AXIS_WORDS: Final = {"columns": 0, "rows": 1}


class JobFileError(MemshareError, ValueError):
    """A job file, a ``--set`` override or a command-line option is invalid.

    Attributes ``file``, ``line`` and ``column`` (1-based, ``None`` when
    unknown), ``key`` (the key path as text) and ``value`` locate the problem.
    """


def format_key(path: Key) -> str:
    """Write a key path the way users write it, e.g. ``steps[0].function``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe(value: object) -> str:
    """Show a value and its YAML type for messages, e.g. ``'four' (a string)``."""
    kinds = {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "a mapping", type(None): "null",
    }
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kinds.get(type(value), type(value).__name__)})"


@dataclass
class JobDocument:
    """A job file's values, with the position of each value in the file.

    Attributes
    ----------
    path : Path
        The job file, as given (used in messages).
    data : dict
        The parsed YAML mapping, with ``--set`` overrides applied.
    marks : dict
        Key path -> (line, column) of the value, 1-based.
    key_marks : dict
        Key path -> (line, column) of the mapping key itself.
    overrides : dict
        Key path -> the ``--set KEY=VALUE`` text that set it.
    """

    path: Path
    data: dict[str, Any]
    marks: dict[Key, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Key, tuple[int, int]] = field(default_factory=dict)
    overrides: dict[Key, str] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The folder that relative paths in the job resolve against."""
        return self.path.resolve().parent

    def location(self, path: Key, at_key: bool = False) -> tuple[str, int | None, int | None]:
        """Return the prefix for a message about ``path``, and its line and column."""
        for length in range(len(path), -1, -1):
            if path[:length] in self.overrides:
                return f"{self.path}: {self.overrides[path[:length]]}", None, None

        table = self.key_marks if at_key and path in self.key_marks else self.marks
        for length in range(len(path), -1, -1):
            if path[:length] in table:
                line, column = table[path[:length]]
                return f"{self.path}:{line}:{column}", line, column
        return str(self.path), None, None

    def error(self, path: Key, problem: str, fix: str, *, value: object = None,
              at_key: bool = False) -> JobFileError:
        """Build the error for ``path``: location and problem on one line, the fix on the next."""
        where, line, column = self.location(path, at_key)
        key = format_key(path)
        return job_error(self.path, f"{where}: {key}" if key else where, problem, fix,
                         line=line, column=column, key=key, value=value)

    def mapping(self, path: Key, value: object, allowed: Sequence[str] | None,
                required: Iterable[str] = ()) -> dict[str, Any]:
        """Check that ``value`` is a mapping with string keys and return it.

        With ``allowed``, any other key is reported at its line together with
        the closest valid key. Keys whose value is null count as absent, so
        ``--set KEY=null`` removes an optional key.
        """
        if not isinstance(value, dict):
            raise self.error(path, f"expected a mapping, got {describe(value)}",
                             f"write `key: value` lines under {format_key(path) or 'the top'}",
                             value=value)

        for key in value:
            if not isinstance(key, str):
                raise self.error((*path, key), f"invalid key {describe(key)}",
                                 "write a name that starts with a letter", value=key,
                                 at_key=True)
            if allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                valid = ", ".join(allowed)
                fix = f"did you mean `{close[0]}`?" if close else f"valid keys: {valid}"
                raise self.error((*path, key), f"unknown key {key!r}", fix, value=key,
                                 at_key=True)

        present = {key: item for key, item in value.items() if item is not None}
        for key in required:
            if key not in present:
                raise self.error(path, f"missing required key `{key}`",
                                 f"add `{key}:` under {format_key(path) or 'the top level'}")
        return present


def job_error(file: Path, where: str, problem: str, fix: str, *, line: int | None = None,
              column: int | None = None, key: str = "", value: object = None) -> JobFileError:
    """Build a :class:`JobFileError`: ``where: problem`` on one line, the fix on the next."""
    return JobFileError(f"{where}: {problem}\n  {fix}", file=str(file), line=line,
                        column=column, key=key, value=value)


def load_job_file(path: str | Path) -> JobDocument:
    """Read a job file into a :class:`JobDocument`.

    Raises
    ------
    JobFileError
        If the file cannot be read, is not valid YAML, is empty, repeats a
        key, or its top level is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise job_error(path, str(path), "job file not found", "check the path; it is "
                        "relative to the current folder", value=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise job_error(path, str(path), f"cannot read the job file: {exc}",
                        "pass a readable UTF-8 text file", value=str(path)) from None

    doc = JobDocument(path=path, data={})
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = _construct(doc, loader, node, ()) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = str(exc.problem or exc.context)
        fix = "fix the syntax there (indentation, a missing colon, an unclosed quote or bracket)"
        if "tag" in problem:
            fix = "remove the tag: job files take plain mappings, lists and scalars"
        raise job_error(path, f"{path}:{line}:{column}" if mark else str(path),
                        f"invalid YAML: {problem}", fix, line=line, column=column) from None
    except yaml.YAMLError as exc:
        raise job_error(path, str(path), f"invalid YAML: {exc}", "fix the YAML syntax") from None
    finally:
        loader.dispose()

    if data is None:
        raise job_error(path, str(path), "the job file is empty",
                        "declare at least `data:` and `steps:`")
    doc.data = doc.mapping((), data, None)
    logger.debug("loaded job file %s with keys %s", path, sorted(doc.data))
    return doc


# Job files use plain mappings and lists; tags such as !!set or !!python/...
# would change what a value means.
_PLAIN_TAGS: Final = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _construct(doc: JobDocument, loader: yaml.SafeLoader, node: yaml.Node, path: Key) -> Any:
    """Build the Python value of ``node`` and record the mark of every value in ``doc``."""
    doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)

    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise yaml.MarkedYAMLError(problem=f"the tag {node.tag!r} is not supported",
                                   problem_mark=node.start_mark)

    if isinstance(node, yaml.MappingNode):
        # Resolve `<<: *anchor` merge keys the way PyYAML's own constructor does.
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            mark = key_node.start_mark
            if not isinstance(key, (str, int, float, bool)):
                raise yaml.MarkedYAMLError(problem="a key must be a plain scalar",
                                           problem_mark=mark)
            if key in result:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=mark)
            doc.key_marks[(*path, key)] = (mark.line + 1, mark.column + 1)
            result[key] = _construct(doc, loader, value_node, (*path, key))
        return result

    if isinstance(node, yaml.SequenceNode):
        return [_construct(doc, loader, item, (*path, i)) for i, item in enumerate(node.value)]

    return loader.construct_object(node, deep=True)


_INDEX = re.compile(r"\[(\d+)\]")


def apply_override(doc: JobDocument, text: str) -> None:
    """Apply one ``--set KEY=VALUE`` to ``doc``; the value is parsed as YAML.

    ``KEY`` is a dotted path (``data.X.shape``, ``steps.0.output`` or
    ``steps[0].output``). Missing mappings on the way are created, and a null
    value removes the key.
    """
    key_text, sep, value_text = text.partition("=")
    where = f"{doc.path}: --set {text}"
    parts = _INDEX.sub(r".\1", key_text.strip()).split(".")
    if not sep or "" in parts:
        raise job_error(doc.path, where, f"invalid KEY=VALUE {text!r}", "write dotted keys "
                        "and a YAML value, e.g. --set data.X.shape=[1000,50]", value=text)
    try:
        value = yaml.safe_load(value_text)
    except yaml.YAMLError as exc:
        raise job_error(doc.path, where, f"the value is not valid YAML: "
                        f"{getattr(exc, 'problem', None) or exc}", "quote it or fix the "
                        f"brackets, e.g. --set {key_text}='[1000, 50]'", value=value_text) from None

    container: Any = doc.data
    path: Key = ()
    for i, part in enumerate(parts):
        key: str | int = part
        if isinstance(container, list):
            if not part.isdigit() or int(part) >= len(container):
                raise job_error(doc.path, where, f"{format_key(path)} has {len(container)} "
                                f"entries, so {part!r} is not a valid index", "use an index "
                                f"from 0 to {len(container) - 1}", value=part)
            key = int(part)
        elif not isinstance(container, dict):
            raise job_error(doc.path, where, f"{format_key(path)} is {describe(container)}, "
                            "not a mapping or list", f"set {format_key(path)} itself",
                            value=container)
        path = (*path, key)

        if i == len(parts) - 1:
            if value is None and isinstance(container, dict):
                container.pop(key, None)
            else:
                container[key] = value
            break
        if isinstance(container, dict) and container.get(key) is None:
            container[key] = {}
        container = container[key]

    doc.overrides[path] = f"--set {text}"
    logger.debug("applied override %s to %s", text, doc.path)


@dataclass(frozen=True)
class StepSpec:
    """One checked step of a job.

    ``vars`` maps the keyword argument name of the function to the name of
    the data object or earlier step result passed as its value.
    """

    index: int
    name: str
    mode: Literal["apply", "lapply"]
    input: str
    axis: int
    function: str
    vars: dict[str, str]
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


def check_name(doc: JobDocument, path: Key, value: object, what: str) -> str:
    """Check a namespace or object name against the store's naming rule."""
    try:
        return validate_name(value, what)
    except InvalidNameError as exc:
        raise doc.error(path, f"{exc}", "rename it", value=value) from None


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
    top = doc.mapping((), doc.data, TOP_KEYS, required=("data", "steps"))

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
        check_name(doc, ("data", name), name, "object name")
        doc.mapping(("data", name), source, None)

    steps = top["steps"]
    if not isinstance(steps, list) or not steps:
        raise doc.error(("steps",), f"expected a non-empty list of steps, got {describe(steps)}",
                        "add a list item such as `- {name: s, apply: X, function: m:f}`",
                        value=steps)
    parsed = tuple(_parse_step(doc, i, step) for i, step in enumerate(steps))
    return JobSpec(doc=doc, namespace=namespace, workers=workers, keep=keep,
                   data=data, steps=parsed)


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

    variables = _parse_vars(doc, (*path, "vars"), step.get("vars", []))

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
                    function=function, vars=variables, args=tuple(args), kwargs=kwargs,
                    output=output, chunksize=chunksize, simplify=simplify)


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
        raise doc.error((*path, "axis"), f"expected 0 (each column) or 1 (each row), got "
                        f"{describe(axis)}", "write `axis: 0` or `axis: 1`, or `over: "
                        "columns|rows`", value=axis)
    return axis


def _parse_vars(doc: JobDocument, path: Key, raw: object) -> dict[str, str]:
    """Return keyword argument name -> object name for a list or mapping of vars."""
    if isinstance(raw, list):
        pairs = [((*path, i), item, item) for i, item in enumerate(raw)]
    elif isinstance(raw, dict):
        pairs = [((*path, key), key, item) for key, item in raw.items()]
    else:
        raise doc.error(path, f"expected a list of names or a mapping, got {describe(raw)}",
                        "write `vars: [y]` or `vars: {target: y}`", value=raw)

    result: dict[str, str] = {}
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
    return result
