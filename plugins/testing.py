"""Helpers for plugin packages to test themselves against the real kernel.

    from autoglm.plugins.testing import make_engine, check_model, run_tiny_search

    def test_my_model_registers_and_trains(tmp_path):
        engine = make_engine(my_plugin)
        check_model(engine, "mlp")
        result = run_tiny_search(engine, tmp_path, models=["mlp"])
        assert result.best.model == "mlp"

Everything here runs on the CPU in seconds on a small synthetic graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from autoglm.core.engine import Engine
from autoglm.core.results import RunResult
from autoglm.core.space import sample_space


def make_engine(*plugins: Any, builtins: bool = True, strict: bool = True) -> Engine:
    """An engine with the given plugin objects, no entry-point autoload, broken plugins raising."""
    return Engine(plugins=plugins, autoload=False, builtins=builtins, strict=strict)


#: Options of the small synthetic graph every helper here uses (200 nodes, 3 classes).
TINY_GRAPH = {"num_nodes": 200, "num_classes": 3, "num_features": 8, "train_per_class": 10, "num_val": 50}


def tiny_graph(*, seed: int = 0) -> Any:
    """The :data:`TINY_GRAPH` graph, with train/val/test masks, built by the synthetic loader."""
    from autoglm.plugins_builtin.synthetic import SyntheticGraph

    return SyntheticGraph(**TINY_GRAPH, seed=seed).load()


def bag_of_words_graph(*, seed: int = 0) -> Any:
    """A 200-node graph whose features are sparse and non-negative like word counts (~4% non-zero).

    Real citation graphs have such features, and models built on
    :class:`autoglm.plugins.nn.SparseInputDropout` take their sparse CPU path
    only for them: test that path with this graph, the dense one with :func:`tiny_graph`.
    """
    import torch

    from autoglm.plugins_builtin.synthetic import SyntheticGraph

    data = SyntheticGraph(
        num_nodes=200, num_classes=3, num_features=64, train_per_class=10, num_val=50, feature_signal=0.6, seed=seed
    ).load()
    data.x = torch.relu(data.x - 1.75)
    return data


def tiny_config(
    output: str | Path,
    *,
    models: Iterable[str] | None = None,
    budget: int = 2,
    max_epochs: int = 20,
    tuner: str = "random",
    seed: int = 0,
    task: str | None = None,
) -> dict[str, Any]:
    """A complete config for a fast CPU search on :data:`TINY_GRAPH`, with no reporters and no
    re-training of the best configurations (``selection: false``), so it stays fast. ``task``
    names a task other than the default (node classification)."""
    config: dict[str, Any] = {
        "seed": seed,
        "output": str(output),
        "data": {"name": "synthetic", "options": dict(TINY_GRAPH)},
        "tuner": {"name": tuner, "options": {"budget": budget}},
        "trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": max_epochs, "patience": max_epochs}},
        "reporters": [],
        "selection": False,
    }
    if models is not None:
        config["search"] = {"models": list(models)}
    if task is not None:
        config["task"] = task
    return config


def fit_graph(trainer: Any, model: Any, graph: Any, hparams: dict[str, Any], on_epoch: Any = None, *, seed: int = 0) -> Any:
    """``trainer.fit`` on a plain node-classification graph, through the built-in task as a run does.

    For testing a trainer (or a model) on a graph of your own: the graph is
    checked and indexed by ``node_classification`` (its masks, or a seeded split).
    """
    from autoglm.plugins_builtin.node_classification import NodeClassification

    task = NodeClassification()
    return trainer.fit(model, task.prepare(graph, seed=seed), hparams, on_epoch, task=task)


def check_model(engine: Engine, name: str, *, samples: int = 3, seed: int = 0) -> None:
    """Build a registered model at several points of its space and check its output shape."""
    import random

    import torch

    component = engine.component("models", name)
    data = tiny_graph()
    num_classes = int(data.y.max()) + 1
    rng = random.Random(seed)
    for _ in range(samples):
        params = sample_space(component.search_space, rng)
        model = component.factory(data.num_features, num_classes, **params)
        model.eval()
        with torch.no_grad():
            out = model(data.x, data.edge_index)
        if tuple(out.shape) != (data.num_nodes, num_classes):
            raise AssertionError(
                f"model {name!r} with {params} returned shape {tuple(out.shape)}, "
                f"expected ({data.num_nodes}, {num_classes})"
            )


def run_tiny_search(
    engine: Engine,
    output: str | Path,
    *,
    models: Iterable[str] | None = None,
    budget: int = 2,
    max_epochs: int = 20,
    tuner: str = "random",
    seed: int = 0,
    task: str | None = None,
) -> RunResult:
    """Run a whole search (:func:`tiny_config`) with no console output."""
    config = tiny_config(output, models=models, budget=budget, max_epochs=max_epochs, tuner=tuner, seed=seed, task=task)
    return engine.run(config)
