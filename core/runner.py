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
reports each epoch's validation accuracy, and a trial that trails the earlier
ones at a rung is stopped there and recorded ``pruned``. Its partial score goes
to the tuner but it is never selected. Every record keeps the rung values its
trial reached, and resume feeds them back to a fresh pruner in order, so the
decisions of a resumed run are those of an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import platform
import random
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NoReturn

from autoglm.core.artifacts import save_best_model
from autoglm.core.config import RunConfig
from autoglm.core.errors import AutoglmError, DataError, RunError, RunInterrupted
from autoglm.core.graph import check_graph
from autoglm.core.protocols import Candidate, FitResult
from autoglm.core.pruning import SuccessiveHalvingPruner
from autoglm.core.reporting import ReporterGroup
from autoglm.core.results import RunInfo, RunResult, TrialRecord, leaderboard
from autoglm.core.rundir import LEADERBOARD, SUMMARY, RunDirectory
from autoglm.core.selection import Contender, SeedRun, choose, contenders, mean_std, reseed

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.engine import Engine

log = logging.getLogger(__name__)

#: Statuses of trials that ended on their own; anything else (``interrupted``) runs again on resume.
FINISHED = ("ok", "pruned", "failed")
#: Every status a trial record can have, in the order summaries count them.
STATUSES = ("ok", "pruned", "failed", "interrupted")


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
        resume: bool = False,
        extra_reporters: list[Any] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        if config.seed is None:
            config.seed = secrets.randbelow(2**31)
        if output is not None:
            config.output = str(output)
        if config.output is None:
            config.output = default_output(config)
        self.seed: int = config.seed
        self.run_dir = RunDirectory(config.output)
        self.overwrite = overwrite
        self.resume = resume
        self.extra_reporters = extra_reporters or []
        self.records: list[TrialRecord] = []
        #: The best finished trial and its weights (on the CPU).
        self._best: tuple[TrialRecord, Mapping[str, Any]] | None = None
        #: (trial number, candidate, start time) of the trial being trained, for Ctrl-C.
        self._running: tuple[int, Candidate, float] | None = None
        #: One pruner per run (None: pruning is off); built with the trainer, which may know its max_epochs.
        self.pruner: SuccessiveHalvingPruner | None = None
        #: Things about the trainer's epoch callbacks worth saying once per run, not once per trial.
        self._warned: set[str] = set()

    # -- setup -----------------------------------------------------------

    def _build(self) -> None:
        components = self.engine.build_components(self.config)
        self.trainer, self.tuner, self.loader = components.trainer, components.tuner, components.data_loader
        extra = [(f"host#{i}", r) for i, r in enumerate(self.extra_reporters)]
        self.reporters = ReporterGroup(components.reporters + extra)
        settings = self.config.pruning
        if settings.enabled:
            max_epochs = getattr(self.trainer, "max_epochs", None)
            if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
                max_epochs = None  # unknown: rungs go on for as long as the trainer does
            self.pruner = SuccessiveHalvingPruner(
                settings.min_epochs, settings.reduction_factor, settings.min_trials, max_epochs=max_epochs
            )

    def _load_data(self) -> tuple[Any, dict[str, int]]:
        name = self.config.data.name
        try:
            data = self.loader.load()
        except AutoglmError:
            raise
        except Exception as exc:
            raise DataError(f"data loader {name!r} failed: {type(exc).__name__}: {exc}") from exc
        return data, check_graph(data, source=name)

    # -- the run ---------------------------------------------------------

    def run(self) -> RunResult:
        started = time.perf_counter()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._build()
        if self.resume:
            self.run_dir.require_run()
        else:
            self.run_dir.create(overwrite=self.overwrite)
        # The config is written only once the data loaded: a directory left by a failed
        # load holds no run, so the corrected command needs no --overwrite.
        data, sizes = self._load_data()
        self.data, self.sizes = data, sizes
        resolved = self.config.to_dict()
        if not self.resume:
            self.run_dir.write_config(resolved)
        log.info("run directory: %s (seed %d)", self.run_dir.path, self.seed)
        self.tuner.setup(self.engine.search_space(self.config), seed=self.seed)
        kept = self._restore() if self.resume else 0
        info = RunInfo(self.run_dir.path, resolved, self.seed, int(self.tuner.budget), sizes, resumed_trials=kept)
        self.reporters.emit("on_run_start", info)
        try:
            try:
                self._search()
            except KeyboardInterrupt:
                self._stop(started, started_at)
            try:
                return self._finish(started, started_at)
            except KeyboardInterrupt:
                raise RunInterrupted(
                    "run interrupted while writing its results; every trial is done and kept. "
                    f"Finish it with: autoglm run --resume {self.run_dir.path}"
                ) from None
        finally:
            self.reporters.close()

    def _search(self) -> None:
        while True:
            candidate = self.tuner.ask()
            if candidate is None:
                break
            index = len(self.records) + 1
            self._running = (index, candidate, time.perf_counter())
            self.reporters.emit("on_trial_start", index, candidate)
            record, fit = self._trial(index, candidate)
            self._keep(record, fit)
            self.tuner.tell(candidate, record.val_score if record.scored else None)
            self.reporters.emit("on_trial_end", record)

    def _keep(self, record: TrialRecord, fit: FitResult | None) -> None:
        """Make a finished trial durable: its record first, then (if it is the best) its weights."""
        self.records.append(record)
        self.run_dir.append_trial(record)
        self._running = None
        if record.ok and fit is not None and (self._best is None or record.val_score > self._best[0].val_score):
            self._best = (record, fit.state_dict)
            self.run_dir.save_checkpoint(record.trial, fit.state_dict)

    # -- resume and interrupt --------------------------------------------

    def _restore(self) -> int:
        """Replay the finished trials into the (freshly set up) tuner; return how many were kept."""
        found = self.run_dir.read_trials()
        finished = [r for r in found if r.status in FINISHED]
        for position, record in enumerate(finished, start=1):
            if record.trial != position:
                raise RunError(
                    f"cannot resume {str(self.run_dir.path)!r}: trials.jsonl holds trial {record.trial} "
                    f"where trial {position} belongs; the file was edited or damaged"
                )
            candidate = self.tuner.ask()
            if candidate is None or not same_candidate(candidate, record):
                proposed = "nothing (budget spent)" if candidate is None else _point(candidate.model, candidate.model_params, candidate.train_params)
                raise RunError(
                    f"cannot resume {str(self.run_dir.path)!r}: replaying trial {position}, tuner "
                    f"{self.config.tuner.name!r} proposed {proposed} but the run recorded "
                    f"{_point(record.model, record.model_params, record.train_params)}; the tuner does not repeat "
                    "itself for this seed (were nevergrad or numpy upgraded since the run started?). "
                    "Start a new run instead"
                )
            self.tuner.tell(candidate, record.val_score if record.scored else None)
            if self.pruner is not None:
                self.pruner.record(record.rungs)
            self.records.append(record)
        self.run_dir.rewrite_trials(finished)  # drops interrupted records and a torn last line
        best = next((r for r in leaderboard(finished) if r.ok), None)
        if best is not None:
            self._best = (best, self._best_weights(best))
        log.info(
            "resuming %s: %d finished trial(s) kept, %d dropped to run again",
            self.run_dir.path, len(finished), len(found) - len(finished),
        )
        return len(finished)

    def _best_weights(self, best: TrialRecord) -> Mapping[str, Any]:
        state = self.run_dir.load_checkpoint(best.trial)
        if state is not None:
            return state
        # Killed between the record and its checkpoint: the trial's own seed rebuilds it.
        log.warning("no checkpoint of the best trial %d; retraining it with its recorded seed", best.trial)
        candidate = Candidate(best.model, dict(best.model_params), dict(best.train_params))
        again, fit = self._trial(best.trial, candidate, report=False)
        if fit is None:
            raise RunError(f"cannot resume: retraining the best trial {best.trial} failed: {again.error}")
        if again.val_score != best.val_score:
            log.warning("retrained trial %d scored %.4f (recorded %.4f)", best.trial, again.val_score, best.val_score)
        self.run_dir.save_checkpoint(best.trial, fit.state_dict)
        return fit.state_dict

    def _stop(self, started: float, started_at: str) -> NoReturn:
        """Ctrl-C: mark the running trial, write what is known so far, say how to resume."""
        if self._running is not None:
            index, candidate, began = self._running
            self._running = None
            record = self._new_record(index, candidate, status="interrupted")
            record.duration_s = round(time.perf_counter() - began, 3)
            record.error = "interrupted before it finished; it runs again on resume"
            self.records.append(record)
            self.run_dir.append_trial(record)
        self.run_dir.write_leaderboard(self.records)
        summary = self._summary(started_at)
        summary.update(status="interrupted", wall_time_s=round(time.perf_counter() - started, 2))
        if self._best is not None:
            summary["best"] = _best_entry(self._best[0])
        self.run_dir.write_json(SUMMARY, summary)
        finished = sum(r.status in FINISHED for r in self.records)
        where = str(self.run_dir.path)
        raise RunInterrupted(
            f"run interrupted after {finished} of {self.tuner.budget} trials; finished trials are kept and the "
            f"leaderboard so far is in {str(self.run_dir / LEADERBOARD)!r}. Resume with: autoglm run --resume {where}"
        )

    def _new_record(self, index: int, candidate: Candidate, *, status: str, seed: int | None = None) -> TrialRecord:
        return TrialRecord(
            trial=index,
            status=status,
            model=candidate.model,
            model_params=dict(candidate.model_params),
            train_params=dict(candidate.train_params),
            seed=trial_seed(self.seed, index) if seed is None else seed,
        )

    def _trial(
        self, index: int, candidate: Candidate, *, report: bool = True, seed: int | None = None
    ) -> tuple[TrialRecord, FitResult | None]:
        """Train one candidate. ``report=False`` (re-training a recorded trial, possibly with another
        ``seed``) emits no events and does not meet the pruner."""
        import torch

        record = self._new_record(index, candidate, status="ok", seed=seed)
        seed = record.seed
        start = time.perf_counter()
        fit = None
        # Retraining a recorded trial (report=False) must neither emit events nor meet the pruner again.
        on_epoch = _EpochHook(self, index, self.pruner if report else None, report and self.reporters.wants_epochs())
        try:
            torch.manual_seed(seed)
            model = self._build_model(candidate.model, candidate.model_params)
            fit = self.trainer.fit(model, self.data, dict(candidate.train_params), on_epoch)
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
            log.warning("trial %d (%s) failed: %s", index, candidate.model, record.error)
            log.debug("trial %d traceback", index, exc_info=True)
            fit = None
        if fit is None and torch.cuda.is_available():
            torch.cuda.empty_cache()  # an out-of-memory trial must not starve the next one
        if report and self.pruner is not None:  # failed trials too: their rung values count for later trials
            record.rungs = {str(rung): value for rung, value in self.pruner.rungs_of(index).items()}
        record.duration_s = round(time.perf_counter() - start, 3)
        return record, fit

    def _say_once(self, key: str, level: int, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.log(level, message, *args)

    def _build_model(self, name: str, params: dict[str, Any]) -> Any:
        component = self.engine.component("models", name)
        return component.factory(self.sizes["num_features"], self.sizes["num_classes"], **params)

    # -- the end ---------------------------------------------------------

    def _summary(self, started_at: str) -> dict[str, Any]:
        return {
            "status": "ok",
            "task": self.config.task,
            "seed": self.seed,
            "started_at": started_at,
            "trials": {"total": len(self.records)}
            | {status: sum(r.status == status for r in self.records) for status in STATUSES},
            "pruning": self._pruning_summary(),
            "dataset": {"name": self.config.data.name, **self.sizes},
            "tuner": {"name": self.config.tuner.name, **_describe(self.tuner)},
            "versions": versions(),
        }

    def _pruning_summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.config.pruning.to_dict()
        if self.pruner is not None and self.pruner.max_epochs is not None:
            summary["rungs"] = self.pruner.rung_epochs()
        return summary

    def _finish(self, started: float, started_at: str) -> RunResult:
        board = leaderboard(self.records)
        self.run_dir.write_leaderboard(board)
        summary = self._summary(started_at)
        if self._best is None:
            reasons = sorted({r.error or "unknown" for r in self.records})
            summary.update(status="failed", wall_time_s=round(time.perf_counter() - started, 2), reasons=reasons)
            self.run_dir.write_json(SUMMARY, summary)
            detail = "; ".join(reasons[:3]) if reasons else "the tuner proposed no trial"
            raise RunError(f"every trial failed ({len(self.records)} of {len(self.records)}): {detail}")

        chosen, compared = self._select()
        for run in chosen.runs:  # test is touched here only, for the selected configuration
            if run.ok:
                run.test_accuracy = self._test_predictions(chosen.record, run.state_dict)[0]
        test_mean, test_std = mean_std([run.test_accuracy for run in chosen.runs])
        kept = chosen.kept_run()
        best = chosen.record
        kept_accuracy, predictions = self._test_predictions(best, kept.state_dict)
        self.run_dir.write_predictions(predictions)
        save_best_model(
            self.run_dir,
            kept.state_dict,
            {
                "model": best.model,
                "model_params": best.model_params,
                "in_channels": self.sizes["num_features"],
                "out_channels": self.sizes["num_classes"],
                "owner": str(self.engine.component("models", best.model).owner),
                "trial": best.trial,
                "seed": kept.seed,
            },
        )
        wall = round(time.perf_counter() - started, 2)
        seeds = sum(run.ok for run in chosen.runs)
        summary.update(
            best=_best_entry(best) | {"val_mean": chosen.val_mean, "val_std": chosen.val_std},
            test={
                "accuracy": test_mean,
                "accuracy_std": test_std,
                "seeds": seeds,
                "saved_model_accuracy": kept_accuracy,
                "num_nodes": len(predictions),
            },
            selection=self.config.selection.to_dict() | {"contenders": [c.to_dict() for c in compared]},
            wall_time_s=wall,
        )
        self.run_dir.write_json(SUMMARY, summary)
        result = RunResult(
            self.run_dir.path, best, test_mean, list(self.records), self.seed, wall, summary, test_std=test_std, test_seeds=seeds
        )
        self.reporters.emit("on_run_end", result)
        return result

    def _select(self) -> tuple[Contender, list[Contender]]:
        """Re-train the best configurations with fresh seeds and choose by mean validation score."""
        spec = self.config.selection
        best_record, best_state = self._best
        top = contenders(self.records, spec.top_k) if spec.enabled else [best_record]
        if spec.enabled:
            log.info("selection: re-training the top %d configuration(s) with %d more seed(s) each", len(top), spec.seeds - 1)
        compared = []
        for record in top:
            kept = best_state if record.trial == best_record.trial else None
            runs = [SeedRun(0, record.seed, record.val_score, kept)]
            runs += [self._retrain(record, k, reseed(self.seed, record.trial, k)) for k in range(1, spec.seeds)]
            compared.append(Contender(record, runs))
        chosen = choose(compared)
        for run in chosen.runs:
            if run.ok and run.state_dict is None:  # the trial's own weights were not kept: its seed rebuilds them
                run.state_dict = self._retrain(chosen.record, run.k, run.seed).state_dict
        return chosen, compared

    def _retrain(self, record: TrialRecord, k: int, seed: int) -> SeedRun:
        candidate = Candidate(record.model, dict(record.model_params), dict(record.train_params))
        again, fit = self._trial(record.trial, candidate, report=False, seed=seed)
        if fit is None:
            log.warning("selection: trial %d with seed %d failed: %s", record.trial, seed, again.error)
            return SeedRun(k, seed, None, None, again.error)
        return SeedRun(k, seed, again.val_score, fit.state_dict)

    def _test_predictions(
        self, record: TrialRecord, state_dict: Mapping[str, Any] | None
    ) -> tuple[float, list[tuple[int, int, int, float]]]:
        """Test accuracy of one set of weights, and its (node, truth, prediction, confidence) rows."""
        import torch

        model = self._build_model(record.model, record.model_params)
        model.load_state_dict(state_dict)
        scores = self.trainer.predict(model, self.data).detach().cpu()
        test_mask = self.data.test_mask.cpu()
        confidence, pred = torch.softmax(scores.float(), dim=-1).max(dim=-1)
        y = self.data.y.cpu()
        accuracy = float((pred[test_mask] == y[test_mask]).float().mean())
        rows = [(n, int(y[n]), int(pred[n]), float(confidence[n])) for n in test_mask.nonzero().view(-1).tolist()]
        return accuracy, rows


class _EpochHook:
    """The ``on_epoch`` a trainer gets for one trial: the reporters' epoch event, then the pruner's verdict.

    Returns True when the pruner wants the trial stopped. The trial counts as
    pruned only if the trainer did stop there (no later epoch came); a trainer
    that ignores the answer trains on and its trial ends ``ok``.
    """

    def __init__(self, runner: Runner, trial: int, pruner: SuccessiveHalvingPruner | None, emit: bool) -> None:
        self.runner, self.trial, self.pruner, self.emit = runner, trial, pruner, emit
        self._last: tuple[int, bool] | None = None  # (epoch, asked to stop)

    @property
    def stopped_at(self) -> int | None:
        """The epoch of the last call, if that call asked the trainer to stop."""
        return self._last[0] if self._last is not None and self._last[1] else None

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        runner = self.runner
        if self.emit:
            runner.reporters.emit("on_epoch", self.trial, epoch, dict(metrics))
        if self.stopped_at is not None:
            runner._say_once(
                "ignored", logging.INFO,
                "trainer %r went on after the pruner asked it to stop (trial %d, epoch %d): its trials are never pruned",
                runner.config.trainer.name, self.trial, self.stopped_at,
            )
        stop = False
        if self.pruner is not None:
            value = metrics.get("val_acc")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                stop = self.pruner.report(self.trial, int(epoch), float(value))
            else:
                runner._say_once(
                    "no-val-acc", logging.WARNING,
                    "trainer %r reports no finite val_acc in its epoch metrics (got %r): its trials cannot be pruned",
                    runner.config.trainer.name, value,
                )
        self._last = (int(epoch), stop)
        return stop


def _best_entry(best: TrialRecord) -> dict[str, Any]:
    return {
        "trial": best.trial,
        "model": best.model,
        "model_params": best.model_params,
        "train_params": best.train_params,
        "val_accuracy": best.val_score,
        "best_epoch": best.best_epoch,
    }


def same_candidate(candidate: Candidate, record: TrialRecord) -> bool:
    """Does a replayed proposal match a recorded trial? (Floats survive the JSON round trip exactly.)"""
    return (
        candidate.model == record.model
        and _same_values(candidate.model_params, record.model_params)
        and _same_values(candidate.train_params, record.train_params)
    )


def _same_values(proposed: Mapping[str, Any], recorded: Mapping[str, Any]) -> bool:
    if set(proposed) != set(recorded):
        return False
    for key, value in proposed.items():
        other = recorded[key]
        if isinstance(value, float) or isinstance(other, float):
            if not (isinstance(other, (int, float)) and math.isclose(value, other, rel_tol=1e-12, abs_tol=0.0)):
                return False
        elif value != other:
            return False
    return True


def _point(model: str, model_params: Mapping[str, Any], train_params: Mapping[str, Any]) -> str:
    return f"{model} {dict(model_params)} {dict(train_params)}"


def failure_reason(exc: BaseException) -> str:
    """A trial's failure in one line; running out of memory is named as such."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    if isinstance(exc, AutoglmError) and text:  # written for users already
        return text
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return f"out of memory ({reason})"
    return reason


def _describe(component: Any) -> dict[str, Any]:
    """A component's optional ``describe()``: facts decided at run time (e.g. the optimizer used)."""
    describe = getattr(component, "describe", None)
    return dict(describe()) if callable(describe) else {}


def versions() -> dict[str, str | None]:
    import importlib.metadata

    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("autoglm", "torch", "torch-geometric", "nevergrad", "numpy", "pluggy"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found
