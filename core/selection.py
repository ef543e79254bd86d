"""Robust selection: the top-k configurations re-trained with several seeds, chosen by mean validation score.

Why: on a small validation split (Cora: 500 nodes) one training run's score
moves by a point or more with the seed alone, so the single best trial of a
search is partly the luckiest one. Re-training the few best configurations
with fresh seeds and choosing by the mean validation score rewards the
configuration, not the draw; the selected configuration's test accuracy is
then reported as mean ± std over its seeds, which is what the headline figure
of a run means. Test data is touched only for the selected configuration.

This module holds the bookkeeping; the runner does the training.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping

from autoglm.core.protocols import Objective
from autoglm.core.results import MAXIMIZE, TrialRecord, leaderboard


def reseed(run_seed: int, trial: int, k: int) -> int:
    """The seed of re-training number ``k`` (1, 2, ...) of ``trial``: distinct from every trial's own seed."""
    return random.Random(f"autoglm:{run_seed}:{trial}:reseed:{k}").randrange(2**31)


@dataclass
class SeedRun:
    """One training run of a configuration. ``k`` 0 is the search trial itself."""

    k: int
    seed: int
    val_score: float | None
    #: Weights on the CPU (None when not kept, or the run failed).
    state_dict: Mapping[str, Any] | None = field(default=None, repr=False)
    error: str | None = None
    #: The objective's metric on the test split (only the selected configuration's runs get one).
    test_score: float | None = None

    @property
    def ok(self) -> bool:
        return self.val_score is not None and math.isfinite(self.val_score)

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"seed": self.seed, "val_score": self.val_score}
        if self.test_score is not None:
            entry["test_score"] = self.test_score
        if self.error:
            entry["error"] = self.error
        return entry


@dataclass
class Contender:
    """A configuration in the running for selection: its search trial and all its seeds' runs."""

    record: TrialRecord
    runs: list[SeedRun]
    objective: Objective = MAXIMIZE

    @property
    def val_mean(self) -> float:
        return mean_std([r.val_score for r in self.runs if r.ok])[0]

    @property
    def val_std(self) -> float:
        return mean_std([r.val_score for r in self.runs if r.ok])[1]

    def kept_run(self) -> SeedRun:
        """The run whose model is saved: the best validation score (the earliest of equals)."""
        return max((r for r in self.runs if r.ok), key=lambda r: (self.objective.utility(r.val_score), -r.k))

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.record.trial,
            "model": self.record.model,
            "val_mean": self.val_mean,
            "val_std": self.val_std,
            "runs": [r.to_dict() for r in self.runs],
        }


def contenders(records: list[TrialRecord], top_k: int, objective: Objective = MAXIMIZE) -> list[TrialRecord]:
    """The ``top_k`` best finished trials of distinct configurations (pruned and failed ones never compete, and
    a configuration the tuner proposed twice competes once, as its first trial)."""
    from autoglm.core.replay import key_of

    chosen, seen = [], set()
    for record in leaderboard(records, objective):
        if not record.ok or record.duplicate_of is not None or key_of(record) in seen:
            continue
        seen.add(key_of(record))
        chosen.append(record)
    return chosen[:top_k]


def choose(candidates: list[Contender]) -> Contender:
    """The best mean validation score (by each contender's objective); among equals, the better-ranked search trial."""
    if not candidates:
        raise ValueError("no contender to choose from")
    return max(enumerate(candidates), key=lambda item: (item[1].objective.utility(item[1].val_mean), -item[0]))[1]


def mean_std(values: list[float | None]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return float("nan"), float("nan")
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0
