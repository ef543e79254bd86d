"""Feature engineering as part of the search: preprocessing and structural encodings, chosen per trial,
computed once per choice, recorded, and replayed identically when the saved model predicts."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from autoglm.core import ConfigError, Engine, load_run
from autoglm.plugins.features import WIDTH, transform_for
from autoglm.plugins.testing import tiny_config, tiny_graph

#: A path 0-1-2-3 and a triangle 4-5-6, both ways.
EDGES = torch.tensor([[0, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6, 4], [1, 0, 2, 1, 3, 2, 5, 4, 6, 5, 4, 6]])
X = torch.arange(14, dtype=torch.float32).view(7, 2) + 1


def test_preprocessing() -> None:
    row = transform_for({"preprocess": "row"})(X, EDGES, 7)
    assert torch.allclose(row.abs().sum(1), torch.ones(7))
    standard = transform_for({"preprocess": "standard"})(X, EDGES, 7)
    assert torch.allclose(standard.mean(0), torch.zeros(2), atol=1e-6)
    assert torch.allclose(standard.std(0, unbiased=False), torch.ones(2), atol=1e-5)
    assert torch.equal(transform_for({})(X, EDGES, 7), X)


def test_structural_encodings_are_appended() -> None:
    degree = transform_for({"structural": "degree"})(X, EDGES, 7)
    assert degree.shape == (7, 2 + WIDTH["degree"]) and torch.equal(degree[:, :2], X)
    assert degree[:, 2].tolist() == pytest.approx([math.log(2), math.log(3), math.log(3), math.log(2)] + [math.log(3)] * 3)
    assert degree[:, 3:].argmax(1).tolist() == [1, 2, 2, 1, 2, 2, 2]  # one-hot of the degree
    pagerank = transform_for({"structural": "pagerank"})(X, EDGES, 7)[:, 2]
    assert float(torch.exp(pagerank).sum() / 7) == pytest.approx(1.0, abs=1e-4)  # log(N x PR): PR sums to 1
    assert pagerank[1] > pagerank[0]  # an inner node of the path outranks its end
    assert transform_for({"structural": "rwpe"})(X, EDGES, 7).shape == (7, 2 + WIDTH["rwpe"])
    lappe = transform_for({"structural": "lappe"})(X, EDGES, 7)
    assert lappe.shape == (7, 2 + WIDTH["lappe"]) and torch.isfinite(lappe).all()


def test_unknown_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="structural must be one of none, degree, pagerank, rwpe, lappe"):
        transform_for({"structural": "eigen"})


def feature_config(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    config = tiny_config(tmp_path / "run", models=["gcn"], budget=6, **kw)
    config["search"]["task_space"] = {
        "preprocess": {"choice": ["raw", "standard"]}, "structural": {"choice": ["none", "degree", "pagerank"]},
    }
    return config


def test_a_search_chooses_features_records_them_and_computes_each_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autoglm")
    result = Engine(autoload=False).run(feature_config(tmp_path))
    chosen = {(t.task_params["preprocess"], t.task_params["structural"]) for t in result.trials}
    assert len(chosen) > 1, "the search must try more than one feature choice"
    computed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("features: ")]
    non_default = {c for c in chosen if c != ("raw", "none")}
    assert len(computed) == len(non_default)  # once per distinct choice, however many trials share it
    # the saved model predicts with its trial's features, exactly as in the run
    rows = list(csv.DictReader((result.run_dir / "predictions.csv").open(encoding="utf-8")))
    again = load_run(result.run_dir).predictions()
    assert [list(map(str, r)) for r in again.rows] == [list(r.values()) for r in rows]
    spec = load_run(result.run_dir).spec
    extra = WIDTH[spec["task_params"]["structural"]]
    assert spec["sizes"]["num_features"] == 8 + extra
    assert load_run(result.run_dir).predict(tiny_graph(seed=3)).shape == (200,)  # new data: raw width 8


def test_saved_feature_choices_replay_on_new_data(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", models=["gcn"], budget=1)
    config["search"]["task_space"] = {"preprocess": "standard", "structural": "degree"}
    result = Engine(autoload=False).run(config)
    run = load_run(result.run_dir)
    graph = tiny_graph(seed=5)
    with torch.no_grad():
        x = transform_for({"preprocess": "standard", "structural": "degree"})(graph.x, graph.edge_index, graph.num_nodes)
        direct = torch.softmax(run.model(x, graph.edge_index), dim=-1)
    assert torch.allclose(run.predict_proba(graph), direct, atol=1e-6)


def test_feature_choices_in_other_tasks(tmp_path: Path) -> None:
    link = tiny_config(tmp_path / "lp", models=["gcn"], budget=1, task="link_prediction")
    link["search"]["task_space"] = {"structural": "pagerank"}
    assert Engine(autoload=False).run(link).best.task_params["structural"] == "pagerank"
    graphs = tiny_config(tmp_path / "gc", models=["gin"], budget=1, task="graph_classification")
    graphs["data"] = {"name": "synthetic_graphs", "options": {"num_graphs": 30}}
    graphs["search"]["task_space"] = {"structural": "degree", "preprocess": "standard"}
    result = Engine(autoload=False).run(graphs)
    assert load_run(result.run_dir).spec["sizes"]["num_features"] == 8 + WIDTH["degree"]


def test_link_structural_features_see_the_training_edges_only(tmp_path: Path) -> None:
    from autoglm.plugins_builtin.link_prediction import LinkPrediction

    task = LinkPrediction()
    data = task.prepare(tiny_graph(), seed=0)
    seen: list[Any] = []

    def spy(x: Any, edge_index: Any, num_nodes: int) -> Any:
        seen.append(edge_index)
        return x

    task.with_features(data, spy)
    assert seen[0] is data.edge_index  # message passing's edges: the validation and test edges are not among them


@pytest.mark.parametrize("value", ["eigen", {"choice": ["raw", "rwo"]}])
def test_bad_feature_choices_are_config_errors(tmp_path: Path, value: Any) -> None:
    config = tiny_config(tmp_path / "run", models=["gcn"])
    config["search"]["task_space"] = {"structural" if value == "eigen" else "preprocess": value}
    with pytest.raises(ConfigError, match="is not a feature choice; valid:"):
        Engine(autoload=False).load_config(config)
