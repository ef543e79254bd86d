"""A message-passing model built from a convolution and a :class:`~autoglm.plugins.design.Design`.

Imports torch: import it inside a model factory. The model is

    [pre_layers x (dropout, Linear, norm, activation)]
    layers x (dropout, conv [+ residual], norm, activation)   # none of the three after an output convolution
    [jk: combine every convolution's output]
    [head_layers x (dropout, Linear, norm, activation)]       # none after the last, which maps to the output

Dropout before the model's first layer is ``input_dropout``, before every
later one ``dropout``. Parameter names: ``pre``, ``convs``, ``skips``,
``norms``, ``acts`` (PReLU only), ``post``; with the design off only
``convs`` has any, which is why a plain model's ``state_dict`` is the one it
had before the design options existed.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from autoglm.plugins.design import Design
from autoglm.plugins.nn import SparseInputDropout

__all__ = ["ConvFactory", "DesignedStack", "LayerwiseStack", "designed_stack"]

#: ``conv(in_width, last)``: a message-passing layer from ``in_width`` to the stack's hidden width, or, with
#: ``last``, to its output width (an output convolution: the model's last layer, no head after it).
ConvFactory = Callable[[int, bool], torch.nn.Module]

_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "elu": F.elu, "gelu": F.gelu, "silu": F.silu}


class DesignedStack(torch.nn.Module):
    """Convolutions with the design's pre/post layers, residuals, norms, activation and jumping knowledge.

    ``width`` is the representation's width between layers (a GAT's is hidden x heads). ``sparse_input``:
    the first layer takes the sparse CSR copy of sparse features (:class:`~autoglm.plugins.nn.SparseInputDropout`);
    true of a linear layer, and of convolutions whose first step is a linear map (GCN, GAT).
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, width: int, layers: int, dropout: float, design: Design,
        conv: ConvFactory, sparse_input: bool = False,
    ) -> None:
        super().__init__()
        if layers < 1 or width < 1:
            raise ValueError(f"layers and the hidden width must be positive, got {layers} and {width}")
        design.check()
        self.design, self.dropout = design, dropout
        head = design.head_layers
        self.pre = torch.nn.ModuleList(
            torch.nn.Linear(in_channels if i == 0 else width, width) for i in range(design.pre_layers)
        )
        widths = [in_channels if not design.pre_layers else width] + [width] * layers
        output_conv = head == 0
        convs = [conv(widths[i], output_conv and i == layers - 1) for i in range(layers)]
        self.convs = torch.nn.ModuleList(convs)
        conv_out = widths[1:-1] + [out_channels if output_conv else width]
        if design.residual:
            self.skips = torch.nn.ModuleList(
                torch.nn.Identity() if a == b else torch.nn.Linear(a, b, bias=False) for a, b in zip(widths, conv_out)
            )
        head_in = width * layers if design.jk == "cat" else width
        self.post = torch.nn.ModuleList(
            torch.nn.Linear(head_in if i == 0 else width, out_channels if i == head - 1 else width) for i in range(head)
        )
        # One norm and activation per hidden layer (every layer but the model's last).
        hidden_layers = design.pre_layers + layers + head - 1
        if design.norm != "none":
            make = torch.nn.BatchNorm1d if design.norm == "batch" else torch.nn.LayerNorm
            self.norms = torch.nn.ModuleList(make(width) for _ in range(hidden_layers))
        if design.activation == "prelu":
            self.acts = torch.nn.ModuleList(torch.nn.PReLU() for _ in range(hidden_layers))
        rate = dropout if design.input_dropout is None else design.input_dropout
        # Input dropout over the non-zero features only where the first layer takes sparse input (no parameters).
        self.input_dropout = SparseInputDropout(rate) if sparse_input or design.pre_layers > 0 else None
        self.input_rate = rate
        self._steps = design.pre_layers + layers + head

    # -- the pieces -------------------------------------------------------------------------------------------

    def _drop(self, step: int, x: Tensor) -> Tensor:
        if step == 0:
            return self.input_dropout(x) if self.input_dropout is not None else F.dropout(x, p=self.input_rate, training=self.training)
        return F.dropout(x, p=self.dropout, training=self.training)

    def _finish(self, step: int, x: Tensor) -> Tensor:
        """Norm and activation after hidden layer ``step``; nothing after the model's last layer."""
        if step == self._steps - 1:
            return x
        if self.design.norm != "none":
            x = self.norms[step](x)
        if self.design.activation == "prelu":
            return self.acts[step](x)
        return _ACTIVATIONS[self.design.activation](x)

    def graph(self, x: Tensor, edge_index: Tensor) -> tuple[Any, ...]:
        """What every convolution gets after its input: here the edges; a GCN adds its normalised weights."""
        return (edge_index,)

    def _conv(self, index: int, x: Tensor, graph: tuple[Any, ...]) -> Tensor:
        step = self.design.pre_layers + index
        dropped = self._drop(step, x)
        out = self.convs[index](dropped, *graph)
        if self.design.residual:
            skip = self.skips[index]
            sparse_identity = isinstance(skip, torch.nn.Identity) and dropped.layout != torch.strided
            out = out + (dropped.to_dense() if sparse_identity else skip(dropped))
        return self._finish(step, out)

    def _linear(self, step: int, x: Tensor) -> Tensor:
        pre = self.design.pre_layers
        layer = self.pre[step] if step < pre else self.post[step - pre - len(self.convs)]
        return self._finish(step, layer(self._drop(step, x)))

    def _jump(self, outputs: list[Tensor]) -> Tensor:
        if self.design.jk == "cat":
            return torch.cat(outputs, dim=-1)
        stacked = torch.stack(outputs, dim=0)
        return stacked.max(dim=0).values if self.design.jk == "max" else stacked.sum(dim=0)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        pre, layers = self.design.pre_layers, len(self.convs)
        for step in range(pre):
            x = self._linear(step, x)
        graph = self.graph(x, edge_index)
        outputs = []
        for index in range(layers):
            x = self._conv(index, x, graph)
            outputs.append(x)
        if self.design.jk != "none":
            x = self._jump(outputs)
        for step in range(pre + layers, self._steps):
            x = self._linear(step, x)
        return x


class LayerwiseStack(DesignedStack):
    """A :class:`DesignedStack` without jumping knowledge, as the :class:`~autoglm.plugins.LayerwiseModule`
    chunked inference needs: each step (a linear layer or a convolution) sees only its input's one-hop
    neighbours. For convolutions that need nothing from the whole graph (GAT, GraphSAGE; not GCN's degrees)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.design.jk != "none":
            raise ValueError("a layer-wise stack cannot have jumping knowledge (it combines every layer's output)")

    def layer_count(self) -> int:
        return self._steps

    def layer(self, index: int, x: Tensor, edge_index: Tensor) -> Tensor:
        pre, layers = self.design.pre_layers, len(self.convs)
        if pre <= index < pre + layers:
            return self._conv(index - pre, x, self.graph(x, edge_index))
        return self._linear(index, x)


def designed_stack(in_channels: int, out_channels: int, *, layerwise: bool = False, **kwargs: Any) -> DesignedStack:
    """A :class:`LayerwiseStack` where ``layerwise`` and the design allow one (no jk), else a :class:`DesignedStack`."""
    cls = LayerwiseStack if layerwise and kwargs["design"].jk == "none" else DesignedStack
    return cls(in_channels, out_channels, **kwargs)
