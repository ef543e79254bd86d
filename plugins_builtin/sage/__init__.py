"""GraphSAGE (Hamilton et al., 2017) as a searchable model: the standard for training on sampled subgraphs.

Each layer combines a node's own features with the mean (or max, or sum) of
its neighbours' (``SAGEConv`` with a root weight), so nothing is normalised
over the whole graph: a sampled subgraph gives the same layer as the full
graph does for every node whose neighbours were all sampled. That is why it
declares ``sampling=True``, and why it can infer layer by layer
(:class:`autoglm.plugins.nn.LayerwiseModule`) on graphs too big for one pass.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from autoglm.plugins import Between, Choice, Float, Int, hookimpl
from autoglm.plugins.design import Activation, Design, ExtraLayers, InputDropout, Jk, Norm

#: The default space, from Hamilton et al. (2 layers, mean aggregation, hidden 256 on Reddit) and
#: Shchur et al. ("Pitfalls of GNN evaluation", 2018: GraphSAGE-mean tuned on Cora to 2 layers,
#: hidden 32..64, dropout 0.4..0.8), widened as for GCN: 32..256 units (log), dropout 0.3..0.8.
#: ``aggr`` is searched between mean and max (Hamilton et al.'s pooling variant is close to max).
#: The shared design options (residual, jk, norm, input_dropout, activation, pre/post layers; see
#: autoglm.plugins.design) stay off, as for gcn and gat, where they were measured (the shipped Cora search
#: has no sage): none earned a place (README, "The models' design space"); a config opens them under search.space.
SEARCH_SPACE = {
    "hidden": Int(32, 256, log=True),
    "layers": 2,
    "dropout": Float(0.3, 0.8),
    "aggr": Choice(("mean", "max")),
}


def build_sage(
    in_channels: int,
    out_channels: int,
    *,
    hidden: Annotated[int, Between(1, 16384, why="wider layers cost memory and time that no search repays")] = 64,
    layers: Annotated[int, Between(1, 64, why="deeper stacks oversmooth long before this")] = 2,
    dropout: Annotated[float, Between(0, 1, high_open=True)] = 0.5,
    aggr: Literal["mean", "max", "sum"] = "mean",
    residual: bool = False,
    jk: Jk = "none",
    norm: Norm = "none",
    input_dropout: InputDropout = None,
    activation: Activation = "relu",
    pre_layers: ExtraLayers = 0,
    post_layers: ExtraLayers = 0,
) -> Any:
    """GraphSAGE: SAGEConv layers (root weight, ``aggr`` over neighbours) with ReLU and dropout, in the shared
    design space (:mod:`autoglm.plugins.design`; every option off is Hamilton et al.'s model)."""
    if layers < 1 or hidden < 1:
        raise ValueError(f"layers and hidden must be positive, got {layers} and {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    design = Design(residual, jk, norm, input_dropout, activation, pre_layers, post_layers).check()
    from autoglm.plugins_builtin.sage.model import build_module

    return build_module(in_channels, out_channels, hidden=hidden, layers=layers, dropout=dropout, aggr=aggr, design=design)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    register(
        "sage", build_sage, search_space=SEARCH_SPACE, sampling=True,
        summary="GraphSAGE (Hamilton et al. 2017); trains on sampled subgraphs",
    )
