"""OGB node-property datasets from a folder in OGB's layout: a tiny one written here, read in place, official split."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from autoglm.core import DataError, Engine
from autoglm.plugins.testing import tiny_config

pytest.importorskip("ogb")
from autoglm.plugins_builtin.ogb_folders import OgbDataset  # noqa: E402

NODES, EDGES, FEATURES = 80, 300, 8


def write_gz(path: Path, rows: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        for row in rows:
            handle.write(",".join(str(v) for v in np.atleast_1d(row)) + "\n")


@pytest.fixture
def arxiv(tmp_path: Path) -> Path:
    """``root/ogbn_arxiv`` as OGB lays it out: raw/*.csv.gz, split/time/*.csv.gz, RELEASE_v1.txt."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "ogb" / "ogbn_arxiv"
    labels = rng.integers(0, 4, NODES)
    write_gz(folder / "raw" / "edge.csv.gz", rng.integers(0, NODES, (EDGES, 2)))
    write_gz(folder / "raw" / "node-feat.csv.gz", (rng.normal(size=(NODES, FEATURES)) + labels[:, None]).round(4))
    write_gz(folder / "raw" / "node-label.csv.gz", labels[:, None])
    write_gz(folder / "raw" / "node_year.csv.gz", rng.integers(2010, 2020, (NODES, 1)))
    write_gz(folder / "raw" / "num-node-list.csv.gz", np.array([[NODES]]))
    write_gz(folder / "raw" / "num-edge-list.csv.gz", np.array([[EDGES]]))
    order = rng.permutation(NODES)
    for part, members in (("train", order[:48]), ("valid", order[48:64]), ("test", order[64:])):
        write_gz(folder / "split" / "time" / f"{part}.csv.gz", members[:, None])
    (folder / "RELEASE_v1.txt").write_text("tiny\n", encoding="utf-8")
    return tmp_path / "ogb"


def test_the_official_split_becomes_the_masks_and_nothing_is_written(arxiv: Path) -> None:
    before = sorted(p.name for p in arxiv.rglob("*"))
    data = OgbDataset(name="ogbn-arxiv", root=arxiv).load()
    assert data.x.shape == (NODES, FEATURES) and data.edge_index.size(1) == EDGES
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (48, 16, 16)
    assert sorted(p.name for p in arxiv.rglob("*")) == before
    described = OgbDataset(name="ogbn-arxiv", root=arxiv).describe()
    assert described["ogb_metric"] == "acc" and described["ogb_split"] == "time" and len(described["checksum"]) == 64


def test_a_run_on_an_ogb_folder(arxiv: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", models=["gcn"])
    config["data"] = {"name": "ogb", "options": {"name": "ogbn-arxiv", "root": str(arxiv)}}
    result = Engine(autoload=False).run(config)
    assert result.summary["dataset"]["split"] == "the graph's masks" and result.summary["dataset"]["test_nodes"] == 16


@pytest.mark.parametrize(
    ("name", "damage", "fragment"),
    [
        ("ogbn-arxv", None, "OGB has no node-property dataset 'ogbn-arxv' (did you mean 'ogbn-arxiv'?)"),
        ("ogbn-arxiv", "split/time/valid.csv.gz", "files missing in OGB's layout under"),
        ("ogbn-arxiv", "raw/edge.csv.gz", "raw/edge.csv.gz"),
        ("ogbn-proteins", None, "112 label tasks per item (multi-task)"),
        ("ogbn-mag", None, "heterogeneous"),
        ("ogbg-molpcba", None, "multi-task"),
        ("ogbg-molesol", None, "regression"),
        ("ogbl-citation2", None, "not positive / negative edge pairs"),
    ],
)
def test_bad_ogb_folders_are_one_line(arxiv: Path, name: str, damage: str | None, fragment: str) -> None:
    if damage:
        (arxiv / "ogbn_arxiv" / damage).unlink()
    with pytest.raises(DataError) as raised:
        OgbDataset(name=name, root=arxiv).load()
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_only_ogb_names_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ogbn-..., ogbl-... or ogbg-..."):
        OgbDataset(name="arxiv", root=tmp_path)


@pytest.fixture
def molhiv(tmp_path: Path) -> Path:
    """``root/ogbg_molhiv``: 30 small graphs (local node ids per graph), one binary label each, a scaffold split."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "ogb" / "ogbg_molhiv"
    sizes = rng.integers(4, 9, 30)
    labels = np.arange(30) % 2
    edges, counts, features = [], [], []
    for n, label in zip(sizes, labels):
        ring = [(i, (i + 1) % n) for i in range(n)] + ([(0, n // 2)] if label else [])
        edges += ring
        counts.append(len(ring))
        features.append(rng.integers(0, 5, (n, 3)) + label)
    write_gz(folder / "raw" / "edge.csv.gz", np.array(edges))
    write_gz(folder / "raw" / "num-node-list.csv.gz", sizes[:, None])
    write_gz(folder / "raw" / "num-edge-list.csv.gz", np.array(counts)[:, None])
    write_gz(folder / "raw" / "node-feat.csv.gz", np.concatenate(features))
    write_gz(folder / "raw" / "graph-label.csv.gz", labels[:, None])
    for part, members in (("train", np.arange(0, 20)), ("valid", np.arange(20, 25)), ("test", np.arange(25, 30))):
        write_gz(folder / "split" / "scaffold" / f"{part}.csv.gz", members[:, None])
    return tmp_path / "ogb"


def test_an_ogb_graph_dataset_keeps_its_split_and_scores_roc_auc(molhiv: Path, tmp_path: Path) -> None:
    graphs = OgbDataset(name="ogbg-molhiv", root=molhiv).load()
    assert len(graphs) == 30 and [g.split for g in graphs[18:22]] == ["train", "train", "val", "val"]
    assert graphs[0].edge_index.size(1) == 2 * graphs[0].num_nodes  # add_inverse_edge: both ways
    config = tiny_config(tmp_path / "run", models=["gin"], task="graph_classification")
    config["task"] = {"name": "graph_classification", "options": {"metric": "auc"}}
    config["data"] = {"name": "ogb", "options": {"name": "ogbg-molhiv", "root": str(molhiv)}}
    result = Engine(autoload=False).run(config)
    sizes = result.summary["dataset"]
    assert sizes["split"] == "the graphs' own split" and (sizes["train_graphs"], sizes["val_graphs"], sizes["test_graphs"]) == (20, 5, 5)
    assert result.metric == "auc" and sizes["ogb_metric"] == "rocauc" and 0.0 <= result.test_score <= 1.0


@pytest.fixture
def ddi(tmp_path: Path) -> Path:
    """``root/ogbl_ddi``: no node features, a split of positive and negative pairs in torch files."""
    import torch

    rng = np.random.default_rng(2)
    folder = tmp_path / "ogb" / "ogbl_ddi"
    nodes = 60
    edges = np.unique(np.sort(rng.integers(0, nodes, (400, 2)), axis=1), axis=0)
    edges = edges[edges[:, 0] != edges[:, 1]]
    write_gz(folder / "raw" / "edge.csv.gz", edges)
    write_gz(folder / "raw" / "num-node-list.csv.gz", np.array([[nodes]]))
    write_gz(folder / "raw" / "num-edge-list.csv.gz", np.array([[len(edges)]]))
    split = folder / "split" / "target"
    split.mkdir(parents=True)
    train, valid, test = edges[:-60], edges[-60:-30], edges[-30:]
    negatives = rng.integers(0, nodes, (60, 2))
    torch.save({"edge": torch.from_numpy(train)}, split / "train.pt")
    torch.save({"edge": torch.from_numpy(valid), "edge_neg": torch.from_numpy(negatives[:30])}, split / "valid.pt")
    torch.save({"edge": torch.from_numpy(test), "edge_neg": torch.from_numpy(negatives[30:])}, split / "test.pt")
    return tmp_path / "ogb"


def test_an_ogb_link_dataset_keeps_its_split_and_scores_hits(ddi: Path, tmp_path: Path) -> None:
    data = OgbDataset(name="ogbl-ddi", root=ddi).load()
    assert data.x.shape[1] == 5  # no node features: the local degree profile
    config = tiny_config(tmp_path / "run", models=["gcn"], task="link_prediction")
    config["task"] = {"name": "link_prediction", "options": {"metric": "hits@20"}}
    config["data"] = {"name": "ogb", "options": {"name": "ogbl-ddi", "root": str(ddi)}}
    result = Engine(autoload=False).run(config)
    sizes = result.summary["dataset"]
    assert sizes["split"] == "the data's own split" and sizes["ogb_metric"] == "hits@20"
    assert (sizes["val_edges"], sizes["val_negatives"], sizes["test_edges"]) == (30, 30, 30)
    assert sizes["message_passing_edges"] == 2 * sizes["train_edges"]  # no validation or test edge passes messages
    assert result.metric == "hits@20"
