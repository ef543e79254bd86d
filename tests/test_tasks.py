"""What every task gets from the kernel: resume, workers, pruning, and a metric of either direction.

Each built-in task runs here on built-in data with no files; a third-party
task whose metric is minimised checks that nothing past the task assumes
"higher is better".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pytest

from autoglm.core import Engine, RunInterrupted
from autoglm.plugins import Float, Objective, hookimpl
from autoglm.plugins.testing import make_engine, tiny_config


def link_prediction(out: Path) -> dict[str, Any]:
    config = tiny_config(out, models=["gcn"], budget=4, max_epochs=25, tuner="nevergrad")
    config["task"] = "link_prediction"
    return config


def graph_classification(out: Path) -> dict[str, Any]:
    config = tiny_config(out, models=["gin"], budget=4, max_epochs=25, tuner="nevergrad")
    config["task"] = {"name": "graph_classification", "options": {"batch_size": 16}}
    config["data"] = {"name": "synthetic_graphs", "options": {"num_graphs": 60}}
    return config


TASKS = [pytest.param(link_prediction, id="link_prediction"), pytest.param(graph_classification, id="graph_classification")]


def records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "trials.jsonl").read_text(encoding="utf-8").splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "duration_s"} for line in lines]


class InterruptAt:
    """Ctrl-C in the third epoch of one trial."""

    def __init__(self, trial: int) -> None:
        self.trial = trial

    def on_epoch(self, trial: int, epoch: int, metrics: Any) -> None:
        if trial == self.trial and epoch == 3:
            raise KeyboardInterrupt


@pytest.mark.parametrize("make", TASKS)
def test_a_resumed_run_ends_with_the_records_of_an_uninterrupted_one(tmp_path: Path, make: Callable[[Path], Any]) -> None:
    engine = Engine(autoload=False)
    reference = engine.run(make(tmp_path / "reference"))
    with pytest.raises(RunInterrupted):
        engine.run(make(tmp_path / "stopped"), reporters=[InterruptAt(3)])
    resumed = engine.resume(tmp_path / "stopped")
    assert records(tmp_path / "stopped") == records(tmp_path / "reference")
    assert resumed.test_score == pytest.approx(reference.test_score)


@pytest.mark.parametrize("make", TASKS)
def test_two_workers_leave_the_records_of_one_process(
    tmp_path: Path, make: Callable[[Path], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds of two trials, trained by two worker processes or in this one: the same records."""
    engine = Engine(autoload=False)
    config = make(tmp_path / "two")
    config["workers"] = 2
    engine.run(config)
    config["executor"] = "inline"  # the same rounds, trained in this process
    config["output"] = str(tmp_path / "one")
    engine.run(config)
    assert records(tmp_path / "two") == records(tmp_path / "one")


@pytest.mark.parametrize("make", TASKS)
def test_pruning_reads_the_tasks_metric(tmp_path: Path, make: Callable[[Path], Any]) -> None:
    config = make(tmp_path / "run")
    config["pruning"] = {"min_epochs": 3, "reduction_factor": 2, "min_trials": 1}
    result = Engine(autoload=False).run(config)
    metric = result.metric
    assert all(r.rungs for r in result.trials), "every trial reached the first rung"
    assert any(r.status == "pruned" for r in result.trials)
    assert metric in ("auc", "acc")


# -- a task whose metric is minimised -----------------------------------------------------


class NodeRegression:
    """Regress each node's class index (as a number) with MSE: lower is better."""

    objective = Objective("mse", "min")

    def prepare(self, data: Any, *, seed: int) -> Any:
        from autoglm.plugins_builtin.node_classification import NodeClassification

        prepared = NodeClassification().prepare(data, seed=seed)
        prepared.sizes = {**prepared.sizes, "num_classes": 1}
        return prepared

    def build(self, encoder: Callable[[int, int], Any], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        return encoder(int(sizes["num_features"]), 1)

    def batches(self, data: Any) -> Iterator[Any]:
        yield data

    def _errors(self, model: Any, data: Any, split: str) -> Any:
        graph, nodes = data.graph, data.index[split]
        out = model(graph.x, graph.edge_index).view(-1)
        return (out[nodes] - graph.y[nodes].float()) ** 2

    def loss(self, model: Any, batch: Any) -> Any:
        return self._errors(model, batch, "train").mean()

    def evaluate(self, model: Any, data: Any, splits: Sequence[str]) -> dict[str, Any]:
        return {f"{split}_mse": self._errors(model, data, split).mean() for split in splits}

    def predictions(self, model: Any, data: Any, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        errors = self._errors(model, data, split).tolist()
        return ["node", "squared_error"], [(n, e) for n, e in zip(data.index[split].tolist(), errors)]


class SpyTuner:
    """Random search that keeps what it is told."""

    told: list[float | None] = []

    def __init__(self, *, budget: int = 6) -> None:
        from autoglm.plugins_builtin.random_tuner import RandomTuner

        self._inner = RandomTuner(budget=budget)
        self.budget = budget

    def setup(self, space: Any, *, seed: int) -> None:
        self._inner.setup(space, seed=seed)

    def ask(self) -> Any:
        return self._inner.ask()

    def tell(self, candidate: Any, score: float | None) -> None:
        SpyTuner.told.append(score)


class RegressionPlugin:
    @hookimpl
    def autoglm_register_tasks(self, register: Any) -> None:
        register("node_regression", NodeRegression)

    @hookimpl
    def autoglm_register_tuners(self, register: Any) -> None:
        register("spy", SpyTuner)


def test_a_minimised_metric_is_ranked_pruned_selected_and_told_the_right_way_round(tmp_path: Path) -> None:
    SpyTuner.told = []
    config = tiny_config(tmp_path / "run", models=["gcn"], budget=6, max_epochs=20, tuner="spy")
    config["task"] = "node_regression"
    config["search"]["training_space"] = {"lr": Float(1e-4, 1e-1, log=True).to_config()}
    config["pruning"] = {"min_epochs": 5, "reduction_factor": 2, "min_trials": 2}
    result = make_engine(RegressionPlugin()).run(config)
    finished = [r for r in result.trials if r.ok]
    assert result.summary["objective"] == {"metric": "mse", "mode": "min"}
    assert result.best.val_score == min(r.val_score for r in finished)  # the lowest error wins
    board = [r.val_score for r in result.leaderboard() if r.ok]
    assert board == sorted(board)
    assert SpyTuner.told == [-r.val_score if r.scored else None for r in sorted(result.trials, key=lambda r: r.trial)]
    header = (tmp_path / "run" / "leaderboard.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "val_mse" in header
    pruned = [r for r in result.trials if r.status == "pruned"]
    for record in pruned:  # a pruned trial trailed: its error at the rung was above the better earlier ones
        assert record.val_score >= min(r.val_score for r in finished)
