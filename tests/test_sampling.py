"""The pure-PyTorch neighbour sampler, driven by PyG's NodeLoader and LinkLoader, on small synthetic graphs."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest
import torch
import torch_geometric.typing
from torch_geometric.data import Data, HeteroData
from torch_geometric.nn import SAGEConv
from torch_geometric.sampler import EdgeSamplerInput, NegativeSampling, NodeSamplerInput

from autoglm.plugins.sampling import UniformNeighborSampler, link_loader, neighbor_sampler, node_loader



@pytest.fixture(autouse=True)
def _pure_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loaders use the pure-PyTorch sampler even where pyg-lib or torch-sparse is installed."""
    monkeypatch.setattr(torch_geometric.typing, "WITH_PYG_LIB", False)
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SPARSE", False)


def random_graph(num_nodes: int = 60, num_edges: int = 400, seed: int = 0) -> Data:
    """A directed multigraph (self-loops and repeated edges included) with a distinct ``edge_attr`` per edge."""
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=generator)
    return Data(x=torch.randn(num_nodes, 8, generator=generator), edge_index=edge_index,
                edge_attr=torch.randn(num_edges, 3, generator=generator), num_nodes=num_nodes)


def in_degree(data: Data) -> torch.Tensor:
    return torch.bincount(data.edge_index[1], minlength=data.num_nodes)


def hop_ranges(num_sampled_nodes: list[int], num_sampled_edges: list[int]) -> tuple[list[Any], list[Any]]:
    """Local-id range of each hop's frontier (seeds first) and the range of each hop's edges."""
    node_ends = torch.tensor(num_sampled_nodes).cumsum(0).tolist()
    edge_ends = torch.tensor(num_sampled_edges).cumsum(0).tolist()
    nodes = list(zip([0] + node_ends[:-1], node_ends))
    edges = list(zip([0] + edge_ends[:-1], edge_ends))
    return nodes, edges


def test_sampled_edges_are_real_edges_into_the_previous_frontier() -> None:
    torch.manual_seed(0)
    data = random_graph()
    input_nodes = torch.tensor([5, 17, 3, 42, 0, 59, 28, 11, 30])
    loader = node_loader(data, input_nodes, [4, 3], batch_size=4, shuffle=True)
    seen = []
    for batch in loader:
        assert batch.n_id.dtype == torch.long and batch.e_id.dtype == torch.long
        assert batch.edge_index.dtype == torch.long and batch.input_id.dtype == torch.long
        assert torch.equal(batch.n_id[: batch.batch_size], input_nodes[batch.input_id])
        seen.append(batch.input_id)
        # every edge is the original edge e_id, with its attributes
        source, target = batch.n_id[batch.edge_index[0]], batch.n_id[batch.edge_index[1]]
        assert torch.equal(torch.stack([source, target]), data.edge_index[:, batch.e_id])
        assert torch.equal(batch.edge_attr, data.edge_attr[batch.e_id])
        assert torch.equal(batch.x, data.x[batch.n_id])
        assert batch.n_id.unique().numel() == batch.n_id.numel()  # no duplicate seeds here, so no repeated node
        # hop h's edges point from a node seen by the end of hop h into hop h's frontier
        nodes, edges = hop_ranges(batch.num_sampled_nodes, batch.num_sampled_edges)
        assert len(nodes) == 3 and len(edges) == 2 and nodes[-1][1] == batch.num_nodes
        assert edges[-1][1] == batch.edge_index.size(1)
        for hop, (first, last) in enumerate(edges):
            row, col = batch.edge_index[:, first:last]
            assert ((col >= nodes[hop][0]) & (col < nodes[hop][1])).all()
            assert (row < nodes[hop + 1][1]).all()
            # the hop's new nodes are exactly the sources not seen before, numbered in first-seen order
            fresh = row[row >= nodes[hop + 1][0]].tolist()
            assert list(dict.fromkeys(fresh)) == list(range(*nodes[hop + 1]))
    assert sorted(torch.cat(seen).tolist()) == list(range(input_nodes.numel()))


def test_fanout_k_draws_min_k_degree_distinct_in_neighbours_per_node() -> None:
    torch.manual_seed(1)
    data = random_graph(num_nodes=80, num_edges=900)
    degree = in_degree(data)
    fanouts = [5, 2, 3]
    sampler = UniformNeighborSampler(data, fanouts)
    for _ in range(10):
        seed = torch.randperm(80)[:10]
        out = sampler.sample_from_nodes(NodeSamplerInput(None, seed))
        assert out.edge.unique().numel() == out.edge.numel()  # no edge sampled twice
        nodes, edges = hop_ranges(out.num_sampled_nodes, out.num_sampled_edges)
        for hop, (fanout, (first, last)) in enumerate(zip(fanouts, edges)):
            col = out.col[first:last]
            frontier = torch.arange(*nodes[hop])
            received = torch.bincount(col - nodes[hop][0], minlength=frontier.numel())
            assert torch.equal(received, degree[out.node[frontier]].clamp(max=fanout))
            assert torch.equal(out.node[col], data.edge_index[1, out.edge[first:last]])


def sage(in_channels: int) -> torch.nn.Module:
    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = SAGEConv(in_channels, 16, aggr="mean")
            self.conv2 = SAGEConv(16, 4, aggr="mean")

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

    return Model().eval()


def test_fanout_minus_one_keeps_every_in_edge_and_matches_full_graph_sage() -> None:
    torch.manual_seed(2)
    data = random_graph(num_nodes=120, num_edges=500)
    model = sage(8)
    with torch.no_grad():
        full = model(data.x, data.edge_index)
    for batch in node_loader(data, None, [-1, -1], batch_size=16, shuffle=True):
        nodes, _ = hop_ranges(batch.num_sampled_nodes, batch.num_sampled_edges)
        within_one_hop = batch.n_id[: nodes[1][1]]  # seeds and the hop-1 nodes
        expected = torch.isin(data.edge_index[1], within_one_hop).nonzero().view(-1)
        assert torch.equal(torch.sort(batch.e_id)[0], expected)
        with torch.no_grad():
            out = model(batch.x, batch.edge_index)[: batch.batch_size]
        assert torch.allclose(out, full[batch.n_id[: batch.batch_size]], atol=1e-6)


def batches_of(seed: int, data: Data) -> list[tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(seed)
    return [(batch.n_id, batch.e_id) for batch in node_loader(data, None, [3, 2], batch_size=10, shuffle=True)]


def test_same_seed_same_batches_other_seed_other_samples() -> None:
    data = random_graph(num_nodes=50, num_edges=600)  # mean in-degree 12 > fan-outs
    first, again, other = batches_of(7, data), batches_of(7, data), batches_of(8, data)
    assert all(torch.equal(a, b) and torch.equal(c, d) for (a, c), (b, d) in zip(first, again))
    sampler = UniformNeighborSampler(data, [3, 2])
    seed = torch.arange(10)
    torch.manual_seed(7)
    one = sampler.sample_from_nodes(NodeSamplerInput(None, seed)).edge
    torch.manual_seed(8)
    two = sampler.sample_from_nodes(NodeSamplerInput(None, seed)).edge
    assert not torch.equal(one, two)
    assert any(not torch.equal(a, b) for (_, a), (_, b) in zip(first, other))


def test_every_neighbour_is_drawn_uniformly() -> None:
    # node 0 receives edges from 1..10 (and 11 -> 1 ensures other structure does not matter)
    edge_index = torch.tensor([list(range(1, 11)) + [11], [0] * 10 + [1]])
    sampler = UniformNeighborSampler(Data(edge_index=edge_index, num_nodes=12), [3])
    torch.manual_seed(3)
    draws = 4000
    picked = torch.zeros(draws, 12)
    for draw in range(draws):
        out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([0])))
        assert out.row.numel() == 3 and out.node[out.row].unique().numel() == 3
        picked[draw, out.node[out.row]] = 1
    frequency = picked.mean(0)
    assert torch.all((frequency[1:11] - 0.3).abs() < 0.03), frequency
    assert frequency[0] == 0 and frequency[11] == 0
    together = (picked[:, 1:11].T @ picked[:, 1:11]) / draws  # each pair: 3/10 * 2/9
    off_diagonal = together[~torch.eye(10, dtype=torch.bool)]
    assert torch.all((off_diagonal - 1 / 15).abs() < 0.025), together


def test_repeated_seeds_keep_their_places() -> None:
    edge_index = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 1]])
    sampler = UniformNeighborSampler(Data(edge_index=edge_index, num_nodes=4), [-1])
    out = sampler.sample_from_nodes(NodeSamplerInput(torch.arange(3), torch.tensor([0, 1, 0])))
    assert out.node[:3].tolist() == [0, 1, 0] and out.num_sampled_nodes == [3, 2]
    assert sorted(out.node[3:].tolist()) == [2, 3]
    # each seed position receives its in-edges; a reference to node 0 or 1 goes to its first place
    assert torch.bincount(out.col, minlength=3).tolist() == [3, 1, 3]
    assert torch.equal(out.node[out.row], edge_index[0, out.edge])
    assert out.row[out.edge == 0].unique().tolist() == [1]  # edge 1 -> 0: the source is local id 1
    assert out.row[out.edge == 3].tolist() == [0]  # edge 0 -> 1: node 0 is at places 0 and 2, the first counts


def test_link_loader_without_negatives_gives_the_requested_edges() -> None:
    torch.manual_seed(4)
    data = random_graph()
    wanted = data.edge_index[:, :25]
    label = torch.randint(0, 3, (25,))
    for batch in link_loader(data, wanted, [3, 2], batch_size=8, shuffle=True, edge_label=label):
        assert torch.equal(batch.n_id[batch.edge_label_index], wanted[:, batch.input_id])
        assert torch.equal(batch.edge_label, label[batch.input_id])
        # PyG seeds link batches with the sorted unique endpoints
        endpoints = wanted[:, batch.input_id].reshape(-1).unique()
        assert torch.equal(batch.n_id[: endpoints.numel()], endpoints)
        assert torch.equal(batch.n_id[batch.edge_index], data.edge_index[:, batch.e_id])
        assert "batch_size" not in batch


def test_link_loader_with_binary_negatives_adds_zero_labelled_pairs() -> None:
    torch.manual_seed(5)
    data = random_graph()
    wanted = data.edge_index[:, 100:130]
    negatives = NegativeSampling("binary", 2)
    for batch in link_loader(data, wanted, [2], batch_size=10, shuffle=False, neg_sampling=negatives):
        positives = batch.input_id.numel()
        assert batch.edge_label_index.shape == (2, 3 * positives)
        pairs = batch.n_id[batch.edge_label_index]
        assert torch.equal(pairs[:, :positives], wanted[:, batch.input_id])
        assert ((pairs >= 0) & (pairs < data.num_nodes)).all()
        # no edge_label given: float ones for the positives, zeros for the negatives
        assert batch.edge_label.dtype == torch.float
        assert batch.edge_label.tolist() == [1.0] * positives + [0.0] * (2 * positives)
    # labels starting at 0 are shifted by one so that 0 means "negative", as PyG documents
    label = torch.arange(30) % 2
    batch = next(iter(link_loader(data, wanted, [2], batch_size=30, shuffle=False, edge_label=label,
                                  neg_sampling="binary")))
    assert batch.edge_label.tolist() == (label + 1).tolist() + [0] * 30


@pytest.mark.parametrize("fanouts, message", [
    ([], "fanouts is empty"),
    ([0], "fanouts[0] is 0"),
    ([10, -2], "fanouts[1] is -2"),
    (["a"], "fanouts[0] is 'a' (str), not an int"),
    ([True], "not an int"),
    ("15", "fanouts must be a non-empty list of ints"),
])
def test_bad_fanouts_say_what_is_wrong(fanouts: Any, message: str) -> None:
    with pytest.raises(ValueError) as error:
        UniformNeighborSampler(random_graph(), fanouts)
    assert message in str(error.value) and "-1 (every neighbour) or >= 1" in str(error.value)
    with pytest.raises(ValueError, match="fanouts"):
        node_loader(random_graph(), None, fanouts, batch_size=4, shuffle=False)


def test_unsupported_inputs_raise_value_errors() -> None:
    hetero = HeteroData()
    hetero["paper"].x = torch.randn(4, 2)
    hetero["paper", "cites", "paper"].edge_index = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="homogeneous graphs .* only, got HeteroData"):
        UniformNeighborSampler(hetero, [2])
    data = random_graph()
    with pytest.raises(ValueError, match="'triplet' negative sampling is not supported"):
        link_loader(data, data.edge_index[:, :10], [2], batch_size=4, shuffle=False,
                    neg_sampling=NegativeSampling("triplet", 1))
    sampler = UniformNeighborSampler(data, [2])
    edges = EdgeSamplerInput(None, data.edge_index[0, :4], data.edge_index[1, :4])
    with pytest.raises(ValueError, match="'triplet' negative sampling is not supported"):
        sampler.sample_from_edges(edges, NegativeSampling("triplet", 1))
    with pytest.raises(ValueError, match="temporal sampling"):
        sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([0, 1]), time=torch.tensor([3, 4])))
    with pytest.raises(ValueError, match="outside 0..3"):
        UniformNeighborSampler(Data(edge_index=torch.tensor([[0], [4]]), num_nodes=4), [2])


def test_isolated_nodes_and_edgeless_graphs() -> None:
    edge_index = torch.tensor([[1, 2], [0, 0]])  # nodes 3 and 4 are isolated
    data = Data(x=torch.randn(5, 2), edge_index=edge_index)
    batch = next(iter(node_loader(data, torch.tensor([3, 0, 4]), [2, 2], batch_size=3, shuffle=False)))
    assert batch.n_id.tolist() == [3, 0, 4, 1, 2] and batch.num_sampled_nodes == [3, 2, 0]
    assert batch.num_sampled_edges == [2, 0]
    empty = Data(x=torch.randn(4, 2), edge_index=torch.empty(2, 0, dtype=torch.long))
    for batch in node_loader(empty, None, [5, -1], batch_size=3, shuffle=False):
        assert torch.equal(batch.n_id, batch.n_id[: batch.batch_size])
        assert batch.n_id.dtype == torch.long and batch.edge_index.shape == (2, 0)
        assert batch.e_id.dtype == torch.long and batch.e_id.numel() == 0
        assert batch.num_sampled_nodes == [batch.batch_size, 0, 0]
    no_edge_index = UniformNeighborSampler(Data(x=torch.randn(3, 1)), [2])
    out = no_edge_index.sample_from_nodes(NodeSamplerInput(None, torch.tensor([2])))
    assert out.node.tolist() == [2] and out.row.numel() == 0


def test_neighbor_sampler_prefers_pyg_when_a_backend_is_there(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from torch_geometric.sampler import NeighborSampler

    data = random_graph()
    with caplog.at_level(logging.DEBUG, logger="autoglm.plugins.sampling"):
        assert isinstance(neighbor_sampler(data, [2, 2]), UniformNeighborSampler)
    assert "pure-PyTorch UniformNeighborSampler" in caplog.text
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SPARSE", True)
    with warnings.catch_warnings():  # PyG's deprecation note for an install without pyg-lib
        warnings.simplefilter("ignore")
        sampler = neighbor_sampler(data, (2, 2))
    assert isinstance(sampler, NeighborSampler) and sampler.num_neighbors.values == [2, 2]


def test_a_sampler_cache_builds_the_graph_structure_once_per_graph() -> None:
    from autoglm.plugins.sampling import SamplerCache, UniformNeighborSampler

    edge_index = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
    cache = SamplerCache(Data(edge_index=edge_index, num_nodes=4))
    some, every = cache.get([1]), cache.get([-1, -1])
    assert isinstance(some, UniformNeighborSampler) and cache.get([1]) is some
    assert every.colptr is some.colptr and (some.fanouts, every.fanouts) == ([1], [-1, -1])
    out = every.sample_from_nodes(NodeSamplerInput(None, torch.tensor([2])))
    assert sorted(out.node.tolist()) == [0, 1, 2, 3]  # two hops of every in-neighbour of node 2
