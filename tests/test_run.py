"""Embedded runs through the public API: results, run directory, reload, seeds and failing trials."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from autoglm.core import Engine, RunError, load_best_model
from autoglm.plugins import Int, hookimpl


class Recorder:
    """A host reporter that keeps every event it gets."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_run_start(self, run: Any) -> None:
        self.events.append("run_start")

    def on_trial_start(self, trial: int, candidate: Any) -> None:
        self.events.append(f"trial_start:{trial}")

    def on_epoch(self, trial: int, epoch: int, metrics: dict[str, float]) -> None:
        assert {"loss", "train_acc", "val_acc", "val_loss"} <= set(metrics)
        if epoch == 1:
            self.events.append(f"epoch:{trial}")

    def on_trial_end(self, record: Any) -> None:
        self.events.append(f"trial_end:{record.trial}")

    def on_run_end(self, result: Any) -> None:
        self.events.append("run_end")


def build_linear(in_channels: int, out_channels: int, *, bias: bool = True, fail_above: int = 0, width: int = 1) -> Any:
    """A feature-only model; raises for ``width > fail_above`` when ``fail_above`` is set."""
    if fail_above and width > fail_above:
        raise RuntimeError(f"width {width} is not supported")

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(in_channels, out_channels, bias=bias)

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            return self.lin(x)

    return Linear()


class HostPlugin:
    @hookimpl
    def autoglm_register_models(self, register):  # type: ignore[no-untyped-def]
        register("linear", build_linear, search_space={"width": Int(1, 4)})


class _FailingPlugin:
    @hookimpl
    def autoglm_register_models(self, register):  # type: ignore[no-untyped-def]
        register("linear", build_linear, search_space={"width": Int(1, 4), "fail_above": 2})


def test_embedded_run_with_a_host_plugin(tiny_config: dict[str, Any]) -> None:
    recorder = Recorder()
    engine = Engine(plugins=[HostPlugin()], autoload=False)
    tiny_config["search"] = {"models": ["linear", "gcn"]}
    tiny_config["tuner"]["options"]["budget"] = 4
    result = engine.run(tiny_config, reporters=[recorder])
    assert len(result.trials) == 4 and all(t.ok for t in result.trials)
    assert {t.model for t in result.trials} <= {"linear", "gcn"}
    assert result.best.val_score == max(t.val_score for t in result.trials)
    assert 0.0 <= result.test_accuracy <= 1.0
    assert recorder.events[0] == "run_start" and recorder.events[-1] == "run_end"
    assert recorder.events.count("trial_end:4") == 1 and "epoch:1" in recorder.events


def test_run_directory_contents(tiny_config: dict[str, Any]) -> None:
    result = Engine(autoload=False).run(tiny_config)
    run_dir = Path(tiny_config["output"])
    assert result.run_dir == run_dir
    for name in ("config.yaml", "trials.jsonl", "leaderboard.csv", "summary.json", "best_model.pt", "best_model.json", "predictions.csv"):
        assert (run_dir / name).is_file(), name

    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["seed"] == 0 and resolved["tuner"]["name"] == "random"
    # The resolved config is itself a valid config that names every default.
    Engine(autoload=False).load_config(resolved)

    trials = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert [t["trial"] for t in trials] == [1, 2]
    board = list(csv.DictReader((run_dir / "leaderboard.csv").open()))
    assert int(board[0]["trial"]) == result.best.trial
    assert [float(r["val_acc"]) for r in board] == sorted((float(r["val_acc"]) for r in board), reverse=True)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["trial"] == result.best.trial
    assert summary["test"]["score"] == pytest.approx(result.test_accuracy)
    assert summary["seed"] == 0 and summary["versions"]["torch"]
    assert summary["tuner"] == {"name": "random"}
    assert summary["wall_time_s"] > 0

    every = list(csv.DictReader((run_dir / "predictions.csv").open()))
    assert [int(p["node"]) for p in every] == list(range(summary["dataset"]["num_nodes"]))  # every node, in order
    counts = summary["predictions"]["splits"]
    assert {split: counts[split] for split in ("train", "val", "test")} == {
        split: summary["dataset"][f"{split}_nodes"] for split in ("train", "val", "test")
    }
    assert sum(counts.values()) == summary["predictions"]["rows"] == len(every)
    predictions = [p for p in every if p["split"] == "test"]
    assert len(predictions) == summary["test"]["rows"] == summary["dataset"]["test_nodes"]
    accuracy = sum(p["y_true"] == p["y_pred"] for p in predictions) / len(predictions)
    assert accuracy == pytest.approx(result.test_accuracy)
    probabilities = [[float(p[f"p_{c}"]) for c in range(summary["dataset"]["num_classes"])] for p in every]
    assert all(sum(row) == pytest.approx(1.0, abs=1e-4) for row in probabilities)
    assert all(max(row) == pytest.approx(float(p["confidence"]), abs=1e-6) for row, p in zip(probabilities, every))


def test_best_model_reloads_without_pickle(tiny_config: dict[str, Any]) -> None:
    engine = Engine(autoload=False)
    result = engine.run(tiny_config)
    model, spec = load_best_model(result.run_dir, engine)
    assert spec["model"] == result.best.model and spec["model_params"] == result.best.model_params
    from autoglm.plugins.testing import tiny_graph

    data = tiny_graph()  # the graph tiny_config runs on
    with torch.no_grad():
        predicted = model(data.x, data.edge_index).argmax(-1)
    rows = list(csv.DictReader((result.run_dir / "predictions.csv").open()))
    assert [int(r["y_pred"]) for r in rows] == predicted.tolist()
    assert [int(r["node"]) for r in rows if r["split"] == "test"] == data.test_mask.nonzero().view(-1).tolist()
    # The weights file is a plain state_dict: loadable with weights_only=True.
    state = torch.load(result.run_dir / "best_model.pt", weights_only=True)
    assert set(state) == set(model.state_dict())


def test_same_seed_same_leaderboard(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    tiny_config["tuner"] = {"name": "nevergrad", "options": {"budget": 3}}
    engine = Engine(autoload=False)
    first = engine.run(tiny_config, output=tmp_path / "a")
    second = engine.run(tiny_config, output=tmp_path / "b")
    strip = lambda r: (r.trial, r.model, r.model_params, r.train_params, r.val_score, r.best_epoch)  # noqa: E731
    assert [strip(r) for r in first.leaderboard()] == [strip(r) for r in second.leaderboard()]
    assert first.test_accuracy == second.test_accuracy
    assert first.summary["tuner"] == {"name": "nevergrad", "optimizer": "NGOpt", "active_optimizer": "NGOpt", "in_flight": 1}


def test_unset_seed_is_resolved_and_recorded(tiny_config: dict[str, Any]) -> None:
    del tiny_config["seed"]
    result = Engine(autoload=False).run(tiny_config)
    recorded = yaml.safe_load((result.run_dir / "config.yaml").read_text())["seed"]
    assert isinstance(recorded, int) and recorded == result.seed == result.summary["seed"]


def test_failing_trials_are_recorded_and_the_search_goes_on(tiny_config: dict[str, Any]) -> None:
    # _FailingPlugin's model raises in its factory for width 3: those trials fail, the others count.
    tiny_config["search"] = {"models": ["linear"], "space": {"linear": {"width": {"choice": [1, 3]}}}}
    tiny_config["tuner"]["options"]["budget"] = 6
    engine = Engine(plugins=[_FailingPlugin()], autoload=False)
    result = engine.run(tiny_config)
    statuses = {t.model_params["width"]: t.status for t in result.trials}
    assert statuses == {1: "ok", 3: "failed"}
    failed = [t for t in result.trials if not t.ok]
    assert all("width 3 is not supported" in (t.error or "") for t in failed)
    assert result.best.model_params["width"] == 1
    assert result.summary["trials"]["failed"] == len(failed)


def test_a_run_whose_every_trial_fails_raises_and_says_why(tiny_config: dict[str, Any]) -> None:
    engine = Engine(plugins=[_FailingPlugin()], autoload=False)
    tiny_config["search"] = {"models": ["linear"], "space": {"linear": {"width": 4}}}
    with pytest.raises(RunError, match="every trial failed.*width 4 is not supported"):
        engine.run(tiny_config)
    summary = json.loads((Path(tiny_config["output"]) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["trials"]["failed"] == 2


def test_a_reporter_that_raises_is_disabled_not_fatal(tiny_config: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        calls = 0

        def on_trial_end(self, record: Any) -> None:
            Broken.calls += 1
            raise ValueError("disk full")

    result = Engine(autoload=False).run(tiny_config, reporters=[Broken()])
    assert len(result.trials) == 2 and Broken.calls == 1
    assert "disk full" in caplog.text


def test_output_directory_with_a_run_is_refused_unless_overwrite(tiny_config: dict[str, Any]) -> None:
    from autoglm.core import ConfigError

    engine = Engine(autoload=False)
    engine.run(tiny_config)
    with pytest.raises(ConfigError, match="already holds a run.*--overwrite"):
        engine.run(tiny_config)
    assert engine.run(tiny_config, overwrite=True).trials


def build_troubled(in_channels: int, out_channels: int, *, trouble: str = "none") -> Any:
    """A linear model whose forward pass fails the way ``trouble`` says (``none``: it trains normally)."""

    class Troubled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(in_channels, out_channels)

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            if trouble == "raise":
                raise RuntimeError("shape mismatch in layer 2")
            if trouble == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            if trouble == "host-oom":
                raise MemoryError()
            out = self.lin(x)
            return out * float("nan") if trouble == "nan" else out

    return Troubled()


class _TroubledPlugin:
    @hookimpl
    def autoglm_register_models(self, register):  # type: ignore[no-untyped-def]
        register("troubled", build_troubled, search_space={"trouble": "none"})


@pytest.mark.parametrize(
    "trouble, reason",
    [
        ("raise", "RuntimeError: shape mismatch in layer 2"),
        ("nan", "training loss became nan at epoch 1"),
        ("oom", "out of memory (OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB)"),
        ("host-oom", "out of memory (MemoryError)"),
    ],
)
def test_a_failing_trial_is_recorded_with_its_reason_and_the_search_goes_on(
    tiny_config: dict[str, Any], trouble: str, reason: str
) -> None:
    tiny_config["search"] = {"models": ["troubled"], "space": {"troubled": {"trouble": {"choice": ["none", trouble]}}}}
    tiny_config["tuner"]["options"]["budget"] = 6
    result = Engine(plugins=[_TroubledPlugin()], autoload=False).run(tiny_config)
    assert len(result.trials) == 6
    failed = [t for t in result.trials if t.model_params["trouble"] == trouble]
    assert failed and all(t.status == "failed" and t.error == reason for t in failed)
    assert result.best.model_params["trouble"] == "none"
    records = [json.loads(line) for line in (result.run_dir / "trials.jsonl").read_text().splitlines()]
    assert [r["error"] for r in records if r["status"] == "failed"] == [reason] * len(failed)
