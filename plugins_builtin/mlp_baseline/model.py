"""The MLP module; imported only when one is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from autoglm.plugins.nn import SparseInputDropout


class MLP(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, layers: int, hidden: int, dropout: float) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.lins = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        # Sparse bag-of-words features: dropout draws numbers for the non-zero entries only (autoglm.plugins.nn).
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, lin in enumerate(self.lins):
            x = self.input_dropout(x) if i == 0 else F.dropout(x, p=self.dropout, training=self.training)
            x = lin(x)
            if i < len(self.lins) - 1:
                x = F.relu(x)
        return x
