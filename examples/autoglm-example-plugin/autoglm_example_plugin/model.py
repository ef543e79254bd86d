"""The MLP module; imported by :func:`autoglm_example_plugin.build_mlp` only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class MLP(torch.nn.Module):
    """``Linear -> ReLU -> dropout -> Linear`` on node features; ``edge_index`` is ignored."""

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, dropout: float) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(in_channels, hidden)
        self.lin2 = torch.nn.Linear(hidden, out_channels)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:  # noqa: ARG002 - the protocol passes it
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = F.relu(self.lin1(x))
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.lin2(x)
