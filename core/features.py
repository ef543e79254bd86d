"""Node-feature engineering a search can choose: a preprocessing of the features, and structural encodings.

Two task parameters (in a task's ``search_space``, so ``search.task_space``
overrides them like any head parameter) name a trial's features:

- ``preprocess``: ``raw`` (as loaded), ``row`` (each node's features scaled to
  sum 1 in absolute value) or ``standard`` (each column to mean 0, std 1,
  over the graph's nodes);
- ``structural``: ``none``, or encodings of the graph's structure appended to
  the features: ``degree`` (log degree and a one-hot of the degree up to 31),
  ``pagerank`` (log of N x PageRank), ``rwpe`` (random-walk return
  probabilities over 1..16 steps, PyG's ``AddRandomWalkPE``) or ``lappe``
  (the 8 smallest non-trivial Laplacian eigenvectors, PyG's
  ``AddLaplacianEigenvectorPE``). A featureless graph (a constant ``x``)
  learns from these alone.

Every choice is a function of one graph (its features and edges), with no
statistics carried from the training data: a saved model's choice is applied
to new data exactly as it was to the run's. The kernel computes each
distinct choice once per run, for a task that can apply it
(:class:`~autoglm.core.protocols.FeaturedTask`; the built-in tasks can).
Plugins import this as :mod:`autoglm.plugins.features`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Mapping

from autoglm.core.space import Choice

if TYPE_CHECKING:  # pragma: no cover
    import torch

PREPROCESS = ("raw", "row", "standard")
STRUCTURAL = ("none", "degree", "pagerank", "rwpe", "lappe")
#: The defaults: the features as loaded, nothing added.
DEFAULTS = {"preprocess": "raw", "structural": "none"}
#: The whole choice, for a task's search space or a user's ``search.task_space``.
SEARCH_SPACE = {"preprocess": Choice(PREPROCESS), "structural": Choice(STRUCTURAL)}
MAX_DEGREE = 31
WALK_STEPS = 16
EIGENVECTORS = 8
#: Columns each encoding appends.
WIDTH = {"none": 0, "degree": MAX_DEGREE + 2, "pagerank": 1, "rwpe": WALK_STEPS, "lappe": EIGENVECTORS}


def choice_of(params: Mapping[str, Any]) -> tuple[str, str]:
    """A trial's ``(preprocess, structural)``, checked; the defaults where ``params`` leaves them out."""
    preprocess = str(params.get("preprocess", DEFAULTS["preprocess"]))
    structural = str(params.get("structural", DEFAULTS["structural"]))
    if preprocess not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {', '.join(PREPROCESS)}, got {preprocess!r}")
    if structural not in STRUCTURAL:
        raise ValueError(f"structural must be one of {', '.join(STRUCTURAL)}, got {structural!r}")
    return preprocess, structural


def is_default(params: Mapping[str, Any]) -> bool:
    return choice_of(params) == (DEFAULTS["preprocess"], DEFAULTS["structural"])


def transform_for(params: Mapping[str, Any]) -> Callable[["torch.Tensor", "torch.Tensor", int], "torch.Tensor"]:
    """``(x, edge_index, num_nodes) -> x'`` for a trial's choice."""
    preprocess, structural = choice_of(params)

    def transform(x: "torch.Tensor", edge_index: "torch.Tensor", num_nodes: int) -> "torch.Tensor":
        import torch

        out = _preprocess(x.float(), preprocess)
        if structural != "none":
            out = torch.cat([out, _structural(edge_index, num_nodes, structural).to(out.device)], dim=1)
        return out.contiguous()

    return transform


def _preprocess(x: "torch.Tensor", how: str) -> "torch.Tensor":
    if how == "row":
        return x / x.abs().sum(dim=1, keepdim=True).clamp(min=1e-12)
    if how == "standard":
        mean, std = x.mean(dim=0, keepdim=True), x.std(dim=0, keepdim=True, unbiased=False)
        return (x - mean) / std.clamp(min=1e-6)
    return x


def _structural(edge_index: "torch.Tensor", num_nodes: int, how: str) -> "torch.Tensor":
    import torch

    edge_index = edge_index.cpu()
    degree = torch.bincount(edge_index[1], minlength=num_nodes).float() if edge_index.numel() else torch.zeros(num_nodes)
    if how == "degree":
        one_hot = torch.nn.functional.one_hot(degree.long().clamp(max=MAX_DEGREE), MAX_DEGREE + 1).float()
        return torch.cat([torch.log1p(degree).unsqueeze(1), one_hot], dim=1)
    if how == "pagerank":
        return _pagerank(edge_index, num_nodes).unsqueeze(1)
    from torch_geometric.data import Data

    graph = Data(edge_index=edge_index, num_nodes=num_nodes)
    if how == "rwpe":
        from torch_geometric.transforms import AddRandomWalkPE

        return AddRandomWalkPE(WALK_STEPS)(graph).random_walk_pe.float()
    from torch_geometric.transforms import AddLaplacianEigenvectorPE

    k = min(EIGENVECTORS, max(num_nodes - 2, 1))
    encoding = AddLaplacianEigenvectorPE(k, is_undirected=True)(graph).laplacian_eigenvector_pe.float()
    if k < EIGENVECTORS:  # a graph too small for 8 eigenvectors: zero columns keep the width fixed
        encoding = torch.cat([encoding, encoding.new_zeros(num_nodes, EIGENVECTORS - k)], dim=1)
    return encoding


def _pagerank(edge_index: "torch.Tensor", num_nodes: int, alpha: float = 0.85) -> "torch.Tensor":
    """log(N x PageRank) by power iteration (mean 0 on a regular graph), in plain torch."""
    import torch

    rank = torch.full((num_nodes,), 1.0 / num_nodes)
    src, dst = edge_index
    out_degree = torch.bincount(src, minlength=num_nodes).float().clamp(min=1)
    for _ in range(50):
        spread = torch.zeros(num_nodes).index_add_(0, dst, (rank / out_degree)[src])
        dangling = rank[torch.bincount(src, minlength=num_nodes) == 0].sum() / num_nodes
        updated = (1 - alpha) / num_nodes + alpha * (spread + dangling)
        if float((updated - rank).abs().sum()) < 1e-8:
            rank = updated
            break
        rank = updated
    return torch.log(rank * num_nodes).clamp(min=-math.log(num_nodes) - 1)
