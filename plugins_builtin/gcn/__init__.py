"""GCN (Kipf & Welling, 2017) as a searchable model."""

from __future__ import annotations

from typing import Annotated, Any, Mapping, Sequence

from autoglm.plugins import Between, Float, Int, hookimpl
from autoglm.plugins.design import OFF, Activation, Design, ExtraLayers, InputDropout, Jk, Norm, design_from

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
#: The shared design options (residual, jk, norm, input_dropout, activation, pre/post layers; see
#: autoglm.plugins.design) stay off: opened one at a time in the Cora search (bench/search.py, seeds 0-2),
#: none earned a place (README, "The models' design space"); a config opens them under search.space.
SEARCH_SPACE = {
    "hidden": Int(32, 256, log=True),
    "layers": 2,
    "dropout": Float(0.5, 0.8),
}


#: What a GCN can sensibly be built with; wider or deeper asks for memory and time no trial repays.
Hidden = Annotated[int, Between(1, 16384, why="wider layers cost memory and time that no search repays")]
Layers = Annotated[int, Between(1, 64, why="deeper GCNs oversmooth long before this")]
Dropout = Annotated[float, Between(0, 1, high_open=True)]


def build_gcn(
    in_channels: int,
    out_channels: int,
    *,
    hidden: Hidden = 64,
    layers: Layers = 2,
    dropout: Dropout = 0.5,
    residual: bool = False,
    jk: Jk = "none",
    norm: Norm = "none",
    input_dropout: InputDropout = None,
    activation: Activation = "relu",
    pre_layers: ExtraLayers = 0,
    post_layers: ExtraLayers = 0,
) -> Any:
    """Graph convolutional network: stacked GCNConv layers with ReLU and dropout, in the shared design space
    (:mod:`autoglm.plugins.design`; every option off is Kipf & Welling's GCN)."""
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    design = Design(residual, jk, norm, input_dropout, activation, pre_layers, post_layers).check()
    from autoglm.plugins_builtin.gcn.model import GCN

    return GCN(in_channels, out_channels, hidden=hidden, layers=layers, dropout=dropout, design=design)


_DEFAULTS = {"hidden": 64, "layers": 2, "dropout": 0.5}
#: A population batches plain GCNs only: the design options at these values.
_PLAIN = {**OFF, "activation": "relu"}


def build_gcn_population(in_channels: int, out_channels: int, members: Sequence[Mapping[str, Any]]) -> Any:
    """Several GCNs of one depth as one batched model (:class:`~autoglm.plugins_builtin.gcn.population.PopulationGCN`).

    ``members`` holds each member's ``build_gcn`` parameters (defaults as
    there). They must share ``layers``: the depth fixes the batched layers,
    while widths may differ (narrower members are padded with exact zeros).
    """
    if not members:
        raise ValueError("a population needs at least one member")
    resolved = []
    for i, params in enumerate(members):
        unknown = sorted(set(params) - set(_DEFAULTS) - set(_PLAIN))
        if unknown:
            raise ValueError(f"member {i}: unknown GCN parameters {unknown}; accepted: {sorted(_DEFAULTS) + sorted(_PLAIN)}")
        designed = {k: v for k, v in params.items() if k in _PLAIN and v != _PLAIN[k]}
        if designed:
            raise ValueError(f"member {i}: a GCN population batches plain GCNs only, got {designed}")
        full = {**_DEFAULTS, **{k: v for k, v in params.items() if k in _DEFAULTS}}
        layers, dropout, hidden = int(full["layers"]), float(full["dropout"]), int(full["hidden"])
        if layers < 1:
            raise ValueError(f"member {i}: layers must be at least 1, got {layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"member {i}: dropout must lie in [0, 1), got {dropout}")
        if layers > 1 and hidden < 1:
            raise ValueError(f"member {i}: hidden must be at least 1, got {hidden}")
        resolved.append((layers, hidden, dropout))
    depths = sorted({layers for layers, _, _ in resolved})
    if len(depths) > 1:
        raise ValueError(f"members of one GCN population must share layers, got {depths}")
    from autoglm.plugins_builtin.gcn.population import PopulationGCN

    return PopulationGCN(
        in_channels, out_channels, layers=depths[0],
        hidden=[hidden for _, hidden, _ in resolved], dropout=[dropout for _, _, dropout in resolved],
    )


def gcn_population_key(params: Mapping[str, Any]) -> tuple[int, int] | None:
    """GCNs of equal depth and widths within one power of two share a population.

    Why the width octave: a population pads every member to its widest, so
    mixing 32 and 256 units would make the narrow members cost as much as the
    wide one (on Cora, 8 members of widths 34..156 trained no faster batched
    than alone, while 8 of width 64 trained 2.4x faster). Within an octave the
    padding costs at most 2x, about 1.3x on average. A GCN with any design option on trains alone (None).
    """
    if not design_from(params, "relu").is_off("relu"):
        return None
    layers = int(params.get("layers", _DEFAULTS["layers"]))
    hidden = int(params.get("hidden", _DEFAULTS["hidden"]))
    return layers, (hidden.bit_length() if layers > 1 else 0)


@hookimpl
def autoglm_register_models(register: Any) -> None:
    register(
        "gcn",
        build_gcn,
        search_space=SEARCH_SPACE,
        population=build_gcn_population,
        population_key=gcn_population_key,
        summary="Graph convolutional network (Kipf & Welling 2017)",
    )
