"""Many small random graphs whose class shows in their structure: the built-in graph-classification data.

Graph ``i`` of class ``c`` has between ``min_nodes`` and ``max_nodes`` nodes
joined at random with an average degree of ``2 + degree_step * c``; node
features are Gaussian noise, so only the structure tells the classes apart
(a GIN's sum aggregation counts degrees; a feature-only model is at chance).
Needs no files and depends only on the options, ``seed`` included.
"""

from __future__ import annotations

from typing import Annotated, Any

from autoglm.plugins import Between, hookimpl


class SyntheticGraphs:
    def __init__(
        self,
        *,
        num_graphs: Annotated[int, Between(4, 100_000)] = 300,
        num_classes: Annotated[int, Between(2, 100)] = 2,
        min_nodes: Annotated[int, Between(3, 10_000)] = 10,
        max_nodes: Annotated[int, Between(3, 10_000)] = 30,
        num_features: Annotated[int, Between(1, 1024)] = 8,
        degree_step: Annotated[float, Between(0, 100)] = 1.5,
        seed: int = 0,
    ) -> None:
        if min_nodes > max_nodes:
            raise ValueError(f"min_nodes must not exceed max_nodes, got {min_nodes} > {max_nodes}")
        if num_graphs < 2 * num_classes:
            raise ValueError(f"num_graphs must be at least 2 per class ({2 * num_classes}), got {num_graphs}")
        self.num_graphs, self.num_classes = num_graphs, num_classes
        self.min_nodes, self.max_nodes, self.num_features = min_nodes, max_nodes, num_features
        self.degree_step, self.seed = degree_step, seed

    def describe(self) -> dict[str, Any]:
        return {"name": f"synthetic graphs (seed {self.seed})"}

    def load(self) -> list[Any]:
        import torch
        from torch_geometric.data import Data
        from torch_geometric.utils import coalesce, to_undirected

        gen = torch.Generator().manual_seed(self.seed)
        labels = torch.arange(self.num_graphs) % self.num_classes
        labels = labels[torch.randperm(self.num_graphs, generator=gen)]
        graphs = []
        for label in labels.tolist():
            n = int(torch.randint(self.min_nodes, self.max_nodes + 1, (1,), generator=gen))
            degree = 2.0 + self.degree_step * label
            m = max(1, int(round(n * degree / 2)))
            src = torch.randint(0, n, (m,), generator=gen)
            dst = torch.randint(0, n, (m,), generator=gen)
            keep = src != dst
            edge_index = coalesce(to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n), num_nodes=n)
            x = torch.randn(n, self.num_features, generator=gen)
            graphs.append(Data(x=x, edge_index=edge_index, y=torch.tensor([label])))
        return graphs


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register("synthetic_graphs", SyntheticGraphs, summary="Random graphs whose class sets their density (no files)")
