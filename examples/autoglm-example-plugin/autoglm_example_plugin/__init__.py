"""An example third-party autoglm plugin: registers the model ``mlp`` and the task ``node_degree``.

A 2-layer perceptron on node features that ignores the graph: the baseline a
GNN has to beat. Everything autoglm needs is in this module; the torch code
lives in :mod:`autoglm_example_plugin.model` and is imported only when a model
is built, so ``autoglm plugins`` and ``autoglm --help`` never import torch.
"""

from __future__ import annotations

from typing import Any

from autoglm.plugins import Float, Int, hookimpl

__version__ = "0.1.0"

#: The default search space; a config may override any of these names
#: under ``search.space.mlp``.
SEARCH_SPACE = {
    "hidden": Int(16, 256, log=True),
    "dropout": Float(0.0, 0.8),
}


def build_mlp(in_channels: int, out_channels: int, *, hidden: int = 64, dropout: float = 0.5) -> Any:
    """Two-layer perceptron on node features (ignores edges): the no-graph baseline."""
    if hidden < 1:
        raise ValueError(f"hidden must be at least 1, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    from autoglm_example_plugin.model import MLP  # torch is imported here, not at plugin load

    return MLP(in_channels, out_channels, hidden=hidden, dropout=dropout)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    register(
        "mlp",
        build_mlp,
        search_space=SEARCH_SPACE,
        summary="Two-layer perceptron on node features (ignores edges): the no-graph baseline",
    )


@hookimpl
def autoglm_register_tasks(register: Any) -> None:
    from autoglm_example_plugin.task import NodeDegree  # no torch at import: the module imports it in methods

    register("node_degree", NodeDegree, summary="Regress each node's log degree (MSE, lower is better)")
