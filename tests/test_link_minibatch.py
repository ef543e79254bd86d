"""Mini-batch link prediction: sampled batches mean what the full batch means, and nothing held out leaks in.

As in ``tests/test_minibatch.py``, the equivalence tests use fan-outs that keep
every neighbour: each endpoint's sampled neighbourhood is then its whole
receptive field, so a sampled epoch's loss (weighted by the pairs in each
batch, weights fixed, same negatives) and its gradient are the full batch's,
and chunked evaluation and predictions are the full graph's, within float tolerance.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import ComponentSpec, ConfigError, Engine
from autoglm.plugins import Sampling, SampledTask
from autoglm.plugins.testing import tiny_config, tiny_graph
from autoglm.plugins_builtin.link_prediction import LinkPrediction

ENGINE = Engine(autoload=False)
EVERY = Sampling((-1, -1), batch_size=64)
#: A synthetic graph whose edges are predictable (homophilous, class-revealing features): the tiny graph's
#: edges are mostly noise, so its validation AUC (29 pairs) stays near 0.6 whatever trains it.
LINK_GRAPH = {
    "num_nodes": 300, "num_classes": 3, "num_features": 8, "train_per_class": 10, "num_val": 50,
    "homophily": 0.95, "feature_signal": 1.5, "avg_degree": 8,
}


def task_and_data(**options: Any) -> tuple[LinkPrediction, Any]:
    task = LinkPrediction(**options)
    return task, task.prepare(tiny_graph(), seed=0)


def model(task: LinkPrediction, name: str, data: Any, decoder: str = "dot") -> Any:
    torch.manual_seed(0)
    encoder = ENGINE.component("models", name).factory
    return task.build(encoder, data.sizes, {"decoder": decoder, "embedding": 16}).eval()  # dropout off


def _pairs(index: torch.Tensor) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in index.t().tolist()}


def test_the_task_is_a_sampled_task_and_sampled_data_stays_on_the_host() -> None:
    task, data = task_and_data()
    assert isinstance(task, SampledTask)
    view = task.sampled(data, EVERY).to("meta")
    assert view.device == "meta" and view.x.device.type == "cpu" and view.sizes == data.sizes
    assert data.sampling is None and data.to("cpu").sampling is None  # the full-batch data is left as it was


@pytest.mark.parametrize(("name", "decoder"), [("sage", "dot"), ("sage", "mlp"), ("gat", "dot")])
def test_a_sampled_epoch_with_every_neighbour_has_the_full_batch_loss_and_gradient(name: str, decoder: str) -> None:
    task, data = task_and_data()
    net = model(task, name, data, decoder)
    torch.manual_seed(7)  # the same stream, so the same negatives: both paths draw them with the same call first
    net.zero_grad()
    full = task.loss(net, next(iter(task.batches(data))))
    full.backward()
    full_grads = [p.grad.clone() for p in net.parameters()]

    torch.manual_seed(7)
    net.zero_grad()
    total, weight, batches = torch.zeros(()), 0, 0
    for batch in task.batches(task.sampled(data, EVERY)):
        count = batch.edge_label.numel()
        loss = task.loss(net, batch) * count
        loss.backward()
        total, weight, batches = total + loss.detach(), weight + count, batches + 1
    positives = data.pairs["train"][0].size(1)
    assert weight == 2 * positives and batches == -(-positives // EVERY.batch_size)
    assert torch.allclose(total / weight, full.detach(), atol=1e-6)
    for param, want in zip(net.parameters(), full_grads):
        assert torch.allclose(param.grad / weight, want, atol=1e-6)


def test_batches_hold_every_training_positive_once_and_fresh_negatives_off_the_training_graph() -> None:
    task, data = task_and_data()
    sampled = task.sampled(data, Sampling((3, 2), batch_size=50))
    passing = _pairs(data.edge_index)
    epochs = []
    for _ in range(2):
        positives, negatives = [], []
        for batch in task.batches(sampled):
            pairs = batch.n_id[batch.edge_label_index]  # local ids -> graph ids
            label = batch.edge_label.bool()
            assert label.sum() == (~label).sum() <= 50  # as many negatives as positives: the full batch's ratio
            positives.append(pairs[:, label])
            negatives.append(pairs[:, ~label])
        positives, negatives = torch.cat(positives, 1), torch.cat(negatives, 1)
        assert positives.size(1) == data.sizes["train_edges"]
        assert _pairs(positives) == _pairs(data.pairs["train"][0])
        assert not _pairs(negatives) & passing and not {(b, a) for a, b in _pairs(negatives)} & passing
        assert bool((negatives[0] != negatives[1]).all())
        epochs.append(negatives)
    assert not torch.equal(epochs[0], epochs[1])  # drawn again every epoch


def test_no_held_out_edge_ever_reaches_a_training_batch() -> None:
    task, data = task_and_data()
    passing = _pairs(data.edge_index)
    held_out = set()
    for split in ("val", "test"):
        held_out |= _pairs(data.pairs[split][0]) | {(b, a) for a, b in _pairs(data.pairs[split][0])}
    assert held_out and not held_out & passing
    for fanouts in [(5, 5), (-1, -1, -1)]:
        for batch in task.batches(task.sampled(data, Sampling(fanouts, batch_size=64))):
            used = _pairs(batch.n_id[batch.edge_index])
            assert used and used <= passing  # message passing: a subset of the training graph's edges
            assert not used & held_out
            assert set(batch.e_id.tolist()) <= set(range(data.edge_index.size(1)))


@pytest.mark.parametrize(("name", "decoder", "metric"), [("sage", "dot", "auc"), ("sage", "mlp", "hits@20"), ("gat", "mlp", "ap")])
def test_chunked_evaluation_and_predictions_equal_the_full_graphs(name: str, decoder: str, metric: str) -> None:
    task, data = task_and_data(metric=metric)
    net = model(task, name, data, decoder)
    sampled = task.sampled(data, Sampling((2,), batch_size=16))  # inference never samples, whatever the fan-outs
    with torch.no_grad():
        full = task.evaluate(net, data, ("train", "val", "test"))
        chunked = task.evaluate(net, sampled, ("train", "val", "test"))
        assert full.keys() == chunked.keys() and f"val_{metric}" in full
        for key in full:
            assert torch.allclose(full[key], chunked[key], atol=1e-5), key
        whole, parts = task.predict(net, data), task.predict(net, sampled)
    assert torch.allclose(whole.proba, parts.proba, atol=1e-5)
    assert whole.splits == parts.splits and [r[:4] for r in whole.rows] == [r[:4] for r in parts.rows]


def test_the_trainer_trains_and_scores_link_prediction_on_sampled_subgraphs() -> None:
    from autoglm.plugins_builtin.synthetic import SyntheticGraph

    task = LinkPrediction()
    data = task.prepare(SyntheticGraph(**LINK_GRAPH).load(), seed=0)
    trainer = ENGINE.build("trainers", ComponentSpec("cuda", {
        "device": "cpu", "max_epochs": 15, "patience": 15, "batching": "mini", "batch_size": 64, "fanouts": [5, 5],
    }))
    net = model(task, "sage", data).train()
    torch.manual_seed(0)
    result = trainer.fit(net, data, {"lr": 0.01, "weight_decay": 0.0}, task=task)
    assert trainer.batching_for(data) == "mini" and result.val_score > 0.8  # full batch reaches ~0.88 here
    scored = trainer.evaluate(net, data, lambda m, d: float(task.evaluate(m, d, ("val",))["val_auc"]))
    assert scored == pytest.approx(result.val_score)
    assert trainer._view(data, None).sampling is not None  # evaluation batched the same way


def mini_link_config(tmp_path: Path, models: list[str]) -> dict[str, Any]:
    config = tiny_config(tmp_path / "run", models=models, budget=2, task="link_prediction")
    config["data"]["options"] = dict(LINK_GRAPH)
    config["trainer"]["options"].update(
        {"device": "cpu", "batching": "mini", "batch_size": 64, "fanouts": [5, 5], "max_epochs": 10, "patience": 10}
    )
    return config


def test_a_model_that_cannot_sample_is_refused_for_link_prediction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ENGINE.validate(mini_link_config(tmp_path, ["sage", "gcn"]), check_data=False)
    error = caught.value
    assert error.path == "search.models[1]"
    assert "model 'gcn' cannot train on sampled subgraphs (trainer.options.batching is mini)" in str(error)


def test_a_mini_batch_link_prediction_run_end_to_end_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "lp-mini.yaml"
    path.write_text(yaml.safe_dump(mini_link_config(tmp_path, ["sage"])), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-q", "run", str(path)], prog_name="autoglm", catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "ok" and summary["task"] == "link_prediction"
    assert summary["test"]["metric"] == "auc" and summary["test"]["score"] > 0.5
    with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    sizes = summary["dataset"]
    held_out = sum(sizes[f"{split}_{kind}"] for split in ("val", "test") for kind in ("edges", "negatives"))
    assert len(rows) == sizes["train_edges"] + held_out  # written from the chunked predictions
