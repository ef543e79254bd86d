"""What feature engineering buys: the default Cora search with and without the feature choices in its space,
and Cora's structure with its features dropped, where structural encodings are all there is to learn from.

    python bench/features.py                      # both, search seed 0
    python bench/features.py --only featureless --seeds 0 1

Each search is the default node-classification search (every built-in model,
nevergrad, 20 trials, pruning, robust selection) on Cora's public split; the
figure is the selected configuration's mean test accuracy over its seeds.
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

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"
FEATURES = {"preprocess": {"choice": ["raw", "row", "standard"]},
            "structural": {"choice": ["none", "degree", "pagerank", "rwpe", "lappe"]}}
STRUCTURE_ONLY = {"structural": {"choice": ["degree", "pagerank", "rwpe", "lappe"]}}


def cases(root: Path) -> dict[str, tuple[dict[str, Any], Any]]:
    import torch

    from autoglm.plugins_builtin.planetoid import PlanetoidLoader

    cora = {"name": "planetoid", "options": {"dataset": "Cora", "root": str(root)}}
    featureless = PlanetoidLoader(root=root).load()
    featureless.x = torch.ones(featureless.num_nodes, 1)
    return {
        "cora, features as loaded": ({"data": cora}, None),
        "cora, feature choices searched": ({"data": cora, "search": {"task_space": FEATURES}}, None),
        "featureless, no encoding": ({}, featureless),
        "featureless, structural searched": ({"search": {"task_space": STRUCTURE_ONLY}}, featureless),
    }


def run(config: dict[str, Any], data: Any, seed: int, out: Path) -> tuple[float, float, dict[str, Any], float]:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        result = Engine(autoload=False).run({**config, "seed": seed, "reporters": []}, output=out, data=data)
    return result.test_score, result.test_std, result.best.task_params, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=SHARED)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--only", choices=["cora", "featureless"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, data) in cases(args.root).items():
            if args.only and not name.startswith(args.only):
                continue
            scores = []
            for seed in args.seeds:
                test, std, chosen, wall = run(config, data, seed, Path(tmp) / f"{name}-{seed}".replace(" ", "_").replace(",", ""))
                scores.append(test)
                print(f"{name:<34} seed {seed}: test {test:.4f}±{std:.4f}  chosen {chosen}  {wall:.0f} s", flush=True)
            print(f"{name:<34} mean {statistics.fmean(scores):.4f} over {len(scores)} seed(s)", flush=True)


if __name__ == "__main__":
    main()
