"""mem_apply, mem_lapply and the warm worker Pool behind them.

One call goes through these steps:

1. check the arguments and pickle ``fn`` (nothing is registered yet, so a bad
   argument leaves nothing behind);
2. register the values passed directly (``X``, ``items``, ``vars`` given as a
   mapping) under names private to the call;
3. send the call to the workers, which attach each object once and run the
   tasks (see :mod:`memshare.runner.dispatch`);
4. make every worker drop its views of what the call registered, release
   those objects, and assemble the results.

Step 4 runs on every exit path, including errors, a dead worker and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from threadpoolctl import threadpool_limits

import memshare.store as store
from memshare.runner.arguments import (
    CallObjects,
    check_apply_input,
    check_chunksize,
    check_fn,
    check_lapply_input,
    check_named_kind,
    check_var_names,
    check_vars,
    default_namespace,
    normalize_axis,
    pickle_fn,
)
from memshare.runner.pool import Executor, available_cpus, resolve_workers
from memshare.runner.progress import make_progress
from memshare.runner.results import assemble_array, assemble_frame, writable_copy
from memshare.runner.tasks import (
    CallSpec,
    ObjectRef,
    SliceKind,
    count_elements,
    default_chunksize,
    element_labels,
    grid_shape,
    plan_chunks,
)
from memshare.runner.worker import ROOT_VARIABLE
from memshare.store.names import validate_name

__all__ = ["Pool", "mem_apply", "mem_lapply"]

logger = logging.getLogger(__name__)


class Pool:
    """Warm worker processes for several apply/lapply calls.

    Workers start once and keep the views they mapped of objects passed by
    name, so later calls over the same namespace pay neither start-up nor
    mapping again. Objects a call registered itself are released after it,
    and every worker drops its views of them.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes; default one per CPU available to this
        process. ``1`` runs every call in this process, for debugging.
    threads : int, optional
        BLAS/OpenMP threads per worker; default the CPUs divided by
        ``workers`` (at least 1), so workers times threads stays within the
        CPUs.
    namespace : str, optional
        Namespace for the objects calls register; default
        ``_memshare-run-<pid>``.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        threads: int | None = None,
        namespace: str | None = None,
    ) -> None:
        self.workers = resolve_workers(workers)
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        self._threads_given = threads is not None
        self.threads = threads if threads is not None else max(1, available_cpus() // self.workers)
        self.namespace = namespace if namespace is not None else default_namespace()
        validate_name(self.namespace, "namespace")
        # Named objects whose views the workers may cache; dropped when the
        # name is released or re-registered (checked at each call) or at close.
        self._held: set[ObjectRef] = set()
        self._executor = Executor(self.workers, self.threads)
        # A pool that is never closed still stops its workers, when it is
        # garbage collected or at interpreter exit, so they release their views.
        self._finalizer = weakref.finalize(self, self._executor.close)

    @property
    def pids(self) -> list[int]:
        """Pids of the worker processes (empty with ``workers=1``)."""
        return self._executor.pids

    def close(self) -> None:
        """Stop the workers; each releases its views before it exits."""
        self._finalizer()
        self._held.clear()

    def _check_open(self) -> None:
        if self._executor.closed:
            raise RuntimeError("this Pool is closed; create a new Pool to run more calls")

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def apply(
        self,
        X: Any,
        fn: Callable[..., Any],
        axis: int | str = 0,
        *,
        vars: Mapping[str, Any] | Iterable[str] | None = None,
        namespace: str | None = None,
        chunksize: int | None = None,
        progress: bool | None = None,
        simplify: bool = True,
        description: str = "mem_apply",
    ) -> Any:
        """Apply ``fn`` to each 1-D slice of ``X`` along ``axis``; see :func:`mem_apply`.

        ``description`` is the text in front of the progress bar.
        """
        variables, fn_bytes = self._prepare(fn, vars, chunksize)
        check_apply_input(X, namespace)
        check_var_names(variables, namespace)

        objects = CallObjects(namespace if namespace is not None else self.namespace)
        try:
            if isinstance(X, str):
                check_named_kind(objects.namespace, X, "mem_apply")
                value = objects.view(X)
                slice_kind, axis_int = normalize_axis(value, axis)
                target = objects.ref(X)
            else:
                value = X
                slice_kind, axis_int = normalize_axis(value, axis)
                target = objects.register("x", X, "X")

            outputs = self._run(
                objects, target, value, slice_kind, axis_int, variables, fn, fn_bytes,
                chunksize, progress, description,
            )
            labels = element_labels(value, slice_kind)
            if labels is not None:
                return assemble_frame(outputs, labels, axis_int, simplify)
            return assemble_array(outputs, grid_shape(value.shape, axis_int), axis_int, simplify)
        finally:
            self._finish(objects)

    def lapply(
        self,
        items: Any,
        fn: Callable[..., Any],
        *,
        vars: Mapping[str, Any] | Iterable[str] | None = None,
        namespace: str | None = None,
        chunksize: int | None = None,
        progress: bool | None = None,
        description: str = "mem_lapply",
    ) -> list[Any]:
        """Apply ``fn`` to each element of ``items``; see :func:`mem_lapply`.

        ``description`` is the text in front of the progress bar.
        """
        variables, fn_bytes = self._prepare(fn, vars, chunksize)
        check_lapply_input(items, namespace)
        check_var_names(variables, namespace)

        objects = CallObjects(namespace if namespace is not None else self.namespace)
        try:
            if isinstance(items, str):
                check_named_kind(objects.namespace, items, "mem_lapply")
                value = objects.view(items)
                target = objects.ref(items)
            else:
                value = items
                target = objects.register("items", list(items), "items")

            return self._run(
                objects, target, value, "items", 0, variables, fn, fn_bytes,
                chunksize, progress, description,
            )
        finally:
            self._finish(objects)

    def _prepare(
        self,
        fn: Callable[..., Any],
        vars: Mapping[str, Any] | Iterable[str] | None,
        chunksize: int | None,
    ) -> tuple[dict[str, Any] | list[str], bytes | None]:
        """Check the arguments every call shares and pickle ``fn`` for the workers."""
        self._check_open()
        check_fn(fn)
        check_chunksize(chunksize)
        variables = check_vars(vars)
        fn_bytes = pickle_fn(fn) if self.workers > 1 else None
        return variables, fn_bytes

    def _run(
        self,
        objects: CallObjects,
        target: ObjectRef,
        value: Any,
        slice_kind: SliceKind,
        axis: int,
        variables: dict[str, Any] | list[str],
        fn: Any,
        fn_bytes: bytes | None,
        chunksize: int | None,
        progress: bool | None,
        description: str,
    ) -> list[Any]:
        """Register the variables, run every task and return the results in order."""
        if isinstance(variables, dict):
            refs = {
                key: objects.register(f"var-{key}", val, f"vars[{key!r}]")
                for key, val in variables.items()
            }
        else:
            refs = {name: objects.ref(name) for name in variables}

        self._forget_stale()
        for ref in [target, *refs.values()]:
            if ref.name not in objects.registered:
                self._held.add(ref)

        count = count_elements(value, slice_kind, axis)
        if count == 0:
            return []
        size = chunksize if chunksize is not None else default_chunksize(count, self.workers)
        chunks = plan_chunks(count, size)
        spec = CallSpec(
            self._executor.next_call_id(), target, slice_kind, axis, count, refs
        )
        logger.debug(
            "call %d: %d elements of %s/%s in %d tasks on %d workers",
            spec.call_id, count, target.namespace, target.name, len(chunks), self.workers,
        )

        labels = element_labels(value, slice_kind)
        bar = make_progress(count, progress, description)
        try:
            with self._thread_limit():
                outputs = self._executor.run(spec, fn, fn_bytes, chunks, labels, bar)
        finally:
            if bar is not None:
                bar.close()
        return [writable_copy(result) for chunk in outputs for result in chunk]

    def _thread_limit(self) -> contextlib.AbstractContextManager[Any]:
        # In-process calls limit threads only when the caller requested it; workers
        # apply the limit themselves.
        if self.workers == 1 and self._threads_given:
            return threadpool_limits(limits=self.threads)
        return contextlib.nullcontext()

    def _forget_stale(self) -> None:
        """Drop cached views of named objects that were released or re-registered."""
        stale = []
        root = os.environ.get(ROOT_VARIABLE)
        # NOTE: views from another store root (MEMSHARE_ROOT changed between
        # calls) are not checked here; they stay mapped until the pool closes.
        for namespace in {ref.namespace for ref in self._held if ref.root == root}:
            try:
                current = store.retrieve_metadata(namespace)
            except store.MemshareError:
                current = {}
            for ref in self._held:
                if ref[:2] != (root, namespace):
                    continue
                metadata = current.get(ref.name)
                if metadata is None or metadata.object_id != ref.object_id:
                    stale.append(ref)
        if stale:
            self._executor.drop(stale)
            self._held.difference_update(stale)

    def _finish(self, objects: CallObjects) -> None:
        """Make the workers drop the call's own objects, then release them."""
        try:
            self._executor.drop(objects.registered_refs)
        finally:
            objects.release()


def mem_apply(
    X: Any,
    fn: Callable[..., Any],
    axis: int | str = 0,
    *,
    vars: Mapping[str, Any] | Iterable[str] | None = None,
    namespace: str | None = None,
    workers: int | None = None,
    chunksize: int | None = None,
    progress: bool | None = None,
    simplify: bool = True,
    threads: int | None = None,
) -> Any:
    """Apply ``fn`` to every 1-D slice of ``X`` along ``axis`` in worker processes.

    Parameters
    ----------
    X : numpy.ndarray, pandas.DataFrame or str
        The data, or the name of an array or DataFrame registered in
        ``namespace``. A value is registered for the call and released after it.
    fn : callable
        Called as ``fn(slice, **vars)``. The slice is a read-only, zero-copy
        numpy view, or a pandas Series named by the column or row label.
    axis : int or str, default 0
        As in :func:`numpy.apply_along_axis` and ``DataFrame.apply``: ``0``
        passes each column of a matrix, ``1`` each row. For N-d arrays, each
        1-D slice along ``axis``. R's ``MARGIN=2`` is ``axis=0`` and
        ``MARGIN=1`` is ``axis=1``.
    vars : mapping or list of str, optional
        Extra keyword arguments of ``fn``: a mapping name -> value (registered
        for the call, released after it), or names registered in ``namespace``.
    namespace : str, optional
        Where named objects live and where the call registers its own.
    workers : int, optional
        Worker processes; default one per available CPU; ``1`` runs in this process.
    chunksize : int, optional
        Elements per task; default ``ceil(n / (4 * workers))``.
    progress : bool, optional
        Show a progress bar on stderr; default only when stderr is a terminal.
    simplify : bool, default True
        Stack scalars or equal-shape arrays into an array (a Series or
        DataFrame for DataFrame input); ``False`` always returns a list.
    threads : int, optional
        BLAS/OpenMP threads per worker; default CPUs divided by workers.

    Returns
    -------
    numpy.ndarray, pandas.Series, pandas.DataFrame or list
        The results in element order.

    Raises
    ------
    TaskError
        ``fn`` raised on an element, or returned a value that cannot be pickled.
    WorkerCrashedError
        A worker process died while it ran a task.
    FunctionNotPicklableError
        ``fn`` cannot be sent to the workers.
    """
    with Pool(workers, threads=threads) as pool:
        return pool.apply(
            X, fn, axis, vars=vars, namespace=namespace, chunksize=chunksize,
            progress=progress, simplify=simplify,
        )


def mem_lapply(
    items: Any,
    fn: Callable[..., Any],
    *,
    vars: Mapping[str, Any] | Iterable[str] | None = None,
    namespace: str | None = None,
    workers: int | None = None,
    chunksize: int | None = None,
    progress: bool | None = None,
    threads: int | None = None,
) -> list[Any]:
    """Apply ``fn`` to every element of a list in worker processes.

    The list is registered once (or named, if already registered in
    ``namespace``); each worker attaches it once and reads only the elements
    of its tasks. Parameters are those of :func:`mem_apply`.

    Returns
    -------
    list
        ``[fn(item, **vars) for item in items]``, in order.
    """
    with Pool(workers, threads=threads) as pool:
        return pool.lapply(
            items, fn, vars=vars, namespace=namespace, chunksize=chunksize, progress=progress
        )
