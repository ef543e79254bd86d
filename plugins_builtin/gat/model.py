"""The GAT module; imported only when a GAT is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import GATConv

from autoglm.plugins.nn import LayerStack, SparseInputDropout


class GAT(LayerStack):
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
        # Input dropout over the non-zero features only: same model, a fraction of the cost on
        # sparse bag-of-words features (no parameters, so the state_dict is unchanged).
        self.input_dropout = SparseInputDropout(dropout)
        self.dropout = dropout

    def layer(self, index: int, x: Tensor, edge_index: Tensor) -> Tensor:
        """Layer ``index`` with the dropout before it and the ELU after it (none after the last)."""
        x = self.input_dropout(x) if index == 0 else F.dropout(x, p=self.dropout, training=self.training)
        x = self.convs[index](x, edge_index)
        return F.elu(x) if index < len(self.convs) - 1 else x
