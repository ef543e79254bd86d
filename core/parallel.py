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


class WorkerPool:
    """Runs tasks in ``workers`` forked processes, or in this process when ``workers`` is 1.

    ``task`` must be a function of one picklable argument returning a
    picklable result. Use as a context manager: leaving it (normally or on
    Ctrl-C) terminates the workers.
    """

    def __init__(self, task: Callable[[Any], Any], workers: int) -> None:
        self.task = task
        self.workers = workers
        self._pool: Any = None

    def __enter__(self) -> "WorkerPool":
        global _TASK
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
            _TASK = self.task
            try:
                self._pool = multiprocessing.get_context("fork").Pool(self.workers, _start_worker, (WORKER_THREADS,))
            except OSError as exc:  # Pool terminates the workers it did start
                _TASK = None
                raise RunError(
                    f"cannot start {self.workers} worker processes (workers: {self.workers}): "
                    f"{describe_os_error(exc)}; the process limit (ulimit -u) or the memory ran out, so lower workers"
                ) from None
        return self

    def map_unordered(self, payloads: Iterable[Any]) -> Iterator[Any]:
        """Results as they finish (in order when running in this process)."""
        if self._pool is None:
            for payload in payloads:
                yield self.task(payload)
            return
        yield from self._pool.imap_unordered(_run_task, list(payloads))

    def __exit__(self, *exc: Any) -> None:
        global _TASK
        if self._pool is not None:
            self._pool.terminate()  # workers may be mid-trial (Ctrl-C): they are not waited for
            self._pool.join()
            self._pool = None
        _TASK = None
