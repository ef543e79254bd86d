"""An MLP baseline: node features only, no edges.

A search that cannot beat it says something about the data: the graph adds
nothing the features do not already carry (or the models fail to use it).
It serves every task (link prediction decodes its embeddings; graph
classification pools them) and trains on sampled subgraphs trivially.
"""

from __future__ import annotations

from typing import Annotated, Any

from autoglm.plugins import Between, Float, Int, hookimpl

#: The default space: Shchur et al.'s MLP baseline ("Pitfalls of GNN evaluation": 1 hidden layer,
#: tuned width and dropout), searched over 1..2 hidden layers of 64..512 units and dropout 0.2..0.8.
SEARCH_SPACE = {
    "layers": Int(2, 3),
    "hidden": Int(64, 512, log=True),
    "dropout": Float(0.2, 0.8),
}


def build_mlp(
    in_channels: int,
    out_channels: int,
    *,
    layers: Annotated[int, Between(1, 16, why="deeper MLPs on node features rarely help")] = 2,
    hidden: Annotated[int, Between(1, 16384, why="wider layers cost memory and time that no search repays")] = 256,
    dropout: Annotated[float, Between(0, 1, high_open=True)] = 0.5,
) -> Any:
    """Multi-layer perceptron on the node features: ``layers`` Linear maps with ReLU and dropout; ignores the edges."""
    if layers < 1 or hidden < 1:
        raise ValueError(f"layers and hidden must be positive, got {layers} and {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    from autoglm.plugins_builtin.mlp_baseline.model import MLP

    return MLP(in_channels, out_channels, layers=layers, hidden=hidden, dropout=dropout)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    # Opt-in: a baseline to run on purpose (search.models: [mlp_baseline]), not a trial the default search should
    # spend (on Cora its default 20-trial search scores 0.5923 test accuracy, bench/tasks.py, against ~0.83 for the GNNs).
    register(
        "mlp_baseline", build_mlp, search_space=SEARCH_SPACE, sampling=True, default_search=False,
        summary="MLP on node features alone (the baseline); opt-in",
    )
