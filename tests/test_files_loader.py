"""Bring your own graph: the `csv` loader, end to end for each task and with each kind of bad file."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import DataError, Engine, load_run
from autoglm.plugins_builtin.files import CsvGraph

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "examples" / "csv"
QUICK = ["--set", "tuner.options.budget=2", "--set", "selection=false", "--set", "trainer.options.max_epochs=15"]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A writable copy of the shipped example files."""
    shutil.copytree(SHIPPED, tmp_path / "csv")
    return tmp_path / "csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="autoglm")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- what the loader makes of the files ---------------------------------------------------------


def test_string_ids_and_labels_become_a_graph(files: Path) -> None:
    data = CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv").load()
    assert data.num_nodes == 150 and data.x.shape == (150, 4) and data.x.dtype == torch.float32
    assert data.node_ids[:2] == ["u1000", "u1007"] and data.class_names == ["aspen", "birch", "cedar"]
    assert int((data.y == -1).sum()) == 15  # every tenth node has an empty label
    assert data.edge_index.size(1) == 2 * 435  # undirected: each edge both ways


def test_directed_edges_weights_and_a_graph_without_features(tmp_path: Path) -> None:
    edges = write(tmp_path / "e.tsv", "from\tto\tw\n10\t20\t0.5\n20\t30\t2\n30\t10\t1\n")
    data = CsvGraph(edges=edges, source="from", target="to", weight="w", directed=True).load()
    assert data.node_ids == ["10", "20", "30"] and data.edge_index.tolist() == [[0, 1, 2], [1, 2, 0]]
    assert data.edge_weight.tolist() == [0.5, 2.0, 1.0]
    assert data.x.shape == (3, 5)  # the local degree profile stands in for missing features
    assert data.y is None


def test_features_by_prefix_or_list(files: Path) -> None:
    assert CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv", features="f").load().x.shape == (150, 4)
    assert CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv", features=["f0", "f2"]).load().x.shape == (150, 2)


@pytest.mark.parametrize(
    ("edit", "options", "fragment"),
    [
        (lambda d: write(d / "nodes.csv", (d / "nodes.csv").read_text().replace("id,label", "name,label", 1)), {},
         "nodes.csv: no column 'id' (data.options.id); the header has: name, label, f0"),
        (lambda d: write(d / "nodes.csv", "\n".join(
            ",".join(["" if i == 1 and n else v for i, v in enumerate(line.split(","))])
            for n, line in enumerate((d / "nodes.csv").read_text().splitlines())) + "\n"), {},
         "the label column 'label' is empty on every line"),
        (lambda d: write(d / "edges.csv", (d / "edges.csv").read_text() + "u1000,nobody\n"), {},
         "edges.csv: line 437: the edge names node 'nobody' (dst), not in"),
        (lambda d: write(d / "edges.csv", (d / "edges.csv").read_text() + "u1000,u1007,9\n"), {},
         "edges.csv: line 437 has 3 value(s), the header has 2 (src, dst): a ragged row"),
        (lambda d: write(d / "nodes.csv", (d / "nodes.csv").read_text().replace(",0.", ",abc", 1)), {},
         "nodes.csv: line 2: column 'f0' holds 'abc"),
        (lambda d: write(d / "nodes.csv", (d / "nodes.csv").read_text() + "u1000,aspen,0,0,0,0\n"), {},
         "nodes.csv: line 152: node id 'u1000' again (first at line 2); ids must be unique"),
        (lambda d: write(d / "edges.csv", "src,dst\n"), {}, "edges.csv: no edges (only a header)"),
        (lambda d: write(d / "edges.csv", ""), {}, "edges.csv: the file is empty"),
        (lambda d: write(d / "nodes.csv", (d / "nodes.csv").read_text().replace(",0.2928,", ",,", 1)), {},
         "nodes.csv: line 2: missing value in column 'f0'"),
        (lambda d: None, {"features": ["f9"]}, "no column 'f9' (data.options.features)"),
        (lambda d: (d / "nodes.csv").unlink(), {}, "nodes file not found"),
    ],
)
def test_bad_files_are_one_line_naming_file_line_and_column(files: Path, edit: Any, options: dict, fragment: str) -> None:
    edit(files)
    with pytest.raises(DataError) as raised:
        CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv", **options).load()
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)


def test_bad_files_through_the_cli_exit_1_and_bad_options_exit_2(files: Path, tmp_path: Path) -> None:
    data = f"{{name: csv, options: {{edges: {files / 'edges.csv'}, nodes: {files / 'nodes.csv'}}}}}"
    write(files / "edges.csv", (files / "edges.csv").read_text() + "u1000,nobody\n")
    result = invoke("run", REPO / "examples" / "csv.yaml", "--set", f"data={data}", "-o", tmp_path / "run", *QUICK)
    assert result.exit_code == 1 and result.stderr.count("autoglm: error:") == 1
    assert "the edge names node 'nobody'" in result.stderr and "Traceback" not in result.output
    result = invoke("validate", REPO / "examples" / "csv.yaml", "--set", "data.options.graph=graph")
    assert result.exit_code == 2 and "graph and graph_labels go together" in result.stderr
    result = invoke("validate", REPO / "examples" / "csv.yaml", "--set", "data.options.delimiter=x")
    assert result.exit_code == 2 and "data.options.delimiter" in result.stderr


# -- end to end, each task ------------------------------------------------------------------------


def test_node_classification_from_csv_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the example's relative paths are the repository's
    result = invoke("run", "examples/csv.yaml", "-o", tmp_path / "run", *QUICK)
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "run" / "predictions.csv")
    assert len(rows) == 150 and rows[0]["node"] == "u1000" and "p_aspen" in rows[0]
    unlabelled = [r for r in rows if r["split"] == "unlabelled"]
    assert len(unlabelled) == 15 and all(r["y_true"] == "" and r["y_pred"] in ("aspen", "birch", "cedar") for r in unlabelled)
    labelled = [r for r in rows if r["split"] != "unlabelled"]
    assert all(r["y_true"] in ("aspen", "birch", "cedar") for r in labelled)


def test_new_csv_data_with_fewer_classes_keeps_the_trained_class_numbers(files: Path, tmp_path: Path) -> None:
    config = {
        "seed": 0, "task": "node_classification", "reporters": [], "selection": False,
        "data": {"name": "csv", "options": {"edges": str(files / "edges.csv"), "nodes": str(files / "nodes.csv")}},
        "search": {"models": ["gcn"]}, "tuner": {"name": "random", "options": {"budget": 1}},
        "trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": 10}},
    }
    result = Engine(autoload=False).run(config, output=tmp_path / "run")
    lines = (files / "nodes.csv").read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if ",cedar," not in line and ",," not in line]
    write(tmp_path / "nodes.csv", "\n".join(kept) + "\n")
    ids = {line.split(",")[0] for line in kept[1:]}
    edges = [line for line in (files / "edges.csv").read_text().splitlines()[1:] if set(line.split(",")) <= ids]
    write(tmp_path / "edges.csv", "src,dst\n" + "\n".join(edges) + "\n")
    new = CsvGraph(edges=tmp_path / "edges.csv", nodes=tmp_path / "nodes.csv").load()
    assert new.class_names == ["aspen", "birch"]
    table = load_run(result.run_dir).predictions(new)
    truth = {row[0]: row[2] for row in table.rows}
    by_id = {line.split(",")[0]: line.split(",")[1] for line in kept[1:]}
    assert all(truth[node] == by_id[node] for node in truth)  # "birch" stays birch, not renumbered to 1 of 2
    first = kept[1].split(",")
    write(tmp_path / "nodes.csv", "\n".join([kept[0], ",".join([first[0], "larch", *first[2:]]), *kept[2:]]) + "\n")
    with pytest.raises(DataError, match="label 'larch' is not one of the classes the model was trained on"):
        load_run(result.run_dir).predict(CsvGraph(edges=tmp_path / "edges.csv", nodes=tmp_path / "nodes.csv").load())


def test_link_prediction_from_an_edge_list_alone(tmp_path: Path) -> None:
    data = f"{{name: csv, options: {{edges: {SHIPPED / 'edges.csv'}}}}}"
    result = invoke("run", REPO / "examples" / "csv.yaml", "--set", "task=link_prediction", "--set", f"data={data}",
                    "-o", tmp_path / "run", *QUICK)
    assert result.exit_code == 0, result.output
    assert "test_auc" in result.output
    rows = read_csv(tmp_path / "run" / "predictions.csv")
    assert {r["split"] for r in rows} == {"train", "val", "test"}


def test_graph_classification_from_an_edge_list_with_graph_ids(tmp_path: Path) -> None:
    data = (f"{{name: csv, options: {{edges: {SHIPPED / 'graph_edges.csv'}, graph: graph, "
            f"graph_labels: {SHIPPED / 'graph_labels.csv'}}}}}")
    result = invoke("run", REPO / "examples" / "csv.yaml", "--set", "task=graph_classification", "--set", f"data={data}",
                    "--set", "search.models=[gin]", "-o", tmp_path / "run", *QUICK)
    assert result.exit_code == 0, result.output
    rows = read_csv(tmp_path / "run" / "predictions.csv")
    assert len(rows) == 60 and rows[0]["graph"] == "mol000"


def test_graph_files_that_disagree_are_clear_errors(tmp_path: Path) -> None:
    edges = write(tmp_path / "e.csv", "graph,src,dst\ng1,a,b\ng2,b,c\n")
    labels = write(tmp_path / "l.csv", "graph,label\ng1,x\ng2,y\n")
    with pytest.raises(DataError, match="line 3: the edge joins graph 'g2' to a node of graph 'g1'"):
        CsvGraph(edges=edges, graph="graph", graph_labels=labels).load()
    write(edges, "graph,src,dst\ng1,a,b\ng2,c,d\ng3,e,f\n")
    with pytest.raises(DataError, match="no label for graph 'g3'"):
        CsvGraph(edges=edges, graph="graph", graph_labels=labels).load()


def test_validate_load_says_what_it_found_in_the_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = invoke("validate", "examples/csv.yaml", "--load")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "  data check: OK, loaded and split as a run would: 150 nodes, 870 edges, 3 classes, 4 features, "
        "15 unlabelled nodes; split train 81 / val 27 / test 27 (stratified 0.6/0.2/rest, seed 0)"
    )
    broken = invoke("validate", "examples/csv.yaml", "--load", "--set", "data.options.features=[f9]")
    assert broken.exit_code == 1 and broken.stdout.splitlines()[0] == "examples/csv.yaml: config OK"
    assert "the config is valid, but its data is not usable: " in broken.stderr and "no column 'f9'" in broken.stderr


def test_a_second_load_reads_the_cache_not_the_files(files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import autoglm.plugins_builtin.files as module

    monkeypatch.setenv("AUTOGLM_CACHE_DIR", str(tmp_path / "cache"))
    first = CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv").load()
    cached = list((tmp_path / "cache" / "csv").glob("edges-*.pt"))
    assert len(cached) == 1

    def no_parsing(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the files were parsed again")

    with monkeypatch.context() as patched:
        patched.setattr(module, "Table", no_parsing)
        loader = CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv")
        second = loader.load()
    assert torch.equal(second.x, first.x) and torch.equal(second.edge_index, first.edge_index)
    assert second.node_ids == first.node_ids and second.class_names == first.class_names
    assert loader.describe()["labelled_nodes"] == 135
    # other options or other bytes: another entry; cache: false writes none; a damaged entry is read past
    CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv", features=["f0"]).load()
    assert len(list((tmp_path / "cache" / "csv").glob("edges-*.pt"))) == 2
    CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv", directed=True, cache=False).load()
    assert len(list((tmp_path / "cache" / "csv").glob("edges-*.pt"))) == 2
    cached[0].write_bytes(b"not a cache")
    assert torch.equal(CsvGraph(edges=files / "edges.csv", nodes=files / "nodes.csv").load().x, first.x)
