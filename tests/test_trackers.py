"""MLflow and TensorBoard reporters, tested by reading what they wrote back with each library's own reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoglm.core import Engine, RunInterrupted
from autoglm.plugins.testing import tiny_config


def search(tmp_path: Path, reporter: dict[str, Any], **kw: Any) -> dict[str, Any]:
    config = tiny_config(tmp_path / "run", models=["gcn"], budget=3, max_epochs=8, **kw)
    config["reporters"] = [reporter]
    config["pruning"] = False
    return config


def test_mlflow_gets_a_parent_run_and_a_nested_run_per_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    result = Engine(autoload=False).run(search(tmp_path, {"name": "mlflow", "options": {"tracking_uri": uri}}))
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("autoglm")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.tags["autoglm.selected_trial"] == str(result.best.trial)
    assert parent.data.metrics["test_acc"] == pytest.approx(result.test_score)
    assert parent.data.params["best.model"] == "gcn" and parent.data.params["task"] == "node_classification"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"best_model.pt", "best_model.json", "predictions.csv", "summary.json"} <= artifacts
    by_trial = {int(r.data.tags["autoglm.trial"]): r for r in children}
    for record in result.trials:
        run = by_trial[record.trial]
        assert run.info.status == "FINISHED" and run.data.tags["autoglm.status"] == record.status
        assert run.data.params["hidden"] == str(record.model_params["hidden"])
        assert run.data.metrics["val_score"] == pytest.approx(record.val_score)
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert [m.step for m in history] == list(range(1, record.epochs + 1))  # one point per epoch


def test_an_interrupted_search_leaves_its_mlflow_runs_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    class CtrlC:
        def on_epoch(self, trial: int, epoch: int) -> None:
            if trial == 2 and epoch == 3:
                raise KeyboardInterrupt

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    with pytest.raises(RunInterrupted):
        Engine(autoload=False).run(search(tmp_path, {"name": "mlflow", "options": {"tracking_uri": uri}}), reporters=[CtrlC()])
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("autoglm").experiment_id])
    statuses = sorted((r.data.tags.get("autoglm.trial", "parent"), r.info.status) for r in runs)
    assert statuses == [("1", "FINISHED"), ("2", "KILLED"), ("parent", "KILLED")]


def test_tensorboard_gets_scalars_per_trial_and_the_hparams_table(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = Engine(autoload=False).run(search(tmp_path, {"name": "tensorboard"}))
    root = tmp_path / "run" / "tensorboard"
    folders = sorted(p.name for p in root.iterdir())
    assert folders == ["trial-0001", "trial-0002", "trial-0003"]
    for record in result.trials:
        events = EventAccumulator(str(root / f"trial-{record.trial:04d}"))
        events.Reload()
        values = [e.value for e in events.Scalars("val_acc")]
        assert len(values) == record.epochs and max(values) == pytest.approx(record.val_score, abs=1e-6)
        hparams = EventAccumulator(str(root / f"trial-{record.trial:04d}" / "."))
        hparams.Reload()
        plugin = hparams.PluginTagToContent("hparams")
        assert plugin, "the hparams plugin's table is written"
    # --overwrite counts the reporter's folder as the run's own
    Engine(autoload=False).run(search(tmp_path, {"name": "tensorboard"}), overwrite=True)
