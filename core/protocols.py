"""What each kind of component must provide.

These are structural protocols: a plugin's classes need not inherit from them.
Torch types appear only in annotations, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch
    from torch_geometric.data import Data


@dataclass
class Candidate:
    """One point a tuner proposes: a model, its parameters and the training hyperparameters."""

    model: str
    model_params: dict[str, Any]
    train_params: dict[str, Any]
    #: Tuner-private handle (e.g. a nevergrad candidate); never serialised.
    handle: Any = field(default=None, repr=False, compare=False)
    #: The task's own tunables (its head); a tuner that leaves them out gets the task space's constants.
    task_params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "model_params": self.model_params, "train_params": self.train_params,
            "task_params": self.task_params,
        }


@dataclass(frozen=True)
class SearchSpace:
    """The whole space a tuner searches: per-model parameters, shared training parameters and
    the task's parameters (its head, shared by every model).

    Parameters of models other than the chosen one are inactive (a conditional
    space); tuners may still carry them in their own encoding.
    """

    models: Mapping[str, Mapping[str, Any]]
    training: Mapping[str, Any]
    task: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Objective:
    """What a search optimises: the metric a task scores the validation split with, and its direction.

    Like Optuna's ``StudyDirection`` or Lightning's ``ModelCheckpoint(monitor=, mode=)``.
    The kernel ranks, prunes, selects and tells tuners through :meth:`utility`, so
    nothing past the task knows whether higher or lower is better.
    """

    metric: str
    mode: Literal["max", "min"] = "max"

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"an objective's mode is 'max' or 'min', got {self.mode!r}")

    @property
    def key(self) -> str:
        """The epoch metric the trainer and the pruner read: ``val_<metric>``."""
        return f"val_{self.metric}"

    def utility(self, value: float) -> float:
        """``value`` with higher always better (the metric itself, or minus it for 'min')."""
        return float(value) if self.mode == "max" else -float(value)

    def to_dict(self) -> dict[str, str]:
        return {"metric": self.metric, "mode": self.mode}


@dataclass
class FitResult:
    """What a trainer returns for one model: the best validation score and its weights."""

    val_score: float
    best_epoch: int
    epochs: int
    #: Weights at ``best_epoch``, on the CPU.
    state_dict: Mapping[str, "torch.Tensor"]
    train_score: float | None = None


#: Called by trainers after each evaluated epoch with ``(epoch, metrics)``, where ``metrics``
#: holds at least the objective's ``val_<metric>`` (the pruner reads it). Returning ``True`` asks the trainer to
#: stop this trial now (the pruner judged it hopeless); anything else means go on.
EpochCallback = Callable[[int, Mapping[str, float]], bool | None]


@runtime_checkable
class DataLoader(Protocol):
    """Produces the graph. May also define ``check()``: a cheap look (files present?) that
    ``autoglm validate`` and the start of a run call before anything is loaded."""

    def load(self) -> Any:
        """Return the data the task takes: one PyG ``Data`` for node and link tasks (for node
        classification with ``y`` and, optionally, ``train/val/test_mask``), a list or
        PyG dataset of graphs for graph classification."""


@runtime_checkable
class Tuner(Protocol):
    """Proposes candidates. May also define ``describe() -> dict``: facts decided at run time
    (such as the optimizer actually used), recorded in ``summary.json``.

    With ``workers`` or ``population`` above 1 the runner asks a round of candidates
    before telling any, then tells them in the order asked. A tuner that must know
    this may define ``set_in_flight(n)``: called once, before ``setup``, with the round size.
    """

    #: Number of candidates the tuner will propose in all.
    budget: int

    def setup(self, space: SearchSpace, *, seed: int) -> None:
        """Prepare to search ``space``; called once before the first ``ask``."""

    def ask(self) -> Candidate | None:
        """Propose the next candidate, or None when the budget is spent."""

    def tell(self, candidate: Candidate, score: float | None) -> None:
        """Report a candidate's validation score, higher always better (for an objective whose
        metric is minimised the kernel tells minus the metric); None means it failed."""


@runtime_checkable
class TaskData(Protocol):
    """What a task made of the loader's data: split, checked, ready to train on."""

    #: Facts for the run summary and for rebuilding a model (``num_features``, ``num_classes``, ...).
    sizes: Mapping[str, Any]

    def to(self, device: str) -> "TaskData":
        """The same data on ``device`` (the trainer calls this once per run and device)."""


@runtime_checkable
class Task(Protocol):
    """What is learned: owns the data contract, the model's head, the loss, the metrics and the predictions.

    The kernel never names a metric. It asks the task to :meth:`prepare` the
    loader's data (check it, split it when it carries no split), to
    :meth:`build` each trial's model around the model plugin's encoder, and to
    write :meth:`predictions`; the trainer asks it for :meth:`batches`, the
    :meth:`loss` and :meth:`evaluate`. Its :attr:`objective` says which metric
    selects and in which direction.

    Everything here is device-agnostic: it works on whatever device the trainer
    put the model and the data on.
    """

    objective: Objective
    #: Optional: the splits a trainer scores every epoch (default ``("train", "val")``); a task whose
    #: training split is expensive to score leaves it out, and the trainer scores it once at the best epoch.
    # epoch_splits: tuple[str, ...]

    def prepare(self, data: Any, *, seed: int) -> TaskData:
        """Check the loader's data for this task and split it; bad data raises DataError."""

    def build(self, encoder: Callable[[int, int], "torch.nn.Module"], sizes: Mapping[str, Any], params: Mapping[str, Any]) -> "torch.nn.Module":
        """The trial's whole model: ``encoder(in_channels, out_channels)`` plus the task's head, set by ``params``."""

    def batches(self, data: TaskData) -> Iterable[Any]:
        """One epoch of training batches (the whole graph once, for a full-batch task)."""

    def loss(self, model: "torch.nn.Module", batch: Any) -> "torch.Tensor":
        """The training loss of one batch (a 0-d tensor, for ``backward``)."""

    def evaluate(self, model: "torch.nn.Module", data: TaskData, splits: Sequence[str]) -> Mapping[str, "torch.Tensor"]:
        """Metrics of each split as 0-d tensors named ``<split>_<metric>`` (``val_acc``, ``val_loss``, ...).

        They must include ``<split>_<objective.metric>`` for each split asked.
        Tensors, not floats, so the trainer reads all of them in one host sync.
        """

    def predictions(self, model: "torch.nn.Module", data: TaskData, split: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The header and rows of ``predictions.csv`` for ``split`` (the kernel asks for ``test``)."""


@runtime_checkable
class PopulationTask(Protocol):
    """A task whose trials a population trainer can batch: it exposes the plain PyG graph with masks."""

    def population_graph(self, data: TaskData) -> "Data":
        """The graph with ``x``, ``edge_index``, ``y`` and ``train/val_mask`` that ``fit_population`` trains on."""


#: The split of a prediction row whose item the run never split: new data without masks.
NEW_ITEM = "new"


@dataclass
class Predictions:
    """A task's prediction for every item of some data (nodes, candidate edges, graphs), in row order.

    ``rows`` are what ``predictions.csv`` and ``autoglm predict`` write under
    ``header``; each row names the split its item belongs to (``train``, ``val``,
    ``test``, ``unlabelled``, ``unused`` for a labelled item in no split, or
    ``new``). ``proba`` and ``labels`` are the same predictions as tensors, for
    ``predict_proba`` and ``predict`` in Python.
    """

    header: list[str]
    rows: list[tuple[Any, ...]]
    #: ``[items, classes]`` class probabilities, or ``[items]`` edge probabilities (link prediction).
    proba: "torch.Tensor"
    #: ``[items]`` predicted labels: a class, or 1 / 0 for an edge at probability 0.5.
    labels: "torch.Tensor"
    #: The split of each item, in row order.
    splits: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many items of each split, in order of first appearance."""
        counts: dict[str, int] = {}
        for split in self.splits:
            counts[split] = counts.get(split, 0) + 1
        return counts


@runtime_checkable
class PredictingTask(Protocol):
    """A task that predicts every item of its data, not just the test split, and of new data of the same schema.

    The kernel writes ``predictions.csv`` from :meth:`predict` on the run's own
    data, and :func:`autoglm.core.load_run` uses both methods to apply a saved
    model anywhere.
    """

    def inference_data(self, data: Any, sizes: Mapping[str, Any]) -> TaskData:
        """New data (what a loader returns) checked against the sizes the model was trained with
        (feature width, classes); nothing is split: items take their split from the data or are ``new``.
        Data that does not fit the model raises DataError saying what differs."""

    def predict(self, model: "torch.nn.Module", data: TaskData) -> Predictions:
        """Predict every item of ``data`` (prepared by :meth:`Task.prepare` or :meth:`inference_data`)."""


@runtime_checkable
class FeaturedTask(Protocol):
    """A task whose trials may choose how node features are made (``preprocess`` and ``structural``
    in its search space; :mod:`autoglm.core.features`)."""

    def with_features(
        self, data: TaskData, transform: Callable[["torch.Tensor", "torch.Tensor", int], "torch.Tensor"]
    ) -> TaskData:
        """``data`` with every graph's ``x`` replaced by ``transform(x, edge_index, num_nodes)`` (the edges
        message passing uses: a link task's training edges), its split kept, and ``sizes`` saying the new
        ``num_features`` (and the loader's width as ``input_features``)."""


@runtime_checkable
class EnsemblingTask(Protocol):
    """A task whose models' predictions can be combined (selection's ``ensemble``)."""

    def ensemble(self, models: Sequence["torch.nn.Module"], weights: Sequence[float]) -> "torch.nn.Module":
        """One model that the task's ``evaluate`` and ``predict`` take like any of its models, predicting the
        weighted mean of the members' probabilities (``weights`` are non-negative; they are normalised)."""


@runtime_checkable
class CrossValidatedTask(Protocol):
    """A task that can also score the selected configuration by k-fold cross-validation."""

    def folds_of(self, data: TaskData, *, seed: int) -> list[TaskData]:
        """The k re-splits of ``data`` (each with its own train / val / test); empty for none."""


@dataclass(frozen=True)
class Sampling:
    """How a mini-batch trainer asks a task to batch: seed items per batch and neighbours sampled per hop.

    ``fanouts[i]`` is how many incoming neighbours each node of hop ``i`` keeps (``-1``: all of them); a
    model deeper than ``len(fanouts)`` hops sees no farther than that in training.
    """

    fanouts: tuple[int, ...]
    batch_size: int


@runtime_checkable
class SampledTask(Protocol):
    """A task that can train on sampled subgraphs (mini-batch training, for graphs too big for full batches)."""

    def sampled(self, data: TaskData, sampling: Sampling) -> TaskData:
        """``data`` for mini-batch training: its :meth:`Task.batches` yield sampled subgraphs, and its
        evaluation and predictions run in chunks, never holding more than one batch's activations."""


@runtime_checkable
class MiniBatchTrainer(Protocol):
    """A trainer that may train on sampled subgraphs, and says so: the kernel then checks, when the config is
    validated, that the task can batch that way and that every model searched can train that way
    (:attr:`~autoglm.core.registry.Component.sampling`)."""

    #: ``"full"``, ``"mini"`` or ``"auto"`` (the trainer decides per run from the graph's size and the memory).
    batching: str
    #: How it batches when it trains mini-batch (a saved run predicts big graphs the same way).
    sampling: Sampling

    def batching_for(self, data: TaskData) -> str:
        """``"full"`` or ``"mini"``: how this trainer trains on ``data`` (``auto`` decides here, once per graph size)."""


@runtime_checkable
class LayerwiseModule(Protocol):
    """A model that is a stack of message-passing layers, each needing only its input's one-hop neighbours.

    A task can then infer exactly on a graph too big for one pass: layer by layer, in chunks of nodes
    (what PyG's GraphSAGE example calls layer-wise inference). ``layer(index, ...)`` includes what comes
    between layers (activation, and dropout, a no-op in eval mode).
    """

    def layer_count(self) -> int:
        """How many layers ``forward`` applies."""

    def layer(self, index: int, x: "torch.Tensor", edge_index: "torch.Tensor") -> "torch.Tensor":
        """Layer ``index`` on ``x`` (the previous layer's output); one row per node of ``x``."""


@runtime_checkable
class WeightDecayGroups(Protocol):
    """A model (or a module inside one) whose parts want their own weight decay.

    GCNII, for one, decays its convolutions by 0.01 and its linear maps by the trial's rate (Chen et al.
    2020); one rate for both costs it accuracy. ``parameter_groups`` returns ``torch.optim`` parameter groups
    (``{"params": [...], "weight_decay": ...}``); a trainer gives every parameter no group claims the trial's
    ``weight_decay``.
    """

    def parameter_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """Parameter groups for the optimizer, given the trial's ``weight_decay``."""


@runtime_checkable
class Trainer(Protocol):
    """Trains one model per trial, on whatever the task asks.

    ``fit`` runs the loop (optimizer, epochs, early stopping on the task's
    objective, best weights kept, device); the task supplies the batches, the
    loss and the metrics. ``fit`` must call ``on_epoch(epoch, metrics)`` after
    every evaluated epoch (the kernel always passes one), with the objective's
    ``val_<metric>`` among the metrics, and stop training at once when it
    returns ``True``: that is how the successive-halving pruner ends hopeless
    trials early. Stopping means returning the usual :class:`FitResult`, with
    the best weights so far. A trainer that ignores the return value is still
    correct, its trials are simply never pruned.

    A trainer may expose ``max_epochs`` (an int): the most epochs ``fit`` trains.
    The pruner then places no rung at or beyond it (a trial there has finished).
    """

    def fit(
        self,
        model: "torch.nn.Module",
        data: TaskData,
        hparams: Mapping[str, Any],
        on_epoch: EpochCallback | None = None,
        *,
        task: Task,
    ) -> FitResult:
        """Train with ``task``'s batches and loss, select the epoch on its objective; leave the best weights loaded.

        Call ``on_epoch`` after each epoch; when it returns ``True``, stop and return what is best so far.
        """

    def evaluate(self, model: "torch.nn.Module", data: TaskData, run: Callable[[Any, Any], Any]) -> Any:
        """``run(model, data)`` with both on the trainer's device, in eval mode, without gradients."""


@runtime_checkable
class Executor(Protocol):
    """Where a run's units of work train: this process, forked processes, a Ray cluster.

    The run's process keeps the tuner, the pruner and the run directory; an
    executor only moves units to workers and outcomes back. It gets a
    :class:`~autoglm.core.jobs.TrialJob` (picklable: a worker elsewhere calls
    ``job.run(unit)``, which rebuilds the run's components from its config once
    per process) and runs at most ``workers`` units at once. Outcomes must be
    whatever ``job.run`` returned, or a :class:`~autoglm.core.parallel.WorkerLost`
    for a unit whose worker died; the kernel records that trial as failed with the
    message. Anything else a unit raises is a bug and may propagate.
    """

    #: Whether units run in other processes: they then carry the pruner's state, and epoch events travel back.
    remote: bool
    #: Whether the workers run on this machine beside the run's process, sharing its cores (``inline``,
    #: ``fork``): the run then warns when ``workers`` ask for more threads than there are cores.
    shares_cores: bool

    def open(self, job: Any, workers: int) -> None:
        """Get ready to run ``job``'s units, ``workers`` at a time (start processes, connect to a cluster)."""

    def map_unordered(self, units: Sequence[Any]) -> Iterable[tuple[int, Any]]:
        """``(index, outcome)`` for every unit, as they finish (in order when they run one at a time)."""

    def close(self) -> None:
        """Stop what runs and release the workers; called however the run ends (Ctrl-C included)."""


@runtime_checkable
class Describable(Protocol):
    """A component with facts worth recording in ``summary.json`` (a tuner's optimizer actually used,
    a data loader's dataset name)."""

    def describe(self) -> Mapping[str, Any]:
        """A small JSON-ready mapping."""


@runtime_checkable
class Closeable(Protocol):
    """A component holding something to let go of when the run ends (threads, files, connections).

    The kernel calls ``close()`` once, however the run ends (finished, failed or
    interrupted). A tuner whose library runs a background thread (nevergrad's
    scipy-backed optimizers do) must stop it here: a live non-daemon thread keeps
    the process from exiting after its run is done.
    """

    def close(self) -> None:
        """Release what the component holds; must not raise for a component never used."""


@runtime_checkable
class WritesFiles(Protocol):
    """A component that writes files of its own (a reporter's event log) declares them.

    The kernel refuses a run where such a file is one of the run's own
    (``trials.jsonl``, ``config.yaml``, ...) or is written by two components,
    and counts the files inside the run directory as the run's, so
    ``--overwrite`` removes them and nothing else.
    """

    def files(self, run_dir: Path) -> Sequence[Path]:
        """The files this component will write for a run in ``run_dir`` (absolute or relative to the cwd); a
        folder it writes into (a log directory) counts with everything below it."""


class Reporter(Protocol):
    """Receives run events. Every method is optional and may take any subset of an event's arguments.

    ``on_run_start(run)``, ``on_trial_start(trial, candidate)``, ``on_epoch(trial, epoch, metrics, phase)``,
    ``on_trial_end(record)``, ``on_selection(selection)``, ``on_run_end(result)``, ``on_run_stopped(stop)``:
    specified, in firing order, in :mod:`autoglm.core.events`.
    """
