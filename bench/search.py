"""The default Cora search, end to end, over several search seeds: how good and how fast it is.

What a user gets from ``autoglm run examples/cora.yaml`` is one number from one
search seed, and that number moves with the seed (which trials the tuner
proposes, which ones the pruner stops, how the selected model's weights start).
This runs the shipped config (``examples/cora.yaml``, Planetoid public split)
once per search seed through the public API (``Engine().run``), each into a
fresh temporary run directory, and prints per seed: wall time, trials run and
how many of them the pruner stopped, trials per minute, the selected model and
its parameters, its validation accuracy and its test accuracy, read from the
run's ``summary.json`` (``test.accuracy``, with ``test.accuracy_std`` when the
run reports one: robust selection retrained the selected configuration with
several seeds, and the figure is the mean over them). Then the aggregate over
seeds (mean +- std test accuracy, mean and max wall time) and PASS/FAIL against
the targets (issue 15): mean test accuracy >= 0.850 over 5 search seeds, and every search
<= 600 s of wall time (the targets are for 2 CPU cores).

Judge search-space changes by the mean over several seeds, never by one seed:
on Cora's 1000 test nodes one search's test accuracy moves by about a point
from seed to seed. Check that the validation figures move the same way, so a
change is not chosen on test data alone. Wall times are only comparable within
one invocation on an otherwise idle machine; with another torch process on the
same 2 cores, run with ``OMP_NUM_THREADS=1`` (two processes of 2 threads each
on 2 cores slowed one search ~20x here).

    python bench/search.py --root ../shared/data/planetoid                   # seeds 0 1 2 3 4
    python bench/search.py --seeds 0 1 2 --set tuner.options.budget=30       # overrides as for autoglm run --set
    python bench/search.py --budget 40 --show-trials                         # the console reporter's lines too
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "examples" / "cora.yaml"
TARGET_TEST = 0.850  # mean test accuracy over the search seeds
TARGET_WALL_S = 600.0  # each search, on 2 CPU cores


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def one_search(config: Path, overrides: list[str], seed: int, out: Path, show_trials: bool) -> dict[str, Any]:
    """Run one search with ``seed`` into ``out``; returns what the tables print, read from summary.json."""
    from autoglm.core import Engine

    start = time.perf_counter()
    sink = contextlib.nullcontext() if show_trials else contextlib.redirect_stdout(io.StringIO())
    with sink:
        Engine(autoload=False).run(config, overrides=[*overrides, f"seed={seed}"], output=out)
    wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    trials, best, test = summary["trials"], summary["best"], summary["test"]
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text(encoding="utf-8").splitlines()]
    trained: dict[str, int] = {}
    for record in records:
        if record.get("duplicate_of") is None:
            trained[record["model"]] = trained.get(record["model"], 0) + 1
    return {
        "seed": seed,
        "wall_s": wall,
        "trials": int(trials["total"]),
        "pruned": int(trials.get("pruned", 0)),
        "failed": int(trials.get("failed", 0)),
        "repeated": int(trials.get("repeated", 0)),
        "trained": trained,  # model -> trials trained (repeats are recorded, not trained)
        "stopped_by": (summary.get("time_budget") or {}).get("stopped_by"),
        "model": best["model"],
        "params": {**best["model_params"], **best["train_params"]},
        "val": float(best["val_score"]),
        "val_mean": None if best.get("val_mean") is None else float(best["val_mean"]),
        "test": float(test["score"]),
        "test_std": None if test.get("score_std") is None else float(test["score_std"]),
        # selection.ensemble set: the ensemble's scores beside the single best's
        "ensemble": (summary.get("selection") or {}).get("ensemble_result"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "planetoid",
                        help="folder holding Cora/raw/ind.cora.*")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="search seeds (default 0 1 2 3 4)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as autoglm run --set (repeatable)")
    parser.add_argument("--budget", type=int, default=None, help="trials per search (default: the config's)")
    parser.add_argument("--config", type=Path, default=CONFIG, help="the search config (default examples/cora.yaml)")
    parser.add_argument("--show-trials", action="store_true", help="let the config's console reporter print")
    args = parser.parse_args()

    overrides = [f"data.options.root={args.root}", *args.overrides]
    if args.budget is not None:
        overrides.append(f"tuner.options.budget={args.budget}")
    print(f"config {args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config}; "
          f"overrides: {' '.join(overrides)}")

    # Imports first, so the first seed's wall time is its search's, like the others'.
    import nevergrad  # noqa: F401
    import torch_geometric  # noqa: F401

    rows = []
    with tempfile.TemporaryDirectory(prefix="autoglm-bench-") as tmp:
        for seed in args.seeds:
            row = one_search(args.config, overrides, seed, Path(tmp) / f"seed{seed}", args.show_trials)
            rows.append(row)
            test = f"{row['test']:.4f}" + (f" +- {row['test_std']:.4f}" if row["test_std"] is not None else "")
            val = f"{row['val']:.4f}" + (f" (mean over seeds {row['val_mean']:.4f})" if row["val_mean"] is not None else "")
            failed = f", {row['failed']} failed" if row["failed"] else ""
            failed += f", {row['repeated']} repeated" if row["repeated"] else ""
            failed += ", stopped by time" if row["stopped_by"] == "time" else ""
            print(
                f"seed {seed}: {row['wall_s']:6.1f}s  {row['trials']} trials ({row['pruned']} pruned{failed}), "
                f"{60 * row['trials'] / row['wall_s']:5.1f} trials/min  best {row['model']} "
                f"[{format_params(row['params'])}]  val {val}  test {test}",
                flush=True,
            )
            print("        trained: " + ", ".join(f"{m} {n}" for m, n in sorted(row["trained"].items())), flush=True)
            if row["ensemble"]:
                ens = row["ensemble"]
                print(f"        ensemble of {len(ens['members'])} ({ens['weights']}): val {ens['val_score']:.4f}, "
                      f"test {ens['test_score']:.4f}", flush=True)

    ensembles = [r["ensemble"] for r in rows if r["ensemble"]]
    if ensembles:
        ens_mean, ens_std = mean_std([float(e["test_score"]) for e in ensembles])
        print(f"ensembles over {len(ensembles)} search seed(s): test {ens_mean:.4f} +- {ens_std:.4f} "
              f"(the single best's below; the targets are judged on what the run reports first, the single best)")
    test_mean, test_std = mean_std([r["test"] for r in rows])
    val_mean, val_std = mean_std([r["val"] for r in rows])
    reseeded = [r["val_mean"] for r in rows if r["val_mean"] is not None]
    val_reseeded = f" (mean over reseeds {statistics.fmean(reseeded):.4f})" if len(reseeded) == len(rows) else ""
    walls = [r["wall_s"] for r in rows]
    pass_test, pass_wall = test_mean >= TARGET_TEST, max(walls) <= TARGET_WALL_S
    print(
        f"over {len(rows)} search seed(s): test {test_mean:.4f} +- {test_std:.4f} (std over seeds), "
        f"val {val_mean:.4f} +- {val_std:.4f}{val_reseeded}; wall mean {statistics.fmean(walls):.1f}s, max {max(walls):.1f}s; "
        f"pruned {sum(r['pruned'] for r in rows)} of {sum(r['trials'] for r in rows)} trials"
    )
    print(
        f"targets: mean test >= {TARGET_TEST} {'PASS' if pass_test else 'FAIL'}; "
        f"each search <= {TARGET_WALL_S:.0f}s {'PASS' if pass_wall else 'FAIL'}"
        + ("" if len(rows) >= 5 else f" (the test target is for 5 search seeds; this ran {len(rows)})")
    )


if __name__ == "__main__":
    main()
