"""Records of trials and runs, as written to the run directory and returned to hosts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping


@dataclass
class TrialRecord:
    """One trial. ``status`` is ``ok``, ``failed`` or ``interrupted`` (then ``error`` says why)."""

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

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> "TrialRecord":
        return cls(**{k: record[k] for k in cls.__dataclass_fields__ if k in record})


def leaderboard(records: list[TrialRecord]) -> list[TrialRecord]:
    """Successful trials by validation score (best first; ties go to the earlier trial), then failures."""
    ok = sorted((r for r in records if r.ok), key=lambda r: (-(r.val_score or 0.0), r.trial))
    return ok + sorted((r for r in records if not r.ok), key=lambda r: r.trial)


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

    @property
    def val_accuracy(self) -> float:
        return float(self.best.val_score or 0.0)

    def leaderboard(self) -> list[TrialRecord]:
        return leaderboard(self.trials)
