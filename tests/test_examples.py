"""The README, CI and example configs stay true: each example runs, Cora included."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest

from autoglm.core import DataError, Engine

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_readme_opens_with_the_run_and_test_commands_and_ci_runs_the_test_one() -> None:
    run_command, test_command = readme_commands()[:2]
    assert "pip install -q torch==2.13.0" in run_command and "autoglm run examples/quickstart.yaml" in run_command
    assert test_command.endswith("pytest")
    assert test_command in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_every_example_is_covered_here() -> None:
    assert {p.name for p in EXAMPLES} == {
        "quickstart.yaml", "cora.yaml", "link_prediction.yaml", "graph_classification.yaml", "csv.yaml",
    }


@pytest.mark.slow
def test_csv_example_runs_as_shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # its file paths are relative to the repository root, as its comment says
    result = Engine(autoload=False).run(REPO / "examples" / "csv.yaml", output=tmp_path / "run")
    assert result.summary["dataset"]["loader"] == "csv" and result.summary["dataset"]["unlabelled_nodes"] == 15
    assert len(result.trials) == 6 and result.best.ok
    assert result.test_score > 0.6  # three classes: chance is about 0.33


@pytest.mark.slow
def test_graph_classification_example_runs_as_shipped(tmp_path: Path) -> None:
    result = Engine(autoload=False).run(REPO / "examples" / "graph_classification.yaml", output=tmp_path / "run")
    assert result.summary["task"] == "graph_classification" and result.metric == "acc"
    assert len(result.trials) == 5 and result.best.ok
    assert result.test_score > 0.7 and result.cross_validation["folds"] == 3  # chance is 0.5


@pytest.mark.slow
def test_link_prediction_example_runs_as_shipped(tmp_path: Path) -> None:
    result = Engine(autoload=False).run(REPO / "examples" / "link_prediction.yaml", output=tmp_path / "run")
    assert result.summary["task"] == "link_prediction" and result.metric == "auc"
    assert len(result.trials) == 8 and result.best.ok
    assert result.test_score > 0.7  # random pairs score 0.5; this graph's edges follow its classes


@pytest.mark.slow
def test_quickstart_example_runs_as_shipped(tmp_path: Path) -> None:
    result = Engine(autoload=False).run(REPO / "examples" / "quickstart.yaml", output=tmp_path / "run")
    assert len(result.trials) == 10 and all(t.status in ("ok", "pruned") for t in result.trials)
    assert result.best.ok  # pruning is on by default; a pruned trial is never the selected one
    assert result.test_accuracy > 0.6  # a GCN clears a feature-only model (~0.6) on this graph
    assert (tmp_path / "run" / "events.jsonl").exists()  # the jsonl reporter it lists


@pytest.mark.slow
def test_cora_example_runs(tmp_path: Path, cora_root: Path) -> None:
    overrides = [
        f"data.options.root={cora_root}",
        "tuner.options.budget=2",
        "search.models=[gcn]",
        "trainer.options.max_epochs=100",
        "reporters=[]",
    ]
    result = Engine(autoload=False).run(REPO / "examples" / "cora.yaml", overrides=overrides, output=tmp_path / "run")
    sizes = result.summary["dataset"]
    assert (sizes["num_nodes"], sizes["num_features"], sizes["num_classes"]) == (2708, 1433, 7)
    assert (sizes["train_nodes"], sizes["val_nodes"], sizes["test_nodes"]) == (140, 500, 1000)
    assert result.test_accuracy >= 0.75


def test_planetoid_reads_in_place_and_writes_nothing_there(tmp_path: Path, cora_root: Path) -> None:
    root = tmp_path / "planetoid"
    shutil.copytree(cora_root, root)
    raw = root / "Cora" / "raw"
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for path in (root, root / "Cora", raw):
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        engine = Engine(autoload=False)
        loader = engine.component("data_loaders", "planetoid").factory(dataset="Cora", root=str(root))
        data = loader.load()
    finally:
        for path in (root, root / "Cora", raw):
            path.chmod(stat.S_IRWXU)
    assert data.num_nodes == 2708 and int(data.train_mask.sum()) == 140
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_missing_planetoid_folder_says_where_the_files_go(tmp_path: Path) -> None:
    loader = Engine(autoload=False).component("data_loaders", "planetoid").factory(root=str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as excinfo:
        loader.load()
    message = str(excinfo.value)
    assert str(tmp_path / "nowhere" / "Cora" / "raw") in message
    assert "ind.cora.x" in message and "data.options.root" in message


def test_validate_catches_a_missing_planetoid_folder_before_any_run(tmp_path: Path) -> None:
    overrides = [f"data.options.root={tmp_path / 'nowhere'}"]
    with pytest.raises(DataError, match="raw files not found"):
        Engine(autoload=False).validate(REPO / "examples" / "cora.yaml", overrides)
    with pytest.raises(DataError):
        Engine(autoload=False).run(REPO / "examples" / "cora.yaml", overrides=overrides, output=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # checked before the run directory is made
