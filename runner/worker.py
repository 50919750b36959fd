"""Worker process: main loop, view cache and the per-element call of ``fn``.

Messages on the worker's pipe (parent -> worker, tuples sent with
``Connection.send``)::

    ("call", spec, fn_bytes, threads)   start a call; no reply
    ("task", call_id, task_id, start, stop)
        -> ("done", call_id, task_id, results_bytes)
        -> ("failed", call_id, task_id, index, exc_bytes, traceback_text, exc_type)
        -> ("cancelled", call_id, task_id)
    ("cancel", call_id)                 reply "cancelled" to the rest of its tasks
    ("drop", [ObjectRef, ...])          release those views -> ("dropped",)
    ("stop",)                           release every view and exit

The first message a worker sends is ``("ready", pid, None)``, so the parent
can tell a worker that died during start-up from one that died in a task.

A task that fails reports the first failing element and stops there. The
worker never exits on an error in ``fn``. It exits on "stop", when the parent
closes the pipe, when it crashes, or when the calling process is gone. A
watcher thread checks the caller every :data:`CALLER_POLL_SECONDS`, because a
worker busy in a long element reads its pipe only between elements.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any, Final

import cloudpickle
import psutil
from threadpoolctl import threadpool_limits

import memshare.store as store
from memshare.runner.heap import keep_heap_in_worker
from memshare.runner.tasks import CallSpec, ObjectRef, Slicer

__all__ = ["CallRunner", "ElementFailure", "ViewCache", "worker_main"]

logger = logging.getLogger(__name__)

# A running task looks for a "cancel" message this often, so a cancelled call
# stops within about this many seconds even when its tasks are long.
CANCEL_POLL_SECONDS: Final = 0.05


# A worker whose caller died exits within about this many seconds, even in
# the middle of a long element.
CALLER_POLL_SECONDS: Final = 0.5

# Exit status of a worker that exits because its caller is gone. Nothing reads
# it, because the caller is dead; it only shows in process accounting.
CALLER_GONE_EXIT_CODE: Final = 3

# The store reads the root from this variable at every call.
ROOT_VARIABLE: Final = "MEMSHARE_ROOT"


@contextlib.contextmanager
def _store_root(root: str | None) -> Iterator[None]:
    """Point the store at ``root`` (``None``: the default root) for the block."""
    previous = os.environ.get(ROOT_VARIABLE)
    if previous == root:
        yield
        return
    _set_root(root)
    try:
        yield
    finally:
        _set_root(previous)


def _set_root(root: str | None) -> None:
    if root is None:
        os.environ.pop(ROOT_VARIABLE, None)
    else:
        os.environ[ROOT_VARIABLE] = root


class ElementFailure(Exception):
    """``fn`` raised (or returned an unpicklable value) on element ``index``."""

    def __init__(self, index: int | None, error: BaseException, traceback_text: str) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error
        self.traceback_text = traceback_text


class ViewCache:
    """Views this process holds, keyed by (namespace, name, object id).

    Each entry keeps one holder reference taken with ``retrieve_views``.
    :meth:`drop` releases it when the parent sends a "drop" message (after a
    call released its objects, or when a name was re-registered).
    :meth:`attach` releases it when the same name comes with a new object id,
    and :meth:`clear` releases every entry at exit.
    """

    def __init__(self) -> None:
        self._views: dict[ObjectRef, Any] = {}

    def attach(self, ref: ObjectRef) -> Any:
        """Return the view of ``ref``, mapping the object on first use."""
        cached = self._views.get(ref)
        if cached is not None:
            return cached

        # A re-registered name must never be served from the old mapping.
        stale = [old for old in self._views if old[:3] == ref[:3]]
        self.drop(stale)

        root, namespace, name, object_id = ref
        with _store_root(root):
            views = store.retrieve_views(namespace, name)
            try:
                current = store.retrieve_metadata(namespace, name)[name].object_id
            except BaseException:
                store.release_views(namespace, name)
                raise
            if current != object_id:
                store.release_views(namespace, name)
        if current != object_id:
            raise store.ObjectNotFoundError(
                f"object {name!r} in namespace {namespace!r} was replaced while the call "
                f"ran (object id {object_id!r} expected, {current!r} found); do not "
                "re-register an object that a running call uses",
                namespace=namespace,
                name=name,
            )

        # Dropped by drop(): on the parent's request or at exit.
        self._views[ref] = views[name]
        logger.debug("pid %d attached %s/%s (object %s)", os.getpid(), namespace, name, object_id)
        return views[name]

    def drop(self, refs: list[ObjectRef]) -> None:
        """Release the views of ``refs`` that this process holds."""
        for ref in refs:
            if self._views.pop(ref, None) is None:
                continue
            try:
                with _store_root(ref.root):
                    store.release_views(ref.namespace, ref.name)
            except store.MemshareError as error:
                # Dropping the mapping is what frees the pages; a holder
                # record that cannot be updated is reaped by gc.
                logger.debug("pid %d: releasing %s/%s failed: %s", os.getpid(), *ref[1:3], error)
            logger.debug("pid %d dropped %s/%s", os.getpid(), ref.namespace, ref.name)

    def clear(self) -> None:
        """Release every held view."""
        self.drop(list(self._views))

    def __contains__(self, ref: object) -> bool:
        return ref in self._views


class CallRunner:
    """Apply ``fn`` to a range of elements of one call.

    Parameters
    ----------
    spec : CallSpec
        The call.
    fn : callable
        The user's function.
    cache : ViewCache
        Source of the target's and the variables' views.
    in_worker : bool, default True
        In a worker, a ``KeyboardInterrupt`` can only come from ``fn`` itself
        (workers ignore SIGINT), so it is reported as the element's failure.
        In the calling process it may be the user's Ctrl-C, so it propagates.
    """

    def __init__(self, spec: CallSpec, fn: Any, cache: ViewCache, in_worker: bool = True) -> None:
        self.spec = spec
        self.fn = fn
        self.caught: tuple[type[BaseException], ...] = (Exception, SystemExit)
        if in_worker:
            self.caught = (Exception, SystemExit, KeyboardInterrupt)
        target = cache.attach(spec.target)
        self.slicer = Slicer(target, spec.slice_kind, spec.axis)
        self.kwargs = {key: cache.attach(ref) for key, ref in spec.variables.items()}

    def run(self, start: int, stop: int, should_stop: Any = None) -> list[Any] | None:
        """Return ``[fn(slice_i, **vars) for i in range(start, stop)]``.

        Returns ``None`` when ``should_stop()`` turns true between elements.
        Raises :class:`ElementFailure` for the first element ``fn`` raises on.
        """
        results: list[Any] = []
        next_check = time.monotonic() + CANCEL_POLL_SECONDS
        for index in range(start, stop):
            try:
                results.append(self.fn(self.slicer(index), **self.kwargs))
            except self.caught as error:
                raise ElementFailure(index, error, traceback.format_exc()) from error

            if should_stop is not None and time.monotonic() >= next_check:
                if should_stop():
                    return None
                next_check = time.monotonic() + CANCEL_POLL_SECONDS
        return results


def _dump_results(results: list[Any], start: int) -> bytes:
    """Pickle ``results``; name the element whose value cannot be pickled."""
    try:
        return pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        whole_error = error

    # Find the first element at fault, so the error can name it.
    for offset, value in enumerate(results):
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            kind = type(value).__name__
            message = f"fn returned a value that cannot be pickled ({kind}): {error}"
            raise ElementFailure(
                start + offset, TypeError(message), traceback.format_exc()
            ) from error
    raise ElementFailure(None, TypeError(str(whole_error)), "")


def _dump_error(error: BaseException) -> bytes:
    """Pickle an exception, or a stand-in with its type and message if it cannot be.

    The original type's name travels separately in the "failed" reply, so the
    parent's TaskError names it even when the stand-in is sent.
    """
    try:
        data = pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)
        return data
    except Exception:
        stand_in = RuntimeError(f"{error} ({type(error).__qualname__} cannot be pickled)")
        return pickle.dumps(stand_in, protocol=pickle.HIGHEST_PROTOCOL)


class _Worker:
    """State of one worker process between messages."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cache = ViewCache()
        self.pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self.cancelled: set[int] = set()
        self.runner: CallRunner | None = None
        self.setup_failure: ElementFailure | None = None
        self.call_id = -1
        self.threads: int | None = None

    def receive(self) -> tuple[Any, ...]:
        if self.pending:
            return self.pending.popleft()
        return self.conn.recv()

    def cancel_requested(self) -> bool:
        """Read the messages waiting on the pipe; true if the running call was cancelled."""
        while self.conn.poll():
            message = self.conn.recv()
            if message[0] == "cancel":
                self.cancelled.add(message[1])
            else:
                self.pending.append(message)
        return self.call_id in self.cancelled

    def start_call(self, spec: CallSpec, fn_bytes: bytes, threads: int | None) -> None:
        self.call_id = spec.call_id
        self.runner = None
        self.setup_failure = None
        if threads is not None and threads != self.threads:
            threadpool_limits(limits=threads)
            self.threads = threads
        try:
            fn = cloudpickle.loads(fn_bytes)
            self.runner = CallRunner(spec, fn, self.cache)
        except (Exception, SystemExit, KeyboardInterrupt) as error:
            self.setup_failure = ElementFailure(None, error, traceback.format_exc())

    def run_task(self, call_id: int, task_id: int, start: int, stop: int) -> tuple[Any, ...]:
        if call_id != self.call_id or call_id in self.cancelled:
            return ("cancelled", call_id, task_id)
        try:
            if self.setup_failure is not None:
                raise self.setup_failure
            assert self.runner is not None
            results = self.runner.run(start, stop, self.cancel_requested)
            if results is None:
                return ("cancelled", call_id, task_id)
            return ("done", call_id, task_id, _dump_results(results, start))
        except ElementFailure as failure:
            return (
                "failed",
                call_id,
                task_id,
                failure.index,
                _dump_error(failure.error),
                failure.traceback_text,
                type(failure.error).__qualname__,
            )

    def serve(self) -> None:
        try:
            self._serve()
        except (EOFError, OSError) as error:
            # The parent exited or closed the pipe, so no one reads the results.
            logger.debug("pid %d: pipe to the parent closed (%r)", os.getpid(), error)

    def _serve(self) -> None:
        while True:
            message = self.receive()
            kind = message[0]
            if kind == "task":
                self.conn.send(self.run_task(*message[1:]))
            elif kind == "call":
                self.start_call(*message[1:])
            elif kind == "cancel":
                self.cancelled.add(message[1])
            elif kind == "drop":
                # The parent drops views only between calls; the finished
                # call's runner must go too, or its slicer keeps the view alive.
                self.runner = None
                self.setup_failure = None
                self.cache.drop(message[1])
                self.conn.send(("dropped",))
            elif kind == "stop":
                return


def caller_identity() -> tuple[int, float]:
    """Return this process's pid and start time, which together name it uniquely."""
    return os.getpid(), psutil.Process().create_time()


def _caller_alive(pid: int, start_time: float) -> bool:
    try:
        process = psutil.Process(pid)
        # A reused pid has another start time, and a killed caller that its
        # own parent has not reaped yet stays a zombie.
        return process.create_time() == start_time and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _watch_caller(pid: int, start_time: float) -> None:
    """Exit this worker as soon as the calling process is gone.

    The worker's parent is the forkserver, which outlives a killed caller, so
    the pipe is the only other sign of the caller's death, and a worker reads
    it only between elements. The exit skips releasing views: ``memshare gc``
    reaps the holder records of dead processes.
    """
    while _caller_alive(pid, start_time):
        time.sleep(CALLER_POLL_SECONDS)
    logger.debug("worker pid %d: caller pid %d is gone; exiting", os.getpid(), pid)
    os._exit(CALLER_GONE_EXIT_CODE)


def worker_main(conn: Connection, threads: int | None, caller: tuple[int, float]) -> None:
    """Serve tasks on ``conn`` until the parent stops the worker or goes away.

    Parameters
    ----------
    conn : Connection
        This worker's end of its pipe to the parent.
    threads : int or None
        Limit for BLAS/OpenMP thread pools; ``None`` leaves them alone.
    caller : tuple of (int, float)
        Pid and start time of the calling process (see :func:`caller_identity`);
        the worker exits when that process is gone.
    """
    # Ctrl-C in a terminal reaches the whole process group. Only the parent
    # handles it, and it sends the workers a "cancel" message on the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_heap_in_worker()
    if threads is not None:
        threadpool_limits(limits=threads)

    watcher = threading.Thread(
        target=_watch_caller, args=caller, name="memshare-caller-watch", daemon=True
    )
    watcher.start()

    logger.debug("worker pid %d started", os.getpid())
    worker = _Worker(conn)
    try:
        conn.send(("ready", os.getpid(), None))
    except OSError:
        # The caller is gone already; the watcher or the next receive ends us.
        pass
    worker.threads = threads
    try:
        worker.serve()
    finally:
        worker.cache.clear()
        logger.debug("worker pid %d stopped", os.getpid())
