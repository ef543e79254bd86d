"""The default search of each task on its benchmark, with the figures the task issue set as targets.

Each run is a plain ``Engine().run`` of a config that names only the task and
the data (everything else is autoglm's default: every built-in model, the
nevergrad tuner with its default budget of 20 trials, pruning and robust
selection), so the figures are what a user gets without tuning anything:

- node classification, Cora (public split): test accuracy;
- link prediction, Cora (85/5/10 edge split, message passing on training
  edges only): test ROC AUC; target >= 0.92 (GAE reports 0.910);
- graph classification, MUTAG and PROTEINS: mean accuracy of the selected
  configuration under stratified 10-fold cross-validation; targets >= 0.89
  and >= 0.76 (GIN paper: 89.4 and 76.2).

Every search should take at most 10 minutes on 2 CPU cores.

    python bench/tasks.py                          # all four, search seed 0
    python bench/tasks.py --only link_prediction --seeds 0 1 2
    python bench/tasks.py --planetoid ../shared/data/planetoid --tu ../shared/data/TU
    python bench/tasks.py --only PROTEINS --set workers=2        # any config override, as with autoglm run --set
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

from autoglm.core import Engine

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGETS = {"node_classification": None, "link_prediction": 0.92, "MUTAG": 0.89, "PROTEINS": 0.76}


def configs(planetoid: Path, tu: Path) -> dict[str, dict[str, Any]]:
    cora = {"name": "planetoid", "options": {"dataset": "Cora", "root": str(planetoid)}}
    graph = {"name": "graph_classification", "options": {"folds": 10}}
    return {
        "node_classification": {"task": "node_classification", "data": cora},
        "link_prediction": {"task": "link_prediction", "data": cora},
        "MUTAG": {"task": graph, "data": {"name": "tu", "options": {"name": "MUTAG", "root": str(tu)}}},
        "PROTEINS": {"task": graph, "data": {"name": "tu", "options": {"name": "PROTEINS", "root": str(tu)}}},
    }


def run(config: dict[str, Any], seed: int, out: Path, overrides: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = Engine(autoload=False).run({**config, "seed": seed, "reporters": []}, overrides=overrides, output=out)
    cv = result.cross_validation or {}
    return {
        "seed": seed, "wall_s": time.perf_counter() - start, "metric": result.metric, "model": result.best.model,
        "test": result.test_score, "test_std": result.test_std, "cv": cv.get("mean"), "cv_std": cv.get("std"),
        "ensemble": (result.summary.selection or {}).get("ensemble_result"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--planetoid", type=Path, default=SHARED / "planetoid")
    parser.add_argument("--tu", type=Path, default=SHARED / "TU")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every search (repeatable)")
    args = parser.parse_args()
    print(f"{'benchmark':<20} {'seed':>4} {'metric':>6} {'model':>6} {'test':>15} {'10-fold CV':>15} {'wall s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only:
            rows = [
                run(configs(args.planetoid, args.tu)[name], seed, Path(tmp) / f"{name}-{seed}", args.overrides)
                for seed in args.seeds
            ]
            for row in rows:
                cv = f"{row['cv']:.4f}±{row['cv_std']:.4f}" if row["cv"] is not None else "-"
                print(f"{name:<20} {row['seed']:>4} {row['metric']:>6} {row['model']:>6} "
                      f"{row['test']:.4f}±{row['test_std']:.4f} {cv:>15} {row['wall_s']:7.0f}")
                if row["ensemble"]:  # selection.ensemble set: the ensemble's test score beside the single best's
                    ens = row["ensemble"]
                    print(f"{'':<20} ensemble of {len(ens['members'])} ({ens['weights']}): val {ens['val_score']:.4f}, "
                          f"test {ens['test_score']:.4f} (single best: {ens['single_best_test_score']:.4f})")
            headline = [row["cv"] if row["cv"] is not None else row["test"] for row in rows]
            mean = statistics.fmean(headline)
            target = TARGETS[name]
            verdict = "" if target is None else f"; target >= {target}: {'met' if mean >= target else 'NOT met'}"
            slowest = max(row["wall_s"] for row in rows)
            print(f"{name:<20} mean {mean:.4f} over {len(rows)} seed(s){verdict}; slowest search {slowest:.0f} s "
                  f"(<= 600 s: {'yes' if slowest <= 600 else 'NO'})")


if __name__ == "__main__":
    main()
