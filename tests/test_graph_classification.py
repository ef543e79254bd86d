"""Graph classification: the TU reader (against PyG's, and on bad files), the split, the folds, a run."""

from __future__ import annotations

import csv
import json
import shutil
import stat
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import DataError, Engine
from autoglm.plugins.testing import tiny_config, tiny_graph
from autoglm.plugins_builtin.graph_classification import GraphClassification
from autoglm.plugins_builtin.synthetic_graphs import SyntheticGraphs
from autoglm.plugins_builtin.tu import TUDatasetLoader

SHARED_TU = Path(__file__).resolve().parents[2] / "shared" / "data" / "TU"


@pytest.fixture
def mutag(tmp_path: Path) -> Path:
    """A writable copy of MUTAG's raw files (root/MUTAG/raw/...)."""
    if not (SHARED_TU / "MUTAG" / "raw" / "MUTAG_A.txt").exists():
        pytest.skip(f"MUTAG not found under {SHARED_TU}")
    root = tmp_path / "TU"
    shutil.copytree(SHARED_TU / "MUTAG", root / "MUTAG")
    for path in root.rglob("*"):
        path.chmod(stat.S_IRWXU)
    return root


# -- the TU reader -------------------------------------------------------------------------


def test_the_tu_reader_gives_the_graphs_pyg_gives(mutag: Path, tmp_path: Path) -> None:
    from torch_geometric.datasets import TUDataset

    ours = TUDatasetLoader(name="MUTAG", root=str(mutag)).load()
    theirs = TUDataset(str(tmp_path / "pyg"), "MUTAG") if False else None  # never downloads: the copy below is local
    shutil.copytree(mutag / "MUTAG", tmp_path / "pyg" / "MUTAG")
    theirs = TUDataset(str(tmp_path / "pyg"), "MUTAG")
    assert len(ours) == len(theirs) == 188
    for mine, reference in zip(ours, theirs):
        assert torch.equal(mine.x, reference.x)
        assert int(mine.y) == int(reference.y)
        assert set(map(tuple, mine.edge_index.t().tolist())) == set(map(tuple, reference.edge_index.t().tolist()))


def test_the_tu_reader_writes_nothing_next_to_the_files(mutag: Path) -> None:
    before = sorted(p.relative_to(mutag) for p in mutag.rglob("*"))
    folders = [mutag, mutag / "MUTAG", mutag / "MUTAG" / "raw"]
    for folder in folders:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        loader = TUDatasetLoader(name="MUTAG", root=str(mutag))
        assert len(loader.load()) == 188
        assert loader.describe()["labels"] == {"-1": 0, "1": 1}
    finally:
        for folder in folders:
            folder.chmod(stat.S_IRWXU)
    assert sorted(p.relative_to(mutag) for p in mutag.rglob("*")) == before


def _edit(name: str, change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def apply(raw: Path) -> None:
        path = raw / f"MUTAG_{name}.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(change(lines)) + "\n", encoding="utf-8")

    return apply


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (_edit("A", lambda lines: [lines[0], "3", *lines[2:]]), "MUTAG_A.txt: line 2 has 1 value(s), expected 2 (a ragged file)"),
        (_edit("A", lambda lines: ["1, 99999", *lines[1:]]), "MUTAG_A.txt: line 1: node id 99999 is outside 1..3371"),
        (_edit("A", lambda lines: ["1, x", *lines[1:]]), "MUTAG_A.txt: line 1 is not integers"),
        (_edit("A", lambda lines: ["1, 3371", *lines[1:]]), "MUTAG_A.txt: line 1: the edge joins nodes of graphs 1 and 188"),
        (_edit("graph_indicator", lambda lines: [str(int(v) + 1 if int(v) >= 5 else v) for v in lines]),
         "graph ids must run 1..189 without gaps, but 5 is missing"),
        (_edit("graph_labels", lambda lines: lines[:-3]), "MUTAG_graph_labels.txt: 185 label(s) for 188 graphs"),
        (_edit("node_labels", lambda lines: lines[:-1]), "MUTAG_node_labels.txt: 3370 line(s) for 3371 nodes"),
        (lambda raw: (raw / "MUTAG_graph_labels.txt").unlink(), "files not found in"),
    ],
)
def test_bad_tu_files_are_one_line_naming_the_file(mutag: Path, damage: Callable[[Path], None], fragment: str) -> None:
    damage(mutag / "MUTAG" / "raw")
    with pytest.raises(DataError) as caught:
        TUDatasetLoader(name="MUTAG", root=str(mutag)).load()
    message = str(caught.value)
    assert message.startswith("TU MUTAG: ") and fragment in message and "\n" not in message


def test_bad_tu_files_through_the_cli(mutag: Path, tmp_path: Path) -> None:
    _edit("graph_labels", lambda lines: lines[:-1])(mutag / "MUTAG" / "raw")
    config = tiny_config(tmp_path / "out", models=["gin"])
    config["task"] = "graph_classification"
    config["data"] = {"name": "tu", "options": {"name": "MUTAG", "root": str(mutag)}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-q", "run", str(path)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("autoglm: error:")]
    assert len(errors) == 1 and "187 label(s) for 188 graphs" in errors[0] and "Traceback" not in result.output


# -- data and split ------------------------------------------------------------------------


def test_synthetic_graphs_depend_on_the_seed_only_and_are_balanced() -> None:
    first, again = SyntheticGraphs(seed=1).load(), SyntheticGraphs(seed=1).load()
    assert all(torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x) for a, b in zip(first, again))
    assert not torch.equal(first[0].x, SyntheticGraphs(seed=2).load()[0].x)
    labels = torch.cat([g.y for g in first])
    assert labels.bincount().tolist() == [150, 150]


def test_the_split_is_stratified_and_seeded() -> None:
    graphs = SyntheticGraphs(num_graphs=100).load()
    data = GraphClassification().prepare(graphs, seed=0)
    assert (data.sizes["train_graphs"], data.sizes["val_graphs"], data.sizes["test_graphs"]) == (80, 10, 10)
    labels = torch.cat([g.y for g in graphs])
    assert labels[data.index["test"]].bincount().tolist() == [5, 5]
    everything = torch.cat(list(data.index.values()))
    assert sorted(everything.tolist()) == list(range(100))
    assert torch.equal(GraphClassification().prepare(graphs, seed=0).index["test"], data.index["test"])


def test_folds_partition_the_graphs_and_keep_validation_apart() -> None:
    graphs = SyntheticGraphs(num_graphs=100).load()
    task = GraphClassification(folds=5)
    folds = task.folds_of(task.prepare(graphs, seed=0), seed=0)
    assert len(folds) == 5
    tested = sorted(i for fold in folds for i in fold.index["test"].tolist())
    assert tested == list(range(100))  # every graph is tested exactly once
    labels = torch.cat([g.y for g in graphs])
    for fold in folds:
        parts = [set(fold.index[split].tolist()) for split in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert sum(map(len, parts)) == 100
        assert labels[fold.index["test"]].bincount().tolist() == [10, 10]
    assert GraphClassification().folds_of(task.prepare(graphs, seed=0), seed=0) == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (lambda: tiny_graph(), "graph classification needs many graphs"),
        (lambda: SyntheticGraphs(num_graphs=8).load()[:3], "needs at least 4 graphs"),
        (lambda: [*SyntheticGraphs(num_graphs=8).load()[:7], SyntheticGraphs(num_graphs=8, num_features=3).load()[0]],
         "graph 7 has 3 node features, graph 0 has 8"),
        (lambda: [g.update({"y": None}) or g for g in SyntheticGraphs(num_graphs=8).load()], "graph 0: y must hold the graph's one class label"),
        (lambda: [g.update({"y": torch.tensor([0])}) or g for g in SyntheticGraphs(num_graphs=8).load()], "a single class"),
    ],
)
def test_data_the_task_cannot_use_is_a_clear_error(data: Callable[[], Any], fragment: str) -> None:
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        GraphClassification().prepare(data(), seed=0)


# -- a run ---------------------------------------------------------------------------------


def graph_config(tmp_path: Path, **task_options: Any) -> dict[str, Any]:
    config = tiny_config(tmp_path / "out", models=["gin"], budget=2, max_epochs=10)
    config["task"] = {"name": "graph_classification", "options": task_options}
    config["data"] = {"name": "synthetic_graphs", "options": {"num_graphs": 60}}
    return config


def test_a_graph_classification_run_with_cross_validation_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "gc.yaml"
    path.write_text(yaml.safe_dump(graph_config(tmp_path, folds=3)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-q", "run", str(path)], prog_name="autoglm")
    assert result.exit_code == 0, result.output
    assert "3-fold cross-validation acc" in result.output
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["task"] == "graph_classification" and summary["dataset"]["num_graphs"] == 60
    cv = summary["test"]["cross_validation"]
    assert cv["folds"] == 3 and len(cv["scores"]) == 3 and cv["mean"] == pytest.approx(sum(cv["scores"]) / 3)
    with open(out / "predictions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["graph", "split", "y_true", "y_pred", "confidence", "p_0", "p_1"]
    assert [int(r["graph"]) for r in rows] == list(range(summary["dataset"]["num_graphs"]))
    for split in ("train", "val", "test"):
        assert sum(r["split"] == split for r in rows) == summary["dataset"][f"{split}_graphs"]
    assert summary["test"]["rows"] == summary["dataset"]["test_graphs"]


def test_gin_separates_the_synthetic_classes(tmp_path: Path) -> None:
    config = graph_config(tmp_path)
    config["data"]["options"]["num_graphs"] = 120
    config["trainer"]["options"].update(max_epochs=40, patience=40)
    config["search"]["space"] = {"gin": {"hidden": 32, "layers": 3, "dropout": 0.0}}
    config["search"]["task_space"] = {"readout": "add", "embedding": 32, "head_dropout": 0.0}
    result = Engine(autoload=False).run(config)
    assert result.test_score >= 0.8  # chance is 0.5: the classes differ in density only


def test_the_saved_graph_model_reloads(tmp_path: Path) -> None:
    from torch_geometric.loader import DataLoader

    from autoglm.core import load_best_model

    result = Engine(autoload=False).run(graph_config(tmp_path))
    model, spec = load_best_model(result.run_dir)
    assert spec["task"]["name"] == "graph_classification"
    batch = next(iter(DataLoader(SyntheticGraphs(num_graphs=60).load(), batch_size=8)))
    with torch.no_grad():
        assert model(batch.x, batch.edge_index, batch.batch).shape == (8, 2)


def test_gin_is_listed_with_the_tasks() -> None:
    result = CliRunner().invoke(cli, ["components", "tasks"])
    assert result.exit_code == 0
    for name in ("node_classification", "link_prediction", "graph_classification"):
        assert name in result.output
    models = CliRunner().invoke(cli, ["components", "models", "--json"])
    rows = {row["name"]: row for row in json.loads(models.output)}
    assert rows["gin"]["tasks"] == "all" and "readout" not in rows["gin"]["search_space"]


def test_cross_validation_on_two_workers_scores_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = graph_config(tmp_path, folds=3)
    config["workers"] = 2
    two = Engine(autoload=False).run(config)
    config["executor"] = "inline"  # the same rounds, trained in this process
    config["output"] = str(tmp_path / "one")
    one = Engine(autoload=False).run(config)
    assert two.cross_validation["scores"] == one.cross_validation["scores"]
    assert len(two.cross_validation["scores"]) == 3 and None not in two.cross_validation["scores"]
