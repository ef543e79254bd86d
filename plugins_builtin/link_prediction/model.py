"""The link-prediction model: the model plugin's encoder and a pair decoder; imported when a model is built."""

from __future__ import annotations

import torch
from torch import Tensor

from autoglm.plugins.nn import normalised_weights


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


class LinkEnsemble(torch.nn.Module):
    """Several link scorers as one: a pair's logit is the logit of the weighted mean of their probabilities."""

    def __init__(self, models: list[torch.nn.Module], weights: list[float]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(models)
        self.weights = normalised_weights(models, weights)

    def encode(self, x: Tensor, edge_index: Tensor) -> list[Tensor]:
        return [model.encode(x, edge_index) for model in self.members]

    def decode(self, z: list[Tensor], pairs: Tensor) -> Tensor:
        proba = sum(w * torch.sigmoid(m.decode(zi, pairs).float()) for w, m, zi in zip(self.weights, self.members, z))
        proba = proba.clamp(1e-7, 1 - 1e-7)
        return torch.log(proba) - torch.log1p(-proba)

    def forward(self, x: Tensor, edge_index: Tensor, pairs: Tensor) -> Tensor:
        return self.decode(self.encode(x, edge_index), pairs)
