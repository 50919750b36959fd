"""memshare itself as a benchmarked system, cold and warm.

Cold is what a one-off script pays: ``mem_apply``/``mem_lapply`` on the in-memory
object, which registers it, starts the workers, runs and releases everything.
Warm is a session that registered its data, started a :class:`memshare.Pool` and
already ran one call on it. Only the next call is timed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, Final

import numpy as np

from benchmarks.systems import System, _warm_up
from benchmarks.workloads import WorkloadData

logger = logging.getLogger(__name__)

__all__ = ["MEMSHARE_SYSTEMS", "MemshareCold", "MemshareWarm", "memshare_missing"]

# Name under which the warm system registers the workload's data.
DATA_NAME: Final = "data"


def memshare_missing() -> str | None:
    """Return why memshare's runner cannot be used yet, or None when it can."""
    try:
        import memshare
    except ImportError as error:
        return f"memshare failed to import: {error}"
    needed = ("mem_apply", "mem_lapply", "Pool", "register_variables", "release_variables")
    missing = [name for name in needed if not hasattr(memshare, name)]
    if missing:
        return f"memshare does not provide {', '.join(missing)} yet"
    return None


def _namespace() -> str:
    """Return a namespace private to this benchmark process."""
    return f"bench-{os.getpid()}"


class MemshareCold(System):
    name = "memshare cold"
    description = (
        "mem_apply / mem_lapply on the in-memory object: registration, worker start, "
        "the call and the release are all timed"
    )

    def skip_reason(self, work: WorkloadData) -> str | None:
        return memshare_missing()

    def run(self, work: WorkloadData, workers: int) -> Any:
        import memshare

        if work.kind == "lapply":
            return memshare.mem_lapply(work.data, work.fn, vars=work.variables, workers=workers)
        return memshare.mem_apply(work.data, work.fn, axis=0, vars=work.variables, workers=workers)

    @contextlib.contextmanager
    def idle(self, work: WorkloadData, workers: int) -> Iterator[None]:
        import memshare

        with memshare.Pool(workers) as pool:
            warm_up_columns = np.zeros((1, workers))
            pool.apply(warm_up_columns, _warm_up, axis=0, chunksize=1)
            yield


class MemshareWarm(MemshareCold):
    name = "memshare warm"
    description = (
        "memshare.Pool started and data registered before the timed call, "
        "after one untimed call on the same pool"
    )

    @contextlib.contextmanager
    def session(self, work: WorkloadData, workers: int) -> Iterator[Callable[[], Any]]:
        import memshare

        namespace = _namespace()
        variable_names = list(work.variables)
        # Registered here and released in the finally below, after the pool's workers
        # have dropped their views on close.
        memshare.register_variables(namespace, {DATA_NAME: work.data, **work.variables})
        try:
            with memshare.Pool(workers) as pool:

                # vars given as a list of names makes the runner pass the registered objects.
                def call() -> Any:
                    if work.kind == "lapply":
                        return pool.lapply(
                            DATA_NAME, work.fn, vars=variable_names, namespace=namespace
                        )
                    return pool.apply(
                        DATA_NAME, work.fn, axis=0, vars=variable_names, namespace=namespace
                    )

                call()
                yield call
        finally:
            memshare.release_variables(namespace, [DATA_NAME, *variable_names])


MEMSHARE_SYSTEMS: Final[list[System]] = [MemshareCold(), MemshareWarm()]
