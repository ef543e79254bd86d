"""The built-in GCNII trained by the GCNII paper's own loop, beside the same trial run by autoglm's trainer.

Chen et al. (2020) report 85.4 (32 layers) and 85.5 (64 layers) on Cora's public split. Their loop
(chennnM/GCNII, train.py) keeps the epoch with the lowest validation *loss* and stops after 100
epochs without a lower one; autoglm's trainer keeps the best validation accuracy (lowest loss among
equals). This benchmark trains the same module (``autoglm.plugins_builtin.gcnii``, the paper's
setting: hidden 64, alpha 0.1, lambda 0.5, dropout 0.6, lr 0.01, weight decay 0.01 on the
convolutions and 5e-4 on the linear maps, 1500 epochs, patience 100, row-normalised features) both
ways, one seed at a time, so a gap between autoglm and the paper can be put on the loop or not.

    python bench/gcnii_paper_loop.py --seeds 0 1 2 --layers 32
    python bench/gcnii_paper_loop.py --loop paper          # only the paper's loop
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from autoglm.core import Engine
from throughput import load_cora  # bench/ is on sys.path when this script runs: Cora, row-normalised

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"
PAPER = {"hidden": 64, "alpha": 0.1, "theta": 0.5, "dropout": 0.6, "conv_weight_decay": 0.01}


def paper_loop(data: Any, seed: int, layers: int, epochs: int, patience: int) -> dict[str, Any]:
    """train.py of chennnM/GCNII: Adam with the two decay rates, the checkpoint of the lowest validation loss."""
    from autoglm.plugins_builtin.gcnii import build_gcnii

    torch.manual_seed(seed)
    model = build_gcnii(data.num_features, int(data.y.max()) + 1, layers=layers, **PAPER)
    optimizer = torch.optim.Adam(model.parameter_groups(5e-4), lr=0.01)
    best_loss, best_state, best_epoch, bad = float("inf"), None, 0, 0
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            loss = F.cross_entropy(model(data.x, data.edge_index)[data.val_mask], data.y[data.val_mask]).item()
        if loss < best_loss:
            best_loss, best_epoch, bad = loss, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad == patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(-1)
    acc = {split: float((pred[mask] == data.y[mask]).float().mean()) for split, mask in
           (("val", data.val_mask), ("test", data.test_mask))}
    return {**acc, "epoch": best_epoch, "wall_s": time.perf_counter() - start}


def autoglm_trial(root: Path, seed: int, layers: int, epochs: int, patience: int, stop_on: str) -> dict[str, Any]:
    """The same configuration as one autoglm trial (no search, no selection)."""
    config = {
        "task": "node_classification", "seed": seed, "reporters": [], "selection": False, "pruning": False,
        "data": {"name": "planetoid", "options": {"dataset": "Cora", "root": str(root)}},
        "search": {"models": ["gcnii"], "task_space": {"preprocess": "row"},
                   "space": {"gcnii": {"layers": layers, **PAPER}},
                   "training_space": {"lr": 0.01, "weight_decay": 5e-4}},
        "tuner": {"name": "random", "options": {"budget": 1}},
        "trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": epochs, "patience": patience,
                                                 "stop_on": stop_on}},
        "executor": "inline",
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        result = Engine(autoload=False).run(config, output=Path(out) / "run")
    trial = result.best
    return {"val": trial.val_score, "test": result.test_score, "epoch": trial.best_epoch, "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=SHARED)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--patience", type=int, default=100)
    parser.add_argument("--loop", nargs="+", choices=["paper", "objective", "val_loss"], default=["paper", "objective"],
                        help="paper: the paper's loop; objective / val_loss: an autoglm trial with that stop_on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_cora(args.root) if "paper" in args.loop else None
    for loop in args.loop:
        rows = []
        for seed in args.seeds:
            row = (paper_loop(data, seed, args.layers, args.epochs, args.patience) if loop == "paper"
                   else autoglm_trial(args.root, seed, args.layers, args.epochs, args.patience, loop))
            rows.append(row)
            print(f"{loop:<10} seed {seed}: val {row['val']:.4f} test {row['test']:.4f} "
                  f"(epoch {row['epoch']}, {row['wall_s']:.0f} s)", flush=True)
        tests = [r["test"] for r in rows]
        spread = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(f"{loop:<10} {args.layers} layers, seeds {args.seeds}: test {statistics.fmean(tests):.4f} ± {spread:.4f}, "
              f"val {statistics.fmean(r['val'] for r in rows):.4f}", flush=True)


if __name__ == "__main__":
    main()
