"""Node classification: a label per node, accuracy on held-out nodes.

The model plugin's encoder maps each node to one score per class
(``out_channels`` = number of classes), so there is no head to add. A graph
that carries ``train/val/test_mask`` is split that way (Planetoid's public
split); one without masks is split per class with the run's seed. A node
labelled ``-1`` has no label: it takes part in message passing, in no split,
and gets a prediction like every other node.

Mini-batch training (a trainer's ``batching: mini``, :meth:`NodeClassification.sampled`):
each batch is ``batch_size`` training nodes with their sampled neighbourhoods
(:mod:`autoglm.plugins.sampling`), the loss is over those seed nodes, and
evaluation and predictions run chunk by chunk without sampling
(:mod:`autoglm.plugins.minibatch`), so the scores of a sampled run mean what
a full-batch run's mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Callable, Iterator, Mapping, Sequence

from autoglm.plugins import NEW_ITEM, Between, DataError, Objective, Predictions, Sampling, hookimpl

MASKS = ("train_mask", "val_mask", "test_mask")
SPLITS = ("train", "val", "test")
Fraction = Annotated[float, Between(0, 1, low_open=True, high_open=True)]
#: How node features are made (autoglm.plugins.features): as loaded by default; search.task_space may search
#: {preprocess: {choice: [raw, row, standard]}, structural: {choice: [none, degree, pagerank, rwpe, lappe]}}.
FEATURE_DEFAULTS = {"preprocess": "raw", "structural": "none"}


@dataclass
class NodeData:
    """The checked graph and the node indices of each split."""

    graph: Any
    index: dict[str, Any]
    sizes: dict[str, Any] = field(default_factory=dict)
    #: The graph with this split's masks, made once for population training.
    masked: Any = None
    #: New data to predict on (not the run's): a node in none of its masks is ``new``.
    new: bool = False
    #: Mini-batch training: how batches are sampled (None: full batch).
    sampling: Sampling | None = None
    #: Where batches go: sampled data keeps the graph on the host and moves each batch.
    device: str = "cpu"
    #: Sampled data: the graph's neighbour samplers, built once (autoglm.plugins.sampling.SamplerCache).
    samplers: Any = field(default=None, repr=False, compare=False)

    def to(self, device: str) -> "NodeData":
        if self.sampling is not None:  # the graph stays on the host: only batches go to the device
            return replace(self, device=device, masked=None)
        index = {k: v.to(device) for k, v in self.index.items()}
        return NodeData(self.graph.to(device), index, self.sizes, new=self.new, device=device)


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
        y = getattr(data, "y", None)
        num_classes = check_labels(y, num_nodes, num_classes=getattr(data, "num_classes", None), unlabelled=True)
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
                without = getattr(data, name) & (y < 0)
                if bool(without.any()):
                    raise DataError(
                        f"{name} selects {int(without.sum())} unlabelled node(s) (y = -1), e.g. node "
                        f"{int(without.nonzero()[0])}; a split holds labelled nodes only"
                    )
            index = {split: getattr(data, f"{split}_mask").nonzero().view(-1) for split in SPLITS}
            sizes["split"] = "the graph's masks"
        else:
            labelled = (y >= 0).nonzero().view(-1)
            parts = stratified_split(y[labelled], self.fractions, seed=seed)
            index = {split: labelled[part] for split, part in zip(SPLITS, parts)}
            for split, nodes in index.items():
                if nodes.numel() == 0:
                    raise DataError(
                        f"the {split} split is empty: {labelled.numel()} labelled nodes are too few for the fractions "
                        f"{self.fractions}"
                    )
            sizes["split"] = f"stratified {self.fractions[0]:g}/{self.fractions[1]:g}/rest, seed {seed}"
        for split in SPLITS:
            sizes[f"{split}_nodes"] = int(index[split].numel())
        if (unlabelled := int((y < 0).sum())):
            sizes["unlabelled_nodes"] = unlabelled
        names = getattr(data, "class_names", None)
        if isinstance(names, list) and len(names) == num_classes and all(isinstance(n, str) for n in names):
            sizes["class_names"] = list(names)
        return NodeData(data, index, sizes)

    def inference_data(self, data: Any, sizes: Mapping[str, Any]) -> NodeData:
        """A graph to predict on: the trained width of features; labels and masks optional."""
        from autoglm.plugins.graphs import check_edges, check_features, check_labels, check_mask

        num_nodes, num_features = check_features(data)
        check_edges(data, num_nodes)
        if num_features != int(sizes["num_features"]):
            raise DataError(
                f"the model was trained on {sizes['num_features']} node features; this graph has {num_features}"
            )
        classes = int(sizes["num_classes"])
        if getattr(data, "y", None) is not None:
            _align_classes(data, sizes.get("class_names"))
            check_labels(data.y, num_nodes, num_classes=classes, unlabelled=True, at_least_two=False)
        index = {}
        for split in SPLITS:
            if getattr(data, f"{split}_mask", None) is not None:
                check_mask(data, f"{split}_mask", num_nodes)
                index[split] = getattr(data, f"{split}_mask").nonzero().view(-1)
        return NodeData(data, index, {**sizes, "num_nodes": num_nodes}, new=True)

    def build(self, encoder: Callable[[int, int], Any], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        return encoder(int(sizes["num_features"]), int(sizes["num_classes"]))

    def sampled(self, data: NodeData, sampling: Sampling) -> NodeData:
        """``data`` for mini-batch training: batches of training nodes with sampled neighbourhoods."""
        from autoglm.plugins.sampling import SamplerCache

        return replace(data, sampling=sampling, masked=None, samplers=SamplerCache(data.graph))

    def ensemble(self, models: Sequence[Any], weights: Sequence[float]) -> Any:
        """The members' class probabilities averaged with ``weights`` (selection's ensemble)."""
        from autoglm.plugins.nn import ProbabilityEnsemble

        return ProbabilityEnsemble(list(models), list(weights))

    def batches(self, data: NodeData) -> Iterator[Any]:
        """The whole graph once, or (sampled) every training node once, ``batch_size`` seeds at a time."""
        if data.sampling is None:
            yield data  # full batch
            return
        from autoglm.plugins.sampling import node_loader

        loader = node_loader(
            data.graph, data.index["train"], list(data.sampling.fanouts), batch_size=data.sampling.batch_size, shuffle=True,
            samplers=data.samplers,
        )
        for batch in loader:
            yield batch.to(data.device)

    def loss(self, model: Any, batch: Any) -> Any:
        import torch.nn.functional as F

        if not isinstance(batch, NodeData):  # a sampled subgraph: its first batch_size nodes are the seeds
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
            return F.cross_entropy(out.float(), batch.y[: batch.batch_size])
        graph, train = batch.graph, batch.index["train"]
        out = model(graph.x, graph.edge_index)
        return F.cross_entropy(out[train].float(), graph.y[train])

    def evaluate(self, model: Any, data: NodeData, splits: Sequence[str]) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        graph = data.graph
        if data.sampling is None:
            out = model(graph.x, graph.edge_index).float()
            parts = {split: (out[data.index[split]], graph.y[data.index[split]]) for split in splits}
        else:  # only the split nodes' outputs, chunk by chunk
            nodes = [data.index[split] for split in splits]
            out = self._outputs(model, data, torch.cat(nodes)).float()
            parts = {
                split: (scores, graph.y[index].to(out.device))
                for split, index, scores in zip(splits, nodes, out.split([n.numel() for n in nodes]))
            }
        metrics = {}
        for split, (scores, y) in parts.items():
            metrics[f"{split}_acc"] = (scores.argmax(dim=-1) == y).float().mean()
            metrics[f"{split}_loss"] = F.cross_entropy(scores, y)
        return metrics

    @staticmethod
    def _outputs(model: Any, data: NodeData, nodes: Any) -> Any:
        """Model outputs for ``nodes`` (None: every node): one pass over the graph, or (sampled) chunk by chunk."""
        import torch

        graph = data.graph
        if data.sampling is None:
            out = model(graph.x, graph.edge_index)
            return out if nodes is None else out[nodes]
        from autoglm.plugins.minibatch import node_outputs

        if nodes is None:
            nodes = torch.arange(graph.num_nodes)

        return node_outputs(
            model, graph, nodes, batch_size=data.sampling.batch_size, device=data.device, samplers=data.samplers,
        )

    def predict(self, model: Any, data: NodeData) -> Predictions:
        """Every node: its split (the run's: ``unlabelled`` for y = -1, ``unused`` for a labelled node in no
        split; new data's: its masks, else ``new``), label, predicted class, confidence and each class's probability."""
        import torch

        graph = data.graph
        proba = torch.softmax(self._outputs(model, data, None).float(), dim=-1).cpu()
        confidence, pred = proba.max(dim=-1)
        y = getattr(graph, "y", None)
        y = None if y is None else y.cpu()
        splits = [NEW_ITEM if data.new else "unused"] * graph.num_nodes
        if y is not None and not data.new:
            for node in (y < 0).nonzero().view(-1).tolist():
                splits[node] = "unlabelled"
        for split, nodes in data.index.items():
            for node in nodes.cpu().tolist():
                splits[node] = split
        classes = data.sizes.get("class_names")
        names_of = list(classes) if isinstance(classes, list) and len(classes) == proba.size(1) else list(range(proba.size(1)))
        header = ["node", "split", "y_true", "y_pred", "confidence", *(f"p_{c}" for c in names_of)]
        truth = [""] * graph.num_nodes if y is None else ["" if v < 0 else names_of[v] for v in y.tolist()]
        names = getattr(graph, "node_ids", None)  # a file loader's own ids: rows name nodes as the user does
        names = names if isinstance(names, list) and len(names) == graph.num_nodes else range(graph.num_nodes)
        rows = [
            (names[node], splits[node], truth[node], names_of[label], f"{conf:.6f}", *(f"{p:.6f}" for p in probs))
            for node, (label, conf, probs) in enumerate(zip(pred.tolist(), confidence.tolist(), proba.tolist()))
        ]
        return Predictions(header, rows, proba, pred, splits)

    def predictions(self, model: Any, data: NodeData, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The rows of ``split`` only (the kernel writes :meth:`predict`'s every node)."""
        every = self.predict(model, data)
        return every.header, [row for row, where in zip(every.rows, every.splits) if where == split]

    def with_features(self, data: NodeData, transform: Callable[[Any, Any, int], Any]) -> NodeData:
        graph = data.graph.clone()
        graph.x = transform(graph.x, graph.edge_index, graph.num_nodes)
        sizes = {**data.sizes, "num_features": int(graph.x.size(1)), "input_features": int(data.graph.x.size(1))}
        return NodeData(graph, data.index, sizes, new=data.new)

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


def _align_classes(data: Any, trained: Any) -> None:
    """New data naming its classes (``class_names``) gets the class numbers the model was trained with."""
    import torch

    names = getattr(data, "class_names", None)
    if not isinstance(trained, list) or not isinstance(names, list) or names == trained:
        return
    position = {name: i for i, name in enumerate(trained)}
    unknown = [name for name in names if name not in position]
    if unknown:
        raise DataError(
            f"label {unknown[0]!r} is not one of the classes the model was trained on ({', '.join(trained[:20])})"
        )
    mapping = torch.tensor([position[name] for name in names], dtype=torch.long)
    y = data.y.clone()
    labelled = y >= 0
    y[labelled] = mapping[y[labelled]]
    data.y, data.class_names, data.num_classes = y, list(trained), len(trained)


@hookimpl
def autoglm_register_tasks(register: Any) -> None:
    register(
        "node_classification", NodeClassification, search_space=FEATURE_DEFAULTS,
        summary="Classify nodes (accuracy); splits unsplit graphs per class",
    )
