"""Mini-batch neighbour sampling that works without pyg-lib or torch-sparse.

PyG's :class:`~torch_geometric.loader.NeighborLoader` needs one of those two
compiled libraries, and neither installs everywhere. :class:`UniformNeighborSampler`
is a pure-PyTorch :class:`~torch_geometric.sampler.BaseSampler`, so PyG's own
:class:`~torch_geometric.loader.NodeLoader` and :class:`~torch_geometric.loader.LinkLoader`
drive it and build the same batches as with PyG's sampler. :func:`neighbor_sampler`
picks PyG's sampler when a compiled backend is there and this one otherwise;
:func:`node_loader` and :func:`link_loader` build the loaders on top.

What the batches hold (PyG's conventions, kept here):

* node batches: ``n_id`` (global ids; the first ``batch_size`` are the seeds, in
  input order, duplicates kept), ``e_id`` (original edge ids), ``input_id``
  (positions in ``input_nodes``), ``batch_size``, ``num_sampled_nodes``
  (``[seeds, hop 1, ...]``) and ``num_sampled_edges`` (one per hop);
  ``edge_index`` is local, ``edge_index[1]`` the node that receives the message;
* link batches: ``edge_label_index`` (local ids: map through ``n_id``),
  ``edge_label`` and ``input_id``; the seeds are the sorted unique endpoints, so
  the first nodes are *not* in input order, and there is no ``batch_size``.

Unlike the rest of :mod:`autoglm.plugins` this module imports torch and PyG on
import: the sampler has to subclass PyG's ``BaseSampler``.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import LinkLoader, NodeLoader
from torch_geometric.sampler import (
    BaseSampler,
    EdgeSamplerInput,
    NegativeSampling,
    NodeSamplerInput,
    SamplerOutput,
)
from torch_geometric.sampler.neighbor_sampler import edge_sample, node_sample

from autoglm.plugins.graphs import check_fanouts

log = logging.getLogger(__name__)

_UNSEEN = torch.iinfo(torch.long).max  # "no local id yet"; the largest value, so scatter-amin overwrites it



class UniformNeighborSampler(BaseSampler):
    """Uniform neighbour sampling without replacement on a homogeneous graph, in pure PyTorch.

    Messages flow source -> target (PyG's ``flow="source_to_target"``), so a node
    draws its neighbours among the sources of its *incoming* edges. Each hop is
    sampled for the whole frontier at once with tensor ops (no Python loop over
    nodes or edges); randomness comes from torch's global generator, so
    ``torch.manual_seed`` makes batches reproducible. ``SamplerOutput.edge`` holds
    original edge ids, so :attr:`edge_permutation` stays ``None`` and PyG's
    ``filter_data`` picks edge attributes with it directly.

    Not supported (a ValueError says so): heterogeneous graphs, temporal
    sampling, triplet negative sampling; sampling is never disjoint and never
    with replacement. One instance is not safe to call from two threads at once
    (it keeps a scratch id map between calls); data-loader worker processes each
    get their own copy.
    """

    def __init__(self, data: Data, fanouts: Sequence[int]) -> None:
        if not isinstance(data, Data):
            raise ValueError(
                f"UniformNeighborSampler samples homogeneous graphs (torch_geometric.data.Data) only, got "
                f"{type(data).__name__}; for HeteroData or remote stores install pyg-lib and use PyG's NeighborSampler"
            )
        self.fanouts = check_fanouts(fanouts)
        if "adj_t" in data:
            raise ValueError("UniformNeighborSampler reads edge_index; the graph holds adj_t (a SparseTensor) instead")
        num_nodes = data.num_nodes
        if num_nodes is None:
            raise ValueError("the graph has no node count (no x, num_nodes or edge_index)")
        self.num_nodes = int(num_nodes)
        edge_index = data.edge_index
        if edge_index is None:  # an edgeless graph may have no edge_index at all
            edge_index = torch.empty(2, 0, dtype=torch.long)
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2 \
                or edge_index.is_floating_point():
            raise ValueError(f"edge_index must be a [2, num_edges] integer tensor, got {type(edge_index).__name__} "
                             f"shape={tuple(getattr(edge_index, 'shape', ()))}")
        edge_index = edge_index.detach().to("cpu", torch.long)
        if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= self.num_nodes):
            raise ValueError(f"edge_index holds node ids outside 0..{self.num_nodes - 1} "
                             f"(found {int(edge_index.min())}..{int(edge_index.max())})")

        start = time.perf_counter()
        source, target = edge_index[0], edge_index[1]
        # CSC: slots sorted by target; a stable sort keeps each node's in-edges in their input order, so the
        # structure (and hence a seeded sample) does not depend on the sort implementation.
        order = torch.argsort(target, stable=True)
        self.colptr = torch.zeros(self.num_nodes + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(target, minlength=self.num_nodes), 0, out=self.colptr[1:])
        self.slot_source = source.index_select(0, order)  # the source u of each slot (edge u -> v, sorted by v)
        self.slot_edge = order  # the original edge id of each slot
        self._local_of = torch.full((self.num_nodes,), _UNSEEN, dtype=torch.long)  # global -> local id, per batch
        log.debug("UniformNeighborSampler: CSC of %d nodes and %d edges built in %.3fs",
                  self.num_nodes, order.numel(), time.perf_counter() - start)

    # PyG's sampler interface ###########################################################################

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs: Any) -> SamplerOutput:
        """The subgraph sampled around ``index.node``; ``metadata`` is ``(input_id, time)`` as NodeLoader reads it."""
        if index.input_type is not None:
            raise ValueError("UniformNeighborSampler samples homogeneous graphs only; the input has a node type")
        if index.time is not None:
            raise ValueError("temporal sampling (seed times) is not supported by the pure-PyTorch sampler; "
                             "install pyg-lib and use PyG's NeighborSampler")
        return node_sample(index, self._sample)

    def sample_from_edges(self, index: EdgeSamplerInput, neg_sampling: NegativeSampling | None = None) -> SamplerOutput:
        """The subgraph sampled around both endpoints of the links in ``index`` (plus binary negatives).

        PyG's own ``edge_sample`` does the bookkeeping, so ``metadata`` is exactly
        ``(input_id, edge_label_index, edge_label, None)`` as LinkLoader reads it.
        """
        if index.input_type is not None:
            raise ValueError("UniformNeighborSampler samples homogeneous graphs only; the input has an edge type")
        if index.time is not None:
            raise ValueError("temporal sampling (edge label times) is not supported by the pure-PyTorch sampler; "
                             "install pyg-lib and use PyG's NeighborSampler")
        neg_sampling = NegativeSampling.cast(neg_sampling)
        _check_negative_sampling(neg_sampling)
        return edge_sample(index, self._sample, self.num_nodes, False, None, neg_sampling)

    # Sampling ##########################################################################################

    def _sample(self, seed: Tensor, seed_time: Tensor | None = None) -> SamplerOutput:
        """Samples ``len(self.fanouts)`` hops from ``seed``, with PyG's local-id order.

        Local ids: the seeds first, in input order and with duplicates kept (a
        repeated seed gets its own in-edges, and later references to that node
        go to its first position, as in torch-sparse); then each hop's newly
        reached nodes in first-seen order. ``row`` is the (local) source, ``col``
        the frontier node the edge points into.
        """
        if seed_time is not None:
            raise ValueError("temporal sampling is not supported by the pure-PyTorch sampler")
        seed = seed.reshape(-1).to(torch.long)
        if seed.numel() and (int(seed.min()) < 0 or int(seed.max()) >= self.num_nodes):
            raise ValueError(f"seed nodes must lie in 0..{self.num_nodes - 1}, "
                             f"found {int(seed.min())}..{int(seed.max())}")
        # Indexing below uses index_select / masked_select / scatter_ rather than t[index]: on CPU they are
        # 3-6x faster than advanced indexing for these 1-D gathers, which dominate the run time.
        local_of = self._local_of
        count = seed.numel()
        nodes, rows, cols, edges = [seed], [], [], []
        num_sampled_nodes, num_sampled_edges = [count], []
        local_of.scatter_reduce_(0, seed, torch.arange(count), "amin")  # a repeated seed maps to its first position
        try:
            frontier, begin = seed, 0
            for fanout in self.fanouts:
                source, edge, owner = self._sample_hop(frontier, fanout)
                row = local_of.index_select(0, source)
                fresh = row == _UNSEEN
                candidates = source.masked_select(fresh)
                if candidates.numel():
                    # First-seen order without a hash map: every candidate writes its position with scatter-amin,
                    # so a node's entry ends up at its first occurrence; those occurrences are the new nodes, in order.
                    position = torch.arange(candidates.numel())
                    local_of.scatter_reduce_(0, candidates, position, "amin")
                    new = candidates.masked_select(local_of.index_select(0, candidates) == position)
                    local_of.scatter_(0, new, torch.arange(count, count + new.numel()))
                    row.masked_scatter_(fresh, local_of.index_select(0, candidates))
                else:
                    new = candidates
                rows.append(row)
                cols.append(owner.add_(begin))
                edges.append(edge)
                nodes.append(new)
                num_sampled_nodes.append(new.numel())
                num_sampled_edges.append(source.numel())
                frontier, begin, count = new, count, count + new.numel()
        except BaseException:  # an interrupted hop may have left entries anywhere: clear them all (O(num_nodes))
            local_of.fill_(_UNSEEN)
            raise
        node = torch.cat(nodes)
        local_of.index_fill_(0, node, _UNSEEN)  # reset only what this batch touched: O(batch), not O(num_nodes)
        empty = torch.empty(0, dtype=torch.long)
        return SamplerOutput(
            node=node,
            row=torch.cat(rows) if rows else empty,
            col=torch.cat(cols) if cols else empty,
            edge=torch.cat(edges) if edges else empty,
            batch=None,
            num_sampled_nodes=num_sampled_nodes,
            num_sampled_edges=num_sampled_edges,
        )

    def _sample_hop(self, frontier: Tensor, fanout: int) -> tuple[Tensor, Tensor, Tensor]:
        """``min(fanout, in-degree)`` distinct in-edges per frontier node: (sources, edge ids, frontier positions).

        Edges come grouped by frontier node, in frontier order, so first-seen
        order of the sources matches PyG's. A node with in-degree <= fanout (or
        fanout -1) takes all its slots in CSC order; the others draw with
        :func:`_distinct_offsets`.
        """
        start = self.colptr.index_select(0, frontier)
        degree = self.colptr.index_select(0, frontier + 1) - start
        counts = degree if fanout < 0 else degree.clamp(max=fanout)
        ends = counts.cumsum(0)
        total = int(ends[-1]) if ends.numel() else 0
        owner = torch.repeat_interleave(counts, output_size=total)  # frontier position of each sampled edge
        # Slot of the i-th edge of a node = its start + i, with i = (global edge position) - (node's first position).
        slot = (start - (ends - counts)).index_select(0, owner) + torch.arange(total)
        if fanout > 0:
            over = degree > fanout
            if bool(over.any()):
                picks = _distinct_offsets(degree.masked_select(over), fanout) + start.masked_select(over).unsqueeze(1)
                # those nodes' edges are contiguous, fanout each, in frontier order: fill them row by row
                slot.masked_scatter_(over.index_select(0, owner), picks)
        return self.slot_source.index_select(0, slot), self.slot_edge.index_select(0, slot), owner


def _distinct_offsets(degree: Tensor, k: int) -> Tensor:
    """``[n, k]`` uniformly random distinct offsets in ``0..degree[i]-1`` per row (every ``degree[i] > k``).

    Robert Floyd's algorithm, run for all rows at once: for j = d-k .. d-1 draw
    r uniform in 0..j, and take j instead when r was already taken; this yields
    every k-subset with equal probability (the scheme pyg-lib uses). Its cost is
    O(n k^2) comparisons and k small tensor steps whatever the degrees, where
    sorting random keys would be O(sum of degrees), bad for hubs. The k random
    numbers per row are drawn up front, in float64 so that floor(u * (j+1)) is
    unbiased even for huge degrees.
    """
    n = degree.numel()
    upper = degree.unsqueeze(1) - k + torch.arange(k)  # j for each step: d-k .. d-1
    picks = (torch.rand(n, k, dtype=torch.float64) * (upper + 1)).long()
    torch.minimum(picks, upper, out=picks)  # guards the (measure-zero) rounding of u * (j+1) up to j+1
    for step in range(1, k):
        taken = (picks[:, :step] == picks[:, step : step + 1]).any(1)
        picks[:, step] = torch.where(taken, upper[:, step], picks[:, step])
    return picks


def _check_negative_sampling(neg_sampling: NegativeSampling | None) -> None:
    if neg_sampling is not None and not neg_sampling.is_binary():
        raise ValueError(f"{neg_sampling.mode.value!r} negative sampling is not supported by the pure-PyTorch sampler; "
                         "use NegativeSampling('binary', amount), or install pyg-lib for PyG's NeighborSampler")


def neighbor_sampler(data: Any, fanouts: Sequence[int]) -> BaseSampler:
    """PyG's ``NeighborSampler`` when pyg-lib or torch-sparse is installed (compiled, faster), else ours."""
    import torch_geometric.typing

    fanouts = check_fanouts(fanouts)
    if torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE:
        from torch_geometric.sampler import NeighborSampler

        log.debug("neighbour sampling with PyG's NeighborSampler (pyg-lib: %s, torch-sparse: %s)",
                  torch_geometric.typing.WITH_PYG_LIB, torch_geometric.typing.WITH_TORCH_SPARSE)
        return NeighborSampler(data, num_neighbors=list(fanouts))
    log.debug("neighbour sampling with the pure-PyTorch UniformNeighborSampler (no pyg-lib or torch-sparse)")
    return UniformNeighborSampler(data, fanouts)


def with_fanouts(sampler: BaseSampler, fanouts: Sequence[int]) -> BaseSampler:
    """A sampler of the same graph with other fan-outs, sharing the first one's graph structure.

    Building is the costly part (on 20 M edges: seconds, and ~22 bytes per edge), so a task that trains
    with one fan-out and infers with another (every neighbour) builds once. Sequential use only: the
    copies share their scratch space.
    """
    fanouts = check_fanouts(fanouts)
    other = copy.copy(sampler)
    if isinstance(other, UniformNeighborSampler):
        other.fanouts = fanouts
    else:
        other.num_neighbors = list(fanouts)
    return other


class SamplerCache:
    """One graph's samplers by fan-outs, built once (see :func:`with_fanouts`)."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self._samplers: dict[tuple[int, ...], BaseSampler] = {}

    def get(self, fanouts: Sequence[int]) -> BaseSampler:
        key = tuple(check_fanouts(fanouts))
        if key not in self._samplers:
            first = next(iter(self._samplers.values()), None)
            started = time.perf_counter()
            self._samplers[key] = neighbor_sampler(self.data, key) if first is None else with_fanouts(first, key)
            if first is None:
                log.debug("neighbour sampler built in %.2fs", time.perf_counter() - started)
        return self._samplers[key]


def node_loader(
    data: Any, input_nodes: Any, fanouts: Sequence[int], *, batch_size: int, shuffle: bool,
    samplers: SamplerCache | None = None,
) -> NodeLoader:
    """PyG's NodeLoader over ``input_nodes`` (ids or a bool mask; None for all) with :func:`neighbor_sampler`
    (from ``samplers``, a cache of this graph's samplers, when given).

    Always ``num_workers=0``: torch's OpenMP pool does not survive a fork here.
    """
    sampler = samplers.get(fanouts) if samplers is not None else neighbor_sampler(data, fanouts)
    return NodeLoader(data, node_sampler=sampler, input_nodes=input_nodes,
                      batch_size=batch_size, shuffle=shuffle, num_workers=0)


def link_loader(
    data: Any, edge_label_index: Any, fanouts: Sequence[int], *, batch_size: int, shuffle: bool,
    edge_label: Tensor | None = None, neg_sampling: NegativeSampling | str | None = None,
    samplers: SamplerCache | None = None,
) -> LinkLoader:
    """PyG's LinkLoader over the links ``edge_label_index`` (None for every edge) with :func:`neighbor_sampler`.

    With binary ``neg_sampling`` negatives get label 0; PyG shifts given labels by
    one when they start at 0, and uses float ones when ``edge_label`` is None.
    ``samplers`` (a cache of this graph's samplers) saves building one. Always ``num_workers=0`` (see
    :func:`node_loader`).
    """
    sampler = samplers.get(fanouts) if samplers is not None else neighbor_sampler(data, fanouts)
    neg_sampling = NegativeSampling.cast(neg_sampling)
    if isinstance(sampler, UniformNeighborSampler):
        _check_negative_sampling(neg_sampling)  # fail when the loader is built, not at its first batch
    return LinkLoader(data, link_sampler=sampler, edge_label_index=edge_label_index, edge_label=edge_label,
                      neg_sampling=neg_sampling, batch_size=batch_size, shuffle=shuffle, num_workers=0)
