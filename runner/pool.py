"""Warm worker processes: start, stop, view drops, and running a call.

::

    parent                                  worker i (forkserver child)
    ------                                  ---------------------------
    ("call", spec, fn_bytes, threads) ───▶  unpickle fn, attach views (cached)
    ("task", call, task, start, stop) ───▶  fn(slice, **vars) for each element
    wait(pipes + process sentinels)   ◀───  ("done" | "failed" | "cancelled", ...)
    ("drop", refs)                    ───▶  release_views -> ("dropped",)

:class:`Executor` owns the processes; :mod:`memshare.runner.dispatch` runs the
tasks of one call on them and handles failures.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from multiprocessing.connection import wait
from typing import Any, Final

import pandas as pd

from memshare.runner.dispatch import STOP_GRACE_SECONDS, Handle, RemoteCall
from memshare.runner.errors import task_error
from memshare.runner.tasks import CallSpec, ObjectRef
from memshare.runner.worker import (
    CallRunner,
    ElementFailure,
    ViewCache,
    caller_identity,
    worker_main,
)

__all__ = ["Executor", "available_cpus", "resolve_workers"]

logger = logging.getLogger(__name__)

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
        self._handles: list[Handle] = []
        self._local_cache = ViewCache()
        self._call_id = 0
        self._closed = False

        if workers > 1:
            self._caller = caller_identity()
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(PRELOAD)
            self._fill()

    # -- worker lifecycle ------------------------------------------------

    def _start_worker(self) -> Handle:
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child_conn, self.threads, self._caller),
            name="memshare-worker",
            daemon=True,
        )
        process.start()
        # Only the worker uses its end; closing ours lets it see EOF when we exit.
        child_conn.close()
        logger.debug("started worker pid %s", process.pid)
        return Handle(process, parent_conn)

    def _fill(self) -> None:
        """Start workers until there are ``workers`` live ones."""
        for handle in [h for h in self._handles if not h.process.is_alive()]:
            # Died while idle: nothing was lost, so it is only replaced.
            handle.conn.close()
            self._handles.remove(handle)
        while len(self._handles) < self.workers:
            self._handles.append(self._start_worker())

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
                        kind = handle.conn.recv()[0]
                        if kind == "dropped":
                            break
                        if kind == "ready":
                            handle.ready = True
                        continue
                    except (EOFError, OSError):
                        pass
                # The worker died; the kernel unmapped its views already.
                handle.kill()
                self._handles.remove(handle)
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
            runner = CallRunner(spec, fn, self._local_cache, in_worker=False)
        except (Exception, SystemExit) as error:
            raise task_error(spec, None, labels, error, "") from error

        outputs = []
        for start, stop in chunks:
            try:
                results = runner.run(start, stop)
            except ElementFailure as failure:
                raise task_error(
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
        call = RemoteCall(
            self._handles, self._start_worker, self.workers, self.threads,
            spec, fn_bytes, chunks, labels, bar,
        )
        try:
            return call.run()
        except Exception:
            # Replace workers that died or were killed while cancelling, so
            # the pool is back to full size (Ctrl-C skips this and stops).
            if not self._closed:
                self._fill()
            raise
