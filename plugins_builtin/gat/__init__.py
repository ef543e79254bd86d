"""GAT (Veličković et al., 2018) as a searchable model."""

from __future__ import annotations

from typing import Any

from autoglm.plugins import Choice, Float, Int, hookimpl

#: Ranges around the paper's setting (8 heads of 8 hidden units, dropout 0.6).
SEARCH_SPACE = {
    "hidden": Int(4, 64, log=True),
    "heads": Choice((1, 2, 4, 8)),
    "layers": Int(2, 3),
    "dropout": Float(0.2, 0.8),
}


def build_gat(
    in_channels: int,
    out_channels: int,
    *,
    hidden: int = 8,
    heads: int = 8,
    layers: int = 2,
    dropout: float = 0.6,
) -> Any:
    """Graph attention network: multi-head GATConv layers, a single-head output layer."""
    if layers < 1 or heads < 1 or hidden < 1:
        raise ValueError(f"layers, heads and hidden must be positive, got {layers}, {heads}, {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    from autoglm.plugins_builtin.gat.model import GAT

    return GAT(in_channels, out_channels, hidden=hidden, heads=heads, layers=layers, dropout=dropout)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    register("gat", build_gat, search_space=SEARCH_SPACE, summary="Graph attention network (Velickovic et al. 2018)")
