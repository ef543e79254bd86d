"""Runs in the trackers teams already use: an MLflow reporter and a TensorBoard reporter (optional extras).

- ``mlflow`` (``pip install 'autoglm[mlflow]'``): a parent run per search and a
  nested run per trial (its parameters, per-epoch metrics, final scores and
  status), the selected configuration and its test figures on the parent,
  and the saved model, predictions and summary as the parent's artifacts.
  Tracking URI: the option, else ``MLFLOW_TRACKING_URI``, else a file store
  in ``./mlruns`` (mlflow-skinny's file store needs
  ``MLFLOW_ALLOW_FILE_STORE=true``, set for the process when unset).
- ``tensorboard`` (``pip install 'autoglm[tensorboard]'``): one event-file
  folder per trial under ``RUN_DIR/tensorboard`` (every epoch metric as a
  scalar) and the hparams plugin's table (each trial's parameters against its
  validation score).

Both use their library's client objects, not its process-global state, so
a host's own MLflow run or writer is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from autoglm.plugins import DataError, RunInfo, RunResult, RunStopped, SelectionReport, TrialRecord, hookimpl

#: MLflow run statuses for a trial's status.
MLFLOW_STATUS = {"ok": "FINISHED", "pruned": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}


def _params(record: Any) -> dict[str, Any]:
    """A candidate's or record's parameters, flat, with the model's name."""
    return {"model": record.model, **record.model_params, **record.train_params, **record.task_params}


class MlflowReporter:
    """A parent MLflow run per search, a nested run per trial."""

    def __init__(self, *, tracking_uri: str | None = None, experiment: str = "autoglm") -> None:
        if not experiment.strip():
            raise ValueError("experiment must be a non-empty name")
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.client: Any = None
        self.parent: str | None = None
        self.trials: dict[int, str] = {}
        self._experiment_id: str | None = None

    def _connect(self) -> Any:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise DataError("the mlflow reporter needs MLflow: pip install 'autoglm[mlflow]'") from None
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").resolve().as_uri()
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny refuses file stores without it
        return MlflowClient(tracking_uri=uri)

    def on_run_start(self, run: RunInfo) -> None:
        self.client = self._connect()
        found = self.client.get_experiment_by_name(self.experiment)
        self._experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment)
        tags = {"autoglm.run_dir": str(run.run_dir), "autoglm.task": run.task}
        parent = self.client.create_run(self._experiment_id, run_name=Path(run.run_dir).name, tags=tags)
        self.parent = parent.info.run_id
        self._log_params(self.parent, {"task": run.task, "seed": run.seed, "budget": run.budget,
                                       "objective": f"{run.objective.mode} {run.objective.key}",
                                       "dataset": run.dataset.get("name") or run.dataset.get("loader")})

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(run_id, params=[Param(str(k), str(v)[:6000]) for k, v in params.items()])

    def on_trial_start(self, trial: int, candidate: Any) -> None:
        tags = {"mlflow.parentRunId": self.parent, "autoglm.trial": str(trial)}
        child = self.client.create_run(self._experiment_id, run_name=f"trial {trial}", tags=tags)
        self.trials[trial] = child.info.run_id
        self._log_params(child.info.run_id, _params(candidate))

    def on_epoch(self, trial: int, epoch: int, metrics: dict[str, float], phase: str) -> None:
        if phase != "search" or trial not in self.trials:
            return
        from mlflow.entities import Metric

        stamp = _now_ms()
        batch = [Metric(key, float(value), stamp, int(epoch)) for key, value in metrics.items() if _finite(value)]
        self.client.log_batch(self.trials[trial], metrics=batch)

    def on_trial_end(self, record: TrialRecord) -> None:
        run_id = self.trials.get(record.trial)
        if run_id is None:
            return
        final = {"val_score": record.val_score, "best_epoch": record.best_epoch, "epochs": record.epochs,
                 "duration_s": record.duration_s}
        for key, value in final.items():
            if _finite(value):
                self.client.log_metric(run_id, key, float(value))
        self.client.set_tag(run_id, "autoglm.status", record.status)
        if record.error:
            self.client.set_tag(run_id, "autoglm.error", record.error[:5000])
        self.client.set_terminated(run_id, MLFLOW_STATUS.get(record.status, "FINISHED"))

    def on_selection(self, selection: SelectionReport) -> None:
        self.client.set_tag(self.parent, "autoglm.selected_trial", str(selection.chosen))

    def on_run_end(self, result: RunResult) -> None:
        self._log_params(self.parent, {f"best.{k}": v for k, v in _params(result.best).items()})
        for key, value in {"val_score": result.val_score, f"test_{result.metric}": result.test_score,
                           f"test_{result.metric}_std": result.test_std}.items():
            if _finite(value):
                self.client.log_metric(self.parent, key, float(value))
        for name in ("best_model.pt", "best_model.json", "predictions.csv", "summary.json", "report.html"):
            path = Path(result.run_dir) / name
            if path.is_file():
                self.client.log_artifact(self.parent, str(path))
        self.client.set_terminated(self.parent, "FINISHED")

    def on_run_stopped(self, stop: RunStopped) -> None:
        if self.client is None or self.parent is None:
            return
        status = "KILLED" if stop.status == "interrupted" else "FAILED"
        for run_id in self.trials.values():
            if self.client.get_run(run_id).info.status == "RUNNING":
                self.client.set_terminated(run_id, status)
        self.client.set_tag(self.parent, "autoglm.stopped", stop.reason[:5000])
        self.client.set_terminated(self.parent, status)


class TensorboardReporter:
    """Scalars per trial and the hparams plugin's table, in TensorBoard's event files."""

    def __init__(self, *, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self.writers: dict[int, Any] = {}
        self.candidates: dict[int, Any] = {}
        self.root: Path | None = None

    def files(self, run_dir: Path) -> list[Path]:
        return [Path(self.log_dir) if self.log_dir else Path(run_dir) / "tensorboard"]

    def on_run_start(self, run: RunInfo) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise DataError("the tensorboard reporter needs TensorBoard: pip install 'autoglm[tensorboard]'") from None
        self.root = self.files(Path(run.run_dir))[0]

    def _writer(self, trial: int) -> Any:
        if trial not in self.writers:
            from torch.utils.tensorboard import SummaryWriter

            self.writers[trial] = SummaryWriter(log_dir=str(self.root / f"trial-{trial:04d}"))
        return self.writers[trial]

    def on_trial_start(self, trial: int, candidate: Any) -> None:
        self.candidates[trial] = candidate

    def on_epoch(self, trial: int, epoch: int, metrics: dict[str, float], phase: str) -> None:
        if phase != "search":
            return
        writer = self._writer(trial)
        for key, value in metrics.items():
            if _finite(value):
                writer.add_scalar(key, float(value), int(epoch))

    def on_trial_end(self, record: TrialRecord) -> None:
        writer = self._writer(record.trial)
        params = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in _params(record).items()}
        metrics = {"hparam/val_score": float(record.val_score) if _finite(record.val_score) else float("nan")}
        writer.add_hparams(params | {"status": record.status}, metrics, run_name=".")
        writer.close()
        self.writers.pop(record.trial, None)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def _finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


@hookimpl
def autoglm_register_reporters(register: Any) -> None:
    register("mlflow", MlflowReporter, summary="MLflow: a parent run per search, a nested run per trial (extra: mlflow)")
    register("tensorboard", TensorboardReporter,
             summary="TensorBoard scalars per trial and the hparams table, in RUN_DIR/tensorboard (extra: tensorboard)")
