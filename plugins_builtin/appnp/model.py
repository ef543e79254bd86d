"""The APPNP module; imported only when an APPNP model is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import APPNP

from autoglm.plugins.nn import SparseInputDropout


class APPNPNet(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, dropout: float, K: int, alpha: float) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(in_channels, hidden)
        self.lin2 = torch.nn.Linear(hidden, out_channels)
        # cached=True: the graph is fixed for a whole trial, so its normalisation is computed once.
        self.propagate = APPNP(K, alpha, cached=True)
        # Input dropout over the non-zero features only (see SparseInputDropout); no parameters.
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = F.relu(self.lin1(self.input_dropout(x)))
        x = self.lin2(F.dropout(x, p=self.dropout, training=self.training))
        return self.propagate(x, edge_index)
