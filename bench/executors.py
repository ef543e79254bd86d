"""Executors compared: fork against ray on one machine, and a simulated large Ray cluster.

Part 1 (``--part search``): the same 16-trial search on Cora (``workers: 2``,
selection off, everything else default) with ``executor: fork`` and
``executor: ray`` (a local two-CPU cluster, started before the timing, as a
cluster would be); prints both wall times, their ratio and whether the
records are identical (durations aside).

Part 2 (``--part cluster``): many Ray workers on trials that cost a fixed time
(``--trial-seconds``; the trainer sleeps, so 2 cores can host dozens of
workers). With W workers and T seconds a trial, perfect scaling runs
``trials`` trials in ``trials / W * T`` seconds; the difference, per trial, is
what the driver and Ray add. Each W runs two budgets (``trials`` and twice
that): their difference is the cost of one more trial beyond its own time
(ask, tell, the record, Ray's scheduling and result transfer, and the wait for
a round's slowest trial), apart from the run's fixed costs (config, data, the
final test, the run directory). Printed per W: wall time, throughput
(trials/s), the ideal, the efficiency, the fixed cost, the marginal cost per
trial and the throughput that cost alone allows (``1 / marginal``): the
driver is the bottleneck once W / T approaches it.

    python bench/executors.py --root ../shared/data/planetoid
    python bench/executors.py --part cluster --workers 1 2 4 8 16 32 --trials 128
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from autoglm.plugins import hookimpl

REPO = Path(__file__).resolve().parents[1]


class SleepTrainer:
    """A trainer whose every trial takes ``seconds`` and scores by its learning rate (no training)."""

    max_epochs = 1

    def __init__(self, *, seconds: float = 0.5) -> None:
        self.seconds = seconds

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> Any:
        from autoglm.plugins import FitResult

        time.sleep(self.seconds)
        score = 1.0 / (1.0 + abs(float(hparams.get("lr", 0.01)) - 0.01))
        return FitResult(val_score=score, best_epoch=1, epochs=1, state_dict=model.state_dict(), train_score=None)

    def evaluate(self, model: Any, data: Any, run: Any) -> Any:
        import torch

        model.eval()
        with torch.no_grad():
            return run(model, data)


class SleepPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register: Any) -> None:
        register("sleep", SleepTrainer, search_space={"lr": 0.01})


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in json.loads(line).items() if k != "duration_s"}
            for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def start_ray(cpus: int, temp: Path) -> Any:
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, _temp_dir=str(temp))
    print(f"ray.init(num_cpus={cpus}): {time.perf_counter() - started:.1f}s")
    return ray


def part_search(args: argparse.Namespace, temp: Path) -> None:
    from autoglm.core import Engine

    engine = Engine(autoload=False)
    base = {
        "seed": 0, "task": "node_classification",
        "data": {"name": "planetoid", "options": {"root": str(Path(args.root).absolute()), "dataset": "Cora"}},
        "tuner": {"name": "nevergrad", "options": {"budget": args.budget}}, "trainer": {"name": "cuda", "options": {"device": "cpu"}},
        "reporters": [], "selection": False, "workers": 2,
    }
    ray = start_ray(2, temp / "ray")
    walls = {}
    for name in ("fork", "ray"):
        out = temp / name
        started = time.perf_counter()
        result = engine.run(base | {"executor": name, "output": str(out)})
        walls[name] = time.perf_counter() - started
        print(f"{name}: {walls[name]:.1f}s, best trial {result.best.trial} ({result.best.model}), test acc {result.test_score:.4f}")
    ray.shutdown()
    same = records(temp / "fork") == records(temp / "ray")
    print(f"ray / fork wall time: {walls['ray'] / walls['fork']:.3f}; records identical: {same}")


def part_cluster(args: argparse.Namespace, temp: Path) -> None:
    from autoglm.plugins import testing

    engine = testing.make_engine(SleepPlugin())
    ray = start_ray(max(args.workers), temp / "ray")

    def search(workers: int, trials: int, name: str) -> float:
        config = testing.tiny_config(temp / name, models=["gcn"], budget=trials, tuner="random", seed=0)
        config.update(trainer={"name": "sleep", "options": {"seconds": args.trial_seconds}}, workers=workers,
                      executor={"name": "ray"}, pruning=False)
        started = time.perf_counter()
        engine.run(config)
        return time.perf_counter() - started

    warm = search(max(args.workers), max(args.workers), "warm")  # every worker process imports torch and PyG once
    print(f"warm-up ({max(args.workers)} workers start, import torch and build the engine): {warm:.1f}s")
    print(f"{'workers':>7} {'wall_s':>8} {'trials/s':>9} {'ideal/s':>8} {'efficiency':>10} "
          f"{'per-run_s':>9} {'per-trial_ms':>12} {'driver_bound/s':>14}")
    for workers in args.workers:
        # Two budgets: the difference is what one more trial costs, without the run's fixed costs
        # (config, data, the final test, the run directory).
        wall = search(workers, args.trials, f"w{workers}")
        double = search(workers, 2 * args.trials, f"w{workers}x2")
        ideal = args.trials / workers * args.trial_seconds
        marginal = (double - wall) / args.trials - args.trial_seconds / workers  # beyond the trial's own time
        fixed = wall - args.trials * (args.trial_seconds / workers + marginal)
        bound = 1 / marginal if marginal > 0 else float("inf")
        print(f"{workers:>7} {wall:>8.2f} {args.trials / wall:>9.2f} {workers / args.trial_seconds:>8.2f} "
              f"{ideal / wall:>10.2f} {fixed:>9.2f} {marginal * 1000:>12.1f} {bound:>14.0f}")
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--part", choices=["search", "cluster", "both"], default="both")
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "planetoid"))
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--trials", type=int, default=128)
    parser.add_argument("--trial-seconds", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="autoglm-bench-") as name:
        temp = Path(name)
        if args.part in ("search", "both"):
            part_search(args, temp)
        if args.part in ("cluster", "both"):
            part_cluster(args, temp)


if __name__ == "__main__":
    main()
