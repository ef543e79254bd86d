"""Successive halving across trials: stop a trial early when it trails the ones before it.

Most trials of a search are clearly worse than the best ones long before their
training ends. The pruner compares each trial, at a few fixed epochs (the
*rungs*: ``min_epochs * reduction_factor**k``), with every earlier trial that
reached the same rung, and stops it when it is not in the top
``1/reduction_factor`` there. This is the asynchronous successive halving of
ASHA (Li et al., 2020) for a sequential search: nothing waits for a rung to
fill, a trial is judged against the trials that came before it.

The value a trial brings to a rung is its *best* validation accuracy so far,
not the accuracy of that one epoch: it only grows, so one noisy epoch just
before a rung cannot condemn a trial that was doing well, and it is the score
the trial would be selected by if it stopped there.

Trials can be judged within *groups* only (``report(..., group=...)``): the
runner groups by model when ``pruning.per_model`` is on, since a deep model
that learns slowly at first (GCNII at 64 layers) would otherwise be stopped at
its first rungs by shallow models that learn fast and then stop improving.
Each group has its own rungs' values and its own ``min_trials``.

Everything is decided from the values reported, in the order reported: no
clock, no randomness. A run that is stopped and resumed rebuilds the same state
with :meth:`SuccessiveHalvingPruner.record` (the rungs of the finished trials,
in their order) and so makes the same decisions an uninterrupted run makes.
Pure Python: the kernel imports it without torch.
"""

from __future__ import annotations

from typing import Hashable, Mapping


class SuccessiveHalvingPruner:
    """Decides, epoch by epoch, whether the running trial should stop.

    :param min_epochs: The first rung: no trial is stopped before this epoch.
    :param reduction_factor: Rungs are ``reduction_factor`` times apart, and
        ``1/reduction_factor`` of the trials at a rung go on.
    :param min_trials: How many earlier trials must have reached a rung before
        it stops anyone; until then every trial passes (a handful of values is
        no yardstick).
    :param max_epochs: The most epochs a trial trains, when known. A trial that
        gets there has finished, so no rung is placed at or beyond it.
    :param deferred: Trials that train at once (a round: parallel workers, a
        population) are judged only against the trials of earlier rounds, so
        no decision depends on which trial of a round got ahead. Reports then
        only fill the trial's own rungs; the caller adds them for later trials
        with :meth:`record`, in trial order, once the round is over. With
        rounds of one trial this decides exactly as the immediate mode does.
    """

    def __init__(
        self,
        min_epochs: int,
        reduction_factor: int,
        min_trials: int,
        *,
        max_epochs: int | None = None,
        deferred: bool = False,
    ) -> None:
        for name, value, least in (
            ("min_epochs", min_epochs, 1),
            ("reduction_factor", reduction_factor, 2),
            ("min_trials", min_trials, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
        if max_epochs is not None and (isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1):
            raise ValueError(f"max_epochs must be a positive integer or None, got {max_epochs!r}")
        self.min_epochs, self.reduction_factor, self.min_trials = min_epochs, reduction_factor, min_trials
        self.max_epochs = max_epochs
        self.deferred = deferred
        #: (group, rung epoch) -> the values of every trial of the group that reached it, in the order they arrived.
        self._values: dict[tuple[Hashable, int], list[float]] = {}
        #: trial -> (best value so far, {rung epoch: value}) of trials reported here.
        self._trials: dict[int, tuple[float, dict[int, float]]] = {}

    # -- the rungs ---------------------------------------------------------

    def rung_epochs(self, max_epochs: int | None = None) -> list[int]:
        """The rungs below ``max_epochs`` (default: the pruner's own), in order.

        Without any ``max_epochs`` there is no end to the list, so one is required.
        """
        limit = self.max_epochs if max_epochs is None else max_epochs
        if limit is None:
            raise ValueError("rung_epochs needs max_epochs: the rungs go on forever without it")
        rungs, epoch = [], self.min_epochs
        while epoch < limit:
            rungs.append(epoch)
            epoch *= self.reduction_factor
        return rungs

    def _rungs_up_to(self, epoch: int) -> list[int]:
        rungs, rung = [], self.min_epochs
        while rung <= epoch and (self.max_epochs is None or rung < self.max_epochs):
            rungs.append(rung)
            rung *= self.reduction_factor
        return rungs

    # -- decisions ---------------------------------------------------------

    def report(self, trial: int, epoch: int, value: float, *, group: Hashable = None) -> bool:
        """Take a trial's validation score of one epoch; True means "stop this trial now".

        Epochs need not be consecutive: a rung passed since the last report is
        judged now, with the best value seen so far. Every rung a trial reaches
        keeps its value, pruned or not, so later trials of its ``group`` are
        measured against it (the same group at every report of one trial).
        """
        best, rungs = self._trials.get(trial, (float("-inf"), {}))
        best = max(best, float(value))
        self._trials[trial] = (best, rungs)
        stop = False
        for rung in self._rungs_up_to(epoch):
            if rung in rungs:
                continue
            rungs[rung] = best
            earlier = self._values.setdefault((group, rung), [])
            stop = stop or self._trails(best, earlier)
            if not self.deferred:
                earlier.append(best)
        return stop

    def _trails(self, value: float, earlier: list[float]) -> bool:
        """Is ``value`` outside the top ``1/reduction_factor`` of ``earlier`` plus itself?"""
        if len(earlier) < self.min_trials:
            return False
        keep = max(1, (len(earlier) + 1) // self.reduction_factor)
        # The trial goes on when fewer than `keep` earlier values beat it (ties keep it).
        return sum(other > value for other in earlier) >= keep

    def rungs_of(self, trial: int) -> dict[int, float]:
        """The rungs a reported trial reached and its value at each (recorded with the trial)."""
        return dict(self._trials.get(trial, (0.0, {}))[1])

    def forget(self, trial: int) -> None:
        """Drop a reported trial's own state (its rungs live on in the values it added)."""
        self._trials.pop(trial, None)

    def record(self, trial_rungs: Mapping[int | str, float], *, group: Hashable = None) -> None:
        """Add a finished trial's rungs (as :meth:`rungs_of` gave them; JSON string keys are fine) to its group.

        Resume calls this for each finished trial in order, rebuilding the state
        the interrupted run had, so the trials still to come meet the same rungs.
        """
        for rung, value in sorted((int(k), float(v)) for k, v in trial_rungs.items()):
            self._values.setdefault((group, rung), []).append(value)

    def values_at(self, rung: int, *, group: Hashable = None) -> list[float]:
        """The values one group recorded at one rung so far (for reports and tests)."""
        return list(self._values.get((group, rung), []))
