"""The peers memshare is compared with: serial loops, multiprocessing, joblib and Ray.

Every system exposes two context managers. ``session(work, workers)`` prepares what
a user would have prepared before the measured call and yields the call to time.
Most peers prepare nothing, while joblib and Ray start their workers there. ``idle(work, workers)``
starts the same worker processes with the same imports and no data, for the memory
baseline. Parallel peers split the items into ``BLOCKS_PER_WORKER * workers``
contiguous blocks, the usual way to amortize per-task overhead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from typing import Any, Final

from benchmarks.workloads import (
    WorkloadData,
    block_bounds,
    get_item,
    run_block_items,
    slice_block,
)

logger = logging.getLogger(__name__)

__all__ = ["BLOCKS_PER_WORKER", "PEERS", "System"]

BLOCKS_PER_WORKER: Final = 4

# The object a fork+global or initializer worker reads. With fork + global the parent
# sets it before the pool starts, and the workers inherit it copy-on-write. With the
# initializer, each worker sets its own copy from the unpickled argument.
_WORKER_DATA: Any = None


def _set_worker_data(data: Any) -> None:
    """Pool initializer: keep the whole object in this worker's global."""
    global _WORKER_DATA
    _WORKER_DATA = data


def _run_range(fn: Callable[..., Any], start: int, stop: int, variables: dict[str, Any]) -> list[Any]:
    """Apply ``fn`` to items ``start`` to ``stop`` of the worker's global object."""
    return [fn(get_item(_WORKER_DATA, index), **variables) for index in range(start, stop)]


def _warm_up(_index: int) -> int:
    """Import what the workloads import, so that an idle worker is a realistic baseline."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    return os.getpid()


def _flatten(blocks: list[list[Any]]) -> list[Any]:
    return [result for block in blocks for result in block]


def _shutdown_loky() -> None:
    """Stop joblib's reusable loky workers, which otherwise idle on for minutes."""
    # NOTE: joblib has no public call for this; the module global is loky's own
    # (vendored in joblib 1.6) and may move in later versions.
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    if executor is not None:
        executor.shutdown(wait=True)


class System:
    """One way of running a workload; subclasses set ``name`` and the two phases.

    Attributes
    ----------
    name : str
        Identifier used in the results and on the page.
    description : str
        One line for the page saying how the system moves data to workers.
    parallel : bool
        False for the serial baselines, which run once whatever the worker count.
    """

    name = ""
    description = ""
    parallel = True

    def skip_reason(self, work: WorkloadData) -> str | None:
        """Return why this system cannot run ``work``, or None when it can."""
        return None

    @contextlib.contextmanager
    def session(self, work: WorkloadData, workers: int) -> Iterator[Callable[[], Any]]:
        """Yield a no-argument callable that runs ``work`` once and returns its results."""
        yield lambda: self.run(work, workers)

    def run(self, work: WorkloadData, workers: int) -> Any:
        """Run ``work`` once, including any worker start a user would pay for."""
        raise NotImplementedError

    @contextlib.contextmanager
    def idle(self, work: WorkloadData, workers: int) -> Iterator[None]:
        """Keep this system's workers started and idle (with imports) inside the block."""
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.map(_warm_up, range(workers))
            yield


class SerialLoop(System):
    name = "serial loop"
    description = "a plain Python loop calling the function on each item in the parent"
    parallel = False

    def run(self, work: WorkloadData, workers: int) -> Any:
        return [work.fn(get_item(work.data, i), **work.variables) for i in range(work.n_items)]

    @contextlib.contextmanager
    def idle(self, work: WorkloadData, workers: int) -> Iterator[None]:
        yield


class SerialVectorized(SerialLoop):
    name = "serial vectorized"
    description = "the numpy or pandas one-liner over the whole object, where one exists"

    def skip_reason(self, work: WorkloadData) -> str | None:
        if work.vectorized is None:
            return "no vectorized one-liner exists for this function"
        return None

    def run(self, work: WorkloadData, workers: int) -> Any:
        assert work.vectorized is not None
        return work.vectorized(work.data, **work.variables)


class PicklingPool(System):
    name = "mp.Pool pickling"
    description = "multiprocessing.Pool (fork) whose tasks carry their block of items, pickled"

    def run(self, work: WorkloadData, workers: int) -> Any:
        bounds = block_bounds(work.n_items, BLOCKS_PER_WORKER * workers)
        arguments = [(work.fn, slice_block(work.data, a, b), work.variables) for a, b in bounds]
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return _flatten(pool.starmap(run_block_items, arguments))


class InitializerPool(System):
    name = "mp.Pool initializer"
    description = (
        "multiprocessing.Pool (spawn) whose initializer gives every worker the whole "
        "object, pickled once per worker; tasks carry index ranges"
    )

    # Spawn, because under fork the initializer's argument is inherited instead of
    # pickled, which would make this the fork+global system.
    context = "spawn"

    def run(self, work: WorkloadData, workers: int) -> Any:
        bounds = block_bounds(work.n_items, BLOCKS_PER_WORKER * workers)
        arguments = [(work.fn, a, b, work.variables) for a, b in bounds]
        pool = multiprocessing.get_context(self.context).Pool(
            workers, initializer=_set_worker_data, initargs=(work.data,)
        )
        with pool:
            return _flatten(pool.starmap(_run_range, arguments))

    @contextlib.contextmanager
    def idle(self, work: WorkloadData, workers: int) -> Iterator[None]:
        with multiprocessing.get_context(self.context).Pool(workers) as pool:
            pool.map(_warm_up, range(workers))
            yield


class ForkGlobal(System):
    name = "fork + global"
    description = (
        "multiprocessing.Pool (fork) started after the object is stored in a module "
        "global; workers read it copy-on-write, tasks carry index ranges (Linux only)"
    )

    def skip_reason(self, work: WorkloadData) -> str | None:
        if "fork" not in multiprocessing.get_all_start_methods():
            return "the fork start method is not available on this platform"
        return None

    def run(self, work: WorkloadData, workers: int) -> Any:
        bounds = block_bounds(work.n_items, BLOCKS_PER_WORKER * workers)
        arguments = [(work.fn, a, b, work.variables) for a, b in bounds]
        # The global must be set before the fork, and is cleared afterwards so the
        # parent does not keep a second reference to the data alive.
        _set_worker_data(work.data)
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                return _flatten(pool.starmap(_run_range, arguments))
        finally:
            _set_worker_data(None)


class Joblib(System):
    name = "joblib loky"
    description = (
        "joblib.Parallel with the loky backend; blocks over 1 MB are memory-mapped "
        "automatically, smaller ones pickled; workers started before the timed call"
    )

    @contextlib.contextmanager
    def session(self, work: WorkloadData, workers: int) -> Iterator[Callable[[], Any]]:
        from joblib import Parallel, delayed

        try:
            # loky keeps its workers between calls, so a user's second call finds them
            # running; the untimed warm-up call gives the timed call that state.
            Parallel(n_jobs=workers)(delayed(_warm_up)(i) for i in range(workers))
            yield lambda: self.run(work, workers)
        finally:
            _shutdown_loky()

    def run(self, work: WorkloadData, workers: int) -> Any:
        from joblib import Parallel, delayed

        bounds = block_bounds(work.n_items, BLOCKS_PER_WORKER * workers)
        calls = (
            delayed(run_block_items)(work.fn, slice_block(work.data, a, b), work.variables)
            for a, b in bounds
        )
        return _flatten(Parallel(n_jobs=workers)(calls))

    @contextlib.contextmanager
    def idle(self, work: WorkloadData, workers: int) -> Iterator[None]:
        from joblib import Parallel, delayed

        # The workers stay up on exit: the harness opens session() right after
        # idle(), and session() reuses and finally stops them, which saves one
        # start of loky's interpreters per run.
        Parallel(n_jobs=workers)(delayed(_warm_up)(i) for i in range(workers))
        yield


def _ray_block(fn: Callable[..., Any], data: Any, start: int, stop: int, variables: dict[str, Any]) -> list[Any]:
    """Ray task: ``data`` arrives as a zero-copy view of the object store's copy."""
    return [fn(get_item(data, index), **variables) for index in range(start, stop)]


class Ray(System):
    name = "ray"
    description = "ray.put once, then one task per block reading the object zero-copy"

    def skip_reason(self, work: WorkloadData) -> str | None:
        if importlib.util.find_spec("ray") is None:
            return "ray is not installed in this environment"
        return None

    # NOTE: written against Ray's documented ray.init/put/remote/get calls but never
    # run here, because Ray is not installed on the machine these pages come from.
    @contextlib.contextmanager
    def session(self, work: WorkloadData, workers: int) -> Iterator[Callable[[], Any]]:
        import ray

        ray.init(num_cpus=workers, include_dashboard=False)
        try:
            data_ref = ray.put(work.data)
            task = ray.remote(_ray_block)
            bounds = block_bounds(work.n_items, BLOCKS_PER_WORKER * workers)

            def call() -> list[Any]:
                futures = [task.remote(work.fn, data_ref, a, b, work.variables) for a, b in bounds]
                return _flatten(ray.get(futures))

            yield call
        finally:
            ray.shutdown()

    @contextlib.contextmanager
    def idle(self, work: WorkloadData, workers: int) -> Iterator[None]:
        import ray

        ray.init(num_cpus=workers, include_dashboard=False)
        try:
            ray.get([ray.remote(_warm_up).remote(i) for i in range(workers)])
            yield
        finally:
            ray.shutdown()


PEERS: Final[list[System]] = [
    SerialLoop(),
    SerialVectorized(),
    PicklingPool(),
    InitializerPool(),
    ForkGlobal(),
    Joblib(),
    Ray(),
]
