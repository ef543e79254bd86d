"""Graph classification: a label per graph, accuracy on held-out graphs.

The loader returns a list (or a PyG dataset) of graphs, each with ``x``,
``edge_index`` and a one-element ``y``. The graphs are split per class with a
seed into train / validation / test, and trained in mini-batches (PyG's
``DataLoader``, shuffled per epoch). The model plugin's encoder maps nodes to
``embedding`` numbers; the task pools them per graph (the readout: mean, add
or max, in its search space) and classifies the pooled vector with an MLP.

With ``folds: k`` the selected configuration is also scored by stratified
k-fold cross-validation, the protocol graph-classification papers report
(GIN, Xu et al. 2019): each fold is the test set once, a stratified
``val_fraction`` of the rest stops training early, and the figure is the
mean ± std of the k test accuracies. The search itself selects on the
validation split as usual, so its graphs also sit in the folds' test sets,
as in the papers' protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Iterator, Literal, Mapping, Sequence

from autoglm.plugins import NEW_ITEM, Between, Choice, DataError, Objective, Predictions, hookimpl

SPLITS = ("train", "val", "test")
Fraction = Annotated[float, Between(0, 1, low_open=True, high_open=True)]
#: The readout, the embedding width and the classifier's dropout are the task's tunables.
SEARCH_SPACE = {
    "readout": Choice(("mean", "add", "max")),
    "embedding": Choice((32, 64, 128)),
    "head_dropout": Choice((0.0, 0.5)),
    # How node features are made (autoglm.plugins.features), graph by graph.
    "preprocess": "raw",
    "structural": "none",
}
#: No weight decay, as in the GIN paper's protocol (Adam, lr 0.01); the trainer's
#: node-classification range (1e-4..1e-3) is not what these models were tuned with.
TRAINING_SPACE = {"weight_decay": 0.0}


@dataclass
class GraphData:
    """The checked graphs and the graph indices of each split."""

    graphs: list[Any]
    index: dict[str, Any]
    batch_size: int
    sizes: dict[str, Any] = field(default_factory=dict)
    #: Evaluation batches per split, collated once: the same every epoch (collating costs more than the forward pass).
    _collated: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    def to(self, device: str) -> "GraphData":
        return GraphData([g.to(device) for g in self.graphs], self.index, self.batch_size, self.sizes)

    def loader(self, split: str, *, shuffle: bool) -> Any:
        from torch_geometric.loader import DataLoader

        chosen = [self.graphs[i] for i in self.index[split].tolist()]
        if shuffle:
            return DataLoader(chosen, batch_size=self.batch_size, shuffle=True)
        if split not in self._collated:
            from torch_geometric.data import Batch

            # Batch.from_data_list, not a DataLoader: iterating a DataLoader draws from torch's global
            # stream even unshuffled, so a cache filled by the first trial would shift later trials'.
            size = max(self.batch_size, 256)
            self._collated[split] = [Batch.from_data_list(chosen[i : i + size]) for i in range(0, len(chosen), size)]
        return self._collated[split]


class GraphClassification:
    """Classify graphs; accuracy (or, for two classes, ROC AUC) on the validation graphs selects, on the test
    graphs (or k folds) reports."""

    #: Evaluated every epoch: the validation graphs only (the training accuracy, once, at the best epoch).
    epoch_splits = ("val",)

    def __init__(
        self,
        *,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        batch_size: Annotated[int, Between(1, 65536)] = 32,
        folds: Annotated[int, Between(0, 100)] = 0,
        split_seed: int | None = None,
        metric: Literal["acc", "auc"] = "acc",
    ) -> None:
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must leave graphs to train on, got {val_fraction} + {test_fraction}")
        if folds == 1:
            raise ValueError("folds must be 0 (no cross-validation) or at least 2, got 1")
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.batch_size, self.folds, self.split_seed = batch_size, folds, split_seed
        self.metric = metric
        self.objective = Objective(metric, "max")

    def prepare(self, data: Any, *, seed: int) -> GraphData:
        import torch

        from autoglm.plugins.graphs import check_edges, check_features, check_labels, stratified_split

        graphs = _as_graphs(data)
        num_features, total_nodes, total_edges = None, 0, 0
        for number, graph in enumerate(graphs):
            try:
                nodes, features = check_features(graph, what=f"graph {number}")
                total_edges += check_edges(graph, nodes)
                y = getattr(graph, "y", None)
                if y is None or not isinstance(y, torch.Tensor) or y.numel() != 1:
                    raise DataError(f"y must hold the graph's one class label, got {None if y is None else tuple(y.shape)}")
            except DataError as exc:
                raise DataError(f"graph {number}: {exc}") from None
            if num_features is None:
                num_features = features
            elif features != num_features:
                raise DataError(f"graph {number} has {features} node features, graph 0 has {num_features}; all graphs need the same")
            total_nodes += nodes
        labels = torch.cat([graph.y.view(-1) for graph in graphs])
        num_classes = check_labels(labels, len(graphs), of="graphs")
        if self.metric == "auc" and num_classes != 2:
            raise DataError(f"metric auc needs two classes, the graphs have {num_classes}; use metric acc")
        split_seed = seed if self.split_seed is None else self.split_seed
        given = [getattr(graph, "split", None) for graph in graphs]
        if all(split in SPLITS for split in given):  # the data's own split (OGB's official one)
            index = {split: torch.tensor([i for i, s in enumerate(given) if s == split], dtype=torch.long) for split in SPLITS}
            described = "the graphs' own split"
        else:
            fractions = (1 - self.val_fraction - self.test_fraction, self.val_fraction)
            index = dict(zip(SPLITS, stratified_split(labels, fractions, seed=split_seed)))
            described = f"stratified {fractions[0]:g}/{self.val_fraction:g}/{self.test_fraction:g}, seed {split_seed}"
        for split, members in index.items():
            if members.numel() == 0:
                raise DataError(f"the {split} split is empty: {len(graphs)} graphs are too few for these fractions")
        sizes: dict[str, Any] = {
            "num_graphs": len(graphs), "num_features": int(num_features), "num_classes": num_classes,
            "num_nodes": total_nodes, "num_edges": total_edges,
            "split": described,
        }
        sizes |= {f"{split}_graphs": int(members.numel()) for split, members in index.items()}
        return GraphData(graphs, index, self.batch_size, sizes)

    def folds_of(self, data: GraphData, *, seed: int) -> list[GraphData]:
        """The k re-splits of stratified k-fold cross-validation (none when ``folds`` is 0)."""
        if not self.folds:
            return []
        import torch

        from autoglm.plugins.graphs import stratified_split

        labels = torch.cat([graph.y.view(-1).cpu() for graph in data.graphs])
        generator = torch.Generator().manual_seed(seed if self.split_seed is None else self.split_seed)
        chunks: list[list[Any]] = [[] for _ in range(self.folds)]
        for label in torch.unique(labels).tolist():
            members = torch.nonzero(labels == label).view(-1)
            members = members[torch.randperm(members.numel(), generator=generator)]
            for k, part in enumerate(torch.tensor_split(members, self.folds)):
                chunks[k].append(part)
        folds = []
        for k in range(self.folds):
            test = torch.sort(torch.cat(chunks[k]))[0]
            rest = torch.sort(torch.cat([torch.cat(chunks[j]) for j in range(self.folds) if j != k]))[0]
            share = self.val_fraction / (1 - 1 / self.folds)
            train_local, val_local = stratified_split(labels[rest], (1 - share,), seed=seed + k)
            index = {"train": rest[train_local], "val": rest[val_local], "test": test}
            folds.append(GraphData(data.graphs, index, data.batch_size, {**data.sizes, "fold": k}))
        return folds

    def build(self, encoder: Callable[[int, int], Any], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        from autoglm.plugins_builtin.graph_classification.model import GraphClassifier

        embedding = int(params.get("embedding", 64))
        return GraphClassifier(
            encoder(int(sizes["num_features"]), embedding), str(params.get("readout", "add")), embedding,
            int(sizes["num_classes"]), float(params.get("head_dropout", 0.0)),
        )

    def ensemble(self, models: Sequence[Any], weights: Sequence[float]) -> Any:
        """The members' class probabilities averaged with ``weights`` (selection's ensemble)."""
        from autoglm.plugins.nn import ProbabilityEnsemble

        return ProbabilityEnsemble(list(models), list(weights))

    def batches(self, data: GraphData) -> Iterator[Any]:
        yield from data.loader("train", shuffle=True)

    def loss(self, model: Any, batch: Any) -> Any:
        import torch.nn.functional as F

        return F.cross_entropy(model(batch.x, batch.edge_index, batch.batch).float(), batch.y.view(-1))

    def _scores(self, model: Any, data: GraphData, split: str) -> tuple[Any, Any]:
        import torch

        logits, labels = [], []
        for batch in data.loader(split, shuffle=False):
            logits.append(model(batch.x, batch.edge_index, batch.batch).float())
            labels.append(batch.y.view(-1))
        return torch.cat(logits), torch.cat(labels)

    def evaluate(self, model: Any, data: GraphData, splits: Sequence[str]) -> dict[str, Any]:
        import torch.nn.functional as F

        from autoglm.plugins.metrics import roc_auc

        metrics = {}
        for split in splits:
            logits, labels = self._scores(model, data, split)
            metrics[f"{split}_acc"] = (logits.argmax(-1) == labels).float().mean()
            metrics[f"{split}_loss"] = F.cross_entropy(logits, labels)
            if self.metric == "auc":  # class 1's margin ranks the graphs
                margin = logits[:, 1] - logits[:, 0]
                metrics[f"{split}_auc"] = roc_auc(margin[labels == 1], margin[labels == 0])
        return metrics

    def with_features(self, data: GraphData, transform: Callable[[Any, Any, int], Any]) -> GraphData:
        graphs = []
        for graph in data.graphs:
            changed = graph.clone()
            changed.x = transform(graph.x, graph.edge_index, graph.num_nodes)
            graphs.append(changed)
        width = int(graphs[0].x.size(1))
        sizes = {**data.sizes, "num_features": width, "input_features": int(data.graphs[0].x.size(1))}
        return GraphData(graphs, data.index, data.batch_size, sizes)

    def inference_data(self, data: Any, sizes: Mapping[str, Any]) -> GraphData:
        """Graphs to predict on: the trained width of node features; a label (``y``) per graph optional."""
        import torch

        from autoglm.plugins.graphs import check_edges, check_features

        graphs = _as_graphs(data, least=1)
        classes = int(sizes["num_classes"])
        for number, graph in enumerate(graphs):
            try:
                nodes, features = check_features(graph, what=f"graph {number}")
                check_edges(graph, nodes)
            except DataError as exc:
                raise DataError(f"graph {number}: {exc}") from None
            if features != int(sizes["num_features"]):
                raise DataError(f"graph {number} has {features} node features; the model was trained on {sizes['num_features']}")
            y = getattr(graph, "y", None)
            if y is not None and (not isinstance(y, torch.Tensor) or y.numel() != 1 or not -1 <= int(y.view(-1)[0]) < classes):
                raise DataError(f"graph {number}: y must be one class label in 0..{classes - 1} (or -1 for none), got {y!r}")
        index = {NEW_ITEM: torch.arange(len(graphs))}
        return GraphData(graphs, index, self.batch_size, {**sizes, "num_graphs": len(graphs)})

    def predict(self, model: Any, data: GraphData) -> Predictions:
        """Every graph: its split, label, predicted class, confidence and the probability of each class."""
        import torch
        from torch_geometric.data import Batch

        order = torch.cat([members.cpu() for members in data.index.values()]).sort()[0].tolist()
        split_of = {int(g): split for split, members in data.index.items() for g in members.cpu().tolist()}
        size = max(self.batch_size, 256)
        logits = []
        for start in range(0, len(order), size):
            chunk = [data.graphs[g] for g in order[start : start + size]]
            batch = Batch.from_data_list([type(g)(x=g.x, edge_index=g.edge_index) for g in chunk])
            logits.append(model(batch.x, batch.edge_index, batch.batch).float())
        proba = torch.softmax(torch.cat(logits), dim=-1).cpu()
        confidence, pred = proba.max(dim=-1)
        truth = []
        for g in order:
            y = getattr(data.graphs[g], "y", None)
            value = None if y is None else int(y.view(-1)[0])
            truth.append("" if value is None or value < 0 else value)
        splits = [split_of[g] for g in order]
        header = ["graph", "split", "y_true", "y_pred", "confidence", *(f"p_{c}" for c in range(proba.size(1)))]
        names = [getattr(data.graphs[g], "graph_id", g) for g in order]  # a file loader's own graph ids
        rows = [
            (name, split, y, label, f"{conf:.6f}", *(f"{p:.6f}" for p in probs))
            for name, split, y, label, conf, probs in zip(names, splits, truth, pred.tolist(), confidence.tolist(), proba.tolist())
        ]
        return Predictions(header, rows, proba, pred, splits)

    def predictions(self, model: Any, data: GraphData, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        every = self.predict(model, data)
        return every.header, [row for row, where in zip(every.rows, every.splits) if where == split]


def _as_graphs(data: Any, *, least: int = 4) -> list[Any]:
    """A list of graphs from a list, a tuple or a PyG dataset; anything else is a DataError."""
    if isinstance(data, (list, tuple)):
        graphs = list(data)
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__") and not hasattr(data, "edge_index"):
        graphs = [data[i] for i in range(len(data))]
    else:
        raise DataError(
            f"graph classification needs many graphs (a list or a PyG dataset of Data), got {type(data).__name__}; "
            "a single graph suits node_classification or link_prediction"
        )
    if len(graphs) < least:
        raise DataError(f"graph classification needs at least {least} graph{'s' if least > 1 else ''}, got {len(graphs)}")
    return graphs


@hookimpl
def autoglm_register_tasks(register: Any) -> None:
    register(
        "graph_classification", GraphClassification, search_space=SEARCH_SPACE, training_space=TRAINING_SPACE,
        summary="Classify graphs (accuracy); readout (mean/add/max) in the space; optional k-fold cross-validation",
    )
