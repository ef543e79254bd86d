"""The GIN module; imported only when a GIN is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GINConv


def _mlp(a: int, b: int, c: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(a, b), torch.nn.BatchNorm1d(b), torch.nn.ReLU(), torch.nn.Linear(b, c))


class GIN(torch.nn.Module):
    """``layers`` GINConv layers; the last maps to ``out_channels`` with no activation after it."""

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float, train_eps: bool) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(
            GINConv(_mlp(a, max(hidden, b), b), train_eps=train_eps) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.dropout(F.relu(x), p=self.dropout, training=self.training)
        return x
