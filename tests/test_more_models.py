"""GraphSAGE, GCNII and the MLP baseline: each builds across its space, computes what the paper's model
computes (checked against a plain PyG stack with dropout off), and a search can select it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCN2Conv, SAGEConv

from autoglm.core import ConfigError, Engine
from autoglm.plugins import LayerwiseModule, hookimpl, testing


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


@pytest.mark.parametrize("name", ["sage", "gcnii", "mlp_baseline"])
def test_builds_across_its_space(engine: Engine, name: str) -> None:
    testing.check_model(engine, name, samples=4)


def test_what_can_train_on_sampled_subgraphs(engine: Engine) -> None:
    sampling = {name: engine.component("models", name).sampling for name in engine.names("models")}
    assert sampling == {"appnp": False, "gat": True, "gcn": False, "gcnii": False, "gin": True, "mlp_baseline": True, "sage": True}


def test_sage_is_a_plain_sageconv_stack_and_layerwise(engine: Engine) -> None:
    data = testing.tiny_graph()
    torch.manual_seed(0)
    model = engine.component("models", "sage").factory(data.num_features, 3, hidden=16, layers=2, dropout=0.0).eval()
    torch.manual_seed(0)
    first, second = SAGEConv(data.num_features, 16), SAGEConv(16, 3)
    with torch.no_grad():
        expected = second(F.relu(first(data.x, data.edge_index)), data.edge_index)
        assert torch.allclose(model(data.x, data.edge_index), expected, atol=1e-6)
    assert isinstance(model, LayerwiseModule) and model.layer_count() == 2


def test_gcnii_is_the_papers_model(engine: Engine) -> None:
    data = testing.tiny_graph()
    torch.manual_seed(0)
    model = engine.component("models", "gcnii").factory(
        data.num_features, 3, layers=4, hidden=16, alpha=0.1, theta=0.5, dropout=0.0).eval()
    lin_in = torch.nn.Linear(data.num_features, 16)
    convs = [GCN2Conv(16, 0.1, 0.5, layer + 1, shared_weights=True) for layer in range(4)]  # normalises itself
    lin_out = torch.nn.Linear(16, 3)
    with torch.no_grad():
        for ours, reference in zip([model.lin_in, *model.convs, model.lin_out], [lin_in, *convs, lin_out]):
            reference.load_state_dict(ours.state_dict())
        x = x0 = F.relu(lin_in(data.x))
        for conv in convs:
            x = F.relu(conv(x, x0, data.edge_index))
        assert torch.allclose(model(data.x, data.edge_index), lin_out(x), atol=1e-5)


def test_gcnii_starts_its_convolutions_as_the_papers_code_does(engine: Engine) -> None:
    """Uniform in +-1/sqrt(hidden) (Chen et al.'s GraphConvolution), not PyG's Glorot, whose bound is 1.7x wider."""
    model = engine.component("models", "gcnii").factory(8, 3, layers=3, hidden=64)
    bound = 1 / 64 ** 0.5
    for conv in model.convs:
        weight = conv.weight1.detach().abs()
        assert weight.max() <= bound and weight.max() > 0.95 * bound  # 4096 draws reach the bound
        assert abs(weight.mean().item() - bound / 2) < 0.05 * bound  # uniform: |w| averages half the bound
    assert not torch.equal(model.convs[0].weight1, model.convs[1].weight1)


def test_the_mlp_ignores_the_edges(engine: Engine) -> None:
    data = testing.bag_of_words_graph()  # sparse features: the sparse input path
    model = engine.component("models", "mlp_baseline").factory(data.num_features, 3, dropout=0.0).eval()
    with torch.no_grad():
        assert torch.allclose(model(data.x, data.edge_index), model(data.x, data.edge_index[:, :0]), atol=1e-6)


@pytest.mark.parametrize("name", ["gcnii", "mlp_baseline"])
def test_a_search_can_select_it(engine: Engine, tmp_path: Path, name: str) -> None:
    result = testing.run_tiny_search(engine, tmp_path / "run", models=[name], budget=1, max_epochs=5)
    assert result.best.model == name and result.best.ok


def test_gcnii_and_the_mlp_baseline_are_searched_only_when_named(engine: Engine, tmp_path: Path) -> None:
    defaulted = engine.validate(testing.tiny_config(tmp_path / "a"), check_data=False).search.models
    assert "gcnii" not in defaulted and "mlp_baseline" not in defaulted and {"gcn", "gat", "sage"} <= set(defaulted)
    named = engine.validate(testing.tiny_config(tmp_path / "b", models=["gcnii", "mlp_baseline"]), check_data=False)
    assert named.search.models == ["gcnii", "mlp_baseline"]


@pytest.mark.parametrize(
    ("option", "bad", "message"),
    [
        *[("default_search", bad, "default_search must be True or False, got") for bad in ("no", None, ["link_prediction"])],
        *[("tasks", bad, "tasks must be a non-empty list of task names, got")
          for bad in ("graph_classification", [], ["graph_classification", ""], 3)],
    ],
)
def test_registering_a_model_checks_default_search_and_tasks(option: str, bad: Any, message: str) -> None:
    from autoglm.plugins.testing import make_engine
    from autoglm.core.errors import PluginError

    class Plugin:
        @hookimpl
        def autoglm_register_models(self, register: Any) -> None:
            register("odd", lambda in_channels, out_channels: None, **{option: bad})

    with pytest.raises(PluginError, match=message):
        make_engine(Plugin())


class TaskDefaults:
    """Two third-party models: one that serves only graph classification, one that serves only link prediction."""

    @hookimpl
    def autoglm_register_models(self, register: Any) -> None:
        build = lambda in_channels, out_channels, hidden=8: None  # noqa: E731 (never built here)
        register("link_only", build, tasks=["link_prediction"])
        register("graphs_only", build, tasks=["graph_classification"])


@pytest.mark.parametrize(
    ("task", "joins"),
    [("node_classification", set()), ("link_prediction", {"link_only"}), ("graph_classification", {"graphs_only"})],
)
def test_a_model_that_does_not_serve_a_task_is_left_out_of_its_default_search(tmp_path: Path, task: str, joins: set[str]) -> None:
    """A model that does not serve a task is left out of the task's default list, not refused there
    (the default list is every default_search model that serves the task)."""
    engine = testing.make_engine(TaskDefaults())
    models = engine.validate(testing.tiny_config(tmp_path, task=task), check_data=False).search.models
    assert {"link_only", "graphs_only"} & set(models) == joins
    assert {"gcn", "gat"} <= set(models)  # the built-ins' default_search is True


def test_a_task_no_model_joins_by_default_asks_for_search_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builtin = Engine(autoload=False)
    defaults = [n for n in builtin.names("models") if builtin.component("models", n).default_search]
    monkeypatch.setenv("AUTOGLM_DISABLE_PLUGINS", ",".join(defaults))
    engine = testing.make_engine()
    with pytest.raises(ConfigError, match="no loaded model is searched by default for task 'node_classification'") as err:
        engine.validate(testing.tiny_config(tmp_path, models=None), check_data=False)
    assert err.value.path == "search.models"
    assert "gcnii" in str(err.value) and "mlp_baseline" in str(err.value)


def test_gcnii_decays_its_convolutions_at_the_papers_rate(engine: Engine) -> None:
    """Chen et al. decay the convolutions by 0.01 and the linear maps by 5e-4: the trainer's Adam gets both groups,
    also when a task wraps the encoder, and every other parameter at the trial's rate."""
    from autoglm.plugins import WeightDecayGroups
    from autoglm.plugins_builtin.cuda_trainer import parameter_groups

    build = engine.component("models", "gcnii").factory
    model = build(8, 3, layers=4, hidden=16)
    assert isinstance(model, WeightDecayGroups)
    head = torch.nn.Linear(3, 2)
    wrapped = torch.nn.Sequential(model, head)
    groups = parameter_groups(wrapped, 5e-4)
    rates = [(g.get("weight_decay"), len(g["params"])) for g in groups]
    assert rates == [(0.01, 4), (5e-4, 4), (None, 2)]  # 4 GCN2Conv weights; lin_in and lin_out; the head (Adam's default)
    assert sum(len(g["params"]) for g in groups) == len(list(wrapped.parameters()))
    optimizer = torch.optim.Adam(groups, lr=0.01, weight_decay=5e-4)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 5e-4, 5e-4]
    uniform = parameter_groups(build(8, 3, layers=4, hidden=16, conv_weight_decay=None), 1e-3)
    assert [g["weight_decay"] for g in uniform] == [1e-3, 1e-3]
    plain = torch.nn.Linear(4, 2)
    assert parameter_groups(plain, 5e-4) == [{"params": list(plain.parameters())}]
