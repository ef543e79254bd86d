"""The GCN module; imported only when a GCN is built, so listing plugins never imports torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GCNConv

from autoglm.plugins.nn import NormalisedGraph, SparseInputDropout


class GCN(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        # The normalisation is computed once per graph by NormalisedGraph (not cached=True, which
        # would keep the first graph's for every later one: wrong for batches of graphs).
        self.convs = torch.nn.ModuleList(GCNConv(a, b, normalize=False) for a, b in zip(sizes[:-1], sizes[1:]))
        self.normalised = NormalisedGraph()
        # Input dropout over the non-zero features only: same model, a fraction of the cost on
        # sparse bag-of-words features (no parameters, so the state_dict is unchanged).
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        index, weight = self.normalised(edge_index, x.size(0), x.dtype)
        for i, conv in enumerate(self.convs):
            x = self.input_dropout(x) if i == 0 else F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, index, weight)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x
