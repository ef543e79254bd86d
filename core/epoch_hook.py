"""The ``on_epoch`` callback a trainer gets for one trial: reporters first, then the pruner's verdict."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Mapping

from autoglm.core.pruning import SuccessiveHalvingPruner

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.runner import Runner


class EpochHook:
    """The ``on_epoch`` a trainer gets for one trial: the reporters' epoch event, then the pruner's verdict.

    Returns True when the pruner wants the trial stopped. The trial counts as
    pruned only if the trainer did stop there (no later epoch came); a trainer
    that ignores the answer trains on and its trial ends ``ok``.
    """

    def __init__(
        self, runner: "Runner", trial: int, pruner: SuccessiveHalvingPruner | None, *, emit: bool,
        forward: bool = False, phase: str = "search", group: str | None = None,
    ) -> None:
        self.runner, self.trial, self.pruner, self.emit = runner, trial, pruner, emit
        #: In a worker process: collect the events for the run's process to fire.
        self.forward, self.phase = forward, phase
        #: The pruner compares this trial with the earlier trials of this group (None: with all of them).
        self.group = group
        #: The objective's value at each epoch (None where it was not a finite number): the trial's curve.
        self.curve: list[float | None] = []
        self._last: tuple[int, bool] | None = None  # (epoch, asked to stop)

    @property
    def stopped_at(self) -> int | None:
        """The epoch of the last call, if that call asked the trainer to stop."""
        return self._last[0] if self._last is not None and self._last[1] else None

    def __call__(self, epoch: int, metrics: Mapping[str, float]) -> bool:
        runner = self.runner
        if self.emit:
            runner.reporters.emit("on_epoch", trial=self.trial, epoch=int(epoch), metrics=dict(metrics), phase=self.phase)
        elif self.forward:
            runner._forward.append((self.trial, int(epoch), {k: float(v) for k, v in metrics.items()}, self.phase))
        if self.stopped_at is not None:
            runner._say_once(
                "ignored", logging.INFO,
                "trainer %r went on after the pruner asked it to stop (trial %d, epoch %d): its trials are never pruned",
                runner.config.trainer.name, self.trial, self.stopped_at,
            )
        stop = False
        value = metrics.get(runner.objective.key)
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        self.curve.append(round(float(value), 6) if finite else None)
        if self.pruner is not None:
            objective = runner.objective
            if finite:
                stop = self.pruner.report(self.trial, int(epoch), objective.utility(value), group=self.group)  # higher: better
            else:
                runner._say_once(
                    "no-objective", logging.WARNING,
                    "trainer %r reports no finite %s in its epoch metrics (got %r): its trials cannot be pruned",
                    runner.config.trainer.name, objective.key, value,
                )
        self._last = (int(epoch), stop)
        return stop
