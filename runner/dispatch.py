"""One call's tasks on worker processes: dispatch, replies, deaths, cancellation.

Each worker has its own duplex pipe and at most :data:`IN_FLIGHT` tasks
queued. The parent waits on every pipe and every process sentinel at once, so
a worker that dies is noticed at once, with the task it was running (the
oldest one it had) and its exit code.

A call that fails (``fn`` raised, a worker died, Ctrl-C) is cancelled: no new
tasks go out, workers skip the tasks they have queued and stop their running
task between elements. Workers that do not reply within
:data:`CANCEL_GRACE_SECONDS` are killed. The executor starts replacements
before it raises the call's error.
"""

from __future__ import annotations

import collections
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

import pandas as pd

from memshare.runner.errors import TaskError, crash_error, task_error
from memshare.runner.tasks import CallSpec

__all__ = ["CANCEL_GRACE_SECONDS", "IN_FLIGHT", "STOP_GRACE_SECONDS", "Handle", "RemoteCall"]

logger = logging.getLogger(__name__)

# Two tasks per worker: one running and one waiting, so a worker never idles
# for a round trip between tasks.
IN_FLIGHT: Final = 2

# Seconds that cancelled workers get to reply before they are killed. A worker
# checks for cancellation between elements, so only one element slower than
# this gets a worker killed.
CANCEL_GRACE_SECONDS: Final = 5.0

# Seconds that a stopped worker gets to release its views and exit.
STOP_GRACE_SECONDS: Final = 5.0


@dataclass
class Handle:
    """Parent's side of one worker process: the process, its pipe, its queued tasks."""

    process: BaseProcess
    conn: Connection
    in_flight: collections.deque[tuple[int, int, int]] = field(
        default_factory=collections.deque
    )
    # Set by the worker's "ready" message; a worker that dies before sending
    # it failed during start-up, not in the user's function.
    ready: bool = False

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def kill(self) -> None:
        """Kill the worker and wait for it; ``gc`` reaps its holder records."""
        self.process.kill()
        self.process.join()
        self.conn.close()
        logger.debug("killed worker pid %d", self.pid)


class RemoteCall:
    """Run the tasks of one call on the workers in ``handles``.

    Parameters
    ----------
    handles : list of Handle
        The live workers. Dead ones are removed from this list, and
        replacements for workers that died idle are appended to it.
    start_worker : callable
        Starts one more worker and returns its handle.
    workers : int
        Number of workers the pool keeps.
    threads : int or None
        BLAS/OpenMP thread limit sent with the call.
    spec, fn_bytes, chunks, labels, bar
        The call, the pickled function, the ``[start, stop)`` range of each
        task, the element labels (DataFrame input) and the progress bar.
    """

    def __init__(
        self,
        handles: list[Handle],
        start_worker: Callable[[], Handle],
        workers: int,
        threads: int | None,
        spec: CallSpec,
        fn_bytes: bytes,
        chunks: list[tuple[int, int]],
        labels: pd.Index | None,
        bar: Any,
    ) -> None:
        self.handles = handles
        self.start_worker = start_worker
        self.workers = workers
        self.threads = threads
        self.spec = spec
        self.fn_bytes = fn_bytes
        self.chunks = chunks
        self.labels = labels
        self.bar = bar
        self.queue = collections.deque(range(len(chunks)))
        self.outputs: list[Any] = [None] * len(chunks)
        self.failure: BaseException | None = None

    def run(self) -> list[list[Any]]:
        """Return the results of every task, in task order, or raise the call's failure."""
        for handle in self.handles:
            self._start_call(handle)
        try:
            for handle in self.handles:
                self._feed(handle)
            while self.failure is None and (
                self.queue or any(h.in_flight for h in self.handles)
            ):
                if self.queue and len(self.handles) < self.workers:
                    self._replace()
                self._step()
        except KeyboardInterrupt:
            logger.debug("call %d interrupted; cancelling", self.spec.call_id)
            self._cancel()
            raise
        if self.failure is not None:
            raise self.failure
        return self.outputs

    def _start_call(self, handle: Handle) -> None:
        try:
            handle.conn.send(("call", self.spec, self.fn_bytes, self.threads))
        except OSError:
            # The worker died; its sentinel reports it in the next wait.
            logger.debug("worker pid %d gone before call %d", handle.pid, self.spec.call_id)

    def _replace(self) -> None:
        """Start workers in place of ones that died idle during the call, and feed them."""
        while len(self.handles) < self.workers:
            handle = self.start_worker()
            self.handles.append(handle)
            self._start_call(handle)
            self._feed(handle)

    def _feed(self, handle: Handle) -> None:
        """Send queued tasks to ``handle`` until it has :data:`IN_FLIGHT` of them."""
        while self.queue and self.failure is None and len(handle.in_flight) < IN_FLIGHT:
            task_id = self.queue[0]
            start, stop = self.chunks[task_id]
            try:
                handle.conn.send(("task", self.spec.call_id, task_id, start, stop))
            except OSError:
                # The worker died; its sentinel reports it in the next wait.
                return
            self.queue.popleft()
            handle.in_flight.append((task_id, start, stop))

    def _step(self) -> None:
        """Wait for the next replies or deaths and handle them."""
        by_conn = {h.conn: h for h in self.handles}
        by_sentinel = {h.process.sentinel: h for h in self.handles}
        ready = wait([*by_conn, *by_sentinel])

        for item in ready:
            handle = by_conn.get(item)  # type: ignore[call-overload]
            if handle is None or handle not in self.handles:
                continue
            try:
                message = handle.conn.recv()
            except (EOFError, OSError):
                # A worker closes its pipe only when it exits.
                self._handle_death(handle)
            else:
                self._handle_reply(handle, message)
            if self.failure is not None:
                # Cancelling drained every pipe; nothing more to read.
                return

        for item in ready:
            handle = by_sentinel.get(item)  # type: ignore[call-overload]
            if handle is None or handle not in self.handles:
                continue
            # Replies the worker sent before it died still count.
            try:
                while handle.conn.poll():
                    self._handle_reply(handle, handle.conn.recv())
            except (EOFError, OSError):
                pass
            self._handle_death(handle)
            if self.failure is not None:
                return

    def _handle_reply(self, handle: Handle, message: tuple[Any, ...]) -> None:
        kind, call_id, task_id = message[:3]
        if kind == "ready":
            handle.ready = True
            return
        if call_id != self.spec.call_id or not handle.in_flight:
            return
        handle.in_flight.popleft()

        if kind == "done" and self.failure is None:
            start, stop = self.chunks[task_id]
            try:
                self.outputs[task_id] = pickle.loads(message[3])
            except Exception as error:
                self._fail(task_error(self.spec, start, self.labels, error, ""))
                return
            if self.bar is not None:
                self.bar.update(stop - start)
        elif kind == "failed" and self.failure is None:
            self._fail(self._task_failure(message))
            return
        self._feed(handle)

    def _task_failure(self, message: tuple[Any, ...]) -> TaskError:
        """Build the TaskError of a "failed" reply."""
        index, error_bytes, traceback_text, exc_type = message[3:]
        try:
            error = pickle.loads(error_bytes)
        except Exception as unpickle_error:
            error = unpickle_error
            exc_type = None
        return task_error(self.spec, index, self.labels, error, traceback_text, exc_type)

    def _keep_lowest_failure(self, message: tuple[Any, ...]) -> None:
        """Report the lowest failing element among the replies read while cancelling.

        Tasks cover ascending element ranges, but they finish in any order,
        so the first failure received may not be the first failing element.
        """
        if message[0] != "failed" or message[1] != self.spec.call_id:
            return
        current = self.failure
        if not isinstance(current, TaskError) or current.index is None:
            return
        index = message[3]
        if index is not None and index < current.index:
            self.failure = self._task_failure(message)

    def _handle_death(self, handle: Handle) -> None:
        handle.process.join(STOP_GRACE_SECONDS)
        if handle.process.is_alive():
            # It closed its pipe but did not exit; it cannot take tasks anymore.
            handle.process.kill()
            handle.process.join()
        lost = list(handle.in_flight)
        self.handles.remove(handle)
        handle.conn.close()
        logger.debug("worker pid %d died with exit code %s", handle.pid, handle.process.exitcode)

        if not lost:
            # An idle worker died; the call goes on without it, and run()
            # starts a replacement while tasks remain.
            return
        _, start, stop = lost[0]
        self._fail(
            crash_error(
                self.spec, handle.pid, handle.process.exitcode, start, stop, handle.ready
            )
        )

    def _fail(self, error: BaseException) -> None:
        """Record the first failure and cancel the rest of the call."""
        if self.failure is None:
            self.failure = error
            self._cancel()

    def _cancel(self) -> None:
        """Cancel the call on every worker; kill the ones that do not reply in time."""
        self.queue.clear()
        for handle in list(self.handles):
            if not handle.in_flight:
                continue
            try:
                handle.conn.send(("cancel", self.spec.call_id))
            except OSError:
                self._remove(handle)

        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        try:
            while any(h.in_flight for h in self.handles):
                busy = [h for h in self.handles if h.in_flight]
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                ready = wait([x for h in busy for x in (h.conn, h.process.sentinel)], timeout)
                for handle in busy:
                    if handle.conn in ready or handle.process.sentinel in ready:
                        self._drain(handle)
        finally:
            # Still busy after the grace time, or Ctrl-C pressed again.
            for handle in [h for h in self.handles if h.in_flight]:
                self._remove(handle)

    def _drain(self, handle: Handle) -> None:
        """Discard the replies waiting on ``handle``'s pipe; remove it if it died."""
        try:
            while handle.conn.poll():
                message = handle.conn.recv()
                if message[0] == "ready":
                    handle.ready = True
                    continue
                handle.in_flight.popleft()
                self._keep_lowest_failure(message)
        except (EOFError, OSError):
            pass
        if not handle.process.is_alive():
            self._remove(handle)

    def _remove(self, handle: Handle) -> None:
        handle.kill()
        if handle in self.handles:
            self.handles.remove(handle)
