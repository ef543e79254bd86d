"""The GAT module; imported only when a GAT is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv


class GAT(torch.nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, *, hidden: int, heads: int, layers: int, dropout: float
    ) -> None:
        super().__init__()
        convs = []
        width = in_channels
        for _ in range(layers - 1):
            convs.append(GATConv(width, hidden, heads=heads, dropout=dropout))
            width = hidden * heads
        convs.append(GATConv(width, out_channels, heads=1, concat=False, dropout=dropout))
        self.convs = torch.nn.ModuleList(convs)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.elu(x)
        return x
