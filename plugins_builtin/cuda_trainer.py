"""The trainer for CPU or CUDA: Adam over the task's batches, early stopping on the task's objective.

Named ``cuda`` because it is the one that uses a GPU when there is one; with
``device: auto`` it falls back to the CPU and says so in the log.

``batching: mini`` trains on sampled subgraphs instead of the whole graph
(neighbour sampling, :mod:`autoglm.plugins.sampling`), for graphs whose
full-batch activations do not fit in memory; ``batching: auto`` decides per
run from the graph's size and the memory free on the device, and logs why.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Annotated, Any, Callable, Literal, Mapping, Sequence

from autoglm.plugins import (
    Between, EpochCallback, FitResult, Float, SampledTask, Sampling, Task, TaskData, TrialError, WeightDecayGroups,
    hookimpl,
)

log = logging.getLogger(__name__)

#: The default training space, from the literature and measured on Cora (bench/search.py):
#: - lr: 3e-3..3e-2 (log) around GCN's 0.01 and GAT's 0.005 (Kipf & Welling; Velickovic et
#:   al.). Shchur et al. ("Pitfalls of GNN evaluation") search 1e-3..1e-2, but with the
#:   default 200 epochs (and the pruner's first rung at epoch 20) rates of 1e-3 to 2e-3 learn
#:   too slowly: on Cora they cost 1-2 points of test accuracy against 5e-3..1e-2.
#: - weight_decay: 1e-4..1e-3 (log) around the papers' 5e-4. Adam's weight_decay here applies
#:   to every layer (the papers decay the first layer only), so the upper end of Shchur et
#:   al.'s 1e-4..1e-1 breaks training: on Cora, 2e-3 already costs 0.5-2 points of test
#:   accuracy, 5e-3 drops GCN to ~0.6 and 1e-2 drops GAT to ~0.5.
SEARCH_SPACE = {
    "lr": Float(3e-3, 3e-2, log=True, domain=Between(0, 10, low_open=True)),
    "weight_decay": Float(1e-4, 1e-3, log=True, domain=Between(0, 1)),
}
#: Epoch counts past this are a typo, not a plan (a full-batch epoch on Cora takes ~10 ms).
Epochs = Annotated[int, Between(1, 1_000_000)]
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
BatchSize = Annotated[int, Between(1, 100_000_000)]
#: ``batching: auto`` trains mini-batch once full-batch training would take more than this share of the free memory.
AUTO_MEMORY_SHARE = 0.5
#: The widest hidden layer the default spaces search, for the full-batch memory estimate.
ESTIMATE_WIDTH = 256


def parameter_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Adam's parameter groups: those of every :class:`~autoglm.plugins.WeightDecayGroups` module in ``model``
    (a task's wrapper around the encoder included), then one group of the rest at the trial's ``weight_decay``."""
    groups: list[dict[str, Any]] = []
    claimed: set[int] = set()
    for module in model.modules():
        if isinstance(module, WeightDecayGroups):
            for group in module.parameter_groups(weight_decay):
                params = [p for p in group["params"] if id(p) not in claimed]
                claimed.update(id(p) for p in params)
                if params:
                    groups.append({**group, "params": params})
    rest = [p for p in model.parameters() if id(p) not in claimed]
    return groups + ([{"params": rest}] if rest or not groups else [])


def resolve_device(device: str) -> str:
    """Map ``auto|cpu|cuda[:N]`` to a concrete device; an impossible request is a ValueError."""
    import torch

    if not _DEVICE.match(device):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device == "auto":
        chosen = "cuda" if torch.cuda.is_available() else "cpu"
        log.info("device auto: using %s%s", chosen, f" ({torch.cuda.get_device_name(0)})" if chosen == "cuda" else "")
        return chosen
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but CUDA is not available on this machine; use device: auto or cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


class FullBatchTrainer:
    #: fit_population compacts the population once at most this fraction of its slots still train.
    compact_fraction = 0.5

    def __init__(
        self,
        *,
        device: str = "auto",
        max_epochs: Epochs = 200,
        patience: Epochs = 50,
        amp: bool = False,
        batching: Literal["full", "mini", "auto"] = "full",
        batch_size: BatchSize = 1024,
        fanouts: Sequence[int] = (15, 10),
        stop_on: Literal["objective", "val_loss"] = "objective",
    ) -> None:
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.device = resolve_device(device)
        if amp and not self.device.startswith("cuda"):
            if device != "auto":
                raise ValueError("amp (mixed precision) needs a CUDA device")
            log.info("amp requested but running on the CPU: training in float32")
            amp = False
        self.max_epochs, self.patience, self.amp = max_epochs, patience, amp
        if stop_on not in ("objective", "val_loss"):
            raise ValueError(f"stop_on must be objective or val_loss, got {stop_on!r}")
        #: What early stopping and the kept epoch follow: the objective (ties: lower validation loss), or the
        #: validation loss (ties: the better objective), as GCNII's and GCN's papers stop.
        self.stop_on = stop_on
        if batching not in ("full", "mini", "auto"):
            raise ValueError(f"batching must be full, mini or auto, got {batching!r}")
        from autoglm.plugins.graphs import check_fanouts  # no torch: options are checked at validation

        fanouts = check_fanouts(fanouts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        #: ``full``, ``mini`` or ``auto`` (:class:`~autoglm.plugins.MiniBatchTrainer`).
        self.batching = batching
        self.sampling = Sampling(tuple(fanouts), int(batch_size))
        self._cached: tuple[int, Any] | None = None
        #: The task of the last fit, so that ``evaluate`` (which gets no task) batches the same way.
        self._task: Task | None = None
        #: ``batching: auto``'s decision per graph size (num_nodes, num_edges, num_features).
        self._decided: dict[tuple[int, int, int], str] = {}

    def batching_for(self, data: TaskData) -> str:
        """``full`` or ``mini`` for this data: ``batching`` itself, or (``auto``) what fits in memory."""
        if self.batching != "auto":
            return self.batching
        sizes = data.sizes
        key = tuple(int(sizes.get(k, 0) or 0) for k in ("num_nodes", "num_edges", "num_features"))
        if key not in self._decided:
            need, free = full_batch_bytes(*key), free_memory(self.device)
            mode = "mini" if need > AUTO_MEMORY_SHARE * free else "full"
            log.info(
                "batching auto: %s-batch training (full batch needs ~%.2f GiB for %d nodes, %d edges, %d features; "
                "%.1f GiB free on %s, mini-batch above %d%% of it)",
                mode, need / 2**30, *key, free / 2**30, self.device, round(100 * AUTO_MEMORY_SHARE),
            )
            self._decided[key] = mode
        return self._decided[key]

    def _view(self, data: Any, task: Task | None) -> Any:
        """The data as ``fit`` trains on it: sampled (mini-batch) or whole, on the device."""
        task = task or self._task
        if self._cached is None or self._cached[0] != id(data):
            view = data
            if isinstance(task, SampledTask) and self.batching_for(data) == "mini":
                view = task.sampled(data, self.sampling)
            self._cached = (id(data), view.to(self.device))
        return self._cached[1]

    def _on_device(self, data: Any) -> Any:
        if self._cached is None or self._cached[0] != id(data):
            self._cached = (id(data), data.to(self.device))
        return self._cached[1]

    def fit(
        self, model: Any, data: Any, hparams: Mapping[str, Any], on_epoch: Any = None, *, task: Task
    ) -> FitResult:
        """Adam on the task's loss; keeps the epoch with the best objective (lowest validation loss among equals),
        or with ``stop_on: val_loss`` the lowest validation loss (best objective among equals)."""
        import torch

        params = dict(hparams)
        lr = float(params.pop("lr", 0.01))
        weight_decay = float(params.pop("weight_decay", 5e-4))
        if params:
            raise ValueError(f"unknown training parameters {sorted(params)}; accepted: {sorted(SEARCH_SPACE)}")
        self._task = task
        data = self._view(data, task)
        model = model.to(self.device)
        optimizer = torch.optim.Adam(parameter_groups(model, weight_decay), lr=lr, weight_decay=weight_decay)
        autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.amp)
        objective = task.objective
        key, train_key = objective.key, f"train_{objective.metric}"
        # Splits scored every epoch: a task may leave out the training split when scoring it costs an epoch's worth.
        splits = tuple(getattr(task, "epoch_splits", ("train", "val")))

        best = (float("-inf"), float("-inf"))  # the best epoch's (what stop_on follows, the other), higher is better
        best_state: dict[str, Any] = {}
        best_epoch, best_score, train_at_best, stale, epoch = 0, None, None, 0, 0
        for epoch in range(1, self.max_epochs + 1):
            model.train()
            losses = []
            for batch in task.batches(data):
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    loss = task.loss(model, batch)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach().float())

            model.eval()
            with torch.no_grad(), autocast:
                evaluated = task.evaluate(model, data, splits)
            names = ["loss", *evaluated]
            with torch.no_grad():
                loss = torch.stack(losses).mean()
                values = torch.stack([loss, *(v.detach().float().reshape(()).to(loss.device) for v in evaluated.values())])
            # One host sync per epoch for every number. A non-finite loss ends the trial here,
            # after its optimizer step: nothing from that step is kept (best_state is a copy).
            metrics_now = dict(zip(names, values.tolist()))
            if not math.isfinite(metrics_now["loss"]):
                raise TrialError(f"training loss became {metrics_now['loss']} at epoch {epoch}")
            if key not in metrics_now:
                raise TrialError(f"task metrics {sorted(metrics_now)} lack the objective {key!r}")
            score = metrics_now[key]
            current = self._ranking(objective.utility(score), metrics_now)
            if current > best:
                best = current
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                best_epoch, best_score, train_at_best, stale = epoch, score, metrics_now.get(train_key), 0
            else:
                stale += 1
            if on_epoch is not None and on_epoch(epoch, metrics_now) is True:
                break  # pruned: the best weights so far (this epoch included) are kept below
            if stale >= self.patience:
                break
        if best_score is None or not math.isfinite(best_score):
            raise TrialError(f"the validation {objective.metric} was never finite")
        model.load_state_dict(best_state)
        if "train" not in splits:  # the training score of the kept weights, once
            model.eval()
            with torch.no_grad(), autocast:
                train_at_best = float(task.evaluate(model, data, ("train",))[train_key])
        return FitResult(val_score=best_score, best_epoch=best_epoch, epochs=epoch, state_dict=best_state, train_score=train_at_best)

    def _ranking(self, utility: float, metrics: Mapping[str, float]) -> tuple[float, float]:
        """An epoch's rank for early stopping (higher is better): by ``stop_on``, then by the other."""
        if self.stop_on == "objective":
            return utility, -metrics.get("val_loss", 0.0)
        if "val_loss" not in metrics:
            raise TrialError(f"stop_on: val_loss needs the task's val_loss, and its metrics are {sorted(metrics)}")
        return -metrics["val_loss"], utility

    def fit_population(
        self,
        model: Any,
        data: Any,
        hparams: Sequence[Mapping[str, Any]],
        on_epochs: Sequence[EpochCallback | None],
    ) -> list[FitResult | BaseException]:
        """Train a :class:`~autoglm.plugins.nn.PopulationModel`'s members at once, each as :meth:`fit` would alone.

        Per member: its own ``lr``/``weight_decay`` (:class:`~autoglm.plugins.nn.MemberAdam`),
        early stopping on its own validation accuracy, its own best epoch and
        weights, its own ``on_epochs[i]`` (returning True stops that member),
        and a ``TrialError`` as its result if its loss becomes non-finite; the
        others go on. The loss is the sum of the members' cross-entropies, so
        each member's gradient is its solo gradient. All members' metrics
        reach the host in one sync per epoch, and the best weights are kept in
        batched buffers updated with ``torch.where``. When at most half the
        slots are still training, the model and optimizer are compacted
        (``keep``), so finished members stop costing compute.

        Returns one ``FitResult`` (``state_dict`` in the single model's form, on
        the CPU) or exception per member, in member order. The model is left
        with its remaining slots (finished members' slots hold their best
        weights); read each member's weights from its result. ``amp`` is
        not applied here (float32 throughout): the batched sparse products are
        not checked under bfloat16 autocast.
        """
        import torch
        import torch.nn.functional as F

        from autoglm.plugins.nn import MemberAdam

        size = int(model.size)
        if len(hparams) != size or len(on_epochs) != size:
            raise ValueError(f"a population of {size} needs {size} hparams and on_epochs, got {len(hparams)} and {len(on_epochs)}")
        results: list[FitResult | BaseException | None] = [None] * size
        lrs, decays = [0.0] * size, [0.0] * size
        for i, member in enumerate(hparams):
            params = dict(member)
            try:
                lrs[i] = float(params.pop("lr", 0.01))
                decays[i] = float(params.pop("weight_decay", 5e-4))
                if params:
                    raise ValueError(f"unknown training parameters {sorted(params)}; accepted: {sorted(SEARCH_SPACE)}")
                if not 0.0 <= lrs[i] or not 0.0 <= decays[i]:  # what torch.optim.Adam rejects in fit()
                    raise ValueError(f"Invalid learning rate or weight_decay: {lrs[i]}, {decays[i]}")
            except (TypeError, ValueError) as exc:
                results[i], lrs[i], decays[i] = exc, 0.0, 0.0
        data = self._on_device(data)
        model = model.to(self.device)
        optimizer = MemberAdam(model.parameters(), lr=lrs, weight_decay=decays)
        x, edge_index, y = data.x, data.edge_index, data.y
        train_idx, val_idx = _as_index(data.train_mask), _as_index(data.val_mask)
        y_train, y_val = y[train_idx], y[val_idx]

        # Per slot (slot s trains member members[s]); the host copies drive the decisions.
        members = list(range(size))
        active = [results[i] is None for i in range(size)]
        best_acc = torch.full((size,), -1.0, device=self.device)
        best_loss = torch.full((size,), float("inf"), device=self.device)
        best_params = [p.detach().clone() for p in model.parameters()]
        best_epoch, train_at_best, best_val = [0] * size, [None] * size, [-1.0] * size
        stale = [0] * size

        def compact() -> None:
            """Keep the training slots only, once at most half the slots still train; tell the optimizer who trains."""
            nonlocal members, active, best_params, best_acc, best_loss, active_mask
            still = [slot for slot in range(len(members)) if active[slot]]
            if still and len(still) <= self.compact_fraction * len(members):
                model.keep(still)
                optimizer.keep(still)
                index = torch.tensor(still, device=self.device)
                best_params = [best[index] for best in best_params]
                best_acc, best_loss = best_acc[index], best_loss[index]
                members = [members[slot] for slot in still]
                active = [True] * len(still)
            active_mask = torch.tensor(active, device=self.device)
            optimizer.set_active(active)

        active_mask = torch.tensor(active, device=self.device)
        compact()

        def finish(slot: int, epoch: int) -> None:
            """Member of ``slot`` is done: load its best weights into its slot and record its result."""
            with torch.no_grad():
                for param, best in zip(model.parameters(), best_params):
                    param[slot].copy_(best[slot])
            member = members[slot]
            results[member] = FitResult(
                val_score=best_val[member], best_epoch=best_epoch[member], epochs=epoch,
                state_dict=model.member_state_dict(slot), train_score=train_at_best[member],
            )

        for epoch in range(1, self.max_epochs + 1):
            if not any(active):
                break
            slots = len(members)
            model.train()
            optimizer.zero_grad(set_to_none=True)
            out = model(x, edge_index)  # [slots, N, C]
            train_out = out[:, train_idx]
            losses = F.cross_entropy(
                train_out.reshape(-1, train_out.size(-1)), y_train.repeat(slots), reduction="none"
            ).view(slots, -1).mean(1)
            # Stopped (not yet compacted) slots take no part; where() keeps their NaN out of the sum.
            torch.where(active_mask, losses, 0.0).sum().backward()
            optimizer.step()
            loss = losses.detach()
            del out, train_out, losses  # no graph may outlive the step: keep() changes the parameters' shapes

            model.eval()
            with torch.no_grad():
                out = model(x, edge_index)
                pred = out.argmax(dim=-1)
                val_out = out[:, val_idx]
                val_loss = F.cross_entropy(
                    val_out.reshape(-1, val_out.size(-1)), y_val.repeat(slots), reduction="none"
                ).view(slots, -1).mean(1)
                train_acc = (pred[:, train_idx] == y_train).float().mean(1)
                val_acc = (pred[:, val_idx] == y_val).float().mean(1)
                # Best = highest validation accuracy; among equal accuracies, lowest validation loss (stop_on
                # val_loss: the other way round).
                if self.stop_on == "val_loss":
                    better = (val_loss < best_loss) | ((val_loss == best_loss) & (val_acc > best_acc))
                else:
                    better = (val_acc > best_acc) | ((val_acc == best_acc) & (val_loss < best_loss))
                improved = active_mask & torch.isfinite(loss) & better
                best_acc = torch.where(improved, val_acc, best_acc)
                best_loss = torch.where(improved, val_loss, best_loss)
                metrics = torch.stack([loss, train_acc, val_acc, val_loss, improved.float()], dim=1)
            rows = metrics.tolist()  # one host sync per epoch for every member's numbers
            if any(row[4] for row in rows):  # the best weights of the members that improved, in one pass per tensor
                with torch.no_grad():
                    for param, best in zip(model.parameters(), best_params):
                        best.copy_(torch.where(improved.view((-1,) + (1,) * (param.dim() - 1)), param, best))

            changed = False
            for slot, (train_loss, t_acc, v_acc, v_loss, better) in enumerate(rows):
                if not active[slot]:
                    continue
                member = members[slot]
                if not math.isfinite(train_loss):
                    results[member] = TrialError(f"training loss became {train_loss} at epoch {epoch}")
                    active[slot], changed = False, True
                    continue
                if better:
                    best_val[member], best_epoch[member], train_at_best[member], stale[member] = v_acc, epoch, t_acc, 0
                else:
                    stale[member] += 1
                stop = epoch == self.max_epochs or stale[member] >= self.patience
                callback = on_epochs[member]
                if callback is not None:
                    try:
                        metrics_now = {"loss": train_loss, "train_acc": t_acc, "val_acc": v_acc, "val_loss": v_loss}
                        stop = callback(epoch, metrics_now) is True or stop
                    except Exception as exc:  # one member's failure ends only that member
                        results[member] = exc
                        active[slot], changed = False, True
                        continue
                if stop:
                    finish(slot, epoch)
                    active[slot], changed = False, True

            if changed:
                compact()
        return [r if r is not None else RuntimeError("member never trained") for r in results]

    def predict(self, model: Any, graph: Any) -> Any:
        """``model(x, edge_index)`` of a plain graph on this trainer's device, as float32 on the CPU (for tests and tools)."""
        return self.evaluate(model, graph, lambda m, g: m(g.x, g.edge_index).float().cpu())

    def evaluate(self, model: Any, data: Any, run: Callable[[Any, Any], Any]) -> Any:
        """``run(model, data)`` on this trainer's device, in eval mode, without gradients (and in bfloat16 with amp)."""
        import torch

        data = self._view(data, None) if isinstance(data, TaskData) else self._on_device(data)
        model = model.to(self.device)
        model.eval()
        with torch.no_grad(), torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.amp):
            return run(model, data)


def full_batch_bytes(num_nodes: int, num_edges: int, num_features: int, width: int = ESTIMATE_WIDTH) -> int:
    """A rough peak of full-batch training, for ``batching: auto``: the features and their gradient-free copy,
    one message per edge of the input and of a hidden layer (what scatter-based layers materialise), and a
    few hidden activations per node kept for the backward pass, all in float32."""
    return 4 * (2 * num_nodes * num_features + 2 * num_edges * max(num_features, width) + 8 * num_nodes * width)


def free_memory(device: str) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the host's available memory (``MemAvailable``)."""
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _as_index(mask: Any) -> Any:
    """Node indices of a split given as a boolean mask (or already as indices)."""
    import torch

    return mask.nonzero().view(-1) if mask.dtype == torch.bool else mask


@hookimpl
def autoglm_register_trainers(register: Any) -> None:
    register(
        "cuda",
        FullBatchTrainer,
        search_space=SEARCH_SPACE,
        summary="Full-batch or mini-batch (batching: full|mini|auto) training on CPU or CUDA with early stopping",
    )
