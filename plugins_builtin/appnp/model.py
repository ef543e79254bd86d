"""The APPNP module; imported only when an APPNP model is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import APPNP

from autoglm.plugins.nn import NormalisedGraph, SparseInputDropout


class APPNPNet(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, dropout: float, K: int, alpha: float) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(in_channels, hidden)
        self.lin2 = torch.nn.Linear(hidden, out_channels)
        # Normalised once per graph (NormalisedGraph), correct when the graph changes (cached=True is not).
        self.propagate = APPNP(K, alpha, normalize=False)
        self.normalised = NormalisedGraph()
        # Input dropout over the non-zero features only (see SparseInputDropout); no parameters.
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.relu(self.lin1(self.input_dropout(x)))
        x = self.lin2(F.dropout(x, p=self.dropout, training=self.training))
        index, weight = self.normalised(edge_index, x.size(0), x.dtype)
        return self.propagate(x, index, weight)
