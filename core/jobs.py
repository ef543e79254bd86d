"""A run's trials as values: what any process, anywhere, needs to train them.

The run's process (the driver) keeps the tuner, the pruner's history and the
run directory. What it hands an executor is a :class:`TrialJob` (how to
rebuild the run's engine, its resolved config and, for ``data: given``, the
host's graph) and a list of units (a trial, a population of trials, a
selection re-train or a cross-validation fold, each with its seed and the
pruner's state as of its round). Both pickle, so a Ray task can take them to
another machine; there the worker rebuilds the engine, the components and the
prepared data from the config once per process and run (cached), and trains
the unit exactly as the driver would have.

In the driver's process and its forked children the job also holds
``local``, the runner's own method, so ``inline`` and ``fork`` run units with
no rebuild at all.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.runner import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineRecipe:
    """How to build an engine equal to the run's: its constructor's arguments (plugin objects pickle by
    reference when importable, and by value with cloudpickle, as Ray does, when defined in a script)."""

    plugins: tuple[Any, ...] = ()
    autoload: bool | None = None
    builtins: bool = True
    strict: bool = False
    env: Mapping[str, str] | None = None

    def build(self) -> Any:
        from autoglm.core.engine import Engine

        return Engine(self.plugins, autoload=self.autoload, builtins=self.builtins, strict=self.strict, env=self.env)


@dataclass
class TrialJob:
    """Everything a worker needs to train units of one run; picklable (``local`` is not pickled)."""

    #: Unique per run (and per resume): the key of a worker process's cached runner.
    key: str
    engine: EngineRecipe
    #: The run's resolved config (``RunConfig.to_dict()``), with its seed.
    config: dict[str, Any]
    #: Whether any reporter wants epoch events: workers then collect them for the driver to fire.
    wants_epochs: bool = False
    #: A host's own graph (``data: given``), else None: the worker loads the config's data itself.
    data: Any = None
    #: The driver's runner method; set only in the driver's process (and inherited by forked children).
    local: Callable[[Any], Any] | None = field(default=None, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["local"] = None  # a runner does not travel: the worker builds its own
        return state

    def run(self, unit: Any) -> Any:
        """Train ``unit`` here: with the driver's runner if this process has it, else with this process's own."""
        if self.local is not None:
            return self.local(unit)
        return worker_runner(self)._run_unit(unit)


#: A worker process's runners, by job key (a Ray worker serves many tasks of a run, and maybe several runs).
_RUNNERS: dict[str, "Runner"] = {}
_LOCK = threading.Lock()
#: How many runs' runners a worker process keeps (each holds its prepared data).
KEEP_RUNNERS = 2


def worker_runner(job: TrialJob) -> "Runner":
    """This process's runner for ``job``, built on first use: engine, components and prepared data."""
    with _LOCK:
        runner = _RUNNERS.get(job.key)
        if runner is None:
            from autoglm.core.runner import Runner

            engine = job.engine.build()
            config = engine.load_config(job.config)
            runner = Runner.for_worker(engine, config, data=job.data, wants_epochs=job.wants_epochs)
            while len(_RUNNERS) >= KEEP_RUNNERS:
                _RUNNERS.pop(next(iter(_RUNNERS)))
            _RUNNERS[job.key] = runner
            log.debug("worker: built the run's components and data for job %s", job.key)
        return runner
