"""Using what a search found: `autoglm predict`, `load_run(...).predict`, and run directories that move.

The spec: predicting on the run's own data covers every item and equals
``predictions.csv`` (whose test rows are the run's test figure); new data of
the same schema gets predictions with its own split; data that does not fit
the model is one clear error; a run directory records absolute paths, so it
predicts, shows and resumes from any working directory and after a move.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import DataError, Engine, UsageError, load_run
from autoglm.plugins.testing import TINY_GRAPH, tiny_config, tiny_graph

SHARED_TU = Path(__file__).resolve().parents[2] / "shared" / "data" / "TU"


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="autoglm")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def node_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("node") / "run"
    Engine(autoload=False).run(tiny_config(out, models=["gcn"], budget=2))
    return out


# -- node classification ---------------------------------------------------------------------


def test_predict_on_the_runs_own_data_covers_every_node_and_equals_predictions_csv(node_run: Path, tmp_path: Path) -> None:
    result = invoke("predict", node_run, "--output", tmp_path / "all.csv")
    assert result.exit_code == 0, result.output
    summary = json.loads((node_run / "summary.json").read_text(encoding="utf-8"))
    sizes = summary["dataset"]
    assert f"wrote {sizes['num_nodes']} predictions (" in result.stderr and f"test {sizes['test_nodes']}" in result.stderr
    rows, saved = read_csv(tmp_path / "all.csv"), read_csv(node_run / "predictions.csv")
    assert rows == saved
    assert [int(r["node"]) for r in rows] == list(range(sizes["num_nodes"]))
    test_rows = [r for r in rows if r["split"] == "test"]
    assert len(test_rows) == sizes["test_nodes"] == summary["test"]["rows"]
    accuracy = sum(r["y_true"] == r["y_pred"] for r in test_rows) / len(test_rows)
    assert accuracy == pytest.approx(summary["test"]["saved_model_score"])
    assert {r["split"] for r in rows} == {"train", "val", "test"}  # tiny_graph's masks cover every node


def test_predict_writes_csv_to_standard_output_by_default(node_run: Path) -> None:
    result = invoke("predict", node_run)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows == read_csv(node_run / "predictions.csv")


def test_load_run_predicts_labels_and_probabilities(node_run: Path) -> None:
    run = load_run(node_run)
    graph = tiny_graph()
    proba = run.predict_proba()
    assert proba.shape == (graph.num_nodes, 3) and torch.allclose(proba.sum(-1), torch.ones(graph.num_nodes))
    assert torch.equal(run.predict(), proba.argmax(-1))
    with torch.no_grad():
        direct = run.model(graph.x, graph.edge_index).argmax(-1)
    assert torch.equal(run.predict(graph), direct)  # a Data of the same schema


def test_new_data_of_the_same_schema_takes_its_own_split(node_run: Path, tmp_path: Path) -> None:
    run = load_run(node_run)
    other = tiny_graph(seed=5)
    del other.train_mask, other.val_mask
    counts = run.predictions(other).counts()  # its own test mask; the other nodes are new
    assert counts == {"new": int((~other.test_mask).sum()), "test": int(other.test_mask.sum())}
    del other.test_mask
    other.y[:10] = -1  # unlabelled nodes get a prediction too
    table = run.predictions(other)
    assert table.counts() == {"new": other.num_nodes}
    assert [r[2] for r in table.rows[:10]] == [""] * 10 and all(r[2] != "" for r in table.rows[10:])
    del other.y
    assert run.predict_proba(other).shape == (other.num_nodes, 3)
    # the same through the CLI, as a data section
    section = {"name": "synthetic", "options": {**TINY_GRAPH, "seed": 9}}
    result = invoke("predict", node_run, "--data", yaml.safe_dump(section, default_flow_style=True), "-o", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    assert len(read_csv(tmp_path / "o.csv")) == TINY_GRAPH["num_nodes"]


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda g: setattr(g, "x", torch.rand(g.num_nodes, 5)), "the model was trained on 8 node features; this graph has 5"),
        (lambda g: g.y.__setitem__(0, 7), "labels must lie in 0..2 (or -1 for no label), found"),
        (lambda g: setattr(g, "x", None), "the graph has no 'x'"),
    ],
)
def test_data_that_does_not_fit_the_model_is_one_clear_error(node_run: Path, edit: Any, fragment: str) -> None:
    graph = tiny_graph()
    edit(graph)
    with pytest.raises(DataError) as raised:
        load_run(node_run).predict(graph)
    assert fragment in str(raised.value)


def test_bad_predict_requests_through_the_cli(node_run: Path, tmp_path: Path) -> None:
    wide = {"name": "synthetic", "options": {**TINY_GRAPH, "num_features": 5}}
    cases = [
        (["--data", yaml.safe_dump(wide, default_flow_style=True)], 1, "the model was trained on 8 node features; this graph has 5"),
        (["--data", tmp_path / "nope.yaml"], 2, "no such file"),
        (["--data", "{name: nosuch}"], 2, "nosuch"),
        (["--data", "{options: {}}"], 2, "--data needs a data section"),
    ]
    for args, code, fragment in cases:
        result = invoke("predict", node_run, *args)
        assert result.exit_code == code, (args, result.output)
        assert fragment in result.stderr and "Traceback" not in result.output
        assert result.stderr.count("autoglm: error:") == 1
    unfinished = tmp_path / "empty"
    unfinished.mkdir()
    result = invoke("predict", unfinished)
    assert result.exit_code == 1 and "holds no saved best model" in result.stderr


# -- link prediction and graph classification --------------------------------------------------


def test_link_prediction_predicts_its_pairs_and_the_pairs_given(tmp_path: Path) -> None:
    result = Engine(autoload=False).run(tiny_config(tmp_path / "lp", models=["gcn"], task="link_prediction"))
    run = load_run(result.run_dir)
    own = run.predictions()
    assert own.header == ["source", "target", "split", "label", "score"]
    saved = read_csv(result.run_dir / "predictions.csv")
    assert [list(map(str, row)) for row in own.rows] == [list(r.values()) for r in saved]
    sizes = result.summary["dataset"]
    assert own.counts() == {
        "train": sizes["train_edges"], "val": sizes["val_edges"] + sizes["val_negatives"],
        "test": sizes["test_edges"] + sizes["test_negatives"],
    }
    graph = tiny_graph()
    graph.edge_label_index = torch.tensor([[0, 1, 2], [3, 4, 5]])
    proba = run.predict_proba(graph)
    assert proba.shape == (3,) and bool(((proba >= 0) & (proba <= 1)).all())
    assert torch.equal(run.predict(graph), (proba >= 0.5).long())
    graph.edge_label_index = torch.tensor([[0], [999]])
    with pytest.raises(DataError, match="the data given: edge_label_index names nodes outside 0..199"):
        run.predict(graph)


def test_graph_classification_predicts_one_row_per_graph(tmp_path: Path) -> None:
    from autoglm.plugins_builtin.synthetic_graphs import SyntheticGraphs

    config = tiny_config(tmp_path / "gc", models=["gin"], task="graph_classification")
    config["data"] = {"name": "synthetic_graphs", "options": {"num_graphs": 40, "seed": 0}}
    result = Engine(autoload=False).run(config)
    run = load_run(result.run_dir)
    own = run.predictions()
    assert len(own.rows) == 40 and set(own.counts()) == {"train", "val", "test"}
    assert [list(map(str, row)) for row in own.rows] == [list(r.values()) for r in read_csv(result.run_dir / "predictions.csv")]
    new = SyntheticGraphs(num_graphs=6, seed=3).load()
    for graph in new[:3]:
        del graph.y
    table = run.predictions(new)
    assert table.counts() == {"new": 6} and [row[2] for row in table.rows[:3]] == ["", "", ""]
    assert run.predict_proba(new).shape == (6, 2)
    with pytest.raises(DataError, match="graph 0 has 3 node features; the model was trained on"):
        run.predict(SyntheticGraphs(num_graphs=4, num_features=3).load())


# -- node classification with unlabelled nodes --------------------------------------------------


class UnlabelledGraph:
    """tiny_graph without masks, and a quarter of its nodes unlabelled (y = -1)."""

    def load(self) -> Any:
        graph = tiny_graph()
        del graph.train_mask, graph.val_mask, graph.test_mask
        graph.y[::4] = -1
        return graph


class UnlabelledPlugin:
    from autoglm.plugins import hookimpl

    @hookimpl
    def autoglm_register_data_loaders(self, register: Any) -> None:
        register("unlabelled", UnlabelledGraph)


def test_unlabelled_nodes_pass_messages_sit_in_no_split_and_get_predictions(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", models=["gcn"])
    config["data"] = {"name": "unlabelled"}
    result = Engine(plugins=[UnlabelledPlugin()], autoload=False).run(config)
    sizes = result.summary["dataset"]
    assert sizes["unlabelled_nodes"] == 50
    assert sizes["train_nodes"] + sizes["val_nodes"] + sizes["test_nodes"] == 150
    rows = read_csv(result.run_dir / "predictions.csv")
    unlabelled = [r for r in rows if r["split"] == "unlabelled"]
    assert [int(r["node"]) for r in unlabelled] == list(range(0, 200, 4))
    assert all(r["y_true"] == "" and r["y_pred"] != "" for r in unlabelled)


# -- run directories that move ---------------------------------------------------------------


@pytest.fixture
def mutag(tmp_path: Path) -> Path:
    if not (SHARED_TU / "MUTAG" / "raw" / "MUTAG_A.txt").exists():
        pytest.skip(f"MUTAG not found under {SHARED_TU}")
    root = tmp_path / "data" / "TU"
    shutil.copytree(SHARED_TU / "MUTAG", root / "MUTAG")
    for path in root.rglob("*"):
        path.chmod(stat.S_IRWXU)
    return root


def mutag_config(budget: int = 2) -> dict[str, Any]:
    """Relative paths, as a user writes them: data/TU and runs/mutag, from the current directory."""
    config = tiny_config("runs/mutag", models=["gin"], budget=budget, max_epochs=3, task="graph_classification")
    config["data"] = {"name": "tu", "options": {"name": "MUTAG", "root": "data/TU"}}
    return config


def test_the_run_records_absolute_paths_and_predicts_from_anywhere_after_a_move(
    mutag: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Engine(autoload=False).run(mutag_config())
    recorded = yaml.safe_load((tmp_path / "runs" / "mutag" / "config.yaml").read_text(encoding="utf-8"))
    assert recorded["data"]["options"]["root"] == str(mutag)
    assert recorded["output"] == str(tmp_path / "runs" / "mutag")
    state = json.loads((tmp_path / "runs" / "mutag" / ".autoglm-run.json").read_text(encoding="utf-8"))
    assert len(state["dataset"]["checksum"]) == 64
    moved = tmp_path / "elsewhere" / "moved-run"
    moved.parent.mkdir()
    shutil.move(tmp_path / "runs" / "mutag", moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    result = invoke("predict", "moved-run", "-o", "p.csv")
    assert result.exit_code == 0, result.output
    assert read_csv(tmp_path / "elsewhere" / "p.csv") == read_csv(moved / "predictions.csv")
    shown = invoke("show", "moved-run")
    assert shown.exit_code == 0 and ': ok, ' in shown.output.splitlines()[0]


class InterruptSecondTrial:
    def on_trial_start(self, trial: int, candidate: Any) -> None:
        if trial == 2:
            raise KeyboardInterrupt


def test_a_moved_run_resumes_from_another_directory(mutag: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoglm.core import RunInterrupted

    monkeypatch.chdir(tmp_path)
    engine = Engine(autoload=False)
    with pytest.raises(RunInterrupted):
        engine.run(mutag_config(budget=3), reporters=[InterruptSecondTrial()])
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "runs" / "mutag", moved)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    result = engine.resume(moved)
    assert [t.trial for t in result.trials] == [1, 2, 3] and result.run_dir == moved
    assert load_run(moved).predict().shape == (188,)


def test_data_that_changed_stops_a_resume_and_warns_a_prediction(
    mutag: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from autoglm.core import RunInterrupted

    monkeypatch.chdir(tmp_path)
    engine = Engine(autoload=False)
    with pytest.raises(RunInterrupted):
        engine.run(mutag_config(budget=3), reporters=[InterruptSecondTrial()])
    labels = mutag / "MUTAG" / "raw" / "MUTAG_graph_labels.txt"
    original = labels.read_text(encoding="utf-8")
    lines = original.splitlines()
    labels.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="the data changed since the run started"):
        engine.resume(tmp_path / "runs" / "mutag")
    labels.write_text(original, encoding="utf-8")
    engine.resume(tmp_path / "runs" / "mutag")
    labels.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    caplog.set_level(logging.WARNING, logger="autoglm")
    load_run(tmp_path / "runs" / "mutag").predict()
    assert any("changed since the run" in r.getMessage() for r in caplog.records)


def test_a_run_saved_before_tasks_cannot_predict_but_says_so(node_run: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    shutil.copytree(node_run, legacy)
    spec = json.loads((legacy / "best_model.json").read_text(encoding="utf-8"))
    spec = {"model": spec["model"], "model_params": spec["model_params"], "in_channels": 8, "out_channels": 3}
    (legacy / "best_model.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(UsageError, match="saved before tasks existed"):
        load_run(legacy)


# -- data handed over from Python ----------------------------------------------------------


def test_a_host_runs_on_its_own_graph_with_data_given(tmp_path: Path) -> None:
    from autoglm.core import ConfigError, RunInterrupted

    config = tiny_config(tmp_path / "run", models=["gcn"], budget=3)
    del config["data"]
    graph = tiny_graph(seed=4)
    engine = Engine(autoload=False)
    with pytest.raises(RunInterrupted):
        engine.run(config, data=graph, reporters=[InterruptSecondTrial()])
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text(encoding="utf-8"))
    assert recorded["data"] == {"name": "given", "options": {}}
    with pytest.raises(ConfigError, match="data: given runs on a graph passed from Python"):
        engine.resume(tmp_path / "run")
    result = engine.resume(tmp_path / "run", data=graph)
    assert [t.trial for t in result.trials] == [1, 2, 3]
    run = load_run(result.run_dir)
    with pytest.raises(DataError, match="data 'given'"):
        run.predict()
    assert run.predict(graph).shape == (graph.num_nodes,)
    from autoglm.plugins_builtin.synthetic_graphs import SyntheticGraphs

    graphs = SyntheticGraphs(num_graphs=20).load()
    gc = tiny_config(tmp_path / "gc", models=["gin"], task="graph_classification")
    del gc["data"]
    assert Engine(autoload=False).run(gc, data=graphs).summary["dataset"]["num_graphs"] == 20
    with pytest.raises(ConfigError, match="data= was passed, but the config's data section names loader 'synthetic'"):
        engine.run(tiny_config(tmp_path / "other", models=["gcn"]), data=graph)
    with pytest.raises(ConfigError, match="data: given runs on a graph passed from Python"):
        engine.run({**tiny_config(tmp_path / "bare", models=["gcn"]), "data": "given"})
