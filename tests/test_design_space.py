"""The design space GCN, GAT and GraphSAGE share (autoglm.plugins.design): with every option off each model is
exactly the model it was before the options existed, and each option changes the model as documented."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv, GCNConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from autoglm.core import ConfigError, Engine
from autoglm.plugins import LayerwiseModule, testing
from autoglm.plugins.design import DESIGN_SPACE, OFF, Design, design_from
from autoglm.plugins.nn import SparseInputDropout

MODELS = ("gcn", "gat", "sage")
DEFAULT_ACTIVATION = {"gcn": "relu", "gat": "elu", "sage": "relu"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


# -- today's models, as they were before the design options (the reference the defaults must reproduce) ----------

class TodayGCN(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(GCNConv(a, b, normalize=False) for a, b in zip(sizes[:-1], sizes[1:]))
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        index, weight = gcn_norm(edge_index, None, x.size(0), False, True, "source_to_target", x.dtype)
        for i, conv in enumerate(self.convs):
            x = self.input_dropout(x) if i == 0 else F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, index, weight)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x


class TodayGAT(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, heads: int, layers: int, dropout: float) -> None:
        super().__init__()
        convs, width = [], in_channels
        for _ in range(layers - 1):
            convs.append(GATConv(width, hidden, heads=heads, dropout=dropout))
            width = hidden * heads
        convs.append(GATConv(width, out_channels, heads=1, concat=False, dropout=dropout))
        self.convs = torch.nn.ModuleList(convs)
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = self.input_dropout(x) if i == 0 else F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            x = F.elu(x) if i < len(self.convs) - 1 else x
        return x


class TodaySAGE(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float, aggr: str) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(SAGEConv(a, b, aggr=aggr) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            x = F.relu(x) if i < len(self.convs) - 1 else x
        return x


TODAY: dict[str, tuple[Callable[..., torch.nn.Module], dict[str, Any]]] = {
    "gcn": (TodayGCN, {"hidden": 16, "layers": 3, "dropout": 0.5}),
    "gat": (TodayGAT, {"hidden": 4, "heads": 2, "layers": 3, "dropout": 0.5}),
    "sage": (TodaySAGE, {"hidden": 16, "layers": 3, "dropout": 0.5, "aggr": "mean"}),
}


@pytest.mark.parametrize("graph", ["dense", "bag_of_words"])
@pytest.mark.parametrize("name", MODELS)
def test_options_off_reproduce_todays_model_exactly(engine: Engine, name: str, graph: str) -> None:
    data = testing.tiny_graph() if graph == "dense" else testing.bag_of_words_graph()
    reference, params = TODAY[name]
    torch.manual_seed(3)
    today = reference(data.num_features, 3, **params)
    torch.manual_seed(3)
    model = engine.component("models", name).factory(data.num_features, 3, **params, **OFF)
    today_state, state = today.state_dict(), model.state_dict()
    assert list(state) == list(today_state)
    assert all(torch.equal(state[key], today_state[key]) for key in state)
    for training in (True, False):  # training: the same dropout draws in the same order
        today.train(training), model.train(training)
        torch.manual_seed(11)
        expected = today(data.x, data.edge_index)
        torch.manual_seed(11)
        assert torch.equal(model(data.x, data.edge_index), expected)


# -- each option as documented -----------------------------------------------------------------------------

_ACT = {"relu": F.relu, "elu": F.elu, "gelu": F.gelu, "silu": F.silu}


def documented(model: Any, name: str, x: Tensor, edge_index: Tensor) -> Tensor:
    """What the design's docs say the model computes (eval mode, so dropout is the identity)."""
    design: Design = model.design
    convs = list(model.convs)
    steps = design.pre_layers + len(convs) + design.head_layers
    graph = gcn_norm(edge_index, None, x.size(0), False, True, "source_to_target", x.dtype) if name == "gcn" else (edge_index,)

    def finish(step: int, h: Tensor) -> Tensor:
        if step == steps - 1:
            return h
        if design.norm != "none":
            h = model.norms[step](h)
        return model.acts[step](h) if design.activation == "prelu" else _ACT[design.activation](h)

    for step in range(design.pre_layers):
        x = finish(step, model.pre[step](x))
    outputs = []
    for i, conv in enumerate(convs):
        h = conv(x, *graph)
        if design.residual:
            h = h + (x if h.shape == x.shape else model.skips[i](x))
        x = finish(design.pre_layers + i, h)
        outputs.append(x)
    if design.jk == "cat":
        x = torch.cat(outputs, dim=-1)
    elif design.jk == "max":
        x = torch.stack(outputs).max(dim=0).values
    elif design.jk == "sum":
        x = torch.stack(outputs).sum(dim=0)
    for k, linear in enumerate(model.post):
        x = finish(design.pre_layers + len(convs) + k, linear(x))
    return x


DESIGNS = [
    {"residual": True},
    {"residual": True, "pre_layers": 1},  # every convolution hidden -> hidden: identity skips
    {"jk": "cat"},
    {"jk": "max", "post_layers": 2},
    {"jk": "sum", "residual": True, "norm": "layer"},
    {"norm": "batch"},
    {"norm": "layer", "activation": "prelu"},
    {"activation": "gelu"},
    {"activation": "silu", "pre_layers": 2},
    {"post_layers": 1},
    {"pre_layers": 1, "post_layers": 2, "norm": "batch", "residual": True},
]


@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
@pytest.mark.parametrize("name", MODELS)
def test_each_option_computes_what_its_docs_say(engine: Engine, name: str, design: dict[str, Any]) -> None:
    data = testing.tiny_graph()
    params = {k: v for k, v in TODAY[name][1].items()}
    torch.manual_seed(0)
    model = engine.component("models", name).factory(data.num_features, 3, **params, **design)
    model.train()
    model(data.x, data.edge_index)  # one training pass, so batch norm has running statistics
    model.eval()
    with torch.no_grad():
        out = model(data.x, data.edge_index)
        assert out.shape == (data.num_nodes, 3)
        assert torch.allclose(out, documented(model, name, data.x, data.edge_index), atol=1e-5)
        torch.manual_seed(0)
        plain = engine.component("models", name).factory(data.num_features, 3, **params)
        plain.eval()
        assert not torch.allclose(out, plain(data.x, data.edge_index), atol=1e-4), "the option changed nothing"


def test_the_structure_each_option_adds(engine: Engine) -> None:
    data = testing.tiny_graph()
    build = engine.component("models", "gcn").factory
    width = {"hidden": 16, "layers": 3, "dropout": 0.5}

    def linears(module: Any) -> list[tuple[int, int]]:
        return [(m.in_features, m.out_features) for m in module]

    residual = build(data.num_features, 3, **width, residual=True)
    assert [type(s).__name__ for s in residual.skips] == ["Linear", "Identity", "Linear"]  # projections where widths differ
    assert [c.out_channels for c in residual.convs] == [16, 16, 3]
    headed = build(data.num_features, 3, **width, post_layers=2)
    assert [c.out_channels for c in headed.convs] == [16, 16, 16] and linears(headed.post) == [(16, 16), (16, 3)]
    jk = build(data.num_features, 3, **width, jk="cat")
    assert linears(jk.post) == [(48, 3)]  # jumping knowledge adds a one-layer head
    pre = build(data.num_features, 3, **width, pre_layers=2)
    assert linears(pre.pre) == [(data.num_features, 16), (16, 16)] and pre.convs[0].in_channels == 16
    normed = build(data.num_features, 3, **width, norm="batch", pre_layers=1, post_layers=1)
    assert len(normed.norms) == 4 and all(isinstance(n, torch.nn.BatchNorm1d) for n in normed.norms)  # hidden layers only
    assert len(build(data.num_features, 3, **width, activation="prelu").acts) == 2


def test_input_dropout_is_the_first_layers_own_rate(engine: Engine) -> None:
    """One convolution sees only input dropout: off, training equals inference; left at null, it is ``dropout``."""
    data = testing.bag_of_words_graph()
    build = engine.component("models", "gcn").factory
    for input_dropout, same in ((0.0, True), (None, False)):
        model = build(data.num_features, 3, hidden=8, layers=1, dropout=0.7, input_dropout=input_dropout)
        with torch.no_grad():
            inference = model.eval()(data.x, data.edge_index)
            torch.manual_seed(0)
            training = model.train()(data.x, data.edge_index)
        assert torch.allclose(training, inference) is same


@pytest.mark.parametrize("name", ["gat", "sage"])
def test_layerwise_inference_holds_for_every_design_but_jk(engine: Engine, name: str) -> None:
    data = testing.tiny_graph()
    params = TODAY[name][1]
    build = engine.component("models", name).factory
    model = build(data.num_features, 3, **params, pre_layers=1, post_layers=2, residual=True, norm="layer").eval()
    assert isinstance(model, LayerwiseModule) and model.layer_count() == 1 + 3 + 2
    with torch.no_grad():
        x = data.x
        for index in range(model.layer_count()):
            x = model.layer(index, x, data.edge_index)
        assert torch.allclose(x, model(data.x, data.edge_index), atol=1e-6)
    assert not isinstance(build(data.num_features, 3, **params, jk="cat"), LayerwiseModule)


def test_a_designed_gcn_trains_alone_in_a_population(engine: Engine) -> None:
    component = engine.component("models", "gcn")
    plain = {"hidden": 64, "layers": 2, "dropout": 0.5, **OFF, "activation": "relu"}
    assert component.population_key(plain) == (2, 7)
    assert component.population_key({**plain, "norm": "layer"}) is None
    component.population(10, 3, [plain, plain])  # plain members batch, with the design keys present
    with pytest.raises(ValueError, match="plain GCNs only"):
        component.population(10, 3, [plain, {**plain, "residual": True}])


def test_design_space_choices_are_valid_designs() -> None:
    for key, param in DESIGN_SPACE.items():
        for value in getattr(param, "options", ()):
            design_from({key: value}, "relu")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"jk": "concat"}, "jk must be one of none, cat, max, sum, got 'concat'"),
        ({"norm": "group"}, "norm must be one of none, batch, layer"),
        ({"activation": "sigmoid"}, "activation must be one of relu, prelu, elu, gelu, silu"),
        ({"input_dropout": 1.0}, r"input_dropout must lie in \[0, 1\)"),
        ({"pre_layers": -1}, "pre_layers must be a non-negative integer"),
    ],
)
def test_a_bad_design_says_what_would_be_valid(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Design(**fields).check()


def test_a_config_with_a_bad_option_fails_validation_at_its_key(engine: Engine, tmp_path: Any) -> None:
    config = testing.tiny_config(tmp_path / "run", models=["gcn"])
    config["search"]["space"] = {"gcn": {"jk": {"choice": ["none", "concat"]}}}
    with pytest.raises(ConfigError) as error:
        engine.validate(config)
    assert "search.space.gcn.jk" in str(error.value) and "concat" in str(error.value)


def test_a_config_opens_an_option_and_the_search_uses_it(engine: Engine, tmp_path: Any) -> None:
    config = testing.tiny_config(tmp_path / "run", models=["gcn"], budget=3)
    config["search"]["space"] = {"gcn": {"norm": "layer", "residual": {"choice": [True]}, "post_layers": 1}}
    result = engine.run(config)
    assert all(t.model_params["norm"] == "layer" and t.model_params["residual"] is True for t in result.trials)
    assert all(t.status == "ok" for t in result.trials)


def test_a_third_party_model_reuses_the_design_space(tmp_path: Any) -> None:
    """What the plugin guide shows: a plugin's own convolution in DesignedStack, its options searched by a run."""
    from autoglm.plugins import Choice, hookimpl
    from autoglm.plugins.design import Jk, Norm

    def build_graphconv(
        in_channels: int, out_channels: int, *, hidden: int = 16, layers: int = 2, dropout: float = 0.5,
        residual: bool = False, jk: Jk = "none", norm: Norm = "none",
    ) -> Any:
        from torch_geometric.nn import GraphConv

        from autoglm.plugins.stack import designed_stack

        def conv(width: int, last: bool) -> Any:
            return GraphConv(width, out_channels if last else hidden)

        return designed_stack(in_channels, out_channels, layerwise=True, width=hidden, layers=layers, dropout=dropout,
                              design=Design(residual=residual, jk=jk, norm=norm).check(), conv=conv)

    class Plugin:
        @hookimpl
        def autoglm_register_models(self, register: Any) -> None:
            register("graphconv", build_graphconv, search_space={"norm": Choice(("none", "layer")), "jk": Choice(("none", "cat"))})

    engine = Engine(autoload=False, plugins=[Plugin()])
    result = engine.run(testing.tiny_config(tmp_path / "run", models=["graphconv"], budget=4))
    assert {t.status for t in result.trials} == {"ok"}
    model = build_graphconv(8, 3, jk="none")
    assert isinstance(model, LayerwiseModule) and not isinstance(build_graphconv(8, 3, jk="cat"), LayerwiseModule)
