"""One search, start to finish: the trial loop and what it leaves in the run directory.

Selection uses validation scores only; the selected model touches the test
split once, after the budget is spent. A run survives being stopped: Ctrl-C
marks the running trial interrupted and writes the leaderboard so far, and
``resume`` (after a Ctrl-C or a SIGKILL alike) replays the finished trials into
a freshly seeded tuner, re-runs the ones that were running and completes the
budget, so a resumed run proposes and trains exactly what an uninterrupted one
would have.

Trials are pruned as they train (successive halving, :mod:`autoglm.core.pruning`,
on unless the config's ``pruning`` turns it off): the trainer's epoch callback
reports each epoch's validation score (the task's objective), and a trial that trails the earlier
ones at a rung is stopped there and recorded ``pruned``. Its partial score goes
to the tuner but it is never selected. Every record keeps the rung values its
trial reached, and resume feeds them back to a fresh pruner in order, so the
decisions of a resumed run are those of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import platform
import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, NoReturn

from autoglm.core.artifacts import save_best_model
from autoglm.core.config import RunConfig
from autoglm.core.epoch_hook import EpochHook
from autoglm.core.errors import DataError, RunError, RunInterrupted, failure_reason
from autoglm.core.jobs import TrialJob
from autoglm.core.parallel import WorkerLost
from autoglm.core import features
from autoglm.core.data import load_data, task_view
from autoglm.core.paths import absolute
from autoglm.core.protocols import (
    Candidate, Closeable, CrossValidatedTask, Describable, EnsemblingTask, Executor, FeaturedTask, FitResult,
    MiniBatchTrainer, Objective, PopulationTask, PredictingTask, Predictions, SampledTask, WritesFiles,
)
from autoglm.core.pruning import SuccessiveHalvingPruner
from autoglm.core.replay import describe_point, key_of, same_candidate
from autoglm.core.reporting import ReporterGroup
from autoglm.core.results import (
    STATUSES, RunInfo, RunResult, RunStopped, RunSummary, SelectionReport, TrialRecord, leaderboard,
)
from autoglm.core.rundir import CHECKPOINT, LEADERBOARD, SUMMARY, TRIALS, RunDirectory
from autoglm.core.selection import Contender, SeedRun, choose, contenders, mean_std, reseed
from autoglm.core.threads import resolve_threads, torch_threads

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.engine import Engine

log = logging.getLogger(__name__)

#: Statuses of trials that ended on their own; anything else (``interrupted``) runs again on resume.
FINISHED = ("ok", "pruned", "failed")


def seed_everything(seed: int) -> None:
    """Seed every random stream a trial's code may draw from: torch's, Python's and NumPy's global ones.

    Torch's alone is not enough: some library code draws from Python's ``random``
    (PyG's ``negative_sampling`` does), and a plugin may use NumPy's.
    """
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def trial_seed(run_seed: int, trial: int) -> int:
    """A per-trial seed that depends only on the run seed and the trial number."""
    return random.Random(f"autoglm:{run_seed}:{trial}").randrange(2**31)


def default_output(config: RunConfig) -> str:
    stem = Path(config.source).stem if config.source.endswith((".yaml", ".yml")) else "run"
    return str(Path("runs") / f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


class Runner:
    def __init__(
        self,
        engine: "Engine",
        config: RunConfig,
        *,
        output: str | Path | None = None,
        overwrite: bool = False,
        keep_other_files: bool = False,
        resume: bool = False,
        extra_reporters: list[Any] | None = None,
        data: Any = None,
    ) -> None:
        self.engine = engine
        #: The graph a host handed over (``data: given``), used instead of the loader's ``load()``.
        self.given = data
        self.config = config
        if config.seed is None:
            config.seed = secrets.randbelow(2**31)
        if output is not None:
            config.output = str(output)
        if config.output is None:
            config.output = default_output(config)
        config.output = absolute(config.output)  # recorded absolute, like every path option
        self.seed: int = config.seed
        self.run_dir = RunDirectory(config.output)
        self.overwrite = overwrite
        self.keep_other_files = keep_other_files
        self.resume = resume
        self.extra_reporters = extra_reporters or []
        self.records: list[TrialRecord] = []
        #: The best finished trial and its weights (on the CPU).
        self._best: tuple[TrialRecord, Mapping[str, Any]] | None = None
        #: The weights of today's selection contenders (trial -> state_dict, at most top_k of them, in memory):
        #: selection then needs no re-training to rebuild a contender's own seed.
        self._contender_weights: dict[int, Mapping[str, Any]] = {}
        #: trial number -> (candidate, start time) of the trials being trained, for Ctrl-C.
        self._running: dict[int, tuple[Candidate, float]] = {}
        #: The next trial number to hand out.
        self._next_trial = 1
        #: Where units of a round run (:class:`~autoglm.core.protocols.Executor`; opened by ``run``).
        self._pool: Executor | None = None
        #: True in a forked worker: events are the parent's job (epoch events are collected in ``_forward``).
        self._remote = False
        self._forward: list[tuple[int, int, dict[str, float], str]] = []
        #: One pruner per run (None: pruning is off); built with the trainer, which may know its max_epochs.
        self.pruner: SuccessiveHalvingPruner | None = None
        #: Things about the trainer's epoch callbacks worth saying once per run, not once per trial.
        self._warned: set[str] = set()
        #: The task's cross-validation folds per feature choice, made on first use (in each process that needs them).
        self._cv_folds: dict[tuple[str, str], list[Any]] = {}
        #: The run's data with each feature choice applied (``preprocess``, ``structural``), made once per process.
        self._featured: dict[tuple[str, str], Any] = {}
        #: Whether the reporters were told the run stopped unfinished (they are told once).
        self._stop_told = False
        #: Selection's contenders left out as outside the noise band (trial, model, score, why).
        self._skipped: list[dict[str, Any]] = []
        #: When this session's run started (``time_budget`` counts from here), and when time stopped the search.
        self._clock = time.perf_counter()
        self._time_up: float | None = None

    # -- setup -----------------------------------------------------------

    def _build(self) -> None:
        components = self.engine.build_components(self.config)
        self.trainer, self.tuner, self.loader = components.trainer, components.tuner, components.data_loader
        self.task = components.task
        self.executor: Executor = components.executor
        self.objective: Objective = self.task.objective
        extra = [(f"host#{i}", r) for i, r in enumerate(self.extra_reporters)]
        self.reporters = ReporterGroup(components.reporters + extra)
        settings = self.config.pruning
        if settings.enabled:
            max_epochs = getattr(self.trainer, "max_epochs", None)
            if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
                max_epochs = None  # unknown: rungs go on for as long as the trainer does
            self.pruner = SuccessiveHalvingPruner(
                settings.min_epochs, settings.reduction_factor, settings.min_trials, max_epochs=max_epochs, deferred=True
            )

    def _claims(self) -> dict[str, list[Path]]:
        """The files each reporter declares it writes (:class:`~autoglm.core.protocols.WritesFiles`), by config path."""
        claims: dict[str, list[Path]] = {}
        for index, (label, reporter) in enumerate(self.reporters.members()):
            if isinstance(reporter, WritesFiles):
                where = label if label.startswith("host#") else f"reporters[{index}]"
                try:
                    claims[where] = [Path(p) for p in reporter.files(self.run_dir.path)]
                except Exception as exc:  # a reporter bug must not end the run before it starts
                    log.error("reporter %r failed to declare its files (%s); they are not checked", label, exc)
        return claims

    def _load_data(self) -> tuple[Any, dict[str, Any]]:
        """The loader's data, prepared (checked, split) by the task; every failure is one DataError."""
        name = self.config.data.name
        data = self.given if self.given is not None else load_data(self.loader, name, self.config.data.options)
        prepared = task_view(lambda: self.task.prepare(data, seed=self.seed), self.config.task.name, name)
        return prepared, {"loader": name, **_describe(self.loader), **dict(prepared.sizes)}

    @classmethod
    def for_worker(cls, engine: "Engine", config: RunConfig, *, data: Any = None, wants_epochs: bool = False) -> "Runner":
        """A runner that trains units sent from a run's process (a Ray worker elsewhere): the components
        rebuilt from the run's resolved config and the data loaded and prepared as the run's process did.
        It has no run directory, tuner or reporters; it collects epoch events for the run's process."""
        runner = cls(engine, config, data=data)
        src = config.source
        runner.task = engine.build("tasks", config.task, source=src, path="task.options")
        runner.objective = runner.task.objective
        runner.trainer = engine.build("trainers", config.trainer, source=src, path="trainer.options")
        runner.loader = engine.build("data_loaders", config.data, source=src, path="data.options")
        runner.reporters = _Forwarding(wants_epochs)
        runner._remote = True
        runner.data, runner.sizes = runner._load_data()
        return runner

    @contextlib.contextmanager
    def _executing(self, resolved: dict[str, Any]) -> Iterator[None]:
        """The executor open for this run's units; closed however the run ends (Ctrl-C: workers stopped)."""
        job = TrialJob(
            uuid.uuid4().hex, self.engine.recipe, resolved, self.reporters.wants_epochs(), self.given, local=self._run_unit,
        )
        try:
            self.executor.open(job, self.config.workers)
        except Exception as exc:
            raise RunError(f"executor {self.config.executor.name!r} could not start: {failure_reason(exc)}") from exc
        self._pool = self.executor
        try:
            yield
        finally:
            self._pool = None
            self.executor.close()

    def _choose_batching(self) -> None:
        """``batching: auto`` decides now, on the loaded data; mini-batch narrows the search to models that sample."""
        trainer = self.trainer
        if isinstance(trainer, MiniBatchTrainer) and trainer.batching == "auto" and isinstance(self.task, SampledTask):
            if trainer.batching_for(self.data) == "mini":
                self.engine.restrict_to_sampling(self.config, "batching auto chose mini-batch for this graph")

    # -- the run ---------------------------------------------------------

    def run(self) -> RunResult:
        started = self._clock = time.perf_counter()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._build()
        claims = self._claims()
        self.run_dir.check_claims(claims, source=self.config.source)
        if self.resume:
            self.run_dir.require_run()
            self.run_dir.lock.acquire()
        else:
            claimed = [path for paths in claims.values() for path in paths]
            self.run_dir.create(overwrite=self.overwrite, keep_other_files=self.keep_other_files, claimed=claimed)
        threads_before = set(threading.enumerate())
        try:
            here = self.config.workers if self.executor.shares_cores else 1  # Ray places its own workers
            with torch_threads(resolve_threads(self.config.threads, here)):
                return self._run(started, started_at, claims)
        finally:
            self.run_dir.release()
            self._close_tuner(threads_before)

    def _close_tuner(self, threads_before: set[threading.Thread]) -> None:
        """Let the tuner release what it holds; a thread left alive would keep the process from exiting."""
        if isinstance(self.tuner, Closeable):
            try:
                self.tuner.close()
            except Exception as exc:
                log.error("tuner %r failed to close: %s", self.config.tuner.name, exc)
        left = [t for t in threading.enumerate() if t not in threads_before and t.is_alive() and not t.daemon]
        if left:
            log.warning(
                "the run left %d thread(s) running (%s); a process cannot exit until they end",
                len(left), ", ".join(t.name for t in left),
            )

    def _run(self, started: float, started_at: str, claims: Mapping[str, list[Path]]) -> RunResult:
        # The config is written only once the data loaded: a directory left by a failed
        # load holds no run, so the corrected command needs no --overwrite.
        data, sizes = self._load_data()
        self.data, self.sizes = data, sizes
        self._choose_batching()
        resolved = self.config.to_dict()
        files = self.run_dir.relative(path for paths in claims.values() for path in paths)
        if self.resume:
            state = self.run_dir.read_state()
            if state is not None:
                recorded = state.get("dataset") if isinstance(state.get("dataset"), dict) else {}
                _check_same_data(recorded, sizes, self.run_dir.path)
                self.run_dir.write_state(state["config"], [*state["files"], *files], recorded or sizes)
        else:
            self.run_dir.write_state(resolved, files, sizes)
            self.run_dir.write_config(resolved)
        log.info("run directory: %s (seed %d)", self.run_dir.path, self.seed)
        in_flight = getattr(self.tuner, "set_in_flight", None)
        if self.config.round_size > 1 and callable(in_flight):
            in_flight(self.config.round_size)
        self.tuner.setup(self.engine.search_space(self.config), seed=self.seed)
        kept, pending = self._restore() if self.resume else (0, None)
        info = RunInfo(
            self.run_dir.path, resolved, self.seed, int(self.tuner.budget), sizes, resumed_trials=kept,
            task=self.config.task.name, objective=self.objective,
        )
        self.reporters.emit("on_run_start", run=info)
        try:
            with self._executing(resolved):
                try:
                    self._search(pending)
                except KeyboardInterrupt:
                    self._stop(started, started_at)
                try:
                    return self._finish(started, started_at)
                except KeyboardInterrupt:
                    raise RunInterrupted(
                        "run interrupted while writing its results; every trial is done and kept. "
                        f"Finish it with: autoglm run --resume {self.run_dir.path}"
                    ) from None
        except (RunInterrupted, KeyboardInterrupt) as exc:
            self._stopped("interrupted", str(exc) or "interrupted")
            raise
        except BaseException as exc:
            self._stopped("failed", failure_reason(exc) if isinstance(exc, Exception) else type(exc).__name__)
            raise
        finally:
            self.reporters.close()

    def _search(self, pending: "_Round | None" = None) -> None:
        """Train the budget round by round: ask a round's candidates, train them, tell them in trial order.

        A round is ``workers x population`` candidates (one, by default). The
        tuner is told nothing until the whole round is trained, and the pruner
        judges a round's trials against earlier rounds only, so what a run
        proposes and records depends on its seed and round size, never on
        which worker finished first.
        """
        if pending is not None:
            self._run_round(pending)
        while not self._out_of_time():
            asked = self._ask_round()
            if not asked:
                break
            self._run_round(_Round(asked, {}))

    def _ask_round(self) -> list[tuple[int, Candidate]]:
        asked = []
        while len(asked) < self.config.round_size:
            candidate = self.tuner.ask()
            if candidate is None:
                break
            asked.append((self._next_trial, candidate))
            self._next_trial += 1
        return asked

    def _run_round(self, round_: "_Round") -> None:
        todo = [(index, candidate) for index, candidate in round_.asked if index not in round_.known]
        began = time.perf_counter()
        for index, candidate in todo:
            self._running[index] = (candidate, began)
            self.reporters.emit("on_trial_start", trial=index, candidate=candidate)
        repeats = self._repeats(todo)
        todo = [(index, candidate) for index, candidate in todo if index not in repeats]
        remote = self._pool.remote
        payloads = [_Unit(members, self.pruner if remote else None, remote) for members in self._units(todo)]
        finished = dict(round_.known)
        arrived = []
        for index, outcome in self._pool.map_unordered(payloads):
            if isinstance(outcome, WorkerLost):
                results, epochs = [self._lost(i, c, outcome) for i, c in payloads[index].members], []
            else:
                results, epochs = outcome
            for record, fit in results:
                self._keep(record, fit)  # durable as soon as it finishes, whatever its place in the round
                finished[record.trial] = record
                arrived.append(record.trial)
                self._emit_forwarded(epochs, record.trial)
                self.reporters.emit("on_trial_end", record=record)
        for index, original in sorted(repeats.items()):  # after their originals, which may be in this round
            record = self._repeat(index, finished.get(original) or self._record_of(original))
            self._keep(record, None)
            finished[index] = record
            arrived.append(index)
            self.reporters.emit("on_trial_end", record=record)
        self.records.sort(key=lambda r: r.trial)
        if arrived != sorted(arrived) or (round_.known and arrived and min(arrived) < max(round_.known)):
            self.run_dir.rewrite_trials(self.records)  # trials.jsonl in trial order again
        for index, candidate in round_.asked:  # the tuner and the pruner learn in trial order
            record = finished[index]
            self.tuner.tell(candidate, self._told(record))
            if self.pruner is not None:
                self.pruner.record(record.rungs, group=self._pruning_group(record.model))

    def _out_of_time(self) -> bool:
        """Whether a ``time_budget`` (counted from the run's start) leaves no room for another round and then
        selection, estimated from the trials so far: the search then stops asking, what ran is kept, and
        selection runs as usual. The first round always runs."""
        budget = self.config.time_budget
        if budget is None or not any(r.scored for r in self.records):  # a search trains one round at least
            return False
        spent = time.perf_counter() - self._clock
        trial = self._mean_trial_seconds()
        if spent + trial + self._selection_estimate(trial) < budget:
            return False
        self._time_up = spent
        log.info(
            "time budget: %.0fs of %.0fs spent after %d trial(s); stopping the search to leave ~%.0fs for another "
            "round and ~%.0fs for selection", spent, budget, len(self.records), trial, self._selection_estimate(trial),
        )
        return True

    def _selection_estimate(self, trial_seconds: float) -> float:
        """Seconds selection's re-training (and cross-validation's folds) will take: each of today's contenders
        ``seeds - 1`` times at the longest its model took (a deep model beside shallow ones costs what it costs,
        not the mean trial's ``trial_seconds``), places not yet filled and each fold at ``trial_seconds``; spread
        over the workers."""
        spec = self.config.selection
        trainings: list[float] = []
        if spec.enabled:
            top = [self._retraining_estimate(r, trial_seconds) for r in contenders(self.records, spec.top_k, self.objective)]
            top += [trial_seconds] * (spec.top_k - len(top))
            trainings = [seconds for seconds in top for _ in range(spec.seeds - 1)]
        return self._wall_of(trainings + self._fold_trainings(trial_seconds))

    def _mean_trial_seconds(self) -> float:
        """The mean duration of the trials trained so far (repeats were not trained)."""
        trained = [r.duration_s for r in self.records if r.ok and r.duplicate_of is None and r.duration_s]
        return sum(trained) / len(trained) if trained else 0.0

    def _retraining_estimate(self, record: TrialRecord, default: float) -> float:
        """Seconds one re-training of ``record`` may take: the longest trained trial of its model (``default``
        when none has a duration). Another seed stops early at another epoch (one Cora search's GCNII trials ran
        243 to 575 epochs, 55 to 123 s), so the trial's own duration says little about its re-training's."""
        same = [r.duration_s for r in self.records if r.model == record.model and r.duplicate_of is None and r.duration_s]
        return max(same, default=record.duration_s or default)

    def _fold_trainings(self, trial_seconds: float) -> list[float]:
        """Cross-validation's trainings after selection, each at ``trial_seconds`` (none for other tasks)."""
        if not isinstance(self.task, CrossValidatedTask):
            return []
        return [trial_seconds] * len(self._folds({}))  # made once per process, reused by cross-validation

    def _wall_of(self, trainings: list[float]) -> float:
        """The wall time of these trainings spread over the workers (at least the longest one)."""
        return max(sum(trainings) / max(1, self.config.workers), max(trainings)) if trainings else 0.0

    def _fit_in_time(self, records: list[TrialRecord]) -> list[TrialRecord]:
        """The contenders (in rank order) whose re-training still fits in the ``time_budget``; the others are
        recorded as not re-trained. The search stopped early enough for today's contenders, but a slow one
        that joined in the last round (a deep model) could otherwise take selection far past the budget."""
        budget = self.config.time_budget
        if budget is None or not records:
            return records
        spec = self.config.selection
        folds = self._fold_trainings(self._mean_trial_seconds())
        left = budget - (time.perf_counter() - self._clock)
        kept: list[TrialRecord] = []
        planned: list[float] = []
        for record in records:
            mine = [self._retraining_estimate(record, 0.0)] * (spec.seeds - 1)
            needed = self._wall_of(planned + mine + folds)
            if needed <= left:
                kept.append(record)
                planned += mine
                continue
            self._skipped.append({
                "trial": record.trial, "model": record.model, "val_score": record.val_score,
                "reason": f"the time budget: re-training it as well would take ~{needed:.0f}s with {left:.0f}s left",
            })
        return kept

    def _repeats(self, todo: list[tuple[int, Candidate]]) -> dict[int, int]:
        """Proposals that repeat a configuration already trained (or asked earlier in this round): trial -> original.

        Such a proposal is not trained again: it is recorded with its original's scores
        and ``duplicate_of``, and the tuner is told that score (nevergrad's optimizers do
        repeat points, and training one twice only spends the budget).
        """
        originals = {key_of(r): r.trial for r in self.records if r.status in FINISHED and r.duplicate_of is None}
        repeats: dict[int, int] = {}
        for index, candidate in todo:
            key = key_of(candidate)
            if key in originals:
                repeats[index] = originals[key]
            else:
                originals[key] = index
        return repeats

    def _record_of(self, trial: int) -> TrialRecord:
        return next(r for r in self.records if r.trial == trial)

    def _repeat(self, index: int, original: TrialRecord) -> TrialRecord:
        """The record of a repeated proposal: its original's outcome, not trained again."""
        log.info("trial %d repeats trial %d's configuration: not trained again (the tuner is told its score)", index, original.trial)
        return replace(
            original, trial=index, seed=trial_seed(self.seed, index), duration_s=0.0, rungs={}, curve=[],
            population=None, duplicate_of=original.trial,
        )

    def _told(self, record: TrialRecord) -> float | None:
        """What the tuner hears of a trial: its score with higher always better, or None if it failed."""
        return self.objective.utility(record.val_score) if record.scored else None

    def _units(self, todo: list[tuple[int, Candidate]]) -> list[list[tuple[int, Candidate]]]:
        """Split a round into what trains as one piece: a population of one architecture, or a single trial."""
        size = self.config.population
        singles: list[list[tuple[int, Candidate]]] = []
        groups: dict[Any, list[tuple[int, Candidate]]] = {}
        for index, candidate in todo:
            key = self._population_key(candidate) if size > 1 else None
            if key is None:
                singles.append([(index, candidate)])
            else:
                groups.setdefault(key, []).append((index, candidate))
        units = singles + [members[i : i + size] for members in groups.values() for i in range(0, len(members), size)]
        # Bare candidates: a tuner's handle (a nevergrad object) stays in this process.
        bare = [
            [(i, Candidate(c.model, dict(c.model_params), dict(c.train_params), task_params=dict(c.task_params))) for i, c in unit]
            for unit in units
        ]
        return sorted(bare, key=lambda unit: unit[0][0])

    def _population_key(self, candidate: Candidate) -> Any:
        """The batch a candidate may share, or None when it trains alone."""
        component = self.engine.component("models", candidate.model)
        if component.population is None or not callable(getattr(self.trainer, "fit_population", None)):
            return None
        if isinstance(self.trainer, MiniBatchTrainer) and self.trainer.batching_for(self.data) == "mini":
            return None  # a population trains full-batch
        if not isinstance(self.task, PopulationTask) or not features.is_default(candidate.task_params) or (
            set(candidate.task_params) - set(features.DEFAULTS)
        ):
            self._say_once(
                "population-task", logging.INFO,
                "population: task %r trains its trials one at a time", self.config.task.name,
            )
            return None
        if component.population_key is None:
            return (candidate.model,)
        try:
            key = component.population_key(dict(candidate.model_params))
        except Exception as exc:  # a plugin bug must not end the search: the candidate trains alone
            self._say_once(f"key-{candidate.model}", logging.WARNING, "population_key of model %r failed (%s): training alone", candidate.model, exc)
            return None
        return None if key is None else (candidate.model, key)

    def _run_unit(self, unit: "_Unit") -> tuple[list[Any], list[tuple[int, int, dict[str, float], str]]]:
        """Train one unit (in a worker process when ``unit.remote``): its records and fits, and the epoch
        events a worker collected for this process to fire (in order per trial)."""
        if unit.remote:  # a forked copy of this runner: the pruner as of this round, events forwarded
            self.pruner, self._remote = unit.pruner, True
        self._forward = []
        return self._train_unit(unit), self._forward

    def _emit_forwarded(self, epochs: list[tuple[int, int, dict[str, float], str]], trial: int) -> None:
        """Fire the epoch events a worker collected for ``trial``, in the order they happened."""
        for number, epoch, metrics, phase in epochs:
            if number == trial:
                self.reporters.emit("on_epoch", trial=number, epoch=epoch, metrics=metrics, phase=phase)

    def _train_unit(self, unit: "_Unit") -> list[Any]:
        if unit.fold is not None:  # cross-validation of the selected configuration: (score, error)
            return [self._fold_score(unit)]
        if unit.seeds is not None:  # selection's re-training: other seeds, no events, no pruner
            return [self._trial(i, c, report=False, seed=seed) for (i, c), seed in zip(unit.members, unit.seeds)]
        if len(unit.members) == 1:
            index, candidate = unit.members[0]
            return [self._trial(index, candidate)]
        return self._population_trials(unit.members)

    def _lost(
        self, index: int, candidate: Candidate, lost: WorkerLost, *, seed: int | None = None
    ) -> tuple[TrialRecord, None]:
        """The record of a trial whose worker process died under it: failed, with why."""
        record = self._new_record(index, candidate, status="failed", seed=seed)
        record.error = str(lost)
        log.warning("trial %d (%s) failed: %s", index, candidate.model, record.error)
        return record, None

    def _keep(self, record: TrialRecord, fit: FitResult | None) -> None:
        """Make a finished trial durable: its record first, then (if it is the best) its weights."""
        self.records.append(record)
        self.run_dir.append_trial(record)
        self._running.pop(record.trial, None)
        if record.ok and fit is not None and (self._best is None or self._ranks_above(record, self._best[0])):
            self._best = (record, fit.state_dict)
            self.run_dir.save_checkpoint(record.trial, fit.state_dict)
        spec = self.config.selection
        if record.ok and fit is not None and spec.enabled:
            self._contender_weights[record.trial] = fit.state_dict
            top = {r.trial for r in contenders(self.records, spec.top_k, self.objective)}
            self._contender_weights = {t: w for t, w in self._contender_weights.items() if t in top}

    # -- resume and interrupt --------------------------------------------

    def _restore(self) -> tuple[int, "_Round | None"]:
        """Replay the finished trials into the (freshly set up) tuner, round by round as the run asked them.

        Returns how many trials were kept and the round that was under way when
        the run stopped (its finished trials are kept, the rest run again).
        """
        found = self.run_dir.read_trials()
        finished: dict[int, TrialRecord] = {}
        budget = int(self.tuner.budget)
        trials_file = self.run_dir / TRIALS
        for record in found:
            if record.trial > budget:
                raise RunError(
                    f"cannot resume: {trials_file}: trial {record.trial} is past the run's budget of {budget} trials; "
                    "the file was edited or damaged"
                )
            if record.status in FINISHED:
                if record.trial in finished:
                    raise RunError(
                        f"cannot resume: {trials_file}: it holds trial {record.trial} twice; the file was edited or damaged"
                    )
                finished[record.trial] = record
        pending = None
        while len(self.records) < len(finished):
            asked = self._ask_round()
            if not asked:
                break
            known = {index: finished[index] for index, _ in asked if index in finished}
            for index, candidate in asked:
                if index in known and not same_candidate(candidate, known[index]):
                    raise self._not_repeated(index, candidate, known[index])
            self.records.extend(known[index] for index, _ in asked if index in known)
            if len(known) < len(asked):
                pending = _Round(asked, known)
                break
            for index, candidate in asked:
                record = known[index]
                self.tuner.tell(candidate, self._told(record))
                if self.pruner is not None:
                    self.pruner.record(record.rungs, group=self._pruning_group(record.model))
        stray = sorted(set(finished) - {r.trial for r in self.records})
        if stray:
            missing = next(k for k in range(1, len(finished) + 2) if k not in finished)  # bounded by the records
            raise RunError(
                f"cannot resume: {trials_file}: it holds trial {stray[0]} but trial {min(missing, stray[0])} "
                "never finished before it; the file was edited or damaged"
            )
        kept = sorted(finished.values(), key=lambda r: r.trial)
        self.run_dir.rewrite_trials(kept)  # drops interrupted records and a torn last line
        best = next((r for r in leaderboard(kept, self.objective) if r.ok), None)
        if best is not None:
            self._best = (best, self._best_weights(best))
        log.info(
            "resuming %s: %d finished trial(s) kept, %d dropped to run again",
            self.run_dir.path, len(kept), len(found) - len(kept),
        )
        return len(kept), pending

    def _not_repeated(self, index: int, candidate: Candidate | None, record: TrialRecord) -> RunError:
        proposed = "nothing (budget spent)" if candidate is None else describe_point(candidate.model, candidate.model_params, candidate.train_params)
        return RunError(
            f"cannot resume {str(self.run_dir.path)!r}: replaying trial {index}, tuner "
            f"{self.config.tuner.name!r} proposed {proposed} but the run recorded "
            f"{describe_point(record.model, record.model_params, record.train_params)}; the tuner does not repeat "
            "itself for this seed (were nevergrad or numpy upgraded since the run started?). "
            "Start a new run instead"
        )

    def _best_weights(self, best: TrialRecord) -> Mapping[str, Any]:
        state = self.run_dir.load_checkpoint(best.trial)
        if state is not None:
            try:  # the weights must fit the model the record describes, or selection would crash on them
                self._build_model(best.model, best.model_params, best.task_params).load_state_dict(state)
            except Exception as exc:
                detail = " ".join(str(exc).split())[:300]
                raise RunError(
                    f"cannot resume: {self.run_dir / CHECKPOINT}: its weights do not fit trial {best.trial}'s "
                    f"{best.model} model ({detail}); delete it and the resume retrains the best trial from its recorded seed"
                ) from None
            return state
        # Killed between the record and its checkpoint: the trial's own seed rebuilds it.
        log.warning("no checkpoint of the best trial %d; retraining it with its recorded seed", best.trial)
        again, fit = self._trial(best.trial, _candidate_of(best), report=False)
        if fit is None:
            raise RunError(f"cannot resume: retraining the best trial {best.trial} failed: {again.error}")
        if again.val_score != best.val_score:
            log.warning("retrained trial %d scored %.4f (recorded %.4f)", best.trial, again.val_score, best.val_score)
        self.run_dir.save_checkpoint(best.trial, fit.state_dict)
        return fit.state_dict

    def _stop(self, started: float, started_at: str) -> NoReturn:
        """Ctrl-C: mark the running trials, write what is known so far, say how to resume."""
        for index, (candidate, began) in sorted(self._running.items()):
            record = self._new_record(index, candidate, status="interrupted")
            record.duration_s = round(time.perf_counter() - began, 3)
            record.error = "interrupted before it finished; it runs again on resume"
            self.records.append(record)
            self.run_dir.append_trial(record)
        self._running.clear()
        self.run_dir.write_leaderboard(self.records, self.objective)
        summary = self._summary(started_at, started, status="interrupted")
        if self._best is not None:
            summary.best = self._best_entry(self._best[0])
        self.run_dir.write_json(SUMMARY, summary.to_dict())
        finished = sum(r.status in FINISHED for r in self.records)
        where = str(self.run_dir.path)
        message = (
            f"run interrupted after {finished} of {self.tuner.budget} trials; finished trials are kept and the "
            f"leaderboard so far is in {str(self.run_dir / LEADERBOARD)!r}. Resume with: autoglm run --resume {where}"
        )
        self._stopped("interrupted", message, summary)
        raise RunInterrupted(message)

    def _new_record(self, index: int, candidate: Candidate, *, status: str, seed: int | None = None) -> TrialRecord:
        return TrialRecord(
            trial=index,
            status=status,
            model=candidate.model,
            model_params=dict(candidate.model_params),
            train_params=dict(candidate.train_params),
            seed=trial_seed(self.seed, index) if seed is None else seed,
            task_params=dict(candidate.task_params),
        )

    def _trial(
        self, index: int, candidate: Candidate, *, report: bool = True, seed: int | None = None
    ) -> tuple[TrialRecord, FitResult | None]:
        """Train one candidate. ``report=False`` (re-training a recorded trial, possibly with another
        ``seed``) emits no events and does not meet the pruner."""
        import torch

        record = self._new_record(index, candidate, status="ok", seed=seed)
        start = time.perf_counter()
        on_epoch = self._epoch_hook(index, report, candidate.model)
        try:
            seed_everything(record.seed)
            model = self._build_model(candidate.model, candidate.model_params, candidate.task_params)
            outcome: FitResult | BaseException = self.trainer.fit(
                model, self._data_for(candidate.task_params), dict(candidate.train_params), on_epoch, task=self.task
            )
        except Exception as exc:  # one trial's failure never ends the search
            outcome = exc
        fit = self._settle(record, outcome, on_epoch, report)
        record.duration_s = round(time.perf_counter() - start, 3)
        return record, fit

    def _population_trials(self, members: list[tuple[int, Candidate]]) -> list[tuple[TrialRecord, FitResult | None]]:
        """Train several candidates of one architecture as one batched model.

        Each member starts from the weights it would have alone (its trial seed
        builds the single model, whose weights are copied into its slot), so a
        member differs from its solo trial only in the random dropout stream.
        If the batch cannot be built or trained as a whole (out of memory, a
        plugin error), every member trains alone instead.
        """
        import torch

        model = members[0][1].model
        records = [self._new_record(index, candidate, status="ok") for index, candidate in members]
        hooks = [self._epoch_hook(index, True, model) for index, _ in members]
        start = time.perf_counter()
        try:
            component = self.engine.component("models", model)
            batch = component.population(
                self.sizes["num_features"], self.sizes["num_classes"], [dict(c.model_params) for _, c in members]
            )
            for slot, (record, (_, candidate)) in enumerate(zip(records, members)):
                torch.manual_seed(record.seed)
                batch.load_member(slot, self._build_model(model, candidate.model_params, {}).state_dict())
            seed_everything(records[0].seed)
            graph = self.task.population_graph(self.data)
            outcomes = self.trainer.fit_population(batch, graph, [dict(c.train_params) for _, c in members], hooks)
            if len(outcomes) != len(members):
                raise RunError(f"fit_population returned {len(outcomes)} results for {len(members)} members")
        except Exception as exc:
            self._say_once(
                f"population-{model}", logging.WARNING,
                "training %d %r configurations as one population failed (%s); training them one at a time",
                len(members), model, failure_reason(exc),
            )
            if self.pruner is not None:
                for index, _ in members:
                    self.pruner.forget(index)
            return [self._trial(index, candidate) for index, candidate in members]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        duration = round(time.perf_counter() - start, 3)
        results = []
        for record, outcome, hook in zip(records, outcomes, hooks):
            fit = self._settle(record, outcome, hook, True)
            record.duration_s, record.population = duration, len(members)
            results.append((record, fit))
        return results

    def _pruning_group(self, model: str) -> str | None:
        """Which trials a trial's rungs compare with: its model's (``pruning.per_model``) or all of them (None)."""
        return model if self.config.pruning.per_model else None

    def _epoch_hook(self, index: int, report: bool, model: str) -> "EpochHook":
        # Retraining a recorded trial (report=False) is selection's: its epochs are phase "selection", and it
        # does not meet the pruner again. A worker process forwards its events to the run's process.
        wanted = self.reporters.wants_epochs()
        phase = "search" if report else "selection"
        return EpochHook(
            self, index, self.pruner if report else None, emit=wanted and not self._remote,
            forward=wanted and self._remote, phase=phase, group=self._pruning_group(model),
        )

    def _settle(
        self, record: TrialRecord, outcome: "FitResult | BaseException", on_epoch: "EpochHook", report: bool
    ) -> FitResult | None:
        """Fill a trial's record from what its training returned (a fit, or the exception that ended it)."""
        import torch

        fit = None
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            fit = outcome
            if fit.val_score is None or not math.isfinite(fit.val_score):
                raise RunError(f"validation score is {fit.val_score} (diverged training?)")
            record.val_score = float(fit.val_score)
            record.train_score = None if fit.train_score is None else float(fit.train_score)
            record.best_epoch, record.epochs = int(fit.best_epoch), int(fit.epochs)
            if on_epoch.stopped_at is not None:  # the trainer stopped where the pruner asked it to
                record.status, record.pruned_at = "pruned", on_epoch.stopped_at
        except Exception as exc:  # one trial's failure never ends the search
            record.status = "failed"
            record.error = failure_reason(exc)
            log.warning("trial %d (%s) failed: %s", record.trial, record.model, record.error)
            log.debug("trial %d traceback", record.trial, exc_info=exc)
            fit = None
        if fit is None and torch.cuda.is_available():
            torch.cuda.empty_cache()  # an out-of-memory trial must not starve the next one
        record.curve = list(on_epoch.curve)
        if report and self.pruner is not None:  # failed trials too: their rung values count for later trials
            record.rungs = {str(rung): value for rung, value in self.pruner.rungs_of(record.trial).items()}
            self.pruner.forget(record.trial)
        return fit

    def _say_once(self, key: str, level: int, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.log(level, message, *args)

    def _build_model(self, name: str, params: Mapping[str, Any], task_params: Mapping[str, Any]) -> Any:
        """The trial's model: the task builds it around the model plugin's encoder."""
        factory = self.engine.component("models", name).factory

        def encoder(in_channels: int, out_channels: int) -> Any:
            return factory(in_channels, out_channels, **params)

        return self.task.build(encoder, self._data_for(task_params).sizes, dict(task_params))

    def _data_for(self, task_params: Mapping[str, Any]) -> Any:
        """The run's data with a trial's feature choice applied (:mod:`autoglm.core.features`), once per choice."""
        if features.is_default(task_params):
            return self.data
        if not isinstance(self.task, FeaturedTask):
            raise RunError(f"task {self.config.task.name!r} cannot apply feature choices (it has no with_features)")
        key = features.choice_of(task_params)
        if key not in self._featured:
            started = time.perf_counter()
            self._featured[key] = self.task.with_features(self.data, features.transform_for(task_params))
            log.info("features: preprocess=%s structural=%s computed in %.1fs", *key, time.perf_counter() - started)
        return self._featured[key]

    def _ranks_above(self, record: TrialRecord, other: TrialRecord) -> bool:
        """The leaderboard's order: the better objective first, the earlier trial on a tie."""
        utility = self.objective.utility
        return (utility(record.val_score), -record.trial) > (utility(other.val_score), -other.trial)

    # -- the end ---------------------------------------------------------

    def _summary(self, started_at: str, started: float, status: str = "ok") -> RunSummary:
        return RunSummary(
            status=status,
            task=self.config.task.name,
            objective=self.objective.to_dict(),
            seed=self.seed,
            started_at=started_at,
            trials={"total": len(self.records)} | {s: sum(r.status == s for r in self.records) for s in STATUSES}
            | ({"repeated": repeated} if (repeated := sum(r.duplicate_of is not None for r in self.records)) else {}),
            pruning=self._pruning_summary(),
            dataset=dict(self.sizes),
            tuner={"name": self.config.tuner.name, **_describe(self.tuner)},
            versions=versions(),
            wall_time_s=round(time.perf_counter() - started, 2),
        )

    def _stopped(self, status: str, reason: str, summary: RunSummary | None = None) -> None:
        """Tell the reporters the run ends unfinished (once, however it ends)."""
        if not self._stop_told:
            self._stop_told = True
            stop = RunStopped(status, reason, self.run_dir.path, list(self.records), summary)
            self.reporters.emit("on_run_stopped", stop=stop)

    def _pruning_summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.config.pruning.to_dict()
        if self.pruner is not None and self.pruner.max_epochs is not None:
            summary["rungs"] = self.pruner.rung_epochs()
        return summary

    def _finish(self, started: float, started_at: str) -> RunResult:
        self.run_dir.write_leaderboard(self.records, self.objective)
        summary = self._summary(started_at, started)
        if self._best is None:
            reasons = sorted({r.error or "unknown" for r in self.records})
            summary.status, summary.reasons = "failed", reasons
            self.run_dir.write_json(SUMMARY, summary.to_dict())
            detail = "; ".join(reasons[:3]) if reasons else "the tuner proposed no trial"
            message = f"every trial failed ({len(self.records)} of {len(self.records)}): {detail}"
            self._stopped("failed", message, summary)
            raise RunError(message)

        chosen, compared = self._select()
        try:
            ensemble = self._ensemble(chosen, compared)  # fit on the validation split only, before any test
        except Exception as exc:  # an ensemble is an extra: its failure leaves the single best's report
            log.warning("ensemble: could not be built or scored (%s); reporting the single best", failure_reason(exc))
            ensemble = None
        self.reporters.emit("on_selection", selection=SelectionReport(
            chosen.record.trial, self.objective.metric, [c.to_dict() for c in compared], list(self._skipped),
        ))
        for run in chosen.runs:  # test is touched here only, for the selected configuration (and the ensemble)
            if run.ok:
                run.test_score = self._test(chosen.record, run.state_dict)[0]
        test_mean, test_std = mean_std([run.test_score for run in chosen.runs])
        if ensemble is not None:
            module, report = ensemble
            report["test_score"] = self._split_score(module, chosen.record, "test")
            report["single_best_test_score"] = test_mean
            log.info(
                "ensemble of %d models: test %s %.4f (the selected configuration alone: %.4f)",
                len(report["members"]), self.objective.metric, report["test_score"], test_mean,
            )
        kept = chosen.kept_run()
        best = chosen.record
        kept_score, predicted = self._test(best, kept.state_dict, predictions=True)
        self.run_dir.write_predictions(predicted.header, predicted.rows)
        save_best_model(
            self.run_dir,
            kept.state_dict,
            {
                "task": self.config.task.to_dict(),
                "task_params": best.task_params,
                "sizes": {k: v for k, v in self._data_for(best.task_params).sizes.items() if _plain(v)},
                "model": best.model,
                "model_params": best.model_params,
                "owner": str(self.engine.component("models", best.model).owner),
                "trial": best.trial,
                "seed": kept.seed,
            },
        )
        cross_validation = self._cross_validate(best)
        wall = round(time.perf_counter() - started, 2)
        seeds = sum(run.ok for run in chosen.runs)
        summary.best = self._best_entry(best) | {"val_mean": chosen.val_mean, "val_std": chosen.val_std}
        summary.test = {
            "metric": self.objective.metric,
            "score": test_mean,
            "score_std": test_std,
            "seeds": seeds,
            "saved_model_score": kept_score,
            "rows": predicted.counts().get("test", 0),
        } | ({"cross_validation": cross_validation} if cross_validation else {})
        summary.predictions = {"rows": len(predicted.rows), "splits": predicted.counts()}
        summary.selection = self.config.selection.to_dict() | {
            "contenders": [c.to_dict() for c in compared], "not_retrained": self._skipped,
        } | ({"ensemble_result": ensemble[1]} if ensemble is not None else {})
        summary.wall_time_s = wall
        if self.config.time_budget is not None:
            summary.time_budget = {
                "seconds": self.config.time_budget, "wall_s": wall, "stopped_by": "time" if self._time_up is not None else "trials",
            } | ({"stopped_at_s": round(self._time_up, 2)} if self._time_up is not None else {})
        self.run_dir.write_json(SUMMARY, summary.to_dict())
        result = RunResult(
            self.run_dir.path, best, test_mean, list(self.records), self.seed, wall, summary,
            test_std=test_std, test_seeds=seeds, objective=self.objective, cross_validation=cross_validation,
        )
        self.reporters.emit("on_run_end", result=result)
        return result

    def _cross_validate(self, record: TrialRecord) -> dict[str, Any] | None:
        """Score the selected configuration on each of the task's folds (when it has any), trained afresh on each.

        The folds are spread over the workers when there are several (each worker
        makes the same folds from the data and the run's seed).
        """
        folds = self._folds(record.task_params)
        if not folds:
            return None
        log.info("cross-validation: training trial %d's configuration on %d folds", record.trial, len(folds))
        remote = self._pool.remote
        units = [
            _Unit([(record.trial, _candidate_of(record))], None, remote, [reseed(self.seed, record.trial, 1000 + k)], fold=k)
            for k in range(len(folds))
        ]
        outcomes: dict[int, tuple[float | None, str | None]] = {}
        for index, result in self._pool.map_unordered(units):
            outcomes[index] = (None, str(result)) if isinstance(result, WorkerLost) else result[0][0]
        scores = [outcomes[k][0] for k in range(len(folds))]
        errors = [f"fold {k}: {outcomes[k][1]}" for k in range(len(folds)) if outcomes[k][1]]
        for error in errors:
            log.warning("cross-validation %s", error)
        mean, std = mean_std(scores)
        log.info("cross-validation: test %s %.4f ± %.4f over %d folds", self.objective.metric, mean, std, len(folds))
        return {"folds": len(folds), "mean": mean, "std": std, "scores": scores} | ({"errors": errors} if errors else {})

    def _folds(self, task_params: Mapping[str, Any]) -> list[Any]:
        """The task's cross-validation folds of this run's data, with a feature choice (made once per process)."""
        key = features.choice_of(task_params)
        if key not in self._cv_folds:
            task, data = self.task, self._data_for(task_params)
            self._cv_folds[key] = task.folds_of(data, seed=self.seed) if isinstance(task, CrossValidatedTask) else []
        return self._cv_folds[key]

    def _fold_score(self, unit: "_Unit") -> tuple[float | None, str | None]:
        """Train one configuration on fold ``unit.fold`` and score its test part: (score, None) or (None, why)."""
        (_, candidate), = unit.members
        fold = self._folds(candidate.task_params)[unit.fold]
        try:
            seed_everything(unit.seeds[0])
            model = self._build_model(candidate.model, candidate.model_params, candidate.task_params)
            self.trainer.fit(model, fold, dict(candidate.train_params), None, task=self.task)
            key = f"test_{self.objective.metric}"
            return self.trainer.evaluate(model, fold, lambda m, d: float(self.task.evaluate(m, d, ("test",))[key])), None
        except Exception as exc:  # one fold's failure is recorded; the others still count
            return None, failure_reason(exc)

    def _best_entry(self, best: TrialRecord) -> dict[str, Any]:
        return {
            "trial": best.trial,
            "model": best.model,
            "model_params": best.model_params,
            "train_params": best.train_params,
            "task_params": best.task_params,
            "metric": self.objective.metric,
            "val_score": best.val_score,
            "best_epoch": best.best_epoch,
        }

    def _select(self) -> tuple[Contender, list[Contender]]:
        """Re-train the best configurations with fresh seeds and choose by mean validation score.

        The best search trial's configuration is re-trained first; its seeds' spread is the noise band. A
        contender whose search score lies farther below that configuration's mean than ``noise_band``
        standard deviations is not re-trained (seed noise cannot explain the gap), so the time goes to
        configurations that could still win.
        """
        spec = self.config.selection
        best_record, best_state = self._best
        top = contenders(self.records, spec.top_k, self.objective) if spec.enabled else [best_record]
        self._skipped = []
        compared = [self._contender(top[0], best_record, best_state, self._retrain_all(self._seed_jobs(top[:1])))]
        if spec.enabled and len(top) > 1:
            leader = compared[0]
            floor = self.objective.utility(leader.val_mean) - spec.noise_band * leader.val_std
            close = [r for r in top[1:] if self.objective.utility(r.val_score) >= floor or math.isnan(floor)]
            for record in top[1:]:
                if record not in close:
                    self._skipped.append({
                        "trial": record.trial, "model": record.model, "val_score": record.val_score,
                        "reason": f"{record.val_score:.4f} is outside the noise band of trial {leader.record.trial} "
                        f"({leader.val_mean:.4f} ± {spec.noise_band:g} × {leader.val_std:.4f})",
                    })
            close = self._fit_in_time(close)
            retrained = self._retrain_all(self._seed_jobs(close))
            compared += [self._contender(record, best_record, best_state, retrained) for record in close]
        if spec.enabled:
            log.info(
                "selection: comparing %s", "; ".join(
                    f"trial {c.record.trial} ({c.record.model}) mean {c.val_mean:.4f} ± {c.val_std:.4f} over "
                    f"{sum(r.ok for r in c.runs)} seeds" for c in compared
                ),
            )
            for skipped in self._skipped:
                log.info("selection: trial %d (%s) not re-trained: %s", skipped["trial"], skipped["model"], skipped["reason"])
        chosen = choose(compared)
        for run in chosen.runs:
            if run.ok and run.state_dict is None:  # the trial's own weights were not kept: its seed rebuilds them
                run.state_dict = self._retrain(chosen.record, run.k, run.seed).state_dict
        return chosen, compared

    def _ensemble(self, chosen: Contender, compared: list[Contender]) -> tuple[Any, dict[str, Any]] | None:
        """Selection's ensemble: the re-trained models of the best ``ensemble`` contenders combined by the task,
        weighted equally or by greedy selection on the validation split; nothing here touches the test split.

        Members share the selected configuration's feature choice (one input for all of them).
        """
        spec = self.config.selection
        if spec.ensemble < 2:
            return None
        if isinstance(self.trainer, MiniBatchTrainer) and self.trainer.batching_for(self.data) == "mini":
            log.info("ensemble: skipped under mini-batch training (members are scored on whole graphs only)")
            return None
        if not isinstance(self.task, EnsemblingTask):
            log.warning("ensemble: task %r cannot combine models (no ensemble()); reporting the single best", self.config.task.name)
            return None
        ranked = sorted(compared, key=lambda c: (self.objective.utility(c.val_mean), -c.record.trial), reverse=True)
        choice = features.choice_of(chosen.record.task_params)
        members = [
            (c.record, run) for c in ranked[: spec.ensemble] if features.choice_of(c.record.task_params) == choice
            for run in c.runs if run.ok and run.state_dict is not None
        ]
        if len(members) < 2:
            log.info("ensemble: fewer than two re-trained models to combine; reporting the single best")
            return None
        models = [self._loaded(record, run.state_dict) for record, run in members]
        if spec.ensemble_weights == "greedy":
            weights = self._greedy_weights(models, chosen.record)
        else:
            weights = [1.0] * len(models)
        module = self.task.ensemble(models, weights)
        total = sum(weights)
        report = {
            "weights": spec.ensemble_weights,
            "members": [
                {"trial": record.trial, "model": record.model, "seed": run.seed, "weight": round(w / total, 6)}
                for (record, run), w in zip(members, weights)
            ],
            "val_score": self._split_score(module, chosen.record, "val"),
            "single_best_val_mean": chosen.val_mean,
        }
        log.info("ensemble of %d models (%s weights): val %s %.4f", len(members), spec.ensemble_weights,
                 self.objective.metric, report["val_score"])
        return module, report

    def _greedy_weights(self, models: list[Any], record: TrialRecord) -> list[float]:
        """Caruana et al.'s ensemble selection (2004), with replacement, on the validation split: as many rounds
        as members, each adding the member that most improves the ensemble's validation score; the best
        ensemble of any round is kept (so it scores at least as well as its best member on validation)."""
        counts = [0] * len(models)
        kept: tuple[float, list[int]] | None = None
        for _ in range(len(models)):
            best: tuple[float, int] | None = None
            for index in range(len(models)):
                trial = [c + (i == index) for i, c in enumerate(counts)]
                score = self.objective.utility(self._split_score(self.task.ensemble(models, trial), record, "val"))
                if best is None or score > best[0]:
                    best = (score, index)
            counts[best[1]] += 1
            if kept is None or best[0] > kept[0]:
                kept = (best[0], list(counts))
        return [float(c) for c in kept[1]]

    def _loaded(self, record: TrialRecord, state_dict: Mapping[str, Any]) -> Any:
        model = self._build_model(record.model, record.model_params, record.task_params)
        model.load_state_dict(state_dict)
        return model

    def _split_score(self, model: Any, record: TrialRecord, split: str) -> float:
        """The objective's metric of ``model`` on one split of the data ``record`` trained on."""
        key = f"{split}_{self.objective.metric}"
        return self.trainer.evaluate(
            model, self._data_for(record.task_params), lambda m, d: float(self.task.evaluate(m, d, (split,))[key])
        )

    def _seed_jobs(self, records: list[TrialRecord]) -> list[tuple[TrialRecord, int, int]]:
        seeds = self.config.selection.seeds
        return [(record, k, reseed(self.seed, record.trial, k)) for record in records for k in range(1, seeds)]

    def _contender(
        self, record: TrialRecord, best_record: TrialRecord, best_state: Any, retrained: dict[tuple[int, int], SeedRun]
    ) -> Contender:
        kept = best_state if record.trial == best_record.trial else self._contender_weights.get(record.trial)
        runs = [SeedRun(0, record.seed, record.val_score, kept)]
        runs += [retrained[(record.trial, k)] for k in range(1, self.config.selection.seeds)]
        return Contender(record, runs, self.objective)

    def _retrain_all(self, jobs: list[tuple[TrialRecord, int, int]]) -> dict[tuple[int, int], SeedRun]:
        """Re-train (record, k, seed) jobs, spread over the workers when there are several."""
        remote = self._pool is not None and self._pool.remote
        if not remote:
            return {(record.trial, k): self._retrain(record, k, seed) for record, k, seed in jobs}
        units = [
            _Unit([(record.trial, _candidate_of(record))], None, True, [seed])
            for record, _, seed in jobs
        ]
        by_seed = {(record.trial, seed): k for record, k, seed in jobs}
        done: dict[tuple[int, int], SeedRun] = {}
        for index, outcome in self._pool.map_unordered(units):
            if isinstance(outcome, WorkerLost):
                (trial, candidate), = units[index].members
                results, epochs = [self._lost(trial, candidate, outcome, seed=units[index].seeds[0])], []
            else:
                results, epochs = outcome
            for again, fit in results:
                k = by_seed[(again.trial, again.seed)]
                self._emit_forwarded(epochs, again.trial)
                done[(again.trial, k)] = self._seed_run(again, fit, k)
        return done

    def _retrain(self, record: TrialRecord, k: int, seed: int) -> SeedRun:
        again, fit = self._trial(record.trial, _candidate_of(record), report=False, seed=seed)
        return self._seed_run(again, fit, k)

    @staticmethod
    def _seed_run(again: TrialRecord, fit: FitResult | None, k: int) -> SeedRun:
        if fit is None:
            log.warning("selection: trial %d with seed %d failed: %s", again.trial, again.seed, again.error)
            return SeedRun(k, again.seed, None, None, again.error)
        return SeedRun(k, again.seed, again.val_score, fit.state_dict)

    def _test(
        self, record: TrialRecord, state_dict: Mapping[str, Any] | None, *, predictions: bool = False
    ) -> tuple[float, Any]:
        """The objective's metric on the test split for one set of weights (and the task's prediction rows)."""
        model = self._loaded(record, state_dict)
        key = f"test_{self.objective.metric}"

        def score(model: Any, data: Any) -> tuple[float, Any]:
            value = float(self.task.evaluate(model, data, ("test",))[key])
            if not predictions:
                return value, None
            if isinstance(self.task, PredictingTask):  # every item, with its split
                return value, self.task.predict(model, data)
            header, rows = self.task.predictions(model, data, "test")
            return value, Predictions(list(header), list(rows), None, None, ["test"] * len(rows))

        return self.trainer.evaluate(model, self._data_for(record.task_params), score)


class _Forwarding:
    """A worker's stand-in for the run's reporters: it fires nothing (epoch events travel back to the run)."""

    def __init__(self, wants_epochs: bool) -> None:
        self._wants = wants_epochs

    def wants_epochs(self) -> bool:
        return self._wants

    def emit(self, event: str, **kwargs: Any) -> None:  # pragma: no cover - workers emit nothing
        pass


@dataclass
class _Round:
    """Candidates asked together (trial number, candidate), and those already finished (on resume)."""

    asked: list[tuple[int, Candidate]]
    known: dict[int, TrialRecord]


@dataclass
class _Unit:
    """What one worker trains at once: one trial, or a population of one architecture."""

    members: list[tuple[int, Candidate]]
    #: The pruner as of the round's start, for a worker process (None: in this process, use the runner's).
    pruner: SuccessiveHalvingPruner | None
    remote: bool
    #: Selection's re-training: the seed of each member (None: a search trial, with its trial seed).
    seeds: list[int] | None = None
    #: Cross-validation: the fold to train and test on (None: not a fold).
    fold: int | None = None


def _candidate_of(record: TrialRecord) -> Candidate:
    """The proposal a record was trained from (to train it again)."""
    return Candidate(record.model, dict(record.model_params), dict(record.train_params), task_params=dict(record.task_params))




def _plain(value: Any) -> bool:
    """A JSON scalar, or a list of strings (a task's class names): what best_model.json keeps of the sizes."""
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return isinstance(value, (int, float, str, bool))


def _check_same_data(recorded: Mapping[str, Any], now: Mapping[str, Any], run_dir: Path) -> None:
    """A resume must train on the data the run started with: a loader's checksum that changed stops it."""
    before, after = recorded.get("checksum"), now.get("checksum")
    if before and after and before != after:
        raise DataError(
            f"cannot resume {str(run_dir)!r}: the data changed since the run started (checksum {str(before)[:12]}, "
            f"now {str(after)[:12]}); put the original data back, or start a new run on the new data"
        )


def _describe(component: Any) -> dict[str, Any]:
    """A component's optional ``describe()``: facts decided at run time (the optimizer used, the dataset's name)."""
    return dict(component.describe()) if isinstance(component, Describable) else {}


def versions() -> dict[str, str | None]:
    import importlib.metadata

    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("autoglm", "torch", "torch-geometric", "nevergrad", "numpy", "pluggy"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found
