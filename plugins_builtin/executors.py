"""The executors that need nothing installed: ``inline`` (this process) and ``fork`` (worker processes).

``fork`` is what ``workers: N`` has always meant: N processes forked from the
run's once the data is loaded, sharing it copy-on-write, one torch thread
each (see :class:`autoglm.plugins.WorkerPool` for why one). ``inline`` trains
every unit in the run's own process, one at a time, whatever ``workers`` says:
the same rounds and records, no processes (for debugging, profiling, or a
platform without ``fork``).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from autoglm.plugins import TrialJob, WorkerPool, hookimpl


class InlineExecutor:
    """Every unit in this process, in order."""

    remote = False
    shares_cores = True

    def __init__(self) -> None:
        self._job: TrialJob | None = None

    def open(self, job: TrialJob, workers: int) -> None:
        self._job = job

    def map_unordered(self, units: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        assert self._job is not None, "open() first"
        for index, unit in enumerate(units):
            yield index, self._job.run(unit)

    def close(self) -> None:
        self._job = None


class ForkExecutor:
    """Units in ``workers`` forked processes (one process: this one, as ``inline``)."""

    shares_cores = True

    def __init__(self) -> None:
        self._pool: WorkerPool | None = None
        self.remote = False

    def open(self, job: TrialJob, workers: int) -> None:
        self._pool = WorkerPool(job.run, workers).__enter__()
        self.remote = self._pool.workers > 1  # WorkerPool falls back to one process where fork is missing

    def map_unordered(self, units: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        assert self._pool is not None, "open() first"
        return self._pool.map_unordered(units)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.__exit__(None, None, None)


@hookimpl
def autoglm_register_executors(register: Any) -> None:
    register("inline", InlineExecutor, summary="Every trial in the run's own process, one at a time")
    register("fork", ForkExecutor, summary="Trials in `workers` forked processes on this machine (one torch thread each)")
