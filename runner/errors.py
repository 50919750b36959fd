"""Errors raised by the parallel runner.

A failure of the user's function on one element (:class:`TaskError`) is kept
apart from the death of a worker process (:class:`WorkerCrashedError`). The
first points to a bug in ``fn`` or its data. The second usually means a crash
in native code or the kernel's OOM killer.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from memshare.runner.tasks import CALL_PREFIX
from memshare.store.errors import MemshareError

if TYPE_CHECKING:
    from memshare.runner.tasks import CallSpec

__all__ = [
    "FunctionNotPicklableError",
    "RemoteTraceback",
    "TaskError",
    "WorkerCrashedError",
    "crash_error",
    "task_error",
]


class TaskError(MemshareError, RuntimeError):
    """The function raised on one element.

    Attributes ``index`` (position of the element in the call), ``label``
    (column or row label for DataFrame input, else ``None``), ``exc_type``
    (qualified name of the original exception) and ``exc_message`` describe
    the failure. ``__cause__`` is the original exception, and its own
    ``__cause__`` is a :class:`RemoteTraceback` with the worker's traceback.
    """


class WorkerCrashedError(MemshareError, RuntimeError):
    """A worker process died while it ran a task.

    Attributes ``pid``, ``exitcode`` (negative for a signal, as in
    :attr:`multiprocessing.Process.exitcode`), ``signal_name`` (or ``None``),
    ``start`` and ``stop`` (the element range of the task it had) describe
    what was lost.
    """


class FunctionNotPicklableError(MemshareError, TypeError):
    """The function, or a value it closes over, cannot be sent to workers."""


class RemoteTraceback(Exception):
    """Traceback text formatted in a worker, chained under the original exception."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\nTraceback in the worker process:\n" + self.text


def describe_target(spec: CallSpec) -> str:
    """Name the object a call runs over, for messages."""
    if spec.target.name.startswith(CALL_PREFIX):
        return "the input"
    return f"{spec.target.name!r} in namespace {spec.target.namespace!r}"


def task_error(
    spec: CallSpec,
    index: int | None,
    labels: Any,
    error: BaseException,
    traceback_text: str,
) -> TaskError:
    """Build the TaskError for ``fn`` failing on element ``index`` (``None``: before any).

    ``labels`` are the element labels of a DataFrame call, else ``None``.
    ``error`` becomes ``__cause__``, and the worker's traceback text is
    chained under it as a :class:`RemoteTraceback`.
    """
    label = None
    if index is not None and labels is not None:
        label = labels[index]
    exc_type = type(error).__qualname__
    if index is None:
        where = "before its first element (unpickling fn or attaching the data)"
    elif labels is not None:
        where = f"on element {index} (label {label!r})"
    else:
        where = f"on element {index}"

    if traceback_text:
        error.__cause__ = RemoteTraceback(traceback_text)
    failure = TaskError(
        f"fn failed {where} of {describe_target(spec)} with {exc_type}: {error}; "
        "the original exception and its traceback are chained below",
        index=index,
        label=label,
        exc_type=exc_type,
        exc_message=str(error),
        namespace=spec.target.namespace,
        name=spec.target.name,
    )
    # Set here rather than with "raise ... from", because the error is raised
    # later, after the call was cancelled.
    failure.__cause__ = error
    failure.__suppress_context__ = True
    return failure


def crash_error(
    spec: CallSpec, pid: int, exitcode: int | None, start: int, stop: int
) -> WorkerCrashedError:
    """Build the WorkerCrashedError for worker ``pid`` dying during elements ``start:stop``."""
    signal_name = None
    exit_text = f"exit code {exitcode}"
    if exitcode is not None and exitcode < 0:
        try:
            signal_name = signal.Signals(-exitcode).name
        except ValueError:
            signal_name = f"signal {-exitcode}"
        exit_text = f"signal {signal_name}"

    return WorkerCrashedError(
        f"worker pid {pid} died with {exit_text} while running elements "
        f"{start}..{stop - 1} of {describe_target(spec)}. SIGKILL often means the "
        "kernel's OOM killer (check `dmesg`, then use fewer workers or less memory "
        "in fn), SIGSEGV a crash in native code, and an exit code a call of "
        "os._exit or a start-up failure shown on stderr (a script that starts "
        "workers must guard its top-level code with `if __name__ == '__main__':`). "
        "Run with workers=1 to debug",
        pid=pid,
        exitcode=exitcode,
        signal_name=signal_name,
        start=start,
        stop=stop,
    )
