"""Selection's ensemble: the best contenders' re-trained models combined, fit on validation, tested once.

AutoGL scores its ensembles on the data they were fit on; ours must not: every
evaluation of the test split happens after the ensemble's weights are fixed,
and the ensemble is scored on test exactly once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from autoglm.core import ConfigError, Engine
from autoglm.plugins import testing
from autoglm.plugins.nn import ProbabilityEnsemble
from autoglm.plugins_builtin.node_classification import NodeClassification


def config(tmp_path: Path, weights: str = "mean", **selection: Any) -> dict[str, Any]:
    c = testing.tiny_config(tmp_path / "run", budget=6, max_epochs=30, models=["gcn", "sage"])
    c["selection"] = {"top_k": 3, "seeds": 2, "noise_band": float("inf"), "ensemble": 3, "ensemble_weights": weights} | selection
    return c


@pytest.mark.parametrize("weights", ["mean", "greedy"])
def test_the_ensemble_never_touches_test_before_its_weights_are_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: str
) -> None:
    calls: list[tuple[bool, tuple[str, ...]]] = []
    real = NodeClassification.evaluate

    def spy(self: Any, model: Any, data: Any, splits: Any) -> Any:
        calls.append((isinstance(model, ProbabilityEnsemble), tuple(splits)))
        return real(self, model, data, splits)

    monkeypatch.setattr(NodeClassification, "evaluate", spy)
    result = Engine(autoload=False).run(config(tmp_path, weights))
    ensemble_calls = [splits for is_ensemble, splits in calls if is_ensemble]
    assert ensemble_calls.count(("test",)) == 1 and ensemble_calls[-1] == ("test",)
    assert all(splits == ("val",) for splits in ensemble_calls[:-1])
    first_test = next(i for i, (_, splits) in enumerate(calls) if "test" in splits)
    last_val_of_ensemble = max(i for i, (is_ensemble, splits) in enumerate(calls) if is_ensemble and splits == ("val",))
    assert first_test > last_val_of_ensemble, "a test score was computed before the ensemble was fit"

    report = result.summary.selection["ensemble_result"]
    assert report["weights"] == weights and len(report["members"]) >= 2
    assert math.isclose(sum(m["weight"] for m in report["members"]), 1.0, abs_tol=1e-5)
    assert {"val_score", "test_score", "single_best_test_score", "single_best_val_mean"} <= set(report)
    assert report["single_best_test_score"] == result.test_score  # compared with the single best in summary.json
    if weights == "mean":
        assert len({m["weight"] for m in report["members"]}) == 1
    else:  # greedy selection can only do as well as its best member on validation, or better
        assert report["val_score"] >= max(run["val_score"] for c in result.summary.selection["contenders"]
                                           for run in c["runs"] if run["val_score"] is not None) - 1e-6


def test_probability_ensemble_averages_probabilities() -> None:
    a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    x = torch.randn(5, 4)
    with torch.no_grad():
        mixed = ProbabilityEnsemble([a, b], [3, 1])(x).exp()
        expected = 0.75 * torch.softmax(a(x), -1) + 0.25 * torch.softmax(b(x), -1)
    assert torch.allclose(mixed, expected, atol=1e-6) and torch.allclose(mixed.sum(-1), torch.ones(5))
    with pytest.raises(ValueError, match="one weight per model"):
        ProbabilityEnsemble([a], [1, 1])


@pytest.mark.parametrize("task", ["link_prediction", "graph_classification"])
def test_the_other_tasks_ensemble_too(tmp_path: Path, task: str) -> None:
    c = testing.tiny_config(tmp_path / "run", budget=4, max_epochs=10, models=["sage"], task=task)
    if task == "graph_classification":
        c["data"] = {"name": "synthetic_graphs", "options": {"num_graphs": 60}}
    c["selection"] = {"top_k": 2, "seeds": 2, "noise_band": float("inf"), "ensemble": 2}
    result = Engine(autoload=False).run(c)
    report = result.summary.selection["ensemble_result"]
    assert len(report["members"]) >= 2 and 0.0 <= report["test_score"] <= 1.0


@pytest.mark.parametrize(
    ("selection", "where", "message"),
    [
        ({"ensemble": 4, "top_k": 3}, "selection.ensemble", "top_k of at least 4"),
        ({"ensemble": 2, "seeds": 1}, "selection.ensemble", "needs seeds of 2 or more"),
        ({"ensemble": 2, "ensemble_weights": "stacking"}, "selection.ensemble_weights", "one of mean, greedy"),
    ],
)
def test_bad_ensemble_settings_are_config_errors(tmp_path: Path, selection: dict[str, Any], where: str, message: str) -> None:
    c = testing.tiny_config(tmp_path / "run")
    c["selection"] = selection
    with pytest.raises(ConfigError) as caught:
        Engine(autoload=False).validate(c, check_data=False)
    assert caught.value.path == where and message in str(caught.value)


def test_an_ensemble_that_fails_leaves_the_single_best_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Any, models: Any, weights: Any) -> Any:
        raise RuntimeError("no room for all members")

    monkeypatch.setattr(NodeClassification, "ensemble", broken)
    result = Engine(autoload=False).run(config(tmp_path))
    assert result.summary.status == "ok" and "ensemble_result" not in result.summary.selection
    assert "ensemble: could not be built or scored (RuntimeError: no room for all members)" in caplog.text
