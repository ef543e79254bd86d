"""What each kind of component must provide.

These are structural protocols: a plugin's classes need not inherit from them.
Torch types appear only in annotations, so importing this module stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

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

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "model_params": self.model_params, "train_params": self.train_params}


@dataclass(frozen=True)
class SearchSpace:
    """The whole space a tuner searches: per-model parameters and shared training parameters.

    Parameters of models other than the chosen one are inactive (a conditional
    space); tuners may still carry them in their own encoding.
    """

    models: Mapping[str, Mapping[str, Any]]
    training: Mapping[str, Any]


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
#: holds at least ``val_acc`` (the pruner reads it). Returning ``True`` asks the trainer to
#: stop this trial now (the pruner judged it hopeless); anything else means go on.
EpochCallback = Callable[[int, Mapping[str, float]], bool | None]


@runtime_checkable
class DataLoader(Protocol):
    """Produces the graph. May also define ``check()``: a cheap look (files present?) that
    ``autoglm validate`` and the start of a run call before anything is loaded."""

    def load(self) -> "Data":
        """Return a PyG ``Data`` with ``x``, ``edge_index``, ``y`` and ``train/val/test_mask``."""


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
        """Report a candidate's validation score (higher is better); None means it failed."""


@runtime_checkable
class Trainer(Protocol):
    """Trains one model per trial.

    ``fit`` must call ``on_epoch(epoch, metrics)`` after every evaluated epoch
    (the kernel always passes one), with ``val_acc`` among the metrics, and stop
    training at once when it returns ``True``: that is how the successive-halving
    pruner ends hopeless trials early. Stopping means returning the usual
    :class:`FitResult`, with the best weights so far. A trainer that ignores the
    return value is still correct, its trials are simply never pruned.

    A trainer may expose ``max_epochs`` (an int): the most epochs ``fit`` trains.
    The pruner then places no rung at or beyond it (a trial there has finished).
    """

    def fit(
        self,
        model: "torch.nn.Module",
        data: "Data",
        hparams: Mapping[str, Any],
        on_epoch: EpochCallback | None = None,
    ) -> FitResult:
        """Train on ``train_mask``, select the epoch on ``val_mask``; leave the best weights loaded.

        Call ``on_epoch`` after each epoch; when it returns ``True``, stop and return what is best so far.
        """

    def predict(self, model: "torch.nn.Module", data: "Data") -> "torch.Tensor":
        """Class scores for every node, on the CPU."""


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
        """The files this component will write for a run in ``run_dir`` (absolute or relative to the cwd)."""


class Reporter(Protocol):
    """Receives run events. Every method is optional; the engine calls those that exist.

    ``on_run_start(run)``, ``on_trial_start(trial, candidate)``,
    ``on_epoch(trial, epoch, metrics)``, ``on_trial_end(record)``, ``on_run_end(result)``.
    """
