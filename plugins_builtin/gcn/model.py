"""The GCN module; imported only when a GCN is built, so listing plugins never imports torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GCNConv

from autoglm.plugins.nn import SparseInputDropout


class GCN(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        # cached=True: the graph is fixed for a whole trial, so its normalisation is computed once.
        self.convs = torch.nn.ModuleList(GCNConv(a, b, cached=True) for a, b in zip(sizes[:-1], sizes[1:]))
        # Input dropout over the non-zero features only: same model, a fraction of the cost on
        # sparse bag-of-words features (no parameters, so the state_dict is unchanged).
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = self.input_dropout(x) if i == 0 else F.dropout(x, p=self.dropout, training=self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x
