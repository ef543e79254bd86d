"""Records of trials and runs, as written to the run directory and returned to hosts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping


@dataclass
class TrialRecord:
    """One trial. ``status`` is ``ok``, ``pruned``, ``failed`` or ``interrupted`` (then ``error`` says why).

    A ``pruned`` trial was stopped by the pruner at epoch ``pruned_at``: its
    ``val_score`` is real but partial (the best before it stopped), so it is
    never selected as the run's model. ``rungs`` maps each pruning rung the
    trial reached (epoch, as a string: JSON keys) to its value there; resume
    rebuilds the pruner from them. ``population`` is the number of
    configurations trained together with this one as one batched model (None:
    trained alone); ``duration_s`` is then the wall time of the whole batch.
    """

    trial: int
    status: str
    model: str
    model_params: dict[str, Any]
    train_params: dict[str, Any]
    seed: int
    val_score: float | None = None
    train_score: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    duration_s: float = 0.0
    error: str | None = None
    pruned_at: int | None = None
    rungs: dict[str, float] = field(default_factory=dict)
    population: int | None = None

    @property
    def ok(self) -> bool:
        """Trained to the end: eligible to be the run's model."""
        return self.status == "ok"

    @property
    def scored(self) -> bool:
        """Has a real validation score (``ok`` or ``pruned``): the tuner is told it."""
        return self.status in ("ok", "pruned")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "TrialRecord":
        return cls(**{k: record[k] for k in cls.__dataclass_fields__ if k in record})


def leaderboard(records: list[TrialRecord]) -> list[TrialRecord]:
    """Finished trials by validation score (best first; ties go to the earlier trial), then pruned
    trials the same way (their scores are partial), then failed and interrupted ones by number."""

    def by_score(status: str) -> list[TrialRecord]:
        return sorted((r for r in records if r.status == status), key=lambda r: (-(r.val_score or 0.0), r.trial))

    rest = sorted((r for r in records if r.status not in ("ok", "pruned")), key=lambda r: r.trial)
    return by_score("ok") + by_score("pruned") + rest


@dataclass
class RunInfo:
    """Handed to reporters when a run starts."""

    run_dir: Path
    config: dict[str, Any]
    seed: int
    budget: int
    dataset: dict[str, Any] = field(default_factory=dict)
    #: Finished trials carried over from an earlier process (``resume``); 0 for a fresh run.
    resumed_trials: int = 0


@dataclass
class RunResult:
    """What :meth:`Engine.run` returns; the same facts are in the run directory."""

    run_dir: Path
    best: TrialRecord
    test_accuracy: float
    trials: list[TrialRecord]
    seed: int
    wall_time_s: float
    summary: dict[str, Any]
    #: ``test_accuracy`` is the mean over the selected configuration's seeds; this is their spread.
    test_std: float = 0.0
    test_seeds: int = 1

    @property
    def val_accuracy(self) -> float:
        return float(self.best.val_score or 0.0)

    def leaderboard(self) -> list[TrialRecord]:
        return leaderboard(self.trials)
