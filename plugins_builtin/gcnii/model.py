"""The GCNII module; imported only when one is built."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GCN2Conv

from autoglm.plugins.nn import NormalisedGraph, SparseInputDropout, uniform_dropout


class GCNII(torch.nn.Module):
    """Chen et al.'s model: dropout, Linear + ReLU, then per layer dropout, GCN2Conv(x, x0) + ReLU, then dropout, Linear."""

    def __init__(
        self, in_channels: int, out_channels: int, *, layers: int, hidden: int, alpha: float, theta: float, dropout: float,
        conv_weight_decay: float | None = None,
    ) -> None:
        super().__init__()
        self.conv_weight_decay = conv_weight_decay
        self.lin_in = torch.nn.Linear(in_channels, hidden)
        self.convs = torch.nn.ModuleList(
            GCN2Conv(hidden, alpha, theta, layer + 1, shared_weights=True, normalize=False) for layer in range(layers)
        )
        self.lin_out = torch.nn.Linear(hidden, out_channels)
        self.reset_conv_weights()
        self.normalised = NormalisedGraph()  # GCN's normalisation, once per graph (see autoglm.plugins.nn)
        self.input_dropout = SparseInputDropout(dropout)  # bag-of-words input: only its non-zeros are drawn
        self.dropout = dropout

    def reset_conv_weights(self) -> None:
        """Start the convolutions as the paper's code does, uniform in +-1/sqrt(hidden), not PyG's Glorot (+-sqrt(6 /
        (2 hidden)), 1.7x wider): one pinned 32-layer trial on row-normalised Cora, seeds 0-6, test 0.8447 against
        0.8410 with Glorot's start (bench figures in the README)."""
        for conv in self.convs:
            bound = 1.0 / math.sqrt(conv.channels)
            for weight in (conv.weight1, conv.weight2):
                if weight is not None:
                    torch.nn.init.uniform_(weight, -bound, bound)

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """The paper's two rates: ``conv_weight_decay`` on the convolutions, the trial's on the linear maps."""
        convs = list(self.convs.parameters())
        dense = [p for p in self.parameters() if all(p is not c for c in convs)]
        rate = weight_decay if self.conv_weight_decay is None else self.conv_weight_decay
        return [{"params": convs, "weight_decay": rate}, {"params": dense, "weight_decay": weight_decay}]

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        index, weight = self.normalised(edge_index, x.size(0), x.dtype)
        x = x0 = F.relu(self.lin_in(self.input_dropout(x)))
        for conv in self.convs:  # a dropout per layer: the cheaper draw (see uniform_dropout) is most of an epoch
            x = uniform_dropout(x, self.dropout, self.training)
            x = F.relu(conv(x, x0, index, weight))
        x = uniform_dropout(x, self.dropout, self.training)
        return self.lin_out(x)
