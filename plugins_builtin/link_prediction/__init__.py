"""Link prediction: which node pairs are edges, on any single graph a loader returns.

The graph's edges are split with a seed into train / validation / test
(PyG's ``RandomLinkSplit``); message passing uses the training edges only, for
every split, so no validation or test edge ever reaches the encoder (as in
GAE, Kipf & Welling 2016). Training draws fresh negative pairs every epoch;
the validation and test negatives are drawn once, with the split. The model
plugin's encoder maps nodes to ``embedding`` numbers; the task's decoder
scores a pair from the two embeddings: their dot product, or an MLP on their
Hadamard product. The objective is ROC AUC by default (or AP, or OGB's Hits@K).

Mini-batch training (a trainer's ``batching: mini``, :meth:`LinkPrediction.sampled`):
each epoch draws the same fresh negatives the full batch draws (one per training
positive, torch's stream, avoiding message-passing edges), shuffles the training
positives, and each batch is ``batch_size`` of them with as many of those negatives,
scored on the subgraph sampled around their endpoints over the message-passing
edges (the training edges: the full batch's graph, never a held-out edge).
Evaluation and predictions never sample: node embeddings are computed exactly,
chunk by chunk (:mod:`autoglm.plugins.minibatch`), then the decoder scores the
pairs in chunks, so the scores equal the full batch's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Callable, Iterator, Literal, Mapping, Sequence

from autoglm.plugins import NEW_ITEM, Between, Choice, DataError, Int, Objective, Predictions, Sampling, hookimpl

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
Fraction = Annotated[float, Between(0, 1, low_open=True, high_open=True)]
Metric = Literal["auc", "ap", "hits@20", "hits@50", "hits@100"]

#: The decoder and the embedding width are the task's tunables (``search.task_space`` overrides them).
SEARCH_SPACE = {
    "decoder": Choice(("dot", "mlp")),
    "embedding": Int(32, 128, log=True),
    # How node features are made (autoglm.plugins.features); structural encodings see training edges only.
    "preprocess": "raw",
    "structural": "none",
}
#: No weight decay, as in GAE: measured on Cora (GCN, 128 hidden, dropout 0.5, 64-d embedding, lr 0.01),
#: weight decay 0 / 1e-5 / 1e-4 / 5e-4 gave test AUC 0.935 / 0.928 / 0.908 / 0.784 (dot decoder) and
#: 0.924 / 0.910 / 0.699 / 0.693 (MLP decoder): the node-classification range of the trainer hurts here.
TRAINING_SPACE = {"weight_decay": 0.0}
#: Sampled evaluation decodes this many pairs at a time: a pair costs one embedding row, far less than a node
#: of a sampled batch, so the chunk can be larger than ``batch_size`` without raising the peak memory.
PAIR_CHUNK = 65536


@dataclass
class LinkData:
    """The graph for message passing (training edges only) and the scored pairs of each split."""

    x: Any
    edge_index: Any
    #: split -> (positive pairs [2, P], negative pairs [2, N]); train negatives here are for metrics only.
    pairs: dict[str, tuple[Any, Any]]
    sizes: dict[str, Any] = field(default_factory=dict)
    #: New data only: the pairs to score ``[2, P]`` and their labels (``None``: unknown).
    query: tuple[Any, Any] | None = None
    #: Mini-batch training: how batches are sampled (None: full batch).
    sampling: Sampling | None = None
    #: Where batches go: sampled data keeps the graph and the pairs on the host and moves each batch.
    device: str = "cpu"
    #: Sampled data: the message-passing graph's neighbour samplers, built once (autoglm.plugins.sampling.SamplerCache).
    samplers: Any = field(default=None, repr=False, compare=False)

    def to(self, device: str) -> "LinkData":
        if self.sampling is not None:  # the graph stays on the host: only batches go to the device
            return replace(self, device=device)
        pairs = {split: (pos.to(device), neg.to(device)) for split, (pos, neg) in self.pairs.items()}
        query = None if self.query is None else (self.query[0].to(device), self.query[1])
        return LinkData(self.x.to(device), self.edge_index.to(device), pairs, self.sizes, query)

    def graph(self) -> Any:
        """The message-passing graph as a PyG ``Data`` (a view of ``x`` and ``edge_index``, nothing copied)."""
        from torch_geometric.data import Data

        return Data(x=self.x, edge_index=self.edge_index, num_nodes=int(self.x.size(0)))


class LinkPrediction:
    """Predict edges; the objective is ``metric`` on the validation pairs."""

    def __init__(
        self,
        *,
        val_fraction: Fraction = 0.05,
        test_fraction: Fraction = 0.1,
        metric: Metric = "auc",
        directed: bool = False,
        split_seed: int | None = None,
    ) -> None:
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must leave edges to train on, got {val_fraction} + {test_fraction}")
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.metric, self.directed, self.split_seed = metric, directed, split_seed
        self.objective = Objective(metric, "max")

    def prepare(self, data: Any, *, seed: int) -> LinkData:
        import torch
        from torch_geometric.data import Data
        from torch_geometric.transforms import RandomLinkSplit

        from autoglm.plugins.graphs import check_edges, check_features, negative_pairs

        num_nodes, num_features = check_features(data)
        num_edges = check_edges(data, num_nodes)
        if getattr(data, "split_edge", None) is not None:
            return self._given_split(data, num_nodes, num_features, num_edges)
        unique = num_edges if self.directed else num_edges // 2
        needed = 3 / min(self.val_fraction, self.test_fraction)
        if unique < needed:
            raise DataError(
                f"the graph has {unique} {'directed' if self.directed else 'undirected'} edge(s): too few to hold out "
                f"{self.val_fraction:g} and {self.test_fraction:g} of them for validation and test (at least {needed:.0f})"
            )
        split_seed = seed if self.split_seed is None else self.split_seed
        # Negatives are drawn here, with torch's stream: RandomLinkSplit's own come from Python's global random.
        splitter = RandomLinkSplit(
            num_val=self.val_fraction, num_test=self.test_fraction, is_undirected=not self.directed,
            add_negative_train_samples=False, split_labels=True, neg_sampling_ratio=0.0,
        )
        graph = Data(x=data.x, edge_index=data.edge_index, num_nodes=num_nodes)
        with torch.random.fork_rng(devices=[]):  # the split depends on its seed only, and leaves the run's stream alone
            torch.manual_seed(split_seed)
            train, val, test = splitter(graph)
            n_val, n_test = val.pos_edge_label_index.size(1), test.pos_edge_label_index.size(1)
            held_out = negative_pairs(data.edge_index, num_nodes, n_val + n_test, directed=self.directed)
            train_negatives = negative_pairs(train.edge_index, num_nodes, train.pos_edge_label_index.size(1), directed=self.directed)
        pairs = {
            "train": (train.pos_edge_label_index, train_negatives),
            "val": (val.pos_edge_label_index, held_out[:, :n_val]),
            "test": (test.pos_edge_label_index, held_out[:, n_val:]),
        }
        sizes: dict[str, Any] = {
            "num_nodes": num_nodes, "num_features": num_features, "num_edges": num_edges,
            "split": f"{1 - self.val_fraction - self.test_fraction:g}/{self.val_fraction:g}/{self.test_fraction:g} of the edges, seed {split_seed}",
            "message_passing_edges": int(train.edge_index.size(1)),
        }
        for split, (pos, neg) in pairs.items():
            sizes[f"{split}_edges"] = int(pos.size(1))
            if split != "train":
                sizes[f"{split}_negatives"] = int(neg.size(1))
        return LinkData(data.x, train.edge_index, pairs, sizes)

    def _given_split(self, data: Any, num_nodes: int, num_features: int, num_edges: int) -> LinkData:
        """The data's own split (OGB's ``split_edge``: ``train.edge``, and ``valid`` / ``test`` with ``edge`` and
        ``edge_neg``, each ``[E, 2]``): message passing on the training edges, the given negatives held out."""
        import torch

        from autoglm.plugins.graphs import negative_pairs

        split_edge = data.split_edge

        def pairs(part: str, key: str) -> Any:
            value = split_edge.get(part, {}).get(key) if isinstance(split_edge.get(part), dict) else None
            if not isinstance(value, torch.Tensor) or value.dim() != 2 or value.size(1) != 2 or value.is_floating_point():
                raise DataError(f"split_edge[{part!r}][{key!r}] must be an integer tensor [E, 2], got {type(value).__name__}")
            if value.numel() and (int(value.min()) < 0 or int(value.max()) >= num_nodes):
                raise DataError(f"split_edge[{part!r}][{key!r}] names nodes outside 0..{num_nodes - 1}")
            return value.t().long().contiguous()

        train = pairs("train", "edge")
        message_passing = train if self.directed else torch.cat([train, train.flip(0)], dim=1)
        held = {part: (pairs(part, "edge"), pairs(part, "edge_neg")) for part in ("valid", "test")}
        train_negatives = negative_pairs(message_passing, num_nodes, train.size(1), directed=self.directed)
        split = {"train": (train, train_negatives), "val": held["valid"], "test": held["test"]}
        sizes: dict[str, Any] = {
            "num_nodes": num_nodes, "num_features": num_features, "num_edges": num_edges,
            "split": "the data's own split", "message_passing_edges": int(message_passing.size(1)),
        }
        for name, (pos, neg) in split.items():
            sizes[f"{name}_edges"] = int(pos.size(1))
            if name != "train":
                sizes[f"{name}_negatives"] = int(neg.size(1))
        return LinkData(data.x, message_passing, split, sizes)

    def build(self, encoder: Callable[[int, int], Any], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
        from autoglm.plugins_builtin.link_prediction.model import LinkScorer

        embedding = int(params.get("embedding", 64))
        return LinkScorer(encoder(int(sizes["num_features"]), embedding), str(params.get("decoder", "dot")), embedding)

    def sampled(self, data: LinkData, sampling: Sampling) -> LinkData:
        """``data`` for mini-batch training: batches of training edges with subgraphs sampled around their endpoints."""
        from autoglm.plugins.sampling import SamplerCache

        log.debug("link prediction on sampled subgraphs: %d training edges per batch, fan-outs %s",
                  sampling.batch_size, list(sampling.fanouts))
        return replace(data, sampling=sampling, samplers=SamplerCache(data.graph()))

    def ensemble(self, models: Sequence[Any], weights: Sequence[float]) -> Any:
        """The members' edge probabilities averaged with ``weights`` (selection's ensemble)."""
        from autoglm.plugins_builtin.link_prediction.model import LinkEnsemble

        return LinkEnsemble(list(models), list(weights))

    def batches(self, data: LinkData) -> Iterator[Any]:
        """The whole graph once with fresh negatives (as many as training positives); or (sampled) every training
        positive once, ``batch_size`` at a time, each batch with as many of the epoch's fresh negatives."""
        from autoglm.plugins.graphs import negative_pairs

        positives = data.pairs["train"][0]
        negatives = negative_pairs(data.edge_index, data.x.size(0), positives.size(1), directed=self.directed)
        if data.sampling is None:
            yield data, negatives
            return
        yield from self._sampled_batches(data, positives, negatives)

    @staticmethod
    def _sampled_batches(data: LinkData, positives: Any, negatives: Any) -> Iterator[Any]:
        """PyG ``LinkLoader`` batches over the message-passing graph: ``edge_label_index`` (local ids, the batch's
        positives then its negatives), ``edge_label`` (1 / 0) and ``n_id``. The negatives come drawn as the full
        batch draws them (same call, same stream), so a seeded epoch sees the same negatives either way."""
        import torch

        from autoglm.plugins.sampling import link_loader

        assert data.sampling is not None and data.samplers is not None
        size, count, drawn = data.sampling.batch_size, positives.size(1), negatives.size(1)
        order = torch.randperm(count)
        pairs = torch.cat([positives.cpu()[:, order], negatives.cpu()], dim=1)
        labels = torch.cat([torch.ones(count), torch.zeros(drawn)])
        loader = link_loader(  # batches are cut here (positives and negatives apart), so only loader(index) is used
            data.graph(), pairs, data.sampling.fanouts, batch_size=size, shuffle=False, edge_label=labels,
            samplers=data.samplers,
        )
        for start in range(0, count, size):
            index = torch.cat([
                torch.arange(start, min(start + size, count)),
                count + torch.arange(min(start, drawn), min(start + size, drawn)),
            ])
            yield loader(index).to(data.device)

    def loss(self, model: Any, batch: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if not isinstance(batch, tuple):  # a sampled subgraph: score its edge_label_index on it
            logits = model(batch.x, batch.edge_index, batch.edge_label_index).float()
            return F.binary_cross_entropy_with_logits(logits, batch.edge_label.float())
        data, negatives = batch
        positives = data.pairs["train"][0]
        logits = model(data.x, data.edge_index, torch.cat([positives, negatives], dim=1)).float()
        labels = torch.cat([logits.new_ones(positives.size(1)), logits.new_zeros(negatives.size(1))])
        return F.binary_cross_entropy_with_logits(logits, labels)

    def evaluate(self, model: Any, data: LinkData, splits: Sequence[str]) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        from autoglm.plugins.metrics import average_precision, hits_at_k, roc_auc

        if data.sampling is None:
            z = model.encode(data.x, data.edge_index)
            logits_of = [
                (model.decode(z, pos).float(), model.decode(z, neg).float()) for pos, neg in (data.pairs[name] for name in splits)
            ]
        else:  # embeddings of the pairs' endpoints, chunk by chunk, and the pairs decoded in chunks
            flat = self._sampled_logits(model, data, [pair for split in splits for pair in data.pairs[split]])
            logits_of = list(zip(flat[0::2], flat[1::2]))
        metrics = {}
        for split, (pos_logits, neg_logits) in zip(splits, logits_of):
            logits = torch.cat([pos_logits, neg_logits])
            labels = torch.cat([logits.new_ones(pos_logits.numel()), logits.new_zeros(neg_logits.numel())])
            metrics[f"{split}_auc"] = roc_auc(pos_logits, neg_logits)
            metrics[f"{split}_ap"] = average_precision(pos_logits, neg_logits)
            if self.metric.startswith("hits@"):
                metrics[f"{split}_{self.metric}"] = hits_at_k(pos_logits, neg_logits, int(self.metric[5:]))
            metrics[f"{split}_loss"] = F.binary_cross_entropy_with_logits(logits, labels)
        return metrics

    @staticmethod
    def _sampled_logits(model: Any, data: LinkData, pairs: Sequence[Any]) -> list[Any]:
        """The logits of each ``[2, P]`` tensor of ``pairs`` on sampled data, as the full batch computes them.

        The encoder's outputs are exact (every neighbour, chunk by chunk: :func:`autoglm.plugins.minibatch.node_outputs`)
        and computed once, for the pairs' endpoints only; the decoder then scores :data:`PAIR_CHUNK` pairs at a time.
        """
        import torch

        from autoglm.plugins.minibatch import node_outputs

        encoder = getattr(model, "encoder", None)
        if encoder is None or not callable(getattr(model, "decode", None)):
            raise TypeError(
                f"sampled link prediction needs the task's model (an encoder and a decoder: LinkScorer), got "
                f"{type(model).__name__}; build it with LinkPrediction.build, or train with batching: full"
            )
        assert data.sampling is not None
        host = [p.to("cpu", torch.long).contiguous() for p in pairs]
        nodes = torch.unique(torch.cat(host, dim=1)) if host else torch.empty(0, dtype=torch.long)
        z = node_outputs(
            encoder, data.graph(), nodes, batch_size=data.sampling.batch_size, device=data.device, samplers=data.samplers,
        )
        out = []
        for pair in host:
            local = torch.searchsorted(nodes, pair)  # rows of z: nodes is sorted and holds every endpoint
            chunks = [
                model.decode(z, local[:, start : start + PAIR_CHUNK].to(z.device)).float()
                for start in range(0, local.size(1), PAIR_CHUNK)
            ]
            out.append(torch.cat(chunks) if chunks else torch.empty(0, device=z.device))
        return out

    def with_features(self, data: LinkData, transform: Callable[[Any, Any, int], Any]) -> LinkData:
        x = transform(data.x, data.edge_index, data.x.size(0))  # message-passing edges: no held-out edge leaks in
        sizes = {**data.sizes, "num_features": int(x.size(1)), "input_features": int(data.x.size(1))}
        return replace(data, x=x, sizes=sizes)  # sampled data keeps its samplers: the edges are the same

    def inference_data(self, data: Any, sizes: Mapping[str, Any]) -> LinkData:
        """A graph whose ``edge_index`` is message passing, and the pairs to score: ``edge_label_index``
        (with ``edge_label`` if known), or else the graph's own edges."""
        import torch

        from autoglm.plugins.graphs import check_edges, check_features, describe

        num_nodes, num_features = check_features(data)
        check_edges(data, num_nodes)
        if num_features != int(sizes["num_features"]):
            raise DataError(f"the model was trained on {sizes['num_features']} node features; this graph has {num_features}")
        pairs = getattr(data, "edge_label_index", None)
        if pairs is None:
            pairs = data.edge_index
        elif not isinstance(pairs, torch.Tensor) or pairs.dim() != 2 or pairs.size(0) != 2 or pairs.is_floating_point():
            raise DataError(f"edge_label_index must be an integer tensor of shape (2, P), got {describe(pairs)}")
        elif pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= num_nodes):
            raise DataError(f"edge_label_index names nodes outside 0..{num_nodes - 1}")
        labels = getattr(data, "edge_label", None) if getattr(data, "edge_label_index", None) is not None else None
        if labels is not None and (not isinstance(labels, torch.Tensor) or labels.shape != (pairs.size(1),)):
            raise DataError(f"edge_label must hold one 0/1 label per pair of edge_label_index ({pairs.size(1)}), got {describe(labels)}")
        query = (pairs.long(), None if labels is None else labels.cpu())
        return LinkData(data.x, data.edge_index, {}, {**sizes, "num_nodes": num_nodes}, query)

    def predict(self, model: Any, data: LinkData) -> Predictions:
        """Every scored pair: the run's training edges and the validation / test pairs (or the pairs given),
        with their split, label and probability of being an edge."""
        import torch

        if data.query is not None:
            pairs, known = data.query
            labels = [""] * pairs.size(1) if known is None else [int(v) for v in known.tolist()]
            splits = [NEW_ITEM] * pairs.size(1)
        else:
            chunks, labels, splits = [], [], []
            for split in SPLITS:
                pos, neg = data.pairs[split]
                chunks += [pos] if split == "train" else [pos, neg]  # training negatives are redrawn every epoch
                labels += [1] * pos.size(1) + ([] if split == "train" else [0] * neg.size(1))
                splits += [split] * (pos.size(1) + (0 if split == "train" else neg.size(1)))
            pairs = torch.cat(chunks, dim=1)
        if data.sampling is None:
            logits = model(data.x, data.edge_index, pairs).float()
        else:
            logits, = self._sampled_logits(model, data, [pairs])
        proba = torch.sigmoid(logits).cpu()
        pairs = pairs.cpu()
        rows = [
            (src, dst, split, label, f"{p:.6f}")
            for src, dst, split, label, p in zip(pairs[0].tolist(), pairs[1].tolist(), splits, labels, proba.tolist())
        ]
        return Predictions(["source", "target", "split", "label", "score"], rows, proba, (proba >= 0.5).long(), splits)

    def predictions(self, model: Any, data: LinkData, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        every = self.predict(model, data)
        return every.header, [row for row, where in zip(every.rows, every.splits) if where == split]


@hookimpl
def autoglm_register_tasks(register: Any) -> None:
    register(
        "link_prediction", LinkPrediction, search_space=SEARCH_SPACE, training_space=TRAINING_SPACE,
        summary="Predict held-out edges (ROC AUC, AP, Hits@K); message passing on training edges only",
    )
