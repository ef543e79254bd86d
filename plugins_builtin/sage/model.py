"""The GraphSAGE module; imported only when one is built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import SAGEConv

from autoglm.plugins.nn import LayerStack


class GraphSAGE(LayerStack):
    """``layers`` SAGEConv layers; ReLU and dropout between them, none after the last."""

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float, aggr: str) -> None:
        super().__init__()
        sizes = [in_channels] + [hidden] * (layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(SAGEConv(a, b, aggr=aggr) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = dropout

    def layer(self, index: int, x: Tensor, edge_index: Tensor) -> Tensor:
        """Layer ``index`` with the dropout before it and the activation after it (none after the last)."""
        # Dense dropout on the input too: SAGEConv aggregates the raw features before its linear map,
        # so the sparse input of SparseInputDropout (made for GCN and GAT) would not fit.
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.convs[index](x, edge_index)
        return F.relu(x) if index < len(self.convs) - 1 else x
