"""GIN (Xu et al., 2019, "How powerful are graph neural networks?") as a searchable model.

The standard for graph classification: sum aggregation followed by an MLP is
as powerful as the 1-WL test at telling graph structures apart, where mean
(GCN) or max aggregation is not. As an encoder it serves every task; the
graph-classification task adds the readout (mean / add / max pooling, in its
search space) and the classifier.
"""

from __future__ import annotations

from typing import Annotated, Any

from autoglm.plugins import Between, Choice, Int, hookimpl

#: The default space, from the paper's protocol (Xu et al. 2019, section 7): hidden units
#: {16, 32} for the bioinformatics graphs and 64 for the others, dropout {0, 0.5} after the
#: dense layer, 5 GNN layers counting the input one (so 4 GIN layers; 2..5 here).
SEARCH_SPACE = {
    "hidden": Choice((16, 32, 64)),
    "layers": Int(2, 5),
    "dropout": Choice((0.0, 0.5)),
}


def build_gin(
    in_channels: int,
    out_channels: int,
    *,
    hidden: Annotated[int, Between(1, 4096, why="wider layers cost memory and time that no search repays")] = 32,
    layers: Annotated[int, Between(1, 32, why="deeper stacks cost time and rarely help")] = 4,
    dropout: Annotated[float, Between(0, 1, high_open=True)] = 0.0,
    train_eps: bool = False,
    jk: bool = False,
) -> Any:
    """Graph isomorphism network: GINConv layers, each an MLP (Linear, BatchNorm, ReLU, Linear)."""
    if layers < 1 or hidden < 1:
        raise ValueError(f"layers and hidden must be positive, got {layers} and {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    from autoglm.plugins_builtin.gin.model import GIN

    return GIN(in_channels, out_channels, hidden=hidden, layers=layers, dropout=dropout, train_eps=train_eps, jk=jk)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    register("gin", build_gin, search_space=SEARCH_SPACE, sampling=True, summary="Graph isomorphism network (Xu et al. 2019)")
