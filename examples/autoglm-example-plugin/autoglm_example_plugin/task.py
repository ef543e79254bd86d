"""A third-party task: regress each node's degree (log scale), scored by mean squared error (lower is better).

The kernel knows nothing of it: the task checks the data, splits the nodes,
builds the model around any model plugin's encoder (one output per node),
defines the loss and the metric, says that the metric is minimised, and
writes the prediction rows. Torch is imported inside the methods only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterator, Mapping, Sequence

from autoglm.plugins import Between, DataError, Objective

SPLITS = ("train", "val", "test")


@dataclass
class DegreeData:
    x: Any
    edge_index: Any
    target: Any
    index: dict[str, Any]
    sizes: dict[str, Any] = field(default_factory=dict)

    def to(self, device: str) -> "DegreeData":
        return DegreeData(
            self.x.to(device), self.edge_index.to(device), self.target.to(device),
            {k: v.to(device) for k, v in self.index.items()}, self.sizes,
        )


class NodeDegree:
    """Predict log(1 + degree) of every node; MSE on the validation nodes selects."""

    objective = Objective("mse", "min")

    def __init__(self, *, val_fraction: Annotated[float, Between(0, 0.5, low_open=True)] = 0.2) -> None:
        self.val_fraction = val_fraction

    def prepare(self, data: Any, *, seed: int) -> DegreeData:
        import torch
        from torch_geometric.utils import degree

        from autoglm.plugins.graphs import check_edges, check_features

        num_nodes, num_features = check_features(data)
        num_edges = check_edges(data, num_nodes)
        if num_nodes < 10:
            raise DataError(f"node degree regression needs at least 10 nodes, got {num_nodes}")
        target = torch.log1p(degree(data.edge_index[1], num_nodes))
        order = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
        n_val = max(1, int(self.val_fraction * num_nodes))
        index = {"val": order[:n_val], "test": order[n_val : 2 * n_val], "train": order[2 * n_val :]}
        sizes = {"num_nodes": num_nodes, "num_features": num_features, "num_edges": num_edges}
        return DegreeData(data.x, data.edge_index, target, index, sizes)

    def build(self, encoder: Callable[[int, int], Any], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        return encoder(int(sizes["num_features"]), 1)

    def batches(self, data: DegreeData) -> Iterator[DegreeData]:
        yield data

    def _errors(self, model: Any, data: DegreeData, split: str) -> Any:
        nodes = data.index[split]
        out = model(data.x, data.edge_index).view(-1).float()
        return (out[nodes] - data.target[nodes]) ** 2

    def loss(self, model: Any, batch: DegreeData) -> Any:
        return self._errors(model, batch, "train").mean()

    def evaluate(self, model: Any, data: DegreeData, splits: Sequence[str]) -> dict[str, Any]:
        return {f"{split}_mse": self._errors(model, data, split).mean() for split in splits}

    def predictions(self, model: Any, data: DegreeData, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        nodes = data.index[split]
        out = model(data.x, data.edge_index).view(-1).float()
        rows = [(int(n), f"{float(data.target[n]):.6f}", f"{float(out[n]):.6f}") for n in nodes.tolist()]
        return ["node", "log_degree", "predicted"], rows
