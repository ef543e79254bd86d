"""The built-in GCN and GAT as PyG's examples write them: dense ``F.dropout`` on the input.

The reference that ``bench/`` compares autoglm's models with, and that
``tests/test_fast_trials.py`` checks them against (same parameters, same
initialisation order, so a seed gives both the same initial weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class DenseGCN(torch.nn.Module):
    """GCN: ``F.dropout`` on the dense input (same parameters, same init order)."""

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float) -> None:
        from torch_geometric.nn import GCNConv

        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(GCNConv(a, b, cached=True) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(F.dropout(x, p=self.dropout, training=self.training), edge_index)
            x = F.relu(x) if i < len(self.convs) - 1 else x
        return x


class DenseGAT(torch.nn.Module):
    """GAT: ``F.dropout`` on the dense input (same parameters, same init order)."""

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, heads: int, layers: int, dropout: float) -> None:
        from torch_geometric.nn import GATConv

        super().__init__()
        convs, width = [], in_channels
        for _ in range(layers - 1):
            convs.append(GATConv(width, hidden, heads=heads, dropout=dropout))
            width = hidden * heads
        convs.append(GATConv(width, out_channels, heads=1, concat=False, dropout=dropout))
        self.convs = torch.nn.ModuleList(convs)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(F.dropout(x, p=self.dropout, training=self.training), edge_index)
            x = F.elu(x) if i < len(self.convs) - 1 else x
        return x


DENSE = {"gcn": DenseGCN, "gat": DenseGAT}
