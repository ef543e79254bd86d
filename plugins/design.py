"""The design space the built-in message-passing models share, for any model plugin to reuse.

Why a shared space: the gap between a textbook GNN and a tuned one is mostly
the design around the convolutions, not the convolution (You et al.,
"Design space for graph neural networks", NeurIPS 2020, GraphGym; Luo et
al., "Classic GNNs are strong baselines", NeurIPS 2024). The options:

- ``residual``: each convolution adds its input, ``h = conv(x) + x``
  (through a bias-free linear projection where the widths differ);
- ``jk``: jumping knowledge (Xu et al. 2018), the head reads every
  convolution's output combined by ``cat``, ``max`` or ``sum``, not the
  last one's alone;
- ``norm``: ``batch`` or ``layer`` normalisation after each hidden layer,
  before its activation;
- ``input_dropout``: the dropout on the input features (``None``: the same
  as ``dropout``, the rate before every later layer);
- ``activation``: between layers;
- ``pre_layers`` / ``post_layers``: linear layers before the first
  convolution (features to ``hidden``) and after the last (the head, the
  last of them mapping to the output). With neither and no ``jk``, the last
  convolution maps to the output, as in the papers' models; ``jk`` needs a
  head, so with ``post_layers: 0`` it gets one linear layer.

With every option off (:data:`OFF`, each model's own default activation) a
model is exactly the model it was before these options: same layers, same
parameter names, same random draws.

The module that builds such a model is :class:`autoglm.plugins.stack.DesignedStack`
(imports torch); this module imports nothing heavy, so a plugin's search
space and factory signature can use it at import time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal, Mapping, get_args

from autoglm.core.bounds import Between
from autoglm.core.space import Choice, Float, Int

__all__ = [
    "ACTIVATIONS", "Activation", "DESIGN_SPACE", "Design", "design_from", "ExtraLayers", "InputDropout", "JK_MODES", "Jk",
    "NORMS", "Norm", "OFF",
]

Norm = Literal["none", "batch", "layer"]
Jk = Literal["none", "cat", "max", "sum"]
Activation = Literal["relu", "prelu", "elu", "gelu", "silu"]
#: Pre- or post-processing layers; GraphGym searched 1..3.
ExtraLayers = Annotated[int, Between(0, 8, why="more linear layers around the convolutions rarely help")]
InputDropout = Annotated[float, Between(0, 1, high_open=True)] | None

NORMS: tuple[str, ...] = get_args(Norm)
JK_MODES: tuple[str, ...] = get_args(Jk)
ACTIVATIONS: tuple[str, ...] = get_args(Activation)


@dataclass(frozen=True)
class Design:
    """One point of the design space; :meth:`check` says what is wrong with it."""

    residual: bool = False
    jk: str = "none"
    norm: str = "none"
    input_dropout: float | None = None
    activation: str = "relu"
    pre_layers: int = 0
    post_layers: int = 0

    def check(self) -> "Design":
        """This design, or a ValueError naming the option and what would be valid."""
        for name, value, valid in (("jk", self.jk, JK_MODES), ("norm", self.norm, NORMS), ("activation", self.activation, ACTIVATIONS)):
            if value not in valid:
                raise ValueError(f"{name} must be one of {', '.join(valid)}, got {value!r}")
        if self.input_dropout is not None and not 0.0 <= self.input_dropout < 1.0:
            raise ValueError(f"input_dropout must lie in [0, 1) (or be null: the same as dropout), got {self.input_dropout}")
        for name, value in (("pre_layers", self.pre_layers), ("post_layers", self.post_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        return self

    @property
    def head_layers(self) -> int:
        """Linear layers after the convolutions: ``post_layers``, at least one under jumping knowledge."""
        return max(self.post_layers, 1) if self.jk != "none" else self.post_layers

    def is_off(self, default_activation: str) -> bool:
        """Whether this is the plain model (every option off, the model's own activation)."""
        return self == Design(activation=default_activation)

    def as_params(self) -> dict[str, Any]:
        return asdict(self)


def design_from(params: Mapping[str, Any], default_activation: str) -> Design:
    """The design options among a model's parameters (others ignored), with the model's own activation by default."""
    fields = {name: params[name] for name in OFF if name in params}
    fields.setdefault("activation", default_activation)
    return Design(**fields).check()


#: Every option off: the factory defaults (``activation`` is each model's own).
OFF: dict[str, Any] = {k: v for k, v in Design().as_params().items() if k != "activation"}

#: The ranges the literature searched, for a config to open (``search.space.gcn.norm: {choice: [none, batch, layer]}``)
#: or a plugin to put in its own default space. Which of them each built-in model searches by default was measured
#: (bench/search.py); see each model's SEARCH_SPACE.
DESIGN_SPACE: dict[str, Any] = {
    "residual": Choice((False, True)),
    "jk": Choice(("none", "cat", "max", "sum")),
    "norm": Choice(("none", "batch", "layer")),
    "input_dropout": Float(0.0, 0.8),
    "activation": Choice(("relu", "prelu", "elu")),
    "pre_layers": Int(0, 2),
    "post_layers": Int(0, 2),
}
