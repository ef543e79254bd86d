"""Node classification: a label per node, accuracy on held-out nodes.

The model plugin's encoder maps each node to one score per class
(``out_channels`` = number of classes), so there is no head to add. A graph
that carries ``train/val/test_mask`` is split that way (Planetoid's public
split); one without masks is split per class with the run's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterator, Mapping, Sequence

from autoglm.plugins import Between, DataError, Objective, hookimpl

MASKS = ("train_mask", "val_mask", "test_mask")
SPLITS = ("train", "val", "test")
Fraction = Annotated[float, Between(0, 1, low_open=True, high_open=True)]


@dataclass
class NodeData:
    """The checked graph and the node indices of each split."""

    graph: Any
    index: dict[str, Any]
    sizes: dict[str, Any] = field(default_factory=dict)
    #: The graph with this split's masks, made once for population training.
    masked: Any = None

    def to(self, device: str) -> "NodeData":
        return NodeData(self.graph.to(device), {k: v.to(device) for k, v in self.index.items()}, self.sizes)


class NodeClassification:
    """Classify nodes; accuracy on the validation nodes selects, on the test nodes reports."""

    objective = Objective("acc", "max")

    def __init__(self, *, train_fraction: Fraction = 0.6, val_fraction: Fraction = 0.2) -> None:
        if train_fraction + val_fraction >= 1.0:
            raise ValueError(
                f"train_fraction + val_fraction must leave nodes for the test split, got {train_fraction} + {val_fraction}"
            )
        self.fractions = (train_fraction, val_fraction)

    def prepare(self, data: Any, *, seed: int) -> NodeData:
        from autoglm.plugins.graphs import check_edges, check_features, check_labels, check_mask, stratified_split

        num_nodes, num_features = check_features(data)
        num_edges = check_edges(data, num_nodes)
        num_classes = check_labels(getattr(data, "y", None), num_nodes, num_classes=getattr(data, "num_classes", None))
        present = [name for name in MASKS if getattr(data, name, None) is not None]
        sizes: dict[str, Any] = {
            "num_nodes": num_nodes, "num_features": num_features, "num_edges": num_edges, "num_classes": num_classes,
        }
        if present:
            if len(present) < len(MASKS):
                missing = [name for name in MASKS if name not in present]
                raise DataError(
                    f"the graph has {', '.join(present)} but no {', '.join(missing)}; give all three masks, "
                    "or none and the task splits the nodes"
                )
            for name in MASKS:
                check_mask(data, name, num_nodes)
            index = {split: getattr(data, f"{split}_mask").nonzero().view(-1) for split in SPLITS}
            sizes["split"] = "the graph's masks"
        else:
            index = dict(zip(SPLITS, stratified_split(data.y, self.fractions, seed=seed)))
            for split, nodes in index.items():
                if nodes.numel() == 0:
                    raise DataError(f"the {split} split is empty: {num_nodes} nodes are too few for the fractions {self.fractions}")
            sizes["split"] = f"stratified {self.fractions[0]:g}/{self.fractions[1]:g}/rest, seed {seed}"
        for split in SPLITS:
            sizes[f"{split}_nodes"] = int(index[split].numel())
        return NodeData(data, index, sizes)

    def build(self, encoder: Callable[[int, int], Any], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        return encoder(int(sizes["num_features"]), int(sizes["num_classes"]))

    def batches(self, data: NodeData) -> Iterator[NodeData]:
        yield data  # full batch

    def loss(self, model: Any, batch: NodeData) -> Any:
        import torch.nn.functional as F

        graph, train = batch.graph, batch.index["train"]
        out = model(graph.x, graph.edge_index)
        return F.cross_entropy(out[train].float(), graph.y[train])

    def evaluate(self, model: Any, data: NodeData, splits: Sequence[str]) -> dict[str, Any]:
        import torch.nn.functional as F

        graph = data.graph
        out = model(graph.x, graph.edge_index).float()
        pred = out.argmax(dim=-1)
        metrics = {}
        for split in splits:
            nodes = data.index[split]
            metrics[f"{split}_acc"] = (pred[nodes] == graph.y[nodes]).float().mean()
            metrics[f"{split}_loss"] = F.cross_entropy(out[nodes], graph.y[nodes])
        return metrics

    def predictions(self, model: Any, data: NodeData, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        import torch

        graph = data.graph
        scores = model(graph.x, graph.edge_index).float()
        confidence, pred = torch.softmax(scores, dim=-1).max(dim=-1)
        nodes = data.index[split].cpu()
        y, pred, confidence = graph.y.cpu(), pred.cpu(), confidence.cpu()
        rows = [(n, int(y[n]), int(pred[n]), f"{float(confidence[n]):.6f}") for n in nodes.tolist()]
        return ["node", "y_true", "y_pred", "confidence"], rows

    def population_graph(self, data: NodeData) -> Any:
        """The graph a population trainer trains on: masks of this task's split."""
        import torch

        if data.masked is None:
            graph = data.graph.clone()
            for split in ("train", "val"):
                mask = torch.zeros(graph.num_nodes, dtype=torch.bool, device=graph.x.device)
                mask[data.index[split]] = True
                setattr(graph, f"{split}_mask", mask)
            data.masked = graph
        return data.masked


@hookimpl
def autoglm_register_tasks(register: Any) -> None:
    register("node_classification", NodeClassification, summary="Classify nodes (accuracy); splits unsplit graphs per class")
