"""APPNP: the built-in model is the paper's (an MLP, then personalised-PageRank propagation).

Checked the way the other built-ins are: it builds across its space, with
dropout 0 it computes exactly what a plain PyG stack computes (the sparse
input path changes the cost, not the model), its bad constants are config
errors, and a search can select it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import APPNP

from autoglm.core import ConfigError, Engine
from autoglm.plugins import testing
from autoglm.plugins_builtin.appnp import SEARCH_SPACE, build_appnp


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


def test_registered_with_the_papers_propagation(engine: Engine) -> None:
    component = engine.component("models", "appnp")
    assert component.factory is build_appnp
    assert component.search_space["K"] == 10 and component.search_space["alpha"] == 0.1
    assert SEARCH_SPACE["K"] == 10
    testing.check_model(engine, "appnp", samples=4)


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse-features", "dense-features"])
def test_without_dropout_it_is_a_plain_pyg_stack(sparse: bool) -> None:
    data = testing.tiny_graph()
    x = torch.relu(data.x - 1.0) if sparse else data.x  # mostly zeros: the sparse input path
    torch.manual_seed(0)
    model = build_appnp(data.num_features, 3, hidden=16, dropout=0.0, K=5, alpha=0.2)
    reference = APPNP(5, 0.2)
    model.train()
    out = model(x, data.edge_index)
    expected = reference(model.lin2(F.relu(model.lin1(x))), data.edge_index)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    # Gradients reach the first layer through the sparse product as through the dense one.
    out.sum().backward()
    grad = model.lin1.weight.grad.clone()
    model.zero_grad()
    expected = reference(model.lin2(F.relu(model.lin1(x))), data.edge_index)
    expected.sum().backward()
    torch.testing.assert_close(grad, model.lin1.weight.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"K": 0}, "K (propagation steps) must be at least 1, got 0"),
        ({"alpha": 0.0}, "alpha (teleport probability) must lie in (0, 1], got 0.0"),
        ({"alpha": 1.5}, "must lie in (0, 1], got 1.5"),
        ({"dropout": 1.0}, "dropout must lie in [0, 1), got 1.0"),
        ({"hidden": 0}, "hidden must be positive, got 0"),
    ],
)
def test_bad_constants_are_refused(engine: Engine, tmp_path: Path, params: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build_appnp(8, 3, **params)
    config = testing.tiny_config(tmp_path / "run", models=["appnp"])
    config["search"]["space"] = {"appnp": params}
    with pytest.raises(ConfigError, match=r"search\.space\.appnp\." + next(iter(params))):
        engine.run(config)


def test_a_search_trains_and_selects_it(engine: Engine, tmp_path: Path) -> None:
    result = testing.run_tiny_search(engine, tmp_path / "run", models=["appnp"], budget=2, max_epochs=30)
    assert result.best.model == "appnp"
    assert result.test_accuracy > 0.5  # three classes: chance is 1/3
