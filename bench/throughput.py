"""Trials per minute for GCN on Cora: a hand-written PyG loop against autoglm's ways of running trials.

Every contender trains the same list of GCN configurations (drawn once from
autoglm's default GCN space with a fixed seed: hidden, dropout, lr, weight
decay) for the same number of epochs, evaluating on the validation split every
epoch and keeping the best epoch:

  (a) the loop a PyG user writes by hand, after PyG's ``examples/gcn.py``
      (``GCNConv(cached=True)``, dense ``F.dropout`` on the input, Adam), one
      configuration after another;
  (b) autoglm, sequential (``workers: 1``, ``population: 1``);
  (c) autoglm with ``workers: 2`` (processes, torch threads split between them);
  (d) autoglm population training (``population: P``: the configurations
      trained as batched models, one process);
  (e) both (``workers: 2``, ``population: P``).

autoglm's timings are whole ``Engine.run`` calls (config checks, data load,
the trials, the final test evaluation, the run directory), with pruning and
robust selection switched off so every side trains exactly the configurations
listed for exactly ``--epochs`` epochs. (a) loads the data once, outside its
timing. Accuracy: the mean validation accuracy of the configurations (best
epoch), and the test accuracy of the configuration with the best validation
accuracy, so a faster method that learned worse would show.

    python bench/throughput.py --root ../shared/data/planetoid --configs 16 --epochs 200
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from autoglm.core.runner import trial_seed
from autoglm.plugins import Candidate, hookimpl
from autoglm.plugins.testing import make_engine

REPO = Path(__file__).resolve().parents[1]
SEED = 0


def draw_configs(count: int, seed: int) -> list[dict[str, Any]]:
    """GCN configurations from the default space (gcn/__init__.py, cuda_trainer.py), log scales where it has them."""
    rng = random.Random(seed)

    def log_uniform(low: float, high: float) -> float:
        return math.exp(rng.uniform(math.log(low), math.log(high)))

    return [
        {
            "model_params": {"hidden": int(round(log_uniform(32, 256))), "layers": 2, "dropout": round(rng.uniform(0.5, 0.8), 3)},
            "train_params": {"lr": round(log_uniform(3e-3, 3e-2), 5), "weight_decay": round(log_uniform(1e-4, 1e-3), 6)},
        }
        for _ in range(count)
    ]


class ListTuner:
    """Proposes a fixed list of GCN configurations in order (what a third-party tuner plugin looks like)."""

    configs: list[dict[str, Any]] = []

    def __init__(self, *, budget: int = 1) -> None:
        self.budget, self._next = budget, 0

    def setup(self, space: Any, *, seed: int) -> None:
        pass

    def ask(self) -> Candidate | None:
        if self._next >= self.budget:
            return None
        config = self.configs[self._next]
        self._next += 1
        return Candidate("gcn", dict(config["model_params"]), dict(config["train_params"]))

    def tell(self, candidate: Candidate, score: float | None) -> None:
        pass


class ListTunerPlugin:
    @hookimpl
    def autoglm_register_tuners(self, register: Any) -> None:
        register("fixed-list", ListTuner, summary="the benchmark's fixed list of configurations")


def load_cora(root: Path) -> Any:
    from torch_geometric.io import read_planetoid_data

    data = read_planetoid_data(str(root / "Cora" / "raw"), "cora")
    data.x = data.x / data.x.sum(dim=-1, keepdim=True).clamp(min=1.0)  # NormalizeFeatures, as examples/gcn.py
    return data


def hand_written(data: Any, configs: list[dict[str, Any]], epochs: int) -> tuple[float, list[tuple[float, float]]]:
    """(a): PyG's examples/gcn.py loop per configuration; returns seconds and (val, test) per configuration."""
    from torch_geometric.nn import GCNConv

    class GCN(torch.nn.Module):
        def __init__(self, hidden: int, dropout: float) -> None:
            super().__init__()
            self.conv1 = GCNConv(data.num_features, hidden, cached=True)
            self.conv2 = GCNConv(hidden, int(data.y.max()) + 1, cached=True)
            self.dropout = dropout

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            x = F.dropout(x, p=self.dropout, training=self.training)
            x = F.relu(self.conv1(x, edge_index))
            x = F.dropout(x, p=self.dropout, training=self.training)
            return self.conv2(x, edge_index)

    scores = []
    start = time.perf_counter()
    for i, config in enumerate(configs, start=1):
        params, train = config["model_params"], config["train_params"]
        torch.manual_seed(trial_seed(SEED, i))
        model = GCN(params["hidden"], params["dropout"])
        optimizer = torch.optim.Adam(model.parameters(), lr=train["lr"], weight_decay=train["weight_decay"])
        best_val, best_loss, best_test = -1.0, float("inf"), 0.0
        for _ in range(epochs):
            model.train()
            optimizer.zero_grad()
            out = model(data.x, data.edge_index)
            F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                out = model(data.x, data.edge_index)
            pred = out.argmax(-1)
            val = float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())
            val_loss = float(F.cross_entropy(out[data.val_mask], data.y[data.val_mask]))
            if val > best_val or (val == best_val and val_loss < best_loss):
                best_val, best_loss = val, val_loss
                best_test = float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
        scores.append((best_val, best_test))
    return time.perf_counter() - start, scores


def with_autoglm(root: Path, configs: list[dict[str, Any]], epochs: int, out: Path, *, workers: int, population: int) -> tuple[float, list[float], float]:
    """(b)-(e): a whole Engine.run; returns seconds, validation accuracy per configuration, selected test accuracy."""
    ListTuner.configs = configs
    config = {
        "seed": SEED,
        "data": {"name": "planetoid", "options": {"dataset": "Cora", "root": str(root)}},
        "search": {"models": ["gcn"]},
        "tuner": {"name": "fixed-list", "options": {"budget": len(configs)}},
        "trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": epochs, "patience": epochs}},
        "reporters": [],
        "pruning": False,
        "selection": False,
        "workers": workers,
        "population": population,
    }
    engine = make_engine(ListTunerPlugin())
    start = time.perf_counter()
    result = engine.run(config, output=out, overwrite=True)
    seconds = time.perf_counter() - start
    return seconds, [r.val_score for r in sorted(result.trials, key=lambda r: r.trial)], result.test_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "planetoid")
    parser.add_argument("--configs", type=int, default=16, help="GCN configurations each side trains")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--population", type=int, default=8, help="members per batched model in (d) and (e)")
    parser.add_argument("--workers", type=int, default=2, help="processes in (c) and (e)")
    parser.add_argument("--only", default="abcde", help="which contenders to run, e.g. 'ad'")
    args = parser.parse_args()

    configs = draw_configs(args.configs, seed=1)
    data = load_cora(args.root)
    print(f"{args.configs} GCN configurations x {args.epochs} epochs on Cora; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads in this process")
    rows: list[tuple[str, float, float, float]] = []  # (label, seconds, mean val, selected test)
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: imports, the data loader and torch kernels, on both sides, outside the timings.
        hand_written(data, configs[:1], 2)
        with_autoglm(args.root, configs[:2], 2, Path(tmp) / "warm", workers=1, population=2)
        if "a" in args.only:
            seconds, scores = hand_written(data, configs, args.epochs)
            best = max(range(len(scores)), key=lambda i: (scores[i][0], -i))
            rows.append(("(a) hand-written PyG loop", seconds, statistics.mean(s[0] for s in scores), scores[best][1]))
        runs = [
            ("b", "(b) autoglm sequential", 1, 1),
            ("c", f"(c) autoglm workers={args.workers}", args.workers, 1),
            ("d", f"(d) autoglm population={args.population}", 1, args.population),
            ("e", f"(e) autoglm workers={args.workers} population={args.population}", args.workers, args.population),
        ]
        for key, label, workers, population in runs:
            if key in args.only:
                seconds, vals, test = with_autoglm(
                    args.root, configs, args.epochs, Path(tmp) / key, workers=workers, population=population
                )
                rows.append((label, seconds, statistics.mean(vals), test))
    base = rows[0][1] if rows and rows[0][0].startswith("(a)") else None
    print(f"{'contender':44s} {'wall s':>8s} {'trials/min':>11s} {'vs (a)':>7s} {'mean val':>9s} {'test of best':>13s}")
    for label, seconds, val, test in rows:
        ratio = f"{base / seconds:6.2f}x" if base else "   n/a"
        print(f"{label:44s} {seconds:8.2f} {60 * len(configs) / seconds:11.1f} {ratio:>7s} {val:9.4f} {test:13.4f}")


if __name__ == "__main__":
    main()
