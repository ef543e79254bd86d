"""The graph-classification model: the model plugin's encoder, a readout, a classifier; imported when built."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

READOUTS = {"mean": global_mean_pool, "add": global_add_pool, "max": global_max_pool}


class GraphClassifier(torch.nn.Module):
    """Node embeddings from the encoder, pooled per graph (mean, add or max), then a two-layer MLP to class scores."""

    def __init__(self, encoder: torch.nn.Module, readout: str, embedding: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        self.encoder = encoder
        self.readout = readout
        self.hidden = torch.nn.Linear(embedding, embedding)
        self.out = torch.nn.Linear(embedding, num_classes)
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
        pooled = READOUTS[self.readout](self.encoder(x, edge_index), batch)
        hidden = F.dropout(F.relu(self.hidden(pooled)), p=self.dropout, training=self.training)
        return self.out(hidden)
