"""The ``ray`` executor: trials as Ray tasks, on a cluster the config names or a local one it starts.

Needs the ``ray`` extra (``pip install 'autoglm[ray]'``). The tuner, the
pruner's history and the run directory stay in the run's process (the Ray
driver); each unit of work (a trial, a selection re-train, a cross-validation
fold) is one Ray task that gets the run's :class:`~autoglm.plugins.TrialJob`
(put in Ray's object store once per run) and the unit. A Ray worker process
rebuilds the engine, the components and the prepared data from the job's
config on its first task and keeps them for the run's later tasks, so every
machine must see the data where the config says (a shared file system, or
``data: given`` from a host, which travels in the job). Trials are told to the
tuner in trial order, round by round, as with ``fork``, so a seed and a round
size give the same records wherever the trials ran.

A worker that dies under a task (killed, out of memory, node lost) is retried
``retries`` times by Ray (default once, on any live worker); if it dies again
the trial is recorded failed with that reason and the search goes on. Ctrl-C
cancels the running tasks (their trials are marked interrupted and run again on
``resume``). A local cluster started here is shut down when the run ends; a
cluster the config or the host connected to is left running.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Iterator, Sequence

from autoglm.plugins import Between, TrialJob, WorkerLost, hookimpl

log = logging.getLogger(__name__)

Resources = Annotated[float, Between(0, 1024)]


def _run_unit(job: TrialJob, unit: Any) -> Any:
    """The Ray task: one unit of the run, with as many torch threads as CPUs Ray gave it."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, int(cpus)))
    return job.run(unit)


class RayExecutor:
    """Units as Ray tasks, at most ``workers`` at once, each with ``cpus_per_trial`` / ``gpus_per_trial``."""

    remote = True
    #: Ray places the workers (on this machine or others) within the CPUs it was given.
    shares_cores = False

    def __init__(
        self,
        *,
        address: str | None = None,
        cpus_per_trial: Resources = 1.0,
        gpus_per_trial: Resources = 0.0,
        retries: Annotated[int, Between(0, 10)] = 1,
        num_cpus: Annotated[int, Between(1, 4096)] | None = None,
        temp_dir: Path | None = None,
    ) -> None:
        """:param address: A running cluster (``ray://host:10001``, ``host:6379`` or ``auto``); None starts a
            local one (or uses the one this process already joined).
        :param num_cpus: CPUs of a local cluster started here (default: the machine's).
        :param temp_dir: Where a local cluster keeps its sockets and logs (default Ray's, ``/tmp/ray``); keep
            it short: Ray's socket paths under it must fit in 107 characters.
        """
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError(
                "the ray executor needs Ray, which is not installed: pip install 'autoglm[ray]'"
            ) from None
        if cpus_per_trial <= 0:
            raise ValueError(f"cpus_per_trial must be above 0, got {cpus_per_trial}")
        self.address, self.cpus, self.gpus, self.retries = address, float(cpus_per_trial), float(gpus_per_trial), retries
        self.num_cpus, self.temp_dir = num_cpus, temp_dir
        self.workers = 1
        self._started = False
        self._job: Any = None
        self._task: Any = None
        self._running: dict[Any, int] = {}

    def open(self, job: TrialJob, workers: int) -> None:
        import ray

        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address is None:
                options["num_cpus"] = self.num_cpus
                if self.temp_dir is not None:
                    options["_temp_dir"] = str(Path(self.temp_dir).absolute())
            log.info("ray: %s", f"connecting to {self.address}" if self.address else "starting a local cluster")
            ray.init(address=self.address, **options)
            self._started = True
        elif self.address is not None:
            log.warning("ray: this process already joined a Ray cluster; using it, not address %s", self.address)
        available = ray.cluster_resources()
        log.info(
            "ray: %d trial(s) at once, %g CPU and %g GPU each; the cluster has %g CPU and %g GPU",
            workers, self.cpus, self.gpus, available.get("CPU", 0), available.get("GPU", 0),
        )
        if self.gpus > available.get("GPU", 0):
            raise ValueError(f"gpus_per_trial is {self.gpus:g} but the Ray cluster has {available.get('GPU', 0):g} GPU(s)")
        self.workers = workers
        self._job = ray.put(job)
        self._task = ray.remote(_run_unit).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries, retry_exceptions=False,
        )

    def map_unordered(self, units: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        import ray
        from ray import exceptions

        lost = (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError,
                exceptions.OwnerDiedError, exceptions.LocalRayletDiedError)
        queue = list(enumerate(units))
        queue.reverse()
        while queue or self._running:
            while queue and len(self._running) < self.workers:  # no more in flight than the run asked for
                index, unit = queue.pop()
                self._running[self._task.remote(self._job, unit)] = index
            done, _ = ray.wait(list(self._running), num_returns=1)
            for ref in done:
                index = self._running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except lost as exc:
                    tries = "" if not self.retries else f" (tried {self.retries + 1} times)"
                    outcome = WorkerLost(f"its Ray worker died while training it{tries}: {type(exc).__name__}")
                except exceptions.RayTaskError as exc:  # a bug in the unit's code, not in a trial: it surfaces
                    raise exc.as_instanceof_cause() from None
                yield index, outcome

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            for ref in list(self._running):
                ray.cancel(ref, force=True)
        self._running.clear()
        self._job = self._task = None
        if self._started:
            ray.shutdown()
            self._started = False


@hookimpl
def autoglm_register_executors(register: Any) -> None:
    register(
        "ray", RayExecutor,
        summary="Trials as Ray tasks on a cluster (address:) or a local one (needs autoglm[ray])",
    )

