"""Mini-batch training: sampled batches mean what the full batch means, and impossible pairings are refused.

The equivalence tests use fan-outs that keep every neighbour: then each
seed's sampled neighbourhood is its whole receptive field, so a sampled
epoch's loss (weighted by batch size, weights fixed) and its gradient are
the full batch's, and chunked evaluation and predictions are the full
graph's, within float tolerance.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import ComponentSpec, ConfigError, Engine
from autoglm.plugins import LayerwiseModule, Sampling, hookimpl
from autoglm.plugins.testing import make_engine, tiny_config, tiny_graph

ENGINE = Engine(autoload=False)
EVERY = Sampling((-1, -1), batch_size=7)


def task_and_data() -> tuple[Any, Any]:
    task = ENGINE.build("tasks", ComponentSpec("node_classification"))
    return task, task.prepare(tiny_graph(), seed=0)


def model(name: str, data: Any, **params: Any) -> Any:
    torch.manual_seed(0)
    built = ENGINE.component("models", name).factory(int(data.sizes["num_features"]), int(data.sizes["num_classes"]), **params)
    return built.eval()  # dropout off: the same function on both paths


def sampled_loss_and_grad(task: Any, net: Any, data: Any) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The epoch's loss and gradient as the mean over every training node, summed batch by batch."""
    net.zero_grad()
    total, seeds = torch.zeros(()), 0
    for batch in task.batches(task.sampled(data, EVERY)):
        loss = task.loss(net, batch) * batch.batch_size
        loss.backward()
        total, seeds = total + loss.detach(), seeds + batch.batch_size
    assert seeds == data.index["train"].numel()
    return total / seeds, [p.grad / seeds for p in net.parameters()]


@pytest.mark.parametrize(("name", "params"), [("sage", {}), ("sage", {"aggr": "max"}), ("gat", {}), ("gin", {"layers": 2})])
def test_a_sampled_epoch_with_every_neighbour_has_the_full_batch_loss_and_gradient(name: str, params: dict[str, Any]) -> None:
    task, data = task_and_data()
    net = model(name, data, **params)
    net.zero_grad()
    full = task.loss(net, next(iter(task.batches(data))))
    full.backward()
    full_grads = [p.grad.clone() for p in net.parameters()]
    sampled, grads = sampled_loss_and_grad(task, net, data)
    assert torch.allclose(sampled, full.detach(), atol=1e-6)
    for got, want in zip(grads, full_grads):
        assert torch.allclose(got, want, atol=1e-6)


def test_batches_hold_batch_size_seeds_from_the_training_split_once_each() -> None:
    task, data = task_and_data()
    batches = list(task.batches(task.sampled(data, Sampling((3, 2), batch_size=8))))
    seeds = torch.cat([b.n_id[: b.batch_size] for b in batches])
    assert sorted(seeds.tolist()) == sorted(data.index["train"].tolist())
    assert all(b.batch_size <= 8 for b in batches) and len(batches) == -(-data.index["train"].numel() // 8)
    assert all(torch.equal(b.y[: b.batch_size], data.graph.y[b.n_id[: b.batch_size]]) for b in batches)


@pytest.mark.parametrize(("name", "params"), [("sage", {}), ("gat", {}), ("gin", {"layers": 3})])
def test_chunked_evaluation_and_predictions_equal_the_full_graphs(name: str, params: dict[str, Any]) -> None:
    task, data = task_and_data()
    net = model(name, data, **params)
    assert isinstance(net, LayerwiseModule) == (name != "gin")  # gin takes the other path: whole neighbourhoods
    sampled = task.sampled(data, Sampling((2,), batch_size=16))  # inference never samples, whatever the fan-outs
    with torch.no_grad():
        full, chunked = task.evaluate(net, data, ("train", "val", "test")), task.evaluate(net, sampled, ("train", "val", "test"))
        assert full.keys() == chunked.keys()
        for key in full:
            assert torch.allclose(full[key], chunked[key], atol=1e-5), key
        whole, parts = task.predict(net, data), task.predict(net, sampled)
    assert torch.allclose(whole.proba, parts.proba, atol=1e-5) and whole.rows[0][:2] == parts.rows[0][:2]


def fit(trainer_options: dict[str, Any], name: str = "sage") -> Any:
    task, data = task_and_data()
    trainer = ENGINE.build("trainers", ComponentSpec("cuda", {"device": "cpu", "max_epochs": 30, "patience": 30} | trainer_options))
    net = model(name, data).train()
    torch.manual_seed(0)
    return trainer, trainer.fit(net, data, {"lr": 0.01, "weight_decay": 5e-4}, task=task), net, data, task


def test_the_trainer_trains_and_scores_on_sampled_subgraphs() -> None:
    trainer, result, net, data, task = fit({"batching": "mini", "batch_size": 8, "fanouts": [5, 5]})
    assert trainer.batching_for(data) == "mini" and result.epochs == 30
    assert result.val_score > 0.6  # 3 well-separated classes: far above chance (1/3)
    scored = trainer.evaluate(net, data, lambda m, d: float(task.evaluate(m, d, ("val",))["val_acc"]))
    assert scored == pytest.approx(result.val_score)
    assert getattr(trainer._view(data, None), "sampling", None) is not None  # evaluation batched the same way


def test_full_batch_stays_the_default() -> None:
    trainer, result, _, data, _ = fit({})
    assert trainer.batching == "full" and trainer.batching_for(data) == "full"
    assert trainer._view(data, None).sampling is None


def test_auto_batching_decides_from_the_graph_and_the_free_memory(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from autoglm.plugins_builtin import cuda_trainer

    _, data = task_and_data()
    trainer = ENGINE.build("trainers", ComponentSpec("cuda", {"device": "cpu", "batching": "auto"}))
    with caplog.at_level(logging.INFO, logger="autoglm"):
        assert trainer.batching_for(data) == "full"
    assert "batching auto: full-batch training" in caplog.text and "GiB free on cpu" in caplog.text
    need = cuda_trainer.full_batch_bytes(200, int(data.sizes["num_edges"]), 8)
    monkeypatch.setattr(cuda_trainer, "free_memory", lambda device: need)  # not twice what full batch needs
    fresh = ENGINE.build("trainers", ComponentSpec("cuda", {"device": "cpu", "batching": "auto"}))
    assert fresh.batching_for(data) == "mini"
    # 2 M nodes and 20 M edges of 64 features: tens of GiB in full batch, beyond this machine
    assert cuda_trainer.full_batch_bytes(2_000_000, 20_000_000, 64) > 2**34


@pytest.mark.parametrize(
    ("options", "where", "message"),
    [
        ({"batching": "minibatch"}, "trainer.options.batching", "one of 'full', 'mini', 'auto'"),
        ({"fanouts": [10, 0]}, "trainer.options.fanouts", "fanouts[1] is 0"),
        ({"fanouts": []}, "trainer.options.fanouts", "fanouts is empty"),
        ({"batch_size": 0}, "trainer.options.batch_size", "batch_size"),
    ],
)
def test_bad_batching_options_are_config_errors(tmp_path: Path, options: dict[str, Any], where: str, message: str) -> None:
    config = tiny_config(tmp_path / "run", models=["sage"])
    config["trainer"]["options"].update(options)
    with pytest.raises(ConfigError) as caught:
        ENGINE.validate(config, check_data=False)
    assert caught.value.path == where and message in str(caught.value)


def mini_config(tmp_path: Path, **edit: Any) -> dict[str, Any]:
    config = tiny_config(tmp_path / "run", budget=3, max_epochs=10)
    config["trainer"]["options"].update({"batching": "mini", "batch_size": 16, "fanouts": [5, 3]})
    config.update(edit)
    return config


def test_a_model_that_cannot_sample_is_refused_at_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ENGINE.validate(mini_config(tmp_path, search={"models": ["sage", "gcn"]}), check_data=False)
    error = caught.value
    assert error.path == "search.models[1]"
    assert "model 'gcn' cannot train on sampled subgraphs (trainer.options.batching is mini)" in str(error)
    assert "models that can: gat, gin, mlp_baseline, sage" in str(error) and "batching: full" in str(error)


def test_the_default_search_keeps_the_models_that_can_sample(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="autoglm"):
        resolved = ENGINE.validate(mini_config(tmp_path), check_data=False)
    assert resolved.search.models == ["gat", "gin", "sage"]  # of the default list: gcnii and mlp_baseline are opt-in
    assert "(appnp, gcn cannot train on sampled subgraphs)" in caplog.text


def test_a_task_that_cannot_sample_is_refused_at_validation(tmp_path: Path) -> None:
    class WholeGraphTask:  # a third-party task with no sampled()
        objective = ENGINE.build("tasks", ComponentSpec("node_classification")).objective

        def prepare(self, data: Any, *, seed: int) -> Any: ...
        def build(self, encoder: Any, sizes: Any, params: Any) -> Any: ...
        def batches(self, data: Any) -> Any: ...
        def loss(self, model: Any, batch: Any) -> Any: ...
        def evaluate(self, model: Any, data: Any, splits: Any) -> Any: ...
        def predictions(self, model: Any, data: Any, split: str) -> Any: ...

    class Plugin:
        @hookimpl
        def autoglm_register_tasks(self, register: Any) -> None:
            register("whole_graph", WholeGraphTask)

    with pytest.raises(ConfigError) as caught:
        make_engine(Plugin()).validate(mini_config(tmp_path, task="whole_graph", search={"models": ["sage"]}), check_data=False)
    assert caught.value.path == "trainer.options.batching"
    assert "task 'whole_graph' cannot train on sampled subgraphs" in str(caught.value)


def test_registering_sampling_takes_a_bool() -> None:
    from autoglm.core.errors import PluginError

    class Plugin:
        @hookimpl
        def autoglm_register_models(self, register: Any) -> None:
            register("odd", lambda in_channels, out_channels: None, sampling="yes")

    with pytest.raises(PluginError, match="model 'odd' .*sampling must be True or False, got 'yes'"):
        make_engine(Plugin())


def test_auto_batching_on_a_graph_too_big_narrows_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from autoglm.plugins_builtin import cuda_trainer

    monkeypatch.setattr(cuda_trainer, "free_memory", lambda device: 1024)  # nothing fits in full batch
    config = mini_config(tmp_path)
    config["trainer"]["options"]["batching"] = "auto"
    result = ENGINE.run(config)
    assert {r.model for r in result.trials} <= {"gat", "gin", "sage"}
    recorded = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert recorded["search"]["models"] == ["gat", "gin", "sage"]  # a resume searches what the run searched


def test_a_mini_batch_run_end_to_end_through_the_cli(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(mini_config(tmp_path, search={"models": ["sage", "gat"]})))
    result = CliRunner().invoke(cli, ["-q", "run", str(path)], prog_name="autoglm", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["trials"]["ok"] + summary["trials"].get("pruned", 0) == 3
    assert summary["test"]["score"] > 0.5
    with open(run / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 200 and {row["split"] for row in rows} == {"train", "val", "test"}
    predicted = CliRunner().invoke(cli, ["predict", str(run), "-o", str(tmp_path / "again.csv")], prog_name="autoglm")
    assert predicted.exit_code == 0, predicted.output
    with open(tmp_path / "again.csv", newline="") as handle:
        again = list(csv.DictReader(handle))
    assert [r["y_pred"] for r in again] == [r["y_pred"] for r in rows]


def test_a_saved_mini_batch_run_predicts_in_chunks_as_it_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoglm.core import load_run
    from autoglm.plugins_builtin.node_classification import NodeClassification

    result = ENGINE.run(mini_config(tmp_path, search={"models": ["sage"]}))
    seen: list[Any] = []
    real = NodeClassification.predict

    def spy(self: Any, model: Any, data: Any) -> Any:
        seen.append(data.sampling)
        return real(self, model, data)

    monkeypatch.setattr(NodeClassification, "predict", spy)
    labels = load_run(result.run_dir).predict()
    assert seen == [Sampling((5, 3), 16)]  # the run's trainer options: batch_size 16, fan-outs [5, 3]
    with open(result.run_dir / "predictions.csv", newline="") as handle:
        written = [row["y_pred"] for row in csv.DictReader(handle)]
    assert [str(v) for v in labels.tolist()] == written
