"""Worker processes for trials that train at once (``workers: N``).

Why processes: a trial's Python overhead and torch's small CPU ops do not
scale with threads, but N trials in N processes do, provided the machine is
not oversubscribed (with two intra-op threads and the other core busy, torch
CPU ops ran 3 to 16 times slower than with one).

Workers are forked from the run's process after the data is loaded, so they
share the graph and the plugin registries copy-on-write and start in
milliseconds (a fresh interpreter would re-import torch_geometric, ~5 s).
The price of forking: each worker runs torch with **one** thread. Torch's CPU
build uses GNU OpenMP, whose thread pool does not survive a fork: a child that
asks for two or more threads after its parent ran a parallel region hangs for
good (measured here: a forked matmul with 2 threads never returned, with 1 it
ran). So use more workers, not more threads, to fill a machine's cores; the
pool says so when cores are left idle. Workers ignore Ctrl-C (the run's
process handles it and terminates them) and die with the run's process if it
is killed outright.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from typing import Any, Callable, Iterable, Iterator

from autoglm.core.errors import RunError, describe_os_error

log = logging.getLogger(__name__)

#: What the pool's tasks run in a worker: set in the parent just before the fork, inherited by the children.
_TASK: Callable[[Any], Any] | None = None


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Torch threads in a forked worker: one, see the module docstring (more hang under GNU OpenMP).
WORKER_THREADS = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the run's process dies (a SIGKILLed run leaves no orphans)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc Linux
        pass


def _start_worker(threads: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    torch.set_num_threads(threads)


def _run_task(payload: Any) -> Any:
    assert _TASK is not None, "worker started without a task function"
    return _TASK(payload)


class WorkerLost(RuntimeError):
    """A task whose worker process died under it (killed by the OS, usually for memory)."""


class WorkerPool:
    """Runs tasks in ``workers`` forked processes, or in this process when ``workers`` is 1.

    ``task`` must be a function of one picklable argument returning a
    picklable result. Use as a context manager: leaving it (normally or on
    Ctrl-C) terminates the workers.

    Built on :class:`concurrent.futures.ProcessPoolExecutor`, which notices a
    worker that dies (``multiprocessing.Pool`` waits forever for its task). The
    tasks that were in flight then run again, each alone in a fresh pool, so
    the one that kills its worker is reported as :class:`WorkerLost` and the
    others finish normally.
    """

    def __init__(self, task: Callable[[Any], Any], workers: int) -> None:
        self.task = task
        self.workers = workers
        self._executor: Any = None

    def __enter__(self) -> "WorkerPool":
        if self.workers > 1:
            if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
                log.warning("workers: %d needs fork-based processes, unavailable here; running trials one at a time", self.workers)
                self.workers = 1
                return self
            cores = available_cores()
            log.info("workers: %d processes with %d torch thread each", self.workers, WORKER_THREADS)
            if cores > self.workers * WORKER_THREADS:
                log.info(
                    "%d of %d cores stay idle: forked workers run one torch thread each (more would hang under "
                    "OpenMP); raise workers to use them", cores - self.workers * WORKER_THREADS, cores,
                )
            self._start()
        return self

    def _start(self) -> None:
        global _TASK
        from concurrent.futures import ProcessPoolExecutor

        _TASK = self.task
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker, initargs=(WORKER_THREADS,),
        )

    def _submit(self, payload: Any) -> Any:
        try:
            return self._executor.submit(_run_task, payload)  # the first submit forks the workers
        except OSError as exc:
            self._stop()
            raise RunError(
                f"cannot start {self.workers} worker processes (workers: {self.workers}): "
                f"{describe_os_error(exc)}; the process limit (ulimit -u) or the memory ran out, so lower workers"
            ) from None

    def map_unordered(self, payloads: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """``(index, result)`` pairs as the tasks finish (in order when running in this process).

        A task whose worker died yields a :class:`WorkerLost` as its result.
        """
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        payloads = list(payloads)
        if self._executor is None:
            for index, payload in enumerate(payloads):
                yield index, self.task(payload)
            return
        futures = {self._submit(payload): index for index, payload in enumerate(payloads)}
        lost = []
        for future in as_completed(futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                lost.append(futures[future])
                continue
            yield futures[future], result
        if not lost:
            return
        log.warning("a worker process died; re-running its %d unfinished task(s) one at a time", len(lost))
        for index in sorted(lost):
            self._restart()
            try:
                result = self._submit(payloads[index]).result()
            except BrokenProcessPool:
                result = WorkerLost(
                    "its worker process died while training it (killed by the OS; running out of memory is the usual cause)"
                )
            yield index, result
        self._restart()

    def _restart(self) -> None:
        self._stop()
        self._start()

    def _stop(self) -> None:
        global _TASK
        executor, self._executor = self._executor, None
        _TASK = None
        if executor is None:
            return
        processes = list(getattr(executor, "_processes", {}).values())  # no public way to kill them before 3.14
        manager = getattr(executor, "_executor_manager_thread", None)  # shutdown() forgets it
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # workers may be mid-trial (Ctrl-C): they are not waited for
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
        if manager is not None:  # not a daemon: a run that ends before it does would report it as left running
            manager.join(timeout=10)

    def __exit__(self, *exc: Any) -> None:
        self._stop()
