"""How fast the pure-PyTorch neighbour sampler is, on a random graph made with torch (nothing downloaded).

    python bench/sampler.py                                    # 2M nodes, 20M edges, fan-outs 15 10
    python bench/sampler.py --nodes 200000 --edges 2000000 --threads 2

Times building :class:`UniformNeighborSampler` (the CSC), then ``--batches``
batches of random seed nodes through ``sample_from_nodes`` directly and through
``node_loader`` (which also gathers a 64-dim float ``x`` and the edge ids), and
PyG's own ``NeighborSampler`` the same way when pyg-lib or torch-sparse is
installed. Sampled nodes per second counts ``node.numel()`` summed over batches.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Any, Iterable

import torch
import torch_geometric.typing
from torch_geometric.data import Data
from torch_geometric.sampler import BaseSampler, NodeSamplerInput

from autoglm.plugins.sampling import UniformNeighborSampler, node_loader


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def report(what: str, batches: int, timed: tuple[float, int, int]) -> None:
    seconds, nodes, edges = timed
    print(f"{what:<34} {seconds:8.3f}s  {nodes / seconds / 1e6:7.3f} M sampled nodes/s  "
          f"{batches / seconds:7.2f} batches/s  {edges / seconds / 1e6:7.3f} M edges/s  "
          f"({nodes / batches:,.0f} nodes, {edges / batches:,.0f} edges per batch)")


def time_sampler(sampler: BaseSampler, seeds: list[torch.Tensor]) -> tuple[float, int, int]:
    sampler.sample_from_nodes(NodeSamplerInput(None, seeds[0]))  # warm-up
    nodes = edges = 0
    start = time.perf_counter()
    for seed in seeds:
        out = sampler.sample_from_nodes(NodeSamplerInput(torch.arange(seed.numel()), seed))
        nodes += out.node.numel()
        edges += out.row.numel()
    return time.perf_counter() - start, nodes, edges


def time_loader(loader: Iterable[Any], batches: int) -> tuple[float, int, int]:
    nodes = edges = 0
    start = time.perf_counter()
    for done, batch in enumerate(loader, 1):
        nodes += batch.n_id.numel()
        edges += batch.edge_index.size(1)
        assert batch.x.shape == (batch.n_id.numel(), 64)
        if done == batches:
            break
    return time.perf_counter() - start, nodes, edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=20_000_000)
    parser.add_argument("--fanouts", type=int, nargs="+", default=[15, 10])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"graph: {args.nodes:,} nodes, {args.edges:,} edges; fan-outs {args.fanouts}; batch size {args.batch_size}; "
          f"{args.batches} batches; {args.threads} thread(s); torch {torch.__version__}")
    start = time.perf_counter()
    edge_index = torch.randint(0, args.nodes, (2, args.edges))
    x = torch.randn(args.nodes, 64)
    data = Data(x=x, edge_index=edge_index, num_nodes=args.nodes)
    print(f"graph generated in {time.perf_counter() - start:.3f}s; peak RSS {peak_rss_mib():,.0f} MiB")

    start = time.perf_counter()
    sampler = UniformNeighborSampler(data, args.fanouts)
    print(f"UniformNeighborSampler built in {time.perf_counter() - start:.3f}s; peak RSS {peak_rss_mib():,.0f} MiB")

    seeds = [torch.randint(0, args.nodes, (args.batch_size,)) for _ in range(args.batches)]
    report("UniformNeighborSampler (direct)", args.batches, time_sampler(sampler, seeds))
    del sampler  # node_loader builds its own: one CSC at a time keeps the peak RSS honest
    perm = torch.randperm(args.nodes)[: args.batch_size * args.batches]
    loader = node_loader(data, perm, args.fanouts, batch_size=args.batch_size, shuffle=False)
    report("node_loader (with features)", args.batches, time_loader(loader, args.batches))

    if torch_geometric.typing.WITH_PYG_LIB or torch_geometric.typing.WITH_TORCH_SPARSE:
        from torch_geometric.loader import NodeLoader
        from torch_geometric.sampler import NeighborSampler

        start = time.perf_counter()
        pyg = NeighborSampler(data, num_neighbors=list(args.fanouts))
        print(f"PyG NeighborSampler built in {time.perf_counter() - start:.3f}s")
        report("PyG NeighborSampler (direct)", args.batches, time_sampler(pyg, seeds))
        loader = NodeLoader(data, pyg, input_nodes=perm, batch_size=args.batch_size)
        report("PyG NodeLoader (with features)", args.batches, time_loader(loader, args.batches))
    else:
        print("PyG NeighborSampler: not available (neither pyg-lib nor torch-sparse is installed)")
    print(f"peak RSS {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
