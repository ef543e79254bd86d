"""The GIN module; imported only when a GIN is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GINConv


def _mlp(a: int, b: int, c: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(a, b), torch.nn.BatchNorm1d(b), torch.nn.ReLU(), torch.nn.Linear(b, c))


class GIN(torch.nn.Module):
    """``layers`` GINConv layers; the last maps to ``out_channels`` with no activation after it.

    With ``jk`` (jumping knowledge, as the GIN paper's readout uses every layer),
    all layers are ``hidden`` wide and a linear map of their concatenation gives
    the output, so shallow and deep structure both reach the head.
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float, train_eps: bool, jk: bool
    ) -> None:
        super().__init__()
        last = hidden if jk else out_channels
        sizes = [in_channels] + [hidden] * (layers - 1) + [last]
        self.convs = torch.nn.ModuleList(
            GINConv(_mlp(a, max(hidden, b), b), train_eps=train_eps) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.jk = torch.nn.Linear(hidden * layers, out_channels) if jk else None
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        outputs = []
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1 or self.jk is not None:
                x = F.dropout(F.relu(x), p=self.dropout, training=self.training)
            outputs.append(x)
        return x if self.jk is None else self.jk(torch.cat(outputs, dim=-1))
