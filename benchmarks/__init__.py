"""Side-by-side benchmarks of memshare and the tools users would pick instead.

Run ``python -m benchmarks --quick`` for a smoke run of every workload or
``python -m benchmarks --full`` for the published page (``docs/benchmarks.md``).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_SCALING_WORKERS", "WORKLOADS"]

# Workloads 1 to 4 compare speed at the chosen worker counts. "scaling" sweeps the
# worker count on a large matrix, and "micro" measures store and dispatch primitives.
WORKLOADS: Final = ("correlate", "bootstrap", "lapply", "dataframe", "scaling", "micro")
DEFAULT_SCALING_WORKERS: Final = (1, 2, 4, 8)
