"""Warm worker processes, task dispatch and crash detection.

::

    parent                                  worker i (forkserver child)
    ------                                  ---------------------------
    ("call", spec, fn_bytes, threads) ───▶  unpickle fn, attach views (cached)
    ("task", call, task, start, stop) ───▶  fn(slice, **vars) for each element
    wait(pipes + process sentinels)   ◀───  ("done" | "failed" | "cancelled", ...)
    ("drop", refs)                    ───▶  release_views -> ("dropped",)

Each worker has its own duplex pipe and at most :data:`IN_FLIGHT` tasks
queued. The parent waits on every pipe and every process sentinel at once, so
a worker that dies is noticed at once, with the task it was running (the
oldest one it had) and its exit code.

A call that fails (``fn`` raised, a worker died, Ctrl-C) is cancelled: no new
tasks go out, workers skip the tasks they have queued and stop their running
task between elements. Workers that do not reply within
:data:`CANCEL_GRACE_SECONDS` are killed and replaced at the next call.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import pickle
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

import pandas as pd

from memshare.runner.errors import RemoteTraceback, TaskError, WorkerCrashedError
from memshare.runner.tasks import CALL_PREFIX, CallSpec, ObjectRef
from memshare.runner.worker import CallRunner, ElementFailure, ViewCache, worker_main

__all__ = ["IN_FLIGHT", "Executor", "available_cpus", "resolve_workers"]

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

# Modules the forkserver imports once, so that each new worker starts without
# importing numpy, pandas and pyarrow again.
PRELOAD: Final = ["memshare.runner.worker", "memshare.store"]


def available_cpus() -> int:
    """Count the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def resolve_workers(workers: int | None) -> int:
    """Check ``workers`` and fill in the default (the CPUs available)."""
    if workers is None:
        return available_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"workers must be a positive int or None (one per available CPU), got {workers!r}"
        )
    return workers


@dataclass
class _Handle:
    """Parent's side of one worker process."""

    process: BaseProcess
    conn: Connection
    in_flight: collections.deque[tuple[int, int, int]] = field(
        default_factory=collections.deque
    )

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid


def _describe_exit(exitcode: int | None) -> tuple[str, str | None]:
    """Say how a process ended: ``("signal SIGKILL", "SIGKILL")`` or ``("exit code 3", None)``."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"signal {name}", name
    return f"exit code {exitcode}", None


class Executor:
    """Run the tasks of calls on warm worker processes, or in-process for one worker.

    Parameters
    ----------
    workers : int
        Number of worker processes; ``1`` runs every task in this process.
    threads : int or None
        BLAS/OpenMP thread limit set in each worker.
    """

    def __init__(self, workers: int, threads: int | None) -> None:
        self.workers = workers
        self.threads = threads
        self._handles: list[_Handle] = []
        self._local_cache = ViewCache()
        self._call_id = 0
        self._closed = False

        if workers > 1:
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(PRELOAD)
            self._fill()

    # -- worker lifecycle ------------------------------------------------

    def _start_worker(self) -> _Handle:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child_conn, self.threads),
            name="memshare-worker",
            daemon=True,
        )
        process.start()
        # Only the worker uses its end; closing ours lets it see EOF when we exit.
        child_conn.close()
        logger.debug("started worker pid %s", process.pid)
        return _Handle(process, parent_conn)

    def _fill(self) -> None:
        """Start workers until there are ``workers`` live ones."""
        self._handles = [h for h in self._handles if h.process.is_alive()]
        while len(self._handles) < self.workers:
            self._handles.append(self._start_worker())

    def _kill(self, handle: _Handle) -> None:
        """Kill a worker that does not reply; ``gc`` reaps its holder entries."""
        handle.process.kill()
        handle.process.join()
        handle.conn.close()
        if handle in self._handles:
            self._handles.remove(handle)
        logger.debug("killed worker pid %d", handle.pid)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def pids(self) -> list[int]:
        """Pids of the live worker processes (empty when running in-process)."""
        return [h.pid for h in self._handles if h.process.is_alive()]

    def close(self) -> None:
        """Stop every worker; each releases its views before it exits."""
        if self._closed:
            return
        self._closed = True
        self._local_cache.clear()
        for handle in self._handles:
            try:
                handle.conn.send(("stop",))
            except OSError:
                pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for handle in self._handles:
            handle.process.join(max(0.0, deadline - time.monotonic()))
            if handle.process.is_alive():
                handle.process.kill()
                handle.process.join()
            handle.conn.close()
        logger.debug("closed pool of %d workers", len(self._handles))
        self._handles = []

    # -- views -----------------------------------------------------------

    def drop(self, refs: list[ObjectRef]) -> None:
        """Make every worker release its views of ``refs`` and wait until they have."""
        if not refs:
            return
        self._local_cache.drop(refs)
        waiting = []
        for handle in self._handles:
            try:
                handle.conn.send(("drop", refs))
                waiting.append(handle)
            except OSError:
                logger.debug("worker pid %d gone before drop", handle.pid)

        for handle in waiting:
            while True:
                ready = wait([handle.conn, handle.process.sentinel])
                if handle.conn in ready:
                    try:
                        if handle.conn.recv()[0] == "dropped":
                            break
                        continue
                    except (EOFError, OSError):
                        pass
                # The worker died; the kernel unmapped its views already.
                self._kill(handle)
                break

    # -- running a call --------------------------------------------------

    def run(
        self,
        spec: CallSpec,
        fn: Any,
        fn_bytes: bytes | None,
        chunks: list[tuple[int, int]],
        labels: pd.Index | None,
        bar: Any,
    ) -> list[list[Any]]:
        """Run every chunk of a call and return the results per chunk, in order.

        Raises
        ------
        TaskError
            ``fn`` raised on an element, or returned an unpicklable value.
        WorkerCrashedError
            A worker died while it had a task of this call.
        KeyboardInterrupt
            After cancelling the call.
        """
        if self._closed:
            raise RuntimeError("the pool is closed; create a new Pool")
        if self.workers == 1:
            return self._run_local(spec, fn, chunks, labels, bar)
        assert fn_bytes is not None
        return self._run_remote(spec, fn_bytes, chunks, labels, bar)

    def next_call_id(self) -> int:
        self._call_id += 1
        return self._call_id

    def _run_local(
        self,
        spec: CallSpec,
        fn: Any,
        chunks: list[tuple[int, int]],
        labels: pd.Index | None,
        bar: Any,
    ) -> list[list[Any]]:
        try:
            runner = CallRunner(spec, fn, self._local_cache)
        except (Exception, SystemExit) as error:
            raise _task_error(spec, None, labels, error, "") from error

        outputs = []
        for start, stop in chunks:
            try:
                results = runner.run(start, stop)
            except ElementFailure as failure:
                raise _task_error(
                    spec, failure.index, labels, failure.error, failure.traceback_text
                ) from failure.error
            assert results is not None
            outputs.append(results)
            if bar is not None:
                bar.update(stop - start)
        return outputs

    def _run_remote(
        self,
        spec: CallSpec,
        fn_bytes: bytes,
        chunks: list[tuple[int, int]],
        labels: pd.Index | None,
        bar: Any,
    ) -> list[list[Any]]:
        self._fill()
        for handle in self._handles:
            try:
                handle.conn.send(("call", spec, fn_bytes, self.threads))
            except OSError:
                logger.debug("worker pid %d gone before call %d", handle.pid, spec.call_id)

        call = _CallState(spec, fn_bytes, chunks, labels, bar)
        try:
            for handle in self._handles:
                self._feed(handle, call)
            while call.failure is None and (
                call.queue or any(h.in_flight for h in self._handles)
            ):
                if call.queue and len(self._handles) < self.workers:
                    self._replace(call)
                self._step(call)
        except KeyboardInterrupt:
            logger.debug("call %d interrupted; cancelling", spec.call_id)
            self._cancel(call)
            raise
        if call.failure is not None:
            raise call.failure
        return call.outputs

    def _replace(self, call: _CallState) -> None:
        """Start workers in place of ones that died idle during ``call``, and feed them."""
        while len(self._handles) < self.workers:
            handle = self._start_worker()
            self._handles.append(handle)
            handle.conn.send(("call", call.spec, call.fn_bytes, self.threads))
            self._feed(handle, call)

    def _feed(self, handle: _Handle, call: _CallState) -> None:
        """Send queued tasks to ``handle`` until it has :data:`IN_FLIGHT` of them."""
        while call.queue and call.failure is None and len(handle.in_flight) < IN_FLIGHT:
            task_id = call.queue[0]
            start, stop = call.chunks[task_id]
            try:
                handle.conn.send(("task", call.spec.call_id, task_id, start, stop))
            except OSError:
                # The worker died; its sentinel reports it in the next wait.
                return
            call.queue.popleft()
            handle.in_flight.append((task_id, start, stop))

    def _step(self, call: _CallState) -> None:
        """Wait for the next replies or deaths and handle them."""
        by_conn = {h.conn: h for h in self._handles}
        by_sentinel = {h.process.sentinel: h for h in self._handles}
        ready = wait([*by_conn, *by_sentinel])

        for item in ready:
            handle = by_conn.get(item)  # type: ignore[call-overload]
            if handle is None or handle not in self._handles:
                continue
            try:
                message = handle.conn.recv()
            except (EOFError, OSError):
                # A worker closes its pipe only when it exits.
                self._handle_death(handle, call)
            else:
                self._handle_reply(handle, message, call)
            if call.failure is not None:
                # Cancelling drained every pipe; nothing more to read.
                return

        for item in ready:
            handle = by_sentinel.get(item)  # type: ignore[call-overload]
            if handle is None or handle not in self._handles:
                continue
            # Replies the worker sent before it died still count.
            try:
                while handle.conn.poll():
                    self._handle_reply(handle, handle.conn.recv(), call)
            except (EOFError, OSError):
                pass
            self._handle_death(handle, call)
            if call.failure is not None:
                return

    def _handle_reply(self, handle: _Handle, message: tuple[Any, ...], call: _CallState) -> None:
        kind, call_id, task_id = message[:3]
        if call_id != call.spec.call_id or not handle.in_flight:
            return
        handle.in_flight.popleft()

        if kind == "done" and call.failure is None:
            start, stop = call.chunks[task_id]
            try:
                call.outputs[task_id] = pickle.loads(message[3])
            except Exception as error:
                call.fail(_task_error(call.spec, start, call.labels, error, ""), self)
                return
            if call.bar is not None:
                call.bar.update(stop - start)
        elif kind == "failed" and call.failure is None:
            index, error_bytes, traceback_text = message[3:]
            try:
                error = pickle.loads(error_bytes)
            except Exception as unpickle_error:
                error = unpickle_error
            failure = _task_error(call.spec, index, call.labels, error, traceback_text)
            call.fail(failure, self)
        self._feed(handle, call)

    def _handle_death(self, handle: _Handle, call: _CallState) -> None:
        handle.process.join(STOP_GRACE_SECONDS)
        if handle.process.is_alive():
            # It closed its pipe but did not exit; it cannot take tasks anymore.
            handle.process.kill()
            handle.process.join()
        exit_text, signal_name = _describe_exit(handle.process.exitcode)
        lost = list(handle.in_flight)
        self._handles.remove(handle)
        handle.conn.close()
        logger.debug("worker pid %d died with %s", handle.pid, exit_text)

        if not lost:
            # An idle worker died; the call goes on without it and the next
            # call starts a replacement.
            return
        task_id, start, stop = lost[0]
        error = WorkerCrashedError(
            f"worker pid {handle.pid} died with {exit_text} while running elements "
            f"{start}..{stop - 1} of {_describe_target(call.spec)}; SIGKILL often means the "
            "kernel's OOM killer (check `dmesg`, then use fewer workers or less memory "
            "in fn), SIGSEGV a crash in native code, and an exit code a call of "
            "os._exit or sys.exit, or a start-up failure shown on stderr (a script that "
            "starts workers must guard its top-level code with "
            "`if __name__ == '__main__':`); run with workers=1 to debug",
            pid=handle.pid,
            exitcode=handle.process.exitcode,
            signal_name=signal_name,
            start=start,
            stop=stop,
        )
        call.fail(error, self)

    def _cancel(self, call: _CallState) -> None:
        """Cancel the call on every worker; kill the ones that do not answer in time."""
        call.queue.clear()
        for handle in list(self._handles):
            if not handle.in_flight:
                continue
            try:
                handle.conn.send(("cancel", call.spec.call_id))
            except OSError:
                self._kill(handle)

        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        try:
            while any(h.in_flight for h in self._handles):
                busy = [h for h in self._handles if h.in_flight]
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                ready = wait([x for h in busy for x in (h.conn, h.process.sentinel)], timeout)
                for handle in busy:
                    if handle.conn in ready or handle.process.sentinel in ready:
                        self._drain_one(handle)
        finally:
            # Still busy after the grace time, or Ctrl-C pressed again.
            for handle in [h for h in self._handles if h.in_flight]:
                self._kill(handle)

    def _drain_one(self, handle: _Handle) -> None:
        try:
            while handle.conn.poll():
                handle.conn.recv()
                handle.in_flight.popleft()
        except (EOFError, OSError):
            pass
        if not handle.process.is_alive():
            self._kill(handle)


class _CallState:
    """Bookkeeping of one call in the parent."""

    def __init__(
        self,
        spec: CallSpec,
        fn_bytes: bytes,
        chunks: list[tuple[int, int]],
        labels: pd.Index | None,
        bar: Any,
    ) -> None:
        self.spec = spec
        self.fn_bytes = fn_bytes
        self.chunks = chunks
        self.labels = labels
        self.bar = bar
        self.queue = collections.deque(range(len(chunks)))
        self.outputs: list[Any] = [None] * len(chunks)
        self.failure: BaseException | None = None

    def fail(self, error: BaseException, executor: Executor) -> None:
        """Record the first failure and cancel the rest of the call."""
        if self.failure is not None:
            return
        self.failure = error
        executor._cancel(self)


def _task_error(
    spec: CallSpec,
    index: int | None,
    labels: pd.Index | None,
    error: BaseException,
    traceback_text: str,
) -> TaskError:
    """Build the TaskError for ``fn`` failing on element ``index``; chain the worker traceback."""
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
    task_error = TaskError(
        f"fn failed {where} of {_describe_target(spec)} with {exc_type}: {error}; "
        "the original exception and its traceback are chained below",
        index=index,
        label=label,
        exc_type=exc_type,
        exc_message=str(error),
        namespace=spec.target.namespace,
        name=spec.target.name,
    )
    # Set here rather than with "raise ... from" because the error is raised
    # later, after the call was cancelled.
    task_error.__cause__ = error
    task_error.__suppress_context__ = True
    return task_error


def _describe_target(spec: CallSpec) -> str:
    if spec.target.name.startswith(CALL_PREFIX):
        return "the input"
    return f"{spec.target.name!r} in namespace {spec.target.namespace!r}"
