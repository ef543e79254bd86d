"""A contextual stochastic block model: the built-in dataset that needs no download.

Nodes get a class, edges join same-class nodes with probability ``homophily``,
and features are a class mean plus Gaussian noise. Both the graph and the
features carry signal, so graph models beat feature-only ones, as on citation
graphs. The graph depends only on the options, ``seed`` included.
"""

from __future__ import annotations

from typing import Annotated, Any

from autoglm.plugins import Between, hookimpl

#: Feature values the generated graph may hold (float32: 2 GB), so a typo cannot exhaust memory.
MAX_FEATURE_VALUES = 500_000_000


class SyntheticGraph:
    """Builds the graph on ``load()``; the factory only checks options."""

    def __init__(
        self,
        *,
        num_nodes: Annotated[int, Between(1, 50_000_000)] = 1000,
        num_classes: Annotated[int, Between(2, 10_000)] = 4,
        num_features: Annotated[int, Between(1, 1_000_000)] = 32,
        avg_degree: float = 6.0,
        homophily: float = 0.55,
        feature_signal: float = 0.3,
        train_per_class: int = 20,
        num_val: int = 200,
        seed: int = 0,
    ) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if num_features < 1 or avg_degree <= 0:
            raise ValueError("num_features and avg_degree must be positive")
        if not 0.0 <= homophily <= 1.0:
            raise ValueError(f"homophily must lie in [0, 1], got {homophily}")
        if train_per_class < 1 or num_val < 1:
            raise ValueError("train_per_class and num_val must be at least 1")
        if num_nodes * num_features > MAX_FEATURE_VALUES:
            raise ValueError(
                f"num_nodes x num_features = {num_nodes * num_features:,} feature values is more than "
                f"{MAX_FEATURE_VALUES:,} (2 GB); use fewer nodes or features"
            )
        if num_nodes < num_classes * train_per_class + num_val + 1:
            raise ValueError(
                f"num_nodes={num_nodes} is too small for {num_classes}x{train_per_class} training "
                f"nodes, {num_val} validation nodes and a test split"
            )
        self.num_nodes, self.num_classes, self.num_features = num_nodes, num_classes, num_features
        self.avg_degree, self.homophily, self.feature_signal = avg_degree, homophily, feature_signal
        self.train_per_class, self.num_val, self.seed = train_per_class, num_val, seed

    def describe(self) -> dict[str, Any]:
        return {"name": f"synthetic CSBM (seed {self.seed})"}

    def load(self) -> Any:
        import torch
        from torch_geometric.data import Data
        from torch_geometric.utils import coalesce, to_undirected

        gen = torch.Generator().manual_seed(self.seed)
        n, c = self.num_nodes, self.num_classes
        y = torch.randint(0, c, (n,), generator=gen)
        by_class = [torch.nonzero(y == k).view(-1) for k in range(c)]

        num_edges = int(n * self.avg_degree / 2)
        src = torch.randint(0, n, (num_edges,), generator=gen)
        same = torch.rand(num_edges, generator=gen) < self.homophily
        dst = torch.randint(0, n, (num_edges,), generator=gen)
        for k in range(c):  # redirect homophilous edges to a random node of the source's class
            pick = same & (y[src] == k)
            members = by_class[k]
            dst[pick] = members[torch.randint(0, members.numel(), (int(pick.sum()),), generator=gen)]
        keep = src != dst
        edge_index = to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n)
        edge_index = coalesce(edge_index, num_nodes=n)

        means = torch.randn(c, self.num_features, generator=gen) * self.feature_signal
        x = means[y] + torch.randn(n, self.num_features, generator=gen)

        order = torch.randperm(n, generator=gen)
        train = torch.zeros(n, dtype=torch.bool)
        for k in range(c):
            members = order[y[order] == k][: self.train_per_class]
            train[members] = True
        rest = order[~train[order]]
        val = torch.zeros(n, dtype=torch.bool)
        val[rest[: self.num_val]] = True
        test = ~(train | val)
        return Data(x=x, edge_index=edge_index, y=y, train_mask=train, val_mask=val, test_mask=test, num_classes=c)


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register("synthetic", SyntheticGraph, summary="Contextual stochastic block model, generated from a seed (no download)")
