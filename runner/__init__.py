"""Parallel apply and lapply over shared objects, and YAML job files.

This package is installed as ``memshare.runner``; ``import memshare``
re-exports every name in ``__all__``. Importing it registers the
``memshare`` accessor on pandas DataFrames and Series.
"""

from __future__ import annotations

from memshare.runner.accessor import MemshareAccessor, SeriesAccessor
from memshare.runner.apply import Pool, mem_apply, mem_lapply
from memshare.runner.errors import FunctionNotPicklableError, TaskError, WorkerCrashedError
from memshare.runner.jobfile import JobFileError
from memshare.runner.jobplan import JobPlan, plan_job
from memshare.runner.jobrun import JobFailedError, JobSummary, run_job

__all__: list[str] = [
    "FunctionNotPicklableError",
    "JobFailedError",
    "JobFileError",
    "JobPlan",
    "JobSummary",
    "MemshareAccessor",
    "Pool",
    "SeriesAccessor",
    "TaskError",
    "WorkerCrashedError",
    "mem_apply",
    "mem_lapply",
    "plan_job",
    "run_job",
]
