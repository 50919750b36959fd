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
    ``start`` and ``stop`` (the element range of the task it had) and
    ``started`` (false when it died during start-up, before running any
    element) describe what was lost. The message's second line names the
    likely cause for the exit status seen.
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
    exc_type: str | None = None,
) -> TaskError:
    """Build the TaskError for ``fn`` failing on element ``index`` (``None``: before any).

    ``labels`` are the element labels of a DataFrame call, else ``None``.
    ``error`` becomes ``__cause__``, and the worker's traceback text is
    chained under it as a :class:`RemoteTraceback`. ``exc_type`` is the
    original exception's type name when ``error`` is a stand-in for an
    exception that could not be pickled.
    """
    label = None
    if index is not None and labels is not None:
        label = labels[index]
    if exc_type is None:
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


def _likely_cause(exitcode: int | None, signal_name: str | None, started: bool) -> str:
    """Name the most likely cause of a worker's death and what to do, in one line."""
    if not started and signal_name is None:
        return (
            "Likely an import error while the worker started (its traceback is on stderr); "
            "a script that starts workers must guard its top-level code with "
            "`if __name__ == '__main__':`."
        )
    if signal_name == "SIGKILL":
        return (
            "Likely the kernel's OOM killer (check `dmesg`); use fewer workers or less "
            "memory per element."
        )
    if signal_name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"):
        return (
            "Likely a crash in native code called by fn; run with workers=1 under "
            "`python -X faulthandler` to see where."
        )
    if signal_name is not None:
        return f"Another process sent it {signal_name}; run with workers=1 to debug."
    return (
        f"fn or a library it calls ended the process (os._exit({exitcode}) or a crash "
        "with a message on stderr); run with workers=1 to debug."
    )


def crash_error(
    spec: CallSpec, pid: int, exitcode: int | None, start: int, stop: int, started: bool = True
) -> WorkerCrashedError:
    """Build the WorkerCrashedError for worker ``pid`` dying during elements ``start:stop``.

    ``started`` is false when the worker died before it reported that it was
    ready, that is, during start-up and before it ran any element.
    """
    signal_name = None
    exit_text = f"exit code {exitcode}"
    if exitcode is not None and exitcode < 0:
        try:
            signal_name = signal.Signals(-exitcode).name
        except ValueError:
            signal_name = f"signal {-exitcode}"
        exit_text = f"signal {signal_name}"

    if started:
        where = f"while running elements {start}..{stop - 1} of {describe_target(spec)}"
    else:
        where = f"during start-up, before running any element of {describe_target(spec)}"
    return WorkerCrashedError(
        f"worker pid {pid} died with {exit_text} {where}.\n"
        + _likely_cause(exitcode, signal_name, started),
        pid=pid,
        exitcode=exitcode,
        signal_name=signal_name,
        start=start,
        stop=stop,
        started=started,
    )
