"""GCN (Kipf & Welling, 2017) as a searchable model."""

from __future__ import annotations

from typing import Any

from autoglm.plugins import Float, Int, hookimpl

#: Ranges around the paper's setting (2 layers, 16 hidden, dropout 0.5).
SEARCH_SPACE = {
    "hidden": Int(16, 256, log=True),
    "layers": Int(2, 3),
    "dropout": Float(0.2, 0.8),
}


def build_gcn(in_channels: int, out_channels: int, *, hidden: int = 64, layers: int = 2, dropout: float = 0.5) -> Any:
    """Graph convolutional network: stacked GCNConv layers with ReLU and dropout."""
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    from autoglm.plugins_builtin.gcn.model import GCN

    return GCN(in_channels, out_channels, hidden=hidden, layers=layers, dropout=dropout)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    register("gcn", build_gcn, search_space=SEARCH_SPACE, summary="Graph convolutional network (Kipf & Welling 2017)")
