"""OGB node-property datasets from a folder in OGB's layout: a tiny one written here, read in place, official split."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from autoglm.core import DataError, Engine
from autoglm.plugins.testing import tiny_config

pytest.importorskip("ogb")
from autoglm.plugins_builtin.ogb_folders import OgbNodeDataset  # noqa: E402

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
    data = OgbNodeDataset(name="ogbn-arxiv", root=arxiv).load()
    assert data.x.shape == (NODES, FEATURES) and data.edge_index.size(1) == EDGES
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (48, 16, 16)
    assert sorted(p.name for p in arxiv.rglob("*")) == before
    described = OgbNodeDataset(name="ogbn-arxiv", root=arxiv).describe()
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
        ("ogbn-proteins", None, "multi-label"),
        ("ogbn-mag", None, "heterogeneous"),
    ],
)
def test_bad_ogb_folders_are_one_line(arxiv: Path, name: str, damage: str | None, fragment: str) -> None:
    if damage:
        (arxiv / "ogbn_arxiv" / damage).unlink()
    with pytest.raises(DataError) as raised:
        OgbNodeDataset(name=name, root=arxiv).load()
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_only_node_property_datasets_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ogbg-"):
        OgbNodeDataset(name="ogbg-molhiv", root=tmp_path)
