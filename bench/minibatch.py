"""Mini-batch against full-batch training on a generated graph too big to train whole comfortably.

Each mode runs in a fresh process, so its peak resident memory (``ru_maxrss``)
is its own: the graph (generated in that process with a fixed seed, no
download), the task's checks and split, and one training epoch of GraphSAGE
through autoglm's trainer (``batching: mini`` with neighbour sampling, or
``full``), followed by the trainer's per-epoch evaluation of the train and
validation nodes (layer-wise and chunked in mini-batch mode).

    python bench/minibatch.py                          # 2 M nodes, 20 M edges, both modes
    python bench/minibatch.py --modes mini --nodes 200000 --edges 2000000

Figures printed per mode: seconds to generate and to check/split the graph,
the epoch's wall time split into training and evaluation, sampled nodes per
second during training, and the peak RSS (GiB) with what the graph alone
held. A mode that dies (out of memory: the OS kills it) is reported as such.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def make_graph(nodes: int, edges: int, features: int, classes: int, seed: int) -> Any:
    """A random graph whose features carry the label (so training learns), split 10 % / 5 % / rest."""
    import torch
    from torch_geometric.data import Data

    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (nodes,), generator=generator)
    x = torch.randn(nodes, features, generator=generator)
    x[:, :classes] += 2.0 * torch.nn.functional.one_hot(y, classes)
    edge_index = torch.randint(nodes, (2, edges), generator=generator)
    order = torch.randperm(nodes, generator=generator)
    train, val = int(0.10 * nodes), int(0.05 * nodes)
    masks = {name: torch.zeros(nodes, dtype=torch.bool) for name in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][order[:train]] = True
    masks["val_mask"][order[train : train + val]] = True
    masks["test_mask"][order[train + val :]] = True
    return Data(x=x, edge_index=edge_index, y=y, **masks)


def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    """One mode, in this process: the figures as a dict."""
    import torch

    from autoglm.core import ComponentSpec, Engine

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    graph = make_graph(args.nodes, args.edges, args.features, args.classes, args.seed)
    generated, graph_rss = time.perf_counter() - started, rss_gib()
    engine = Engine(autoload=False)
    task = engine.build("tasks", ComponentSpec("node_classification"))
    started = time.perf_counter()
    data = task.prepare(graph, seed=0)
    prepared = time.perf_counter() - started
    options = {"device": "cpu", "max_epochs": 1, "patience": 1, "batching": args.mode,
               "batch_size": args.batch_size, "fanouts": args.fanouts}
    trainer = engine.build("trainers", ComponentSpec("cuda", options))
    torch.manual_seed(0)
    model = engine.component("models", "sage").factory(args.features, args.classes, hidden=args.hidden, layers=len(args.fanouts))

    sampled = {"nodes": 0, "seconds": 0.0, "batches": 0}
    real_batches = task.batches

    def counted(view: Any) -> Any:  # time the training batches apart from the evaluation
        began = time.perf_counter()
        for batch in real_batches(view):
            sampled["nodes"] += int(getattr(batch, "num_nodes", 0) or 0)
            sampled["batches"] += 1
            yield batch
        sampled["seconds"] = time.perf_counter() - began

    task.batches = counted
    started = time.perf_counter()
    result = trainer.fit(model, data, {"lr": 0.01, "weight_decay": 0.0}, task=task)
    epoch = time.perf_counter() - started
    return {
        "mode": args.mode, "nodes": args.nodes, "edges": args.edges, "features": args.features,
        "generate_s": round(generated, 2), "prepare_s": round(prepared, 2), "epoch_s": round(epoch, 2),
        "train_s": round(sampled["seconds"], 2), "evaluate_s": round(epoch - sampled["seconds"], 2),
        "batches": sampled["batches"],
        "sampled_nodes_per_s": round(sampled["nodes"] / sampled["seconds"]) if sampled["seconds"] and args.mode == "mini" else None,
        "val_acc": round(float(result.val_score), 4), "graph_rss_gib": round(graph_rss, 2), "peak_rss_gib": round(rss_gib(), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=20_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--fanouts", type=int, nargs="+", default=[15, 10])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", default=["mini", "full"], choices=["mini", "full"])
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # set in the child process
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    for mode in args.modes:
        command = [sys.executable, __file__, *sys.argv[1:], "--mode", mode]
        started = time.perf_counter()
        child = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if child.returncode != 0:
            tail = child.stderr.strip().splitlines()[-1:] or [""]
            print(f"{mode}: failed after {wall:.0f}s (exit {child.returncode}; {tail[0]}); "
                  f"peak RSS unknown{' (killed: out of memory?)' if child.returncode < 0 else ''}")
            continue
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{mode}: " + ", ".join(f"{k}={v}" for k, v in figures.items() if k != "mode") + f", process_wall_s={wall:.1f}")


if __name__ == "__main__":
    main()
