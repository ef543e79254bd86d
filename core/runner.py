"""One search, start to finish: the trial loop and what it leaves in the run directory.

Selection uses validation scores only; the selected model touches the test
split once, after the budget is spent.
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
from typing import TYPE_CHECKING, Any

from autoglm.core.artifacts import save_best_model
from autoglm.core.config import RunConfig
from autoglm.core.errors import AutoglmError, DataError, RunError
from autoglm.core.graph import check_graph
from autoglm.core.protocols import Candidate, FitResult
from autoglm.core.reporting import ReporterGroup
from autoglm.core.results import RunInfo, RunResult, TrialRecord, leaderboard
from autoglm.core.rundir import SUMMARY, RunDirectory

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.engine import Engine

log = logging.getLogger(__name__)


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
        self.extra_reporters = extra_reporters or []
        self.records: list[TrialRecord] = []
        self._best: tuple[TrialRecord, FitResult] | None = None

    # -- setup -----------------------------------------------------------

    def _build(self) -> None:
        components = self.engine.build_components(self.config)
        self.trainer, self.tuner, self.loader = components.trainer, components.tuner, components.data_loader
        extra = [(f"host#{i}", r) for i, r in enumerate(self.extra_reporters)]
        self.reporters = ReporterGroup(components.reporters + extra)

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
        self.run_dir.create(overwrite=self.overwrite)
        # The config is written only once the data loaded: a directory left by a failed
        # load holds no run, so the corrected command needs no --overwrite.
        data, sizes = self._load_data()
        self.data, self.sizes = data, sizes
        resolved = self.config.to_dict()
        self.run_dir.write_config(resolved)
        log.info("run directory: %s (seed %d)", self.run_dir.path, self.seed)
        self.tuner.setup(self.engine.search_space(self.config), seed=self.seed)
        info = RunInfo(self.run_dir.path, resolved, self.seed, int(self.tuner.budget), sizes)
        self.reporters.emit("on_run_start", info)
        try:
            self._search()
            result = self._finish(started, started_at)
        finally:
            self.reporters.close()
        return result

    def _search(self) -> None:
        index = 0
        while True:
            candidate = self.tuner.ask()
            if candidate is None:
                break
            index += 1
            self.reporters.emit("on_trial_start", index, candidate)
            record, fit = self._trial(index, candidate)
            self.records.append(record)
            self.run_dir.append_trial(record)
            self.tuner.tell(candidate, record.val_score if record.ok else None)
            if record.ok and fit is not None and (self._best is None or record.val_score > self._best[0].val_score):
                self._best = (record, fit)
            self.reporters.emit("on_trial_end", record)

    def _trial(self, index: int, candidate: Candidate) -> tuple[TrialRecord, FitResult | None]:
        import torch

        seed = trial_seed(self.seed, index)
        record = TrialRecord(
            trial=index,
            status="ok",
            model=candidate.model,
            model_params=dict(candidate.model_params),
            train_params=dict(candidate.train_params),
            seed=seed,
        )
        start = time.perf_counter()
        fit = None
        try:
            torch.manual_seed(seed)
            model = self._build_model(candidate.model, candidate.model_params)
            on_epoch = None
            if self.reporters.wants_epochs():
                def on_epoch(epoch: int, metrics: Any, _trial: int = index) -> None:
                    self.reporters.emit("on_epoch", _trial, epoch, dict(metrics))
            fit = self.trainer.fit(model, self.data, dict(candidate.train_params), on_epoch)
            if fit.val_score is None or not math.isfinite(fit.val_score):
                raise RunError(f"validation score is {fit.val_score} (diverged training?)")
            record.val_score = float(fit.val_score)
            record.train_score = None if fit.train_score is None else float(fit.train_score)
            record.best_epoch, record.epochs = int(fit.best_epoch), int(fit.epochs)
        except Exception as exc:  # one trial's failure never ends the search
            record.status = "failed"
            record.error = f"{type(exc).__name__}: {exc}"
            log.warning("trial %d (%s) failed: %s", index, candidate.model, record.error)
            log.debug("trial %d traceback", index, exc_info=True)
            fit = None
        record.duration_s = round(time.perf_counter() - start, 3)
        return record, fit

    def _build_model(self, name: str, params: dict[str, Any]) -> Any:
        component = self.engine.component("models", name)
        return component.factory(self.sizes["num_features"], self.sizes["num_classes"], **params)

    # -- the end ---------------------------------------------------------

    def _finish(self, started: float, started_at: str) -> RunResult:
        import torch

        board = leaderboard(self.records)
        self.run_dir.write_leaderboard(board)
        summary: dict[str, Any] = {
            "status": "ok",
            "task": self.config.task,
            "seed": self.seed,
            "started_at": started_at,
            "trials": {
                "total": len(self.records),
                "ok": sum(r.ok for r in self.records),
                "failed": sum(not r.ok for r in self.records),
            },
            "dataset": {"name": self.config.data.name, **self.sizes},
            "tuner": {"name": self.config.tuner.name, **_describe(self.tuner)},
            "versions": versions(),
        }
        if self._best is None:
            reasons = sorted({r.error or "unknown" for r in self.records})
            summary.update(status="failed", wall_time_s=round(time.perf_counter() - started, 2), reasons=reasons)
            self.run_dir.write_json(SUMMARY, summary)
            detail = "; ".join(reasons[:3]) if reasons else "the tuner proposed no trial"
            raise RunError(f"every trial failed ({len(self.records)} of {len(self.records)}): {detail}")

        best, fit = self._best
        model = self._build_model(best.model, best.model_params)
        model.load_state_dict(fit.state_dict)
        scores = self.trainer.predict(model, self.data).detach().cpu()
        test_mask = self.data.test_mask.cpu()
        probs = torch.softmax(scores.float(), dim=-1)
        confidence, pred = probs.max(dim=-1)
        y = self.data.y.cpu()
        test_acc = float((pred[test_mask] == y[test_mask]).float().mean())
        nodes = test_mask.nonzero().view(-1).tolist()
        self.run_dir.write_predictions(
            (n, int(y[n]), int(pred[n]), float(confidence[n])) for n in nodes
        )
        save_best_model(
            self.run_dir,
            fit.state_dict,
            {
                "model": best.model,
                "model_params": best.model_params,
                "in_channels": self.sizes["num_features"],
                "out_channels": self.sizes["num_classes"],
                "owner": str(self.engine.component("models", best.model).owner),
                "trial": best.trial,
            },
        )
        wall = round(time.perf_counter() - started, 2)
        summary.update(
            best={
                "trial": best.trial,
                "model": best.model,
                "model_params": best.model_params,
                "train_params": best.train_params,
                "val_accuracy": best.val_score,
                "best_epoch": best.best_epoch,
            },
            test={"accuracy": test_acc, "num_nodes": len(nodes)},
            wall_time_s=wall,
        )
        self.run_dir.write_json(SUMMARY, summary)
        result = RunResult(self.run_dir.path, best, test_acc, list(self.records), self.seed, wall, summary)
        self.reporters.emit("on_run_end", result)
        return result


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
