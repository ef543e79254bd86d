"""Any PyG dataset by name, offline: files already on disk, nothing downloaded, nothing written next to them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import DataError
from autoglm.plugins_builtin.pyg_datasets import PygDataset

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def read_only_copy(source: Path, target: Path) -> Path:
    if not source.exists():
        pytest.skip(f"{source} not found")
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)  # root writes through it anyway: the listing check is the proof
    return target


def listing(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_planetoid_by_name_from_a_read_only_folder_through_a_cache(tmp_path: Path) -> None:
    root = read_only_copy(SHARED / "planetoid" / "Cora", tmp_path / "data" / "Cora")
    before = listing(root.parent)
    loader = PygDataset(dataset="Planetoid", root=root.parent, args={"name": "Cora"}, cache=tmp_path / "cache")
    data = loader.load()
    assert data.num_nodes == 2708 and data.x.shape == (2708, 1433) and int(data.train_mask.sum()) == 140
    assert listing(root.parent) == before  # not a byte written next to the files
    processed = sorted((tmp_path / "cache").rglob("processed/*.pt"))
    assert processed
    stamps = [p.stat().st_mtime_ns for p in processed]
    PygDataset(dataset="Planetoid", root=root.parent, args={"name": "Cora"}, cache=tmp_path / "cache").load()
    assert [p.stat().st_mtime_ns for p in processed] == stamps  # the second load reads the cache


def test_a_tu_dataset_by_name_is_a_list_of_graphs(tmp_path: Path) -> None:
    root = read_only_copy(SHARED / "TU" / "MUTAG", tmp_path / "TU" / "MUTAG")
    graphs = PygDataset(dataset="TUDataset", root=root.parent, args={"name": "MUTAG"}, cache=tmp_path / "cache").load()
    assert len(graphs) == 188 and graphs[0].y.numel() == 1


@pytest.mark.parametrize(
    ("dataset", "args", "fragment"),
    [
        ("Planetiod", {"name": "Cora"}, "torch_geometric.datasets has no dataset 'Planetiod' (did you mean 'Planetoid'?)"),
        ("Amazon", {"name": "Photo"}, "its raw files are not under"),
        ("Planetoid", {"name": "Cora", "split": 3}, "pyg Planetoid"),
    ],
)
def test_bad_requests_are_one_line(tmp_path: Path, dataset: str, args: dict, fragment: str) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError) as raised:
        PygDataset(dataset=dataset, root=tmp_path / "data", args=args, cache=tmp_path / "cache").load()
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_a_missing_dataset_names_the_files_and_the_folder(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError) as raised:
        PygDataset(dataset="Planetoid", root=tmp_path / "data", args={"name": "CiteSeer"}, cache=tmp_path / "cache").load()
    message = str(raised.value)
    assert "nothing is downloaded here: put ind.citeseer.x" in message
    assert f"in {str(tmp_path / 'data' / 'CiteSeer' / 'raw')!r}" in message


def test_node_classification_on_a_pyg_dataset_through_the_cli(tmp_path: Path) -> None:
    root = read_only_copy(SHARED / "planetoid" / "Cora", tmp_path / "data" / "Cora")
    data = f"{{name: pyg, options: {{dataset: Planetoid, root: {root.parent}, args: {{name: Cora}}, cache: {tmp_path / 'cache'}}}}}"
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {data}\nsearch: {{models: [gcn]}}\ntuner: {{name: random, options: {{budget: 1}}}}\n"
                      "trainer: {name: cuda, options: {device: cpu, max_epochs: 5}}\nselection: false\nreporters: []\n",
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(config), "-o", str(tmp_path / "run")], prog_name="autoglm")
    assert result.exit_code == 0, result.output
    assert os.path.exists(tmp_path / "run" / "predictions.csv")
    bad = CliRunner().invoke(cli, ["validate", str(config), "--set", "data.options.dataset=Planetiod"], prog_name="autoglm")
    assert bad.exit_code == 1 and "did you mean 'Planetoid'?" in bad.stderr
