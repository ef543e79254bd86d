"""Tests a plugin author would write, using the helpers autoglm ships for them.

Run from this folder after ``pip install -e .`` (or with the package on
``PYTHONPATH``)::

    python -m pytest tests -q
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from autoglm.plugins.testing import check_model, make_engine, run_tiny_search

import autoglm_example_plugin
from autoglm_example_plugin import build_mlp


def test_registers_mlp_with_its_search_space():
    engine = make_engine(autoglm_example_plugin)
    assert "mlp" in engine.names("models")
    component = engine.component("models", "mlp")
    assert component.owner.plugin == "autoglm_example_plugin"
    assert sorted(component.search_space) == ["dropout", "hidden"]
    assert component.option_names() == ["dropout", "hidden"]


def test_builds_and_predicts_one_score_per_class():
    check_model(make_engine(autoglm_example_plugin), "mlp", samples=3)


def test_bad_option_values_are_value_errors():
    with pytest.raises(ValueError, match="dropout"):
        build_mlp(8, 3, dropout=1.5)
    with pytest.raises(ValueError, match="hidden"):
        build_mlp(8, 3, hidden=0)


def test_tiny_search_selects_mlp(tmp_path):
    engine = make_engine(autoglm_example_plugin)
    result = run_tiny_search(engine, tmp_path / "run", models=["mlp"], budget=2, max_epochs=20)
    assert result.best.model == "mlp"
    assert len(result.trials) == 2 and all(t.ok for t in result.trials)
    assert 0.0 <= result.test_accuracy <= 1.0


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, autoglm_example_plugin; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_entry_point_is_found_when_installed():
    try:
        importlib.metadata.distribution("autoglm-example-plugin")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("autoglm-example-plugin is not installed (pip install -e .)")
    from autoglm.core import Engine

    engine = Engine(autoload=True, strict=True, env={})  # env={}: ignore AUTOGLM_* switches
    info = next(p for p in engine.plugins() if p.name == "example_mlp")
    assert (info.status, info.distribution, info.components) == (
        "loaded",
        "autoglm-example-plugin",
        {"tasks": ["node_degree"], "models": ["mlp"]},
    )


def test_the_node_degree_task_runs_with_any_model_and_minimises_its_error(tmp_path):
    engine = make_engine(autoglm_example_plugin)
    assert "node_degree" in engine.names("tasks")
    result = run_tiny_search(engine, tmp_path / "run", models=["mlp", "gcn"], budget=3, task="node_degree")
    assert result.summary["objective"] == {"metric": "mse", "mode": "min"}
    finished = [r for r in result.trials if r.ok]
    assert result.best.val_score == min(r.val_score for r in finished)  # lower is better
    header = (tmp_path / "run" / "predictions.csv").read_text().splitlines()[0]
    assert header == "node,log_degree,predicted"
