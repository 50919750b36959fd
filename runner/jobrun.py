"""Running a checked job on a :class:`memshare.runner.Pool`, with a summary.

:func:`run_job` takes a :class:`~memshare.runner.jobplan.JobPlan` and
registers its data one object at a time, so a loaded value is freed before
the next one is loaded. It runs the steps in order in one pool, registers a
step's result when a later step or ``keep`` needs it, and writes the outputs.
Everything it registered is released at the end, also when a step fails or
the run is interrupted. Only a job that keeps its objects and succeeds leaves
them in the store.

Peak memory is the proportional set size (PSS) summed over this process and
the pool's workers, sampled by a background thread. PSS splits each shared
page among the processes that map it, so an object mapped by every worker
counts once. Pages of store objects that no process maps, such as data that
was registered but is not in use, are not counted.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import psutil

import memshare.store as store
from memshare.runner import jobfunctions
from memshare.runner.apply import Pool
from memshare.runner.errors import RemoteTraceback, TaskError
from memshare.runner.heap import trim_heap
from memshare.runner.jobfile import format_key
from memshare.runner.jobfunctions import release_fetched_views
from memshare.runner.joboutputs import summarize_result, write_output
from memshare.runner.jobplan import JobPlan, StepPlan
from memshare.runner.jobsources import Source, load_source

__all__ = ["JobFailedError", "JobSummary", "MemorySampler", "StepSummary", "run_job"]

logger = logging.getLogger(__name__)

# Seconds between memory samples. Reading the PSS of one process from
# /proc/PID/smaps_rollup took about 0.2 ms on the development machine, so 20
# samples a second cost little even with many workers.
SAMPLE_INTERVAL: Final = 0.05


class JobFailedError(store.MemshareError, RuntimeError):
    """Loading data, a step, or writing an output failed while the job ran.

    Attributes ``file`` (the job file) and ``part`` (``data.NAME`` or
    ``steps[i]``) locate the failure, and ``__cause__`` is the original error.
    """


class MemorySampler:
    """Peak PSS of this process plus a changing set of other processes.

    A daemon thread samples every ``interval`` seconds between ``__enter__``
    and ``__exit__``; :meth:`start_window` and :meth:`end_window` also give
    the peak of one part of the run, such as a step.
    """

    def __init__(self, interval: float = SAMPLE_INTERVAL) -> None:
        self.interval = interval
        self.pids: Callable[[], list[int]] = list
        self.peak = 0
        self._window_peak = 0
        self._processes: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memshare-memory", daemon=True)

    def sample(self) -> int:
        """Measure the PSS sum now, update the peaks and return the sum in bytes."""
        total = 0
        for pid in [os.getpid(), *self.pids()]:
            process = self._processes.get(pid)
            try:
                if process is None:
                    process = self._processes[pid] = psutil.Process(pid)
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                # A worker that exited (or was replaced) between listing and reading.
                self._processes.pop(pid, None)
        with self._lock:
            self.peak = max(self.peak, total)
            self._window_peak = max(self._window_peak, total)
        return total

    def start_window(self) -> None:
        """Start measuring the peak of a new part of the run."""
        with self._lock:
            self._window_peak = 0
        self.sample()

    def end_window(self) -> int:
        """Return the peak in bytes since :meth:`start_window`."""
        self.sample()
        with self._lock:
            return self._window_peak

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class StepSummary:
    """Summary of one step. ``wall_s`` includes registering the result and writing the output."""

    name: str
    mode: str
    input: str
    function: str
    slices: int
    workers: int
    wall_s: float
    peak_pss_bytes: int
    output: str | None
    result: str | None


@dataclass
class JobSummary:
    """Summary of a job, as printed by ``memshare-run`` and by ``--json``."""

    job: str
    namespace: str
    workers: int
    kept: bool
    data: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepSummary] = field(default_factory=list)
    wall_s: float = 0.0
    peak_pss_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-serializable values."""
        return asdict(self)


def run_job(plan: JobPlan, *, progress: bool | None = None,
            announce: Callable[[str], None] | None = None) -> JobSummary:
    """Run a planned job and return its summary.

    Parameters
    ----------
    plan : JobPlan
        From :func:`memshare.runner.jobplan.plan_job`.
    progress : bool, optional
        Progress bar per step on stderr; default only when stderr is a terminal.
    announce : callable, optional
        Called with one line of text as each data object loads and each step starts.

    Raises
    ------
    JobFailedError
        If loading data, a step, storing its result or writing its output
        failed. Everything the job registered has been released by then.
    """
    say = announce or (lambda line: None)
    summary = JobSummary(str(plan.path), plan.namespace, plan.workers, plan.keep)
    registered: list[str] = []
    started = time.perf_counter()
    logger.debug("running job %s in namespace %s on %d workers (pid %d)", plan.path,
                 plan.namespace, plan.workers, os.getpid())

    with MemorySampler() as sampler:
        # A failed or interrupted run releases what it registered even when it
        # keeps its objects, so that a rerun finds the names free.
        succeeded = False
        try:
            with Pool(plan.workers, namespace=plan.namespace) as pool:
                sampler.pids = lambda: pool.pids
                for source in plan.sources:
                    summary.data.append(_load(plan, source, registered, say))
                for step in plan.steps:
                    summary.steps.append(_run_step(plan, step, pool, sampler, registered,
                                                   progress, say))
            succeeded = True
        finally:
            release_fetched_views()
            if not (plan.keep and succeeded):
                _release(plan, registered)
        sampler.sample()
        summary.wall_s = time.perf_counter() - started
        summary.peak_pss_bytes = sampler.peak
    return summary


def _load(plan: JobPlan, source: Source, registered: list[str],
          say: Callable[[str], None]) -> dict[str, Any]:
    """Load and register one data object; return its row of the summary."""
    started = time.perf_counter()
    if source.source == "ref":
        namespace, name = source.options["namespace"], source.options["name"]
    else:
        namespace, name = plan.namespace, source.name
        say(f"data {name}: loading ({source.source})")
        try:
            value = load_source(source)
            # Released by _release at the end of the job, unless it is kept.
            store.register_variables(namespace, {name: value}, persist=plan.keep)
        except (store.MemshareError, OSError, ValueError, TypeError) as error:
            raise _failure(plan, format_key(source.key), f"loading data {name!r} failed",
                           error) from error
        registered.append(name)
        # The store has its own copy now, so dropping this one frees it
        # before the next object loads.
        del value
        trim_heap()

    metadata = store.retrieve_metadata(namespace, name)[name]
    return {"name": source.name, "source": source.source, "object": f"{namespace}/{name}",
            "kind": metadata.kind, "dtype": metadata.dtype, "shape": list(metadata.shape),
            "nbytes": metadata.nbytes, "load_s": time.perf_counter() - started}


def _run_step(plan: JobPlan, step: StepPlan, pool: Pool, sampler: MemorySampler,
              registered: list[str], progress: bool | None,
              say: Callable[[str], None]) -> StepSummary:
    spec = step.spec
    metadata = store.retrieve_metadata(step.namespace, step.target)[step.target]
    slices = _count_slices(metadata, spec.mode, spec.axis)
    unit = "elements" if spec.mode == "lapply" else ("columns", "rows")[min(spec.axis, 1)]
    if metadata.kind == "ndarray" and len(metadata.shape) != 2:
        unit = f"slices along axis {spec.axis}"
    say(f"step {spec.name}: {spec.function} over {slices} {unit} of {spec.input}")

    sampler.start_window()
    started = time.perf_counter()
    options: dict[str, Any] = {"vars": list(step.variables), "namespace": step.namespace,
                               "chunksize": spec.chunksize, "progress": progress,
                               "description": spec.name}
    try:
        if spec.mode == "apply":
            result = pool.apply(step.target, step.function, spec.axis,
                                simplify=spec.simplify, **options)
        else:
            result = pool.lapply(step.target, step.function, **options)
    except Exception as error:
        raise _failure(plan, format_key(spec.key), f"step {spec.name!r} failed", error,
                       step) from error

    if step.register:
        try:
            # Released by _release at the end of the job, unless it is kept.
            store.register_variables(plan.namespace, {spec.name: result}, persist=plan.keep)
        except store.MemshareError as error:
            raise _failure(plan, format_key(spec.key), f"the result of step {spec.name!r} "
                           "cannot be stored for later steps", error) from error
        registered.append(spec.name)

    if spec.output is not None:
        try:
            write_output(result, spec.output, spec.name)
        except (OSError, ValueError, TypeError, ImportError) as error:
            raise _failure(plan, format_key((*spec.key, "output")), "writing "
                           f"{str(spec.output)!r} failed", error) from error

    return StepSummary(
        name=spec.name, mode=spec.mode, input=spec.input, function=spec.function,
        slices=slices, workers=plan.workers, wall_s=time.perf_counter() - started,
        peak_pss_bytes=sampler.end_window(),
        output=_display_path(spec.output) if spec.output is not None else None,
        result=None if spec.output is not None else summarize_result(result),
    )


def _display_path(path: Path) -> str:
    """Show ``path`` relative to the current folder when it lies inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _count_slices(metadata: store.ObjectMetadata, mode: str, axis: int) -> int:
    """Count the calls of the function: one per element, column or row."""
    shape = metadata.shape
    if mode == "lapply" or not shape:
        return int(shape[0]) if shape else 0
    if metadata.kind == "dataframe":
        return int(shape[1 - axis])
    return math.prod(shape) // max(shape[axis], 1)


def _failure(plan: JobPlan, part: str, what: str, error: BaseException,
             step: StepPlan | None = None) -> JobFailedError:
    """Build the two-line error for a failure while running: what failed, then where."""
    where = ""
    if isinstance(error, TaskError):
        label = f" (label {error.label!r})" if error.label is not None else ""
        detail = f"{error.exc_type}: {error.exc_message} on element {error.index}{label}"
        frame = _user_frame(error, plan, step)
        where = f"raised at {frame}; " if frame else ""
    else:
        text = str(error).strip()
        detail = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    return JobFailedError(f"{plan.path}: {part}: {what}: {detail}\n  {where}--debug prints "
                          "the whole traceback", file=str(plan.path), part=part)


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
# Code that cloudpickle sent by value shows this file name in worker tracebacks.
_DYNAMIC_CODE = "<dynamic-code>"
# The module whose StepFunction.__call__ calls the user's function.
_CALLER_FILE: Final = jobfunctions.__file__


def _user_frame(error: TaskError, plan: JobPlan, step: StepPlan | None) -> str | None:
    """Locate the failure in the user's code for the second line of the message.

    Returns ``file:line in function`` of the innermost frame of the user's
    code, or the function's definition when the call itself failed.
    """
    frames: list[tuple[str, str, str]] = []
    cause = error.__cause__
    while cause is not None and not frames:
        if isinstance(cause, RemoteTraceback):
            frames = _FRAME.findall(cause.text)
        elif cause.__traceback__ is not None:
            # workers=1 runs the function in this process, with a real traceback.
            frames = [(f.filename, str(f.lineno), f.name)
                      for f in traceback.extract_tb(cause.__traceback__)]
        cause = cause.__cause__
    if not frames:
        return None

    folder = str(plan.spec.doc.folder)
    mine = [f for f in frames if f[0] == _DYNAMIC_CODE or f[0].startswith(folder)]
    code = getattr(step.function.fn, "__code__", None) if step is not None else None
    if not mine and code is not None and frames[-1][0] == _CALLER_FILE:
        # The call itself failed, e.g. a TypeError for an unexpected keyword
        # argument, so the user's function has no frame of its own.
        return (f"the call of {code.co_name}, defined at {code.co_filename}:"
                f"{code.co_firstlineno}; compare its parameters with the step's `vars`, "
                "`args` and `kwargs`")
    path, line, function = (mine or frames)[-1]
    if path == _DYNAMIC_CODE and code is not None and code.co_name == function:
        path = code.co_filename
    return f"{path}:{line} in {function}"


def _release(plan: JobPlan, registered: list[str]) -> None:
    """Release what the job registered; failures are only logged."""
    if not registered:
        return
    try:
        store.release_variables(plan.namespace, registered)
        logger.debug("released %s from namespace %s", registered, plan.namespace)
    except store.MemshareError as error:
        logger.warning("could not release %s from namespace %s: %s; run `memshare gc`",
                       registered, plan.namespace, error)
