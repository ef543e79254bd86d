"""Inference on graphs too big for one forward pass: node outputs computed chunk by chunk.

For tasks that train on sampled subgraphs (:class:`autoglm.plugins.SampledTask`).
Evaluation must not sample: a score should not depend on which neighbours a
draw kept. So a :class:`~autoglm.plugins.LayerwiseModule` is run layer by layer
(each layer for every node that the next needs, in chunks of nodes with all
their one-hop neighbours: exact, and one layer's activations at a time, as in
PyG's GraphSAGE example), and any other model on each chunk's complete
neighbourhood of as many hops as the model has message-passing layers (exact
for a stack of layers; costly for deep models on big graphs, which is why
the built-in models are layer-wise).

Imports torch: import it inside task methods, not at plugin import time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from autoglm.core.protocols import LayerwiseModule

__all__ = ["node_outputs", "receptive_hops"]


def node_outputs(
    model: Any, graph: Any, nodes: Tensor, *, batch_size: int, device: str | torch.device, samplers: Any = None,
) -> Tensor:
    """``model``'s output rows for ``nodes`` of ``graph`` (a PyG ``Data`` on the host), on ``device``.

    Memory: the graph stays where it is; per chunk, one sampled subgraph and its activations on ``device``;
    a layer-wise model also keeps one layer's output for every node on the host. ``samplers`` (a
    :class:`~autoglm.plugins.sampling.SamplerCache` of ``graph``) saves building a sampler per call.
    """
    nodes = nodes.to("cpu", torch.long)
    if isinstance(model, LayerwiseModule):
        return _layerwise(model, graph, nodes, batch_size=batch_size, device=device, samplers=samplers)
    from autoglm.plugins.sampling import node_loader

    loader = node_loader(graph, nodes, [-1] * receptive_hops(model), batch_size=batch_size, shuffle=False, samplers=samplers)
    return _fill(loader, lambda batch: model(batch.x, batch.edge_index), nodes.numel(), device, device)


def receptive_hops(model: Any) -> int:
    """How many hops a model sees: its message-passing layers (at least one)."""
    from torch_geometric.nn.conv import MessagePassing

    return max(1, sum(isinstance(module, MessagePassing) for module in model.modules()))


def _layerwise(
    model: Any, graph: Any, nodes: Tensor, *, batch_size: int, device: str | torch.device, samplers: Any
) -> Tensor:
    from torch_geometric.data import Data
    from torch_geometric.loader import NodeLoader

    from autoglm.plugins.sampling import SamplerCache

    sampler = (samplers or SamplerCache(graph)).get([-1])
    every = torch.arange(graph.num_nodes)
    x = graph.x
    count = model.layer_count()
    for index in range(count):
        last = index == count - 1
        targets = nodes if last else every
        loader = NodeLoader(
            Data(x=x, edge_index=graph.edge_index, num_nodes=graph.num_nodes), node_sampler=sampler, input_nodes=targets,
            batch_size=batch_size, shuffle=False,
        )
        x = _fill(loader, lambda batch: model.layer(index, batch.x, batch.edge_index), targets.numel(), device,
                  device if last else "cpu")
    return x


def _fill(loader: Any, forward: Any, rows: int, device: str | torch.device, where: str | torch.device) -> Tensor:
    """The seeds' rows of ``forward(batch)`` for each of the loader's batches (in order), in one tensor on ``where``.

    Copied into one preallocated tensor: a chunk's rows are a view of the whole batch's output (ten times
    as many rows, the neighbours'), and keeping the views would keep all of those alive.
    """
    out: Tensor | None = None
    start = 0
    for batch in loader:
        batch = batch.to(device)
        chunk = forward(batch)[: batch.batch_size]
        if out is None:
            out = torch.empty((rows, *chunk.shape[1:]), dtype=chunk.dtype, device=where)
        out[start : start + chunk.size(0)] = chunk
        start += chunk.size(0)
    return out if out is not None else torch.empty(0, device=where)
