"""Link prediction: the split (no leaks), the metrics (against hand-computed values), the run.

Cross-task behaviour (resume, workers, pruning) is in ``tests/test_tasks.py``.
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
from autoglm.core import ConfigError, DataError, Engine
from autoglm.plugins.metrics import average_precision, hits_at_k, roc_auc
from autoglm.plugins.testing import tiny_config, tiny_graph
from autoglm.plugins_builtin.link_prediction import LinkPrediction

T = torch.tensor


# -- metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("positive", "negative", "auc"),
    [
        ([0.9, 0.8, 0.4], [0.7, 0.3], 5 / 6),  # 5 of the 6 pairs ordered right
        ([1.0, 0.5], [0.5, 0.0], 3.5 / 4),  # the tie counts a half
        ([0.5], [0.5], 0.5),
        ([0.1, 0.2], [0.3, 0.4], 0.0),
        ([3.0, 2.0], [1.0], 1.0),
    ],
)
def test_roc_auc_against_hand_computed_values(positive: list[float], negative: list[float], auc: float) -> None:
    assert float(roc_auc(T(positive), T(negative))) == pytest.approx(auc)


@pytest.mark.parametrize(
    ("positive", "negative", "ap"),
    [
        ([0.9, 0.4], [0.8, 0.3], 0.5 * 1.0 + 0.5 * 2 / 3),  # precision 1/1 at the first positive, 2/3 at the second
        ([0.5, 0.5], [0.5], 2 / 3),  # one threshold for the three tied scores
        ([0.9, 0.8], [0.1], 1.0),
        ([0.1], [0.9, 0.8], 1 / 3),
    ],
)
def test_average_precision_against_hand_computed_values(positive: list[float], negative: list[float], ap: float) -> None:
    assert float(average_precision(T(positive), T(negative))) == pytest.approx(ap)


def test_hits_at_k_as_ogb_defines_it() -> None:
    negatives = T([0.9, 0.5, 0.1])
    assert float(hits_at_k(T([0.6, 0.5, 0.95]), negatives, 2)) == pytest.approx(2 / 3)  # strictly above 0.5
    assert float(hits_at_k(T([0.6]), negatives, 4)) == 1.0  # fewer negatives than K


def test_metrics_agree_with_scikit_learn_on_random_scores() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    generator = torch.Generator().manual_seed(0)
    positive = torch.randint(0, 20, (300,), generator=generator).float()  # many ties
    negative = torch.randint(0, 15, (200,), generator=generator).float()
    labels = [1] * 300 + [0] * 200
    scores = torch.cat([positive, negative]).tolist()
    assert float(roc_auc(positive, negative)) == pytest.approx(metrics.roc_auc_score(labels, scores))
    assert float(average_precision(positive, negative)) == pytest.approx(metrics.average_precision_score(labels, scores))


# -- the split -----------------------------------------------------------------------------


def _pairs(index: torch.Tensor) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in index.t().tolist()}


def test_no_validation_or_test_edge_reaches_message_passing() -> None:
    graph = tiny_graph()
    data = LinkPrediction().prepare(graph, seed=0)
    passing = _pairs(data.edge_index)
    for split in ("val", "test"):
        held_out = _pairs(data.pairs[split][0])
        assert held_out and not held_out & passing
        assert not {(b, a) for a, b in held_out} & passing, f"{split} edges leak in the other direction"
    assert _pairs(data.pairs["train"][0]) <= passing
    edges = _pairs(graph.edge_index)
    for split in ("val", "test"):
        assert not _pairs(data.pairs[split][1]) & edges, f"{split} negatives are edges of the graph"
    # Training negatives are drawn against the training graph only: avoiding held-out edges would reveal them.
    assert not _pairs(data.pairs["train"][1]) & passing
    sizes = data.sizes
    total = sizes["train_edges"] + sizes["val_edges"] + sizes["test_edges"]
    assert total == graph.edge_index.size(1) // 2
    assert sizes["test_edges"] == pytest.approx(0.1 * total, abs=1) and sizes["val_edges"] == pytest.approx(0.05 * total, abs=1)


def test_the_split_depends_on_its_seed_only() -> None:
    graph = tiny_graph()
    first, again = LinkPrediction().prepare(graph, seed=3), LinkPrediction().prepare(graph, seed=3)
    other = LinkPrediction().prepare(graph, seed=4)
    fixed = LinkPrediction(split_seed=9)
    assert torch.equal(first.pairs["test"][0], again.pairs["test"][0])
    assert not torch.equal(first.pairs["test"][0], other.pairs["test"][0])
    assert torch.equal(fixed.prepare(graph, seed=1).pairs["test"][0], fixed.prepare(graph, seed=2).pairs["test"][0])
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    LinkPrediction().prepare(graph, seed=0)
    assert torch.equal(torch.rand(1), before), "splitting moved the run's random stream"


def test_training_negatives_are_drawn_again_every_epoch() -> None:
    task = LinkPrediction()
    data = task.prepare(tiny_graph(), seed=0)
    (_, first), = list(task.batches(data))
    (_, second), = list(task.batches(data))
    assert first.shape == second.shape == data.pairs["train"][0].shape
    assert not torch.equal(first, second)


def test_too_few_edges_is_a_clear_data_error() -> None:
    graph = tiny_graph()
    graph.edge_index = graph.edge_index[:, :20]
    with pytest.raises(DataError, match="too few to hold out"):
        LinkPrediction().prepare(graph, seed=0)


def test_fractions_that_leave_nothing_to_train_on_are_a_config_error(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    config["task"] = {"name": "link_prediction", "options": {"val_fraction": 0.5, "test_fraction": 0.5}}
    with pytest.raises(ConfigError, match="task.options.*val_fraction \\+ test_fraction must leave edges"):
        Engine(autoload=False).validate(config)
    config["task"]["options"] = {"metric": "mrr"}
    with pytest.raises(ConfigError, match=r"task.options.metric: expected one of 'auc', 'ap', 'hits@20'"):
        Engine(autoload=False).load_config(config)


# -- a run ---------------------------------------------------------------------------------


def link_config(tmp_path: Path, **task_options: Any) -> dict[str, Any]:
    config = tiny_config(tmp_path / "out", models=["gcn"], budget=2, max_epochs=15)
    config["task"] = {"name": "link_prediction", "options": task_options}
    return config


def test_a_link_prediction_run_end_to_end_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "lp.yaml"
    path.write_text(yaml.safe_dump(link_config(tmp_path)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-q", "run", str(path)], prog_name="autoglm")
    assert result.exit_code == 0, result.output
    assert "val_auc" in result.output and "test_auc" in result.output
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["task"] == "link_prediction" and summary["objective"] == {"metric": "auc", "mode": "max"}
    assert summary["test"]["metric"] == "auc" and 0.0 <= summary["test"]["score"] <= 1.0
    assert summary["best"]["metric"] == "auc"
    assert set(summary["best"]["task_params"]) == {"decoder", "embedding", "preprocess", "structural"}
    assert summary["dataset"]["test_edges"] > 0
    with open(out / "leaderboard.csv", newline="", encoding="utf-8") as handle:
        assert "val_auc" in next(csv.reader(handle))
    with open(out / "predictions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["source", "target", "split", "label", "score"]
    sizes = summary["dataset"]
    counts = {split: sum(r["split"] == split for r in rows) for split in ("train", "val", "test")}
    assert counts == {
        "train": sizes["train_edges"],  # the training positives (their negatives are redrawn every epoch)
        "val": sizes["val_edges"] + sizes["val_negatives"],
        "test": sizes["test_edges"] + sizes["test_negatives"],
    }
    assert len(rows) == sum(counts.values()) and counts["test"] == summary["test"]["rows"]
    assert sum(int(r["label"]) for r in rows if r["split"] == "test") == sizes["test_edges"]
    shown = CliRunner().invoke(cli, ["show", str(out)])
    assert shown.exit_code == 0 and 'test_auc: ' in shown.output and 'val_auc' in shown.output


def test_the_saved_link_model_reloads_and_scores_the_same(tmp_path: Path) -> None:
    from autoglm.core import load_best_model

    result = Engine(autoload=False).run(link_config(tmp_path))
    model, spec = load_best_model(result.run_dir)
    assert spec["task"]["name"] == "link_prediction"
    data = LinkPrediction().prepare(tiny_graph(), seed=0)
    with torch.no_grad():
        logits = model(data.x, data.edge_index, data.pairs["test"][0])
    assert logits.shape == (data.pairs["test"][0].size(1),)


@pytest.mark.parametrize("metric", ["ap", "hits@20"])
def test_the_objective_follows_the_metric_option(tmp_path: Path, metric: str) -> None:
    seen: list[dict[str, float]] = []

    class Epochs:
        def on_epoch(self, trial: int, epoch: int, metrics: dict[str, float]) -> None:
            seen.append(metrics)

    result = Engine(autoload=False).run(link_config(tmp_path, metric=metric), reporters=[Epochs()])
    assert result.metric == metric and result.summary["objective"]["metric"] == metric
    assert all(f"val_{metric}" in m and "val_auc" in m for m in seen)
    assert result.best.val_score == max(r.val_score for r in result.trials if r.ok)


def test_a_model_that_serves_node_classification_only_is_refused(tmp_path: Path) -> None:
    from autoglm.plugins import hookimpl
    from autoglm.plugins.testing import make_engine
    from autoglm.plugins_builtin.gcn import build_gcn

    class NodeOnly:
        @hookimpl
        def autoglm_register_models(self, register: Any) -> None:
            register("nodeonly", build_gcn, tasks=["node_classification"])

    config = link_config(tmp_path)
    config["search"] = {"models": ["gcn", "nodeonly"]}
    with pytest.raises(ConfigError) as caught:
        make_engine(NodeOnly()).validate(config)
    message = str(caught.value)
    assert caught.value.path == "search.models[1]"
    assert "model 'nodeonly'" in message and "does not serve task 'link_prediction'" in message
    assert "it serves node_classification" in message and "models for 'link_prediction': appnp, gat, gcn" in message
