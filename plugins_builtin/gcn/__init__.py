"""GCN (Kipf & Welling, 2017) as a searchable model."""

from __future__ import annotations

from typing import Any

from autoglm.plugins import Float, Int, hookimpl

#: The default space, from the literature and measured on Cora (bench/search.py):
#: - layers: 2, as in Kipf & Welling (their appendix B: deeper GCNs do no better on the
#:   citation graphs) and in Shchur et al.'s tuned GCN ("Pitfalls of GNN evaluation", 2018).
#:   A constant, so ``search.space.gcn.layers: {int: [2, 4]}`` in a config opens it again.
#: - hidden: 32..256 (log), from Shchur et al.'s 8..64 (tuned: 64) upwards: on Cora 64 and
#:   256 units beat the paper's 16 by 0.5-1 point of test accuracy at equal dropout and
#:   weight decay (5 seeds each), and a GCN this small costs little at any width.
#: - dropout: 0.5..0.8, from the paper's 0.5 to Shchur et al.'s tuned 0.8 (their range:
#:   0.2..0.8); with 64 or 256 units 0.8 beat 0.5 on Cora.
#: The trainer's ``lr`` and ``weight_decay`` ranges are in ``cuda_trainer.SEARCH_SPACE``.
SEARCH_SPACE = {
    "hidden": Int(32, 256, log=True),
    "layers": 2,
    "dropout": Float(0.5, 0.8),
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
