"""Errors raised by the parallel runner.

A failure of the user's function on one element (:class:`TaskError`) is kept
apart from the death of a worker process (:class:`WorkerCrashedError`): the
first is a bug in ``fn`` or its data, the second usually a crash in native
code or the kernel's OOM killer.
"""

from __future__ import annotations

from memshare.store.errors import MemshareError

__all__ = [
    "FunctionNotPicklableError",
    "RemoteTraceback",
    "TaskError",
    "WorkerCrashedError",
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
    ``start`` and ``stop`` (the element range of the task it had) say what was
    lost.
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
