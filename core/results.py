"""Records of trials and runs, as written to the run directory and returned to hosts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from autoglm.core.errors import shown
from autoglm.core.protocols import Objective

#: Ranking when no objective is given: higher is better.
MAXIMIZE = Objective("score", "max")

#: Trial numbers past this are not from a real run (a run of a million trials is already absurd).
MAX_TRIAL = 10**9
STATUSES = ("ok", "pruned", "failed", "interrupted")


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
    #: The task's own parameters (its head); empty for a task without any.
    task_params: dict[str, Any] = field(default_factory=dict)
    #: The objective's validation value at each evaluated epoch, in order (null where it was not finite):
    #: the learning curve reports draw, cut where the pruner stopped the trial.
    curve: list[float | None] = field(default_factory=list)
    #: The earlier trial whose configuration the tuner proposed again: this one was not trained, it carries
    #: that trial's scores (and the tuner was told them). Never a selection contender.
    duplicate_of: int | None = None

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
    def from_dict(cls, record: Any) -> "TrialRecord":
        """A record read back from ``trials.jsonl``; raises ValueError naming the first field that is wrong.

        Every field is checked, because a record is replayed into the tuner, counted
        and compared: a string where a score belongs, or a trial number of 10**12,
        must stop a resume with a reason, not deep inside it.
        """
        if not isinstance(record, Mapping):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        missing = [name for name in _REQUIRED if name not in record]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        for name, check in _FIELD_CHECKS.items():
            if name in record:
                problem = check(record[name])
                if problem:
                    raise ValueError(f"{name} must be {problem}, got {shown(record[name])}")
        if record["status"] in ("ok", "pruned") and record.get("val_score") is None:
            raise ValueError(f"a trial with status {record['status']!r} needs a val_score")
        return cls(**{k: record[k] for k in cls.__dataclass_fields__ if k in record})


def _is_int(value: Any, least: int, most: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least and (most is None or value <= most)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(test: Callable[[Any], bool], wanted: str, *, optional: bool = False) -> Callable[[Any], str | None]:
    return lambda value: None if (optional and value is None) or test(value) else wanted


_REQUIRED = ("trial", "status", "model", "model_params", "train_params", "seed")
_FIELD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "trial": _check(lambda v: _is_int(v, 1, MAX_TRIAL), f"an integer in 1..{MAX_TRIAL}"),
    "status": _check(lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "model": _check(lambda v: isinstance(v, str) and bool(v), "a model name"),
    "model_params": _check(lambda v: isinstance(v, dict), "a JSON object"),
    "train_params": _check(lambda v: isinstance(v, dict), "a JSON object"),
    "seed": _check(lambda v: _is_int(v, 0), "a non-negative integer"),
    "val_score": _check(_is_number, "a finite number or null", optional=True),
    "train_score": _check(_is_number, "a finite number or null", optional=True),
    "best_epoch": _check(lambda v: _is_int(v, 0), "a non-negative integer or null", optional=True),
    "epochs": _check(lambda v: _is_int(v, 0), "a non-negative integer or null", optional=True),
    "duration_s": _check(lambda v: _is_number(v) and v >= 0, "a non-negative number"),
    "error": _check(lambda v: isinstance(v, str), "a string or null", optional=True),
    "pruned_at": _check(lambda v: _is_int(v, 1), "a positive integer or null", optional=True),
    "rungs": _check(
        lambda v: isinstance(v, dict) and all(k.isdigit() and _is_number(x) for k, x in v.items()),
        "an object of epoch -> number",
    ),
    "population": _check(lambda v: _is_int(v, 1), "a positive integer or null", optional=True),
    "task_params": _check(lambda v: isinstance(v, dict), "a JSON object"),
    "duplicate_of": _check(lambda v: _is_int(v, 1, MAX_TRIAL), "a trial number or null", optional=True),
    "curve": _check(
        lambda v: isinstance(v, list) and len(v) <= 1_000_000 and all(x is None or _is_number(x) for x in v),
        "a list of numbers (or nulls)",
    ),
}


def leaderboard(records: list[TrialRecord], objective: Objective | None = None) -> list[TrialRecord]:
    """Finished trials by validation score (best first by ``objective``, default: higher is better;
    ties go to the earlier trial), then pruned trials the same way (their scores are partial),
    then failed and interrupted ones by number."""
    utility = (objective or MAXIMIZE).utility

    def by_score(status: str) -> list[TrialRecord]:
        return sorted((r for r in records if r.status == status), key=lambda r: (-utility(r.val_score or 0.0), r.trial))

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
    #: The task's name and what it optimises (the metric every score of this run is in).
    task: str = "node_classification"
    objective: Objective = field(default_factory=lambda: Objective("acc", "max"))


@dataclass
class RunSummary(Mapping[str, Any]):
    """What a run knows of itself: ``summary.json`` holds exactly :meth:`to_dict`, reporters get this object.

    It reads like the JSON too (``summary["test"]["score"]``), for code written against ``summary.json``.
    """

    #: ``ok``, ``interrupted`` or ``failed``.
    status: str
    task: str
    #: ``{"metric": ..., "mode": "max" | "min"}``.
    objective: dict[str, str]
    seed: int
    started_at: str
    #: ``{"total": N, "ok": ..., "pruned": ..., "failed": ..., "interrupted": ...}``.
    trials: dict[str, int]
    pruning: dict[str, Any]
    #: The loader's name and facts, and the task's sizes and split of the data.
    dataset: dict[str, Any]
    tuner: dict[str, Any]
    versions: dict[str, Any]
    wall_time_s: float | None = None
    #: The selected trial: its parameters and validation score (with the mean and std over its seeds).
    best: dict[str, Any] | None = None
    #: The test figures of the selected configuration (``metric``, ``score``, ``score_std``, ``seeds``, ...).
    test: dict[str, Any] | None = None
    #: Selection's settings, its ``contenders`` and those ``not_retrained``.
    selection: dict[str, Any] | None = None
    #: ``predictions.csv``: ``rows`` and the count per ``splits``.
    predictions: dict[str, Any] | None = None
    #: Why a failed run failed (one line per distinct reason).
    reasons: list[str] | None = None
    #: With a ``time_budget``: its ``seconds``, the run's ``wall_s``, ``stopped_by`` (``time`` or ``trials``) and, stopped by time, ``stopped_at_s``.
    time_budget: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``summary.json`` (fields that do not apply are left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass
class SelectionReport:
    """Handed to reporters when robust selection has chosen (``on_selection``)."""

    #: The trial whose configuration was chosen.
    chosen: int
    metric: str
    #: Each compared configuration: trial, model, ``val_mean``, ``val_std`` and its seeds' ``runs``.
    contenders: list[dict[str, Any]]
    #: Configurations left out as outside the best's noise band (trial, model, val_score, reason).
    not_retrained: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunStopped:
    """Handed to reporters when a run ends without finishing (``on_run_stopped``)."""

    #: ``interrupted`` (Ctrl-C, SIGTERM) or ``failed``.
    status: str
    reason: str
    run_dir: Path
    records: list["TrialRecord"] = field(default_factory=list)
    summary: RunSummary | None = None


@dataclass
class RunResult:
    """What :meth:`Engine.run` returns; the same facts are in the run directory."""

    run_dir: Path
    best: TrialRecord
    #: The objective's metric on the test split: the mean over the selected configuration's seeds.
    test_score: float
    trials: list[TrialRecord]
    seed: int
    wall_time_s: float
    summary: RunSummary
    #: The spread of ``test_score`` over the seeds.
    test_std: float = 0.0
    test_seeds: int = 1
    objective: Objective = MAXIMIZE
    #: The selected configuration scored by the task's k-fold cross-validation (``folds``, ``mean``,
    #: ``std``, ``scores``), when the task was asked for it.
    cross_validation: dict[str, Any] | None = None

    @property
    def val_score(self) -> float:
        """The selected trial's validation score (the objective's metric)."""
        return float(self.best.val_score or 0.0)

    @property
    def metric(self) -> str:
        return self.objective.metric

    @property
    def test_accuracy(self) -> float:
        """``test_score``, under the name node classification had before tasks (its metric is accuracy)."""
        return self.test_score

    @property
    def val_accuracy(self) -> float:
        """``val_score``, under its name from before tasks."""
        return self.val_score

    def leaderboard(self) -> list[TrialRecord]:
        return leaderboard(self.trials, self.objective)


def format_params(params: Mapping[str, Any]) -> str:
    """``dropout=0.5 hidden=64 lr=0.01``: parameters as the console, ``autoglm show`` and the report print them."""
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def leaderboard_params(column: str) -> str:
    """The ``params`` column of ``leaderboard.csv`` (JSON groups model / train / task), flat and formatted."""
    import json

    try:
        groups = json.loads(column or "{}")
    except ValueError:
        return column
    return format_params({k: v for g in groups.values() if isinstance(g, dict) for k, v in g.items()})


def label_order(label: str) -> tuple[int, float, str]:
    """A sort key for class labels read as text: numeric labels in numeric order (2 before 10), then the rest."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
