"""Checking a whole job before it runs.

:func:`plan_job` checks everything that can be checked before running:

- the schema (:mod:`memshare.runner.jobschema`) and the data sources
  (:mod:`memshare.runner.jobsources`);
- the store: referenced objects exist, the names the job registers are free,
  and the data fits;
- the names and kinds of step inputs and ``vars``;
- the functions, which must import and be callable, and the outputs.

It registers nothing, so a job that fails it leaves the store untouched.
"""

from __future__ import annotations

import difflib
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import memshare.store as store
from memshare.runner.jobfile import JobDocument, Key, apply_override, load_job_file
from memshare.runner.jobfunctions import StepFunction, resolve_function
from memshare.runner.joboutputs import check_output
from memshare.runner.jobschema import JobSpec, StepSpec, parse_job
from memshare.runner.jobsources import Source, parse_source
from memshare.runner.pool import resolve_workers
from memshare.store.layout import store_root

__all__ = ["JobPlan", "StepPlan", "plan_job"]

logger = logging.getLogger(__name__)

APPLY_KINDS: Final = ("ndarray", "dataframe")
LAPPLY_KINDS: Final = ("list", "tuple")


@dataclass(frozen=True)
class StepPlan:
    """A checked step, ready to run.

    ``namespace`` and ``target`` locate the step's input object, and
    ``variables`` are the names the pool passes from that namespace.
    """

    spec: StepSpec
    function: StepFunction
    namespace: str
    target: str
    variables: tuple[str, ...]
    register: bool


@dataclass(frozen=True)
class JobPlan:
    """A job that passed every check of :func:`plan_job`."""

    spec: JobSpec
    sources: tuple[Source, ...]
    steps: tuple[StepPlan, ...]
    workers: int
    keep: bool

    @property
    def namespace(self) -> str:
        """Namespace the job registers its objects in."""
        return self.spec.namespace

    @property
    def path(self) -> Path:
        """The job file."""
        return self.spec.doc.path


@dataclass(frozen=True)
class _Known:
    """A name the steps can use: where the object lives and what is known of it."""

    namespace: str
    name: str
    kind: str | None
    shape: tuple[int, ...] | None
    step: int | None = None


def plan_job(path: str | Path, overrides: Sequence[str] = (), *, workers: int | None = None,
             keep: bool | None = None) -> JobPlan:
    """Load and check a job file; nothing is registered.

    Parameters
    ----------
    path : str or Path
        The job file.
    overrides : sequence of str
        ``KEY=VALUE`` texts applied like ``--set``.
    workers : int, optional
        Overrides the job's ``workers``; default the job's value, else the
        available CPUs.
    keep : bool, optional
        Overrides the job's ``keep``.

    Raises
    ------
    JobFileError
        With the file, line and column, key path, value and fix.
    """
    doc = load_job_file(path)
    for text in overrides:
        apply_override(doc, text)
    spec = parse_job(doc)
    sources = tuple(parse_source(doc, name, raw) for name, raw in spec.data.items())
    keep = spec.keep if keep is None else keep

    known = {source.name: _known_source(doc, spec, source) for source in sources}
    used_later = {name for step in spec.steps for name in (step.input, *step.vars.values())}
    outputs: dict[Path, str] = {}
    steps = []
    for step in spec.steps:
        steps.append(_plan_step(doc, spec, step, known, keep or step.name in used_later))
        known[step.name] = _Known(spec.namespace, step.name,
                                  "list" if step.mode == "lapply" else None, None, step.index)
        if step.output is not None:
            check_output(doc, (*step.key, "output"), step.output)
            if step.output in outputs:
                raise doc.error((*step.key, "output"), f"steps {outputs[step.output]!r} and "
                                f"{step.name!r} write the same file", "give each step its "
                                "own output path", value=str(step.output))
            outputs[step.output] = step.name

    registered = [s.name for s in sources if s.source != "ref"]
    registered += [s.spec.name for s in steps if s.register]
    _check_store(doc, spec.namespace, registered, sources)
    return JobPlan(spec, sources, tuple(steps), resolve_workers(workers or spec.workers), keep)


def _store_exists() -> bool:
    # Reading metadata creates a missing store root, and a check must not
    # change the file system; without a root no object exists yet.
    return Path(store_root()).exists()


def _known_source(doc: JobDocument, spec: JobSpec, source: Source) -> _Known:
    if source.source != "ref":
        shape = tuple(source.options["shape"]) if source.source == "generate" else None
        return _Known(spec.namespace, source.name, source.kind, shape)

    namespace, name = source.options["namespace"], source.options["name"]
    try:
        if not _store_exists():
            raise store.ObjectNotFoundError(f"no store root at {store_root()}")
        metadata = store.retrieve_metadata(namespace, name)[name]
    except store.ObjectNotFoundError:
        raise doc.error((*source.key, "ref"), f"object {namespace}/{name} was not found in the "
                        f"store ({store_root()})", "register it first, e.g. run its job with "
                        "`keep: true`; `memshare ls` lists the stored objects",
                        value=f"{namespace}/{name}") from None
    return _Known(namespace, name, metadata.kind, tuple(metadata.shape))


def _lookup(doc: JobDocument, key: Key, name: str, known: dict[str, _Known],
            spec: JobSpec) -> _Known:
    if name in known:
        return known[name]
    later = [step for step in spec.steps if step.name == name]
    if later:
        raise doc.error(key, f"{name!r} is the result of a later step (steps[{later[0].index}])",
                        "steps run in order; move that step before this one", value=name)
    close = difflib.get_close_matches(name, list(known), n=1)
    fix = f"did you mean {close[0]!r}?" if close else f"declare {name} under `data:`"
    raise doc.error(key, f"undefined name {name!r}: it is neither data nor an earlier step",
                    fix, value=name)


def _plan_step(doc: JobDocument, spec: JobSpec, step: StepSpec, known: dict[str, _Known],
               register: bool) -> StepPlan:
    if step.name in known:
        other = "data object" if known[step.name].step is None else "step"
        raise doc.error((*step.key, "name"), f"duplicate name {step.name!r}: a {other} "
                        "already has it", "give every data object and step its own name",
                        value=step.name)

    source = _lookup(doc, (*step.key, step.mode), step.input, known, spec)
    _check_input(doc, step, source)

    variables: list[str] = []
    rename: dict[str, str] = {}
    fetch: dict[str, tuple[str, str]] = {}
    for argument, name in step.vars.items():
        item = _lookup(doc, step.var_keys[argument], name, known, spec)
        # The pool passes objects of the input's namespace by name; any other
        # object is attached by StepFunction in the worker.
        if item.namespace == source.namespace and item.name.isidentifier() and (
            item.name not in rename
        ):
            variables.append(item.name)
            rename[item.name] = argument
        else:
            fetch[argument] = (item.namespace, item.name)

    fn = resolve_function(doc, (*step.key, "function"), step.function)
    call = StepFunction(fn, step.args, step.kwargs, rename, fetch, str(doc.folder),
                        store_root())
    logger.debug("planned step %s: %s of %s/%s with vars %s", step.name, step.mode,
                 source.namespace, source.name, step.vars)
    return StepPlan(step, call, source.namespace, source.name, tuple(variables), register)


def _check_input(doc: JobDocument, step: StepSpec, source: _Known) -> None:
    key = (*step.key, step.mode)
    kind = source.kind
    if step.mode == "apply" and kind in LAPPLY_KINDS:
        raise doc.error(key, f"{step.input!r} is a list, and `apply` needs an array or "
                        "DataFrame", f"use `lapply: {step.input}` to call the function on each "
                        "element", value=step.input)
    if step.mode == "lapply" and kind in APPLY_KINDS:
        raise doc.error(key, f"{step.input!r} is {_article(kind)}, and `lapply` needs a list",
                        f"use `apply: {step.input}` with `axis: 0` (columns) or `axis: 1` "
                        "(rows)", value=step.input)
    if kind is not None and kind not in APPLY_KINDS + LAPPLY_KINDS:
        raise doc.error(key, f"{step.input!r} is {_article(kind)}; steps run over arrays, "
                        "DataFrames and lists", "pass it to the function with `vars:` instead",
                        value=step.input)
    if step.mode == "apply" and source.shape is not None:
        ndim = 2 if kind == "dataframe" else len(source.shape)
        if step.axis >= ndim:
            raise doc.error((*step.key, "axis"), f"axis {step.axis} is out of range for "
                            f"{step.input!r} of shape {source.shape}",
                            f"use an axis from 0 to {ndim - 1}", value=step.axis)


def _article(kind: str) -> str:
    # "ndarray" is read "en-dee-array", so it takes "an" like the vowels.
    return f"an {kind}" if kind[0] in "aeiou" or kind == "ndarray" else f"a {kind}"


def _check_store(doc: JobDocument, namespace: str, names: list[str],
                 sources: Sequence[Source]) -> None:
    """Check that the names are free in the store and the data fits in its free space."""
    existing = store.retrieve_metadata(namespace) if _store_exists() else {}
    taken = [name for name in names if name in existing]
    if taken:
        first = taken[0]
        key = ("data", first) if any(s.name == first for s in sources) else ("namespace",)
        listed = ", ".join(f"{namespace}/{name}" for name in taken)
        owners = ", ".join(sorted({str(existing[name].owner_pid) for name in taken}))
        if len(taken) == len(existing):
            remove = f"`memshare rm {namespace}`"
        else:
            remove = " and ".join(f"`memshare rm {namespace}/{name}`" for name in taken)
        # gc removes only non-persistent objects of exited owners, and objects
        # kept by `keep` are persistent, so rm is the advice that always works.
        raise doc.error(key, f"the store already contains {listed}, which the job "
                        f"registers (owner pid {owners})",
                        f"remove them with {remove}, or set another namespace, e.g. "
                        f"--set namespace={namespace}_2", value=taken)

    needed = sum(source.nbytes or 0 for source in sources)
    folder = Path(store_root())
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise doc.error(("data",), f"the data needs about {needed / 1e6:.0f} MB in the store "
                        f"but {folder} has {free / 1e6:.0f} MB free", "scale the data down, "
                        "e.g. --set data.X.shape=[1000,100], or free memory", value=needed)

