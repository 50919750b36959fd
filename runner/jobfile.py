"""Job files: YAML loading with line and column marks, and ``--set`` overrides.

A job file is read into plain Python values plus a table of where each value
sits in the file. Every later check (:mod:`memshare.runner.jobschema`,
:mod:`memshare.runner.jobsources`, :mod:`memshare.runner.jobplan`) can so
raise a :class:`JobFileError` that names the file, the line and column, the
key path such as ``steps[0].function``, the bad value and the fix.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from memshare.store.errors import MemshareError

__all__ = [
    "JobDocument",
    "JobFileError",
    "Key",
    "QUOTE_HINT",
    "apply_override",
    "describe",
    "format_key",
    "job_error",
    "load_job_file",
    "split_key",
]

logger = logging.getLogger(__name__)

# One element of a key path: a mapping key or a list index.
Key = tuple[str | int, ...]

# YAML 1.1, which PyYAML reads, turns these unquoted words into booleans or null.
QUOTE_HINT: Final = ("YAML reads unquoted yes, no, on, off, true, false and null as booleans "
                     "or null, so quote such a name, e.g. 'no':")


class JobFileError(MemshareError, ValueError):
    """A job file, a ``--set`` override or a command-line option is invalid.

    Attributes ``file``, ``line`` and ``column`` (1-based, ``None`` when
    unknown), ``key`` (the key path as text) and ``value`` locate the problem.
    """


def format_key(path: Key) -> str:
    """Format a key path as users write it, e.g. ``steps[0].function``."""
    text = ""
    for part in path:
        if isinstance(part, bool) or part is None:
            # An unquoted YAML key such as `no:` or `null:` is a boolean or null.
            text += f".{describe(part)}" if text else describe(part)
        elif isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe(value: object) -> str:
    """Show a value for messages as YAML spells it, e.g. ``'four'``, ``3``, ``true``, ``null``.

    Values of types that YAML does not produce also get their type name.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if not isinstance(value, (int, float, str, list, dict)):
        shown += f" ({type(value).__name__})"
    return shown


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
                raise self.error((*path, key), f"invalid key {describe(key)}: keys are text",
                                 f"write a name that starts with a letter; {QUOTE_HINT}",
                                 value=key, at_key=True)
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
            # A null key (`null:` or `~:`) is let through so that the schema
            # checks can tell the user to quote it.
            if key is not None and not isinstance(key, (str, int, float, bool)):
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


# One part of a --set key: a quoted key that may contain dots, a list index in
# brackets, or a plain key.
_KEY_PART = re.compile(r""""(?P<double>[^"]+)"|'(?P<single>[^']+)'|\[(?P<index>\d+)\]"""
                       r"""|(?P<plain>[^.\[\]"']+)""")


def split_key(text: str) -> list[str] | None:
    """Split a ``--set`` key into its parts, or return ``None`` if it is malformed.

    Parts are separated by dots. A part in double or single quotes is taken
    as it is, so ``data."a.b".path`` addresses the key ``a.b``. A list index
    may also be written in brackets, as in ``steps[0].output``.
    """
    parts: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        if parts and text[position] == ".":
            position += 1
        elif parts and text[position] != "[":
            return None
        match = _KEY_PART.match(text, position)
        if match is None:
            return None
        parts.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return parts or None


def apply_override(doc: JobDocument, text: str) -> None:
    """Apply one ``--set KEY=VALUE`` to ``doc``, parsing the value as YAML.

    ``KEY`` is a dotted path (``data.X.shape``, ``steps.0.output`` or
    ``steps[0].output``), split by :func:`split_key`. Missing mappings on the
    way are created, and a null value removes the key.
    """
    key_text, sep, value_text = text.partition("=")
    where = f"{doc.path}: --set {text}"
    parts = split_key(key_text)
    if not sep or parts is None:
        raise job_error(doc.path, where, f"invalid KEY=VALUE {text!r}", "write dotted keys "
                        "and a YAML value, e.g. --set data.X.shape=[10000,50]; quote a key that "
                        """contains a dot, e.g. --set 'data."a.b".path=x.npy'""", value=text)
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
