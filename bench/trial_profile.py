"""Where the time of one trial goes: per-epoch forward / backward / eval on Cora.

Builds the models and the trainer through autoglm's engine exactly as a run
does (the ``planetoid`` loader, the ``gcn``/``gat`` factories, the ``cuda``
trainer on the CPU) and trains each for a fixed number of epochs (patience =
epochs, so no early stop). Forward hooks on the model and the trainer's epoch
callback split every epoch into

- ``fwd``:  the training forward pass,
- ``bwd``:  loss, backward and the optimizer step,
- ``eval``: the evaluation forward pass, metrics and best-weights bookkeeping,

and the script prints medians over epochs (the first epoch is left out: it
holds one-off work such as GCN's cached normalisation), the wall time of the
whole trial (model build + ``fit``), and the validation/test accuracy of the
best epoch. ``--profile`` adds torch.profiler's top-ops table for a short fit.

``--compare`` also trains ``dense``: the models as they were before input
dropout went sparse (a plain PyG stack with ``F.dropout`` on the dense
features, same parameters and initialisation), through the same trainer,
alternating with the engine's models so that load on a shared machine hits
both alike; the ratio line compares medians. ``cpu s`` is the process CPU
time of the trial, steadier than wall time when other jobs share the cores.

    python bench/trial_profile.py --root ../shared/data/planetoid
    python bench/trial_profile.py --compare --seeds 0 1 2 3 4
    python bench/trial_profile.py --profile --profile-epochs 20
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from autoglm.core import ComponentSpec, Engine
from autoglm.core.runner import trial_seed
from autoglm.plugins.testing import fit_graph
from reference_models import DENSE  # bench/ is on sys.path when this script runs

#: The paper settings of the two built-in models.
MODELS: dict[str, dict[str, Any]] = {
    "gcn": {"hidden": 16, "layers": 2, "dropout": 0.5},
    "gat": {"hidden": 8, "heads": 8, "layers": 2, "dropout": 0.6},
}
TRAIN = {"lr": 0.01, "weight_decay": 5e-4}
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"




class EpochClock:
    """Timestamps from forward hooks and the epoch callback, turned into per-epoch phases."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.marks: dict[str, float] = {}
        self.rows: list[tuple[float, float, float, float]] = []
        self.last_end: float | None = None
        model.register_forward_pre_hook(self._pre)
        model.register_forward_hook(self._post)

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        self.marks["train_start" if module.training else "eval_start"] = time.perf_counter()

    def _post(self, module: torch.nn.Module, args: Any, out: Any) -> None:
        if module.training:
            self.marks["train_end"] = time.perf_counter()

    def on_epoch(self, epoch: int, metrics: Any) -> None:
        now = time.perf_counter()
        m = self.marks
        start = self.last_end if self.last_end is not None else m["train_start"]
        self.rows.append(
            (m["train_end"] - m["train_start"], m["eval_start"] - m["train_end"], now - m["eval_start"], now - start)
        )
        self.last_end = now

    def medians_ms(self) -> tuple[float, ...]:
        rows = self.rows[1:] or self.rows
        return tuple(1e3 * statistics.median(col) for col in zip(*rows))


def one_trial(engine: Engine, data: Any, model_name: str, epochs: int, seed: int, dense: bool = False) -> dict[str, Any]:
    num_classes = int(data.y.max()) + 1
    trainer = engine.build("trainers", ComponentSpec("cuda", {"device": "cpu", "max_epochs": epochs, "patience": epochs}))
    factory = DENSE[model_name] if dense else engine.component("models", model_name).factory
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = factory(data.num_features, num_classes, **MODELS[model_name])
    clock = EpochClock(model)
    fit = fit_graph(trainer, model, data, dict(TRAIN), clock.on_epoch)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    pred = trainer.predict(model, data).argmax(-1)
    acc = {split: float((pred[mask] == data.y[mask]).float().mean()) for split, mask in
           (("val", data.val_mask), ("test", data.test_mask))}
    fwd, bwd, ev, epoch = clock.medians_ms()
    return {"fwd": fwd, "bwd": bwd, "eval": ev, "epoch": epoch, "wall": wall, "cpu": cpu, "best_epoch": fit.best_epoch, **acc}


def profile(engine: Engine, data: Any, model_name: str, epochs: int, rows: int, dense: bool = False) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    trainer = engine.build("trainers", ComponentSpec("cuda", {"device": "cpu", "max_epochs": epochs, "patience": epochs}))
    num_classes = int(data.y.max()) + 1
    factory = DENSE[model_name] if dense else engine.component("models", model_name).factory
    torch.manual_seed(0)
    fit_graph(trainer, factory(data.num_features, num_classes, **MODELS[model_name]), data, dict(TRAIN))  # warm-up
    torch.manual_seed(0)
    model = factory(data.num_features, num_classes, **MODELS[model_name])
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fit_graph(trainer, model, data, dict(TRAIN))
    label = f"{model_name} ({'dense' if dense else 'engine'})"
    print(f"\n== torch.profiler: {label}, {epochs} epochs, top {rows} ops by self CPU time ==")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


COLUMNS = ("fwd", "bwd", "eval", "epoch", "wall", "cpu")


def row(label: str, seed: str, r: dict[str, Any]) -> str:
    best = f"{r['best_epoch']:7d}" if "best_epoch" in r else " " * 7
    return (f"{label:9} {seed:>4} {r['fwd']:7.2f} {r['bwd']:7.2f} {r['eval']:7.2f} {r['epoch']:8.2f} "
            f"{r['wall']:7.2f} {r['cpu']:6.2f} {best} {r['val']:6.3f} {r['test']:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder holding Cora/raw/")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="run seeds (trial 1's seed of each)")
    parser.add_argument("--compare", action="store_true", help="also train the dense-dropout models, interleaved")
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's top ops")
    parser.add_argument("--profile-epochs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    engine = Engine(autoload=False)
    loader = engine.build("data_loaders", ComponentSpec("planetoid", {"dataset": "Cora", "root": str(args.root)}))
    data = loader.load()
    nnz = int((data.x != 0).sum())
    print(f"Cora: {data.num_nodes} nodes, {data.num_features} features ({nnz} non-zero, "
          f"{100 * nnz / data.x.numel():.2f}%), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.epochs} epochs; per-epoch columns are medians over epochs 2..N")
    print(f"{'model':9} {'seed':>4} {'fwd ms':>7} {'bwd ms':>7} {'eval ms':>7} {'epoch ms':>8} "
          f"{'trial s':>7} {'cpu s':>6} {'best ep':>7} {'val':>6} {'test':>6}")
    variants = [False, True] if args.compare else [False]
    for name in args.models:
        results: dict[bool, list[dict[str, Any]]] = {v: [] for v in variants}
        for seed in args.seeds:
            for dense in (variants if seed % 2 == 0 else variants[::-1]):
                r = one_trial(engine, data, name, args.epochs, trial_seed(seed, 1), dense=dense)
                results[dense].append(r)
                print(row(f"{name}-{'dense' if dense else 'new'}" if args.compare else name, str(seed), r), flush=True)
        means = {}
        for dense, rs in results.items():
            label = f"{name}-{'dense' if dense else 'new'}" if args.compare else name
            means[dense] = {k: statistics.median(r[k] for r in rs) for k in COLUMNS}
            means[dense].update({k: statistics.fmean(r[k] for r in rs) for k in ("val", "test")})
            if len(rs) > 1:
                sd = {k: statistics.stdev(r[k] for r in rs) for k in ("val", "test")}
                print(row(label, "all", means[dense]) + f"  (times: median over seeds; accuracy: mean, "
                      f"sd val {sd['val']:.3f} test {sd['test']:.3f})")
        if args.compare:
            ratio = "  ".join(f"{k} {means[True][k] / means[False][k]:.1f}x" for k in COLUMNS)
            print(f"{name}: dense / new  {ratio}")
    if args.profile:
        for name in args.models:
            for dense in variants:
                profile(engine, data, name, args.profile_epochs, args.rows, dense=dense)


if __name__ == "__main__":
    main()
