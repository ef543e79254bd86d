"""The link-prediction model: the model plugin's encoder and a pair decoder; imported when a model is built."""

from __future__ import annotations

import torch
from torch import Tensor


class LinkScorer(torch.nn.Module):
    """Node embeddings from the encoder; a node pair's logit from its two embeddings.

    ``dot``: their dot product (GAE's inner-product decoder, no parameters).
    ``mlp``: an MLP on their Hadamard product (the decoder of PyG's and OGB's
    link-prediction baselines), which can learn which dimensions matter.
    """

    def __init__(self, encoder: torch.nn.Module, decoder: str, embedding: int) -> None:
        super().__init__()
        if decoder not in ("dot", "mlp"):
            raise ValueError(f"decoder must be 'dot' or 'mlp', got {decoder!r}")
        self.encoder = encoder
        self.mlp = (
            torch.nn.Sequential(torch.nn.Linear(embedding, embedding), torch.nn.ReLU(), torch.nn.Linear(embedding, 1))
            if decoder == "mlp" else None
        )

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.encoder(x, edge_index)

    def decode(self, z: Tensor, pairs: Tensor) -> Tensor:
        product = z[pairs[0]] * z[pairs[1]]
        return product.sum(-1) if self.mlp is None else self.mlp(product).squeeze(-1)

    def forward(self, x: Tensor, edge_index: Tensor, pairs: Tensor) -> Tensor:
        return self.decode(self.encode(x, edge_index), pairs)
