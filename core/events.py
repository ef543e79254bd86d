"""The run's lifecycle: the events a reporter receives, in the order they fire.

In the style of pytest's ``hookspec.py``: each event below says what it is
for, what it is given and when it fires. A reporter is any component (see
``autoglm_register_reporters``) with methods named like these events; every
method is optional, and it may take any subset of an event's arguments, by
name (a reporter written for ``on_epoch(trial, epoch, metrics)`` keeps working
now that the event also passes ``phase``). A method whose arguments the event
does not have is a config error when the run starts, naming the reporter.

One run fires, in this order::

    on_run_start
      (on_trial_start, on_epoch ..., on_trial_end)    once per trial of the search
      on_epoch (phase "selection") ...               selection's re-training
      on_selection
    on_run_end                                        the run finished
    on_run_stopped                                    instead of on_run_end: interrupted or failed

Trials trained in worker processes (``workers: N``) send their epoch events to
the run's process, which fires them in order per trial, right before that
trial's ``on_trial_end``. A reporter that raises is disabled for the rest of
the run (logged once); the run goes on. A reporter may set ``wants_epochs =
False`` to receive no ``on_epoch`` at all (the kernel then builds no epoch
metrics for it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.protocols import Candidate
    from autoglm.core.results import RunInfo, RunResult, RunStopped, SelectionReport, TrialRecord

PROJECT = "autoglm_events"
eventspec = pluggy.HookspecMarker(PROJECT)
#: Where an epoch was trained: the search itself, or selection's re-training with another seed.
PHASES = ("search", "selection")


class RunEvents:
    """The event specifications (the methods' bodies are never called)."""

    @eventspec
    def on_run_start(self, run: "RunInfo") -> None:
        """The run directory exists, the data is loaded and checked, the tuner is set up; no trial has started.

        :param run: The run directory, the resolved config, the seed, the budget, the data's sizes, the task
            and its objective, and how many finished trials a resume carried over.
        """

    @eventspec
    def on_trial_start(self, trial: int, candidate: "Candidate") -> None:
        """A trial of the search is about to train (with ``workers: N``, every trial of a round, as the round starts).

        :param trial: The trial number (1, 2, ...).
        :param candidate: The model, its parameters, the training and the task parameters the tuner proposed.
        """

    @eventspec
    def on_epoch(self, trial: int, epoch: int, metrics: Mapping[str, float], phase: str) -> None:
        """A trainer finished an evaluated epoch.

        :param trial: The trial the epoch belongs to (in selection, the trial whose configuration re-trains).
        :param epoch: The epoch number the trainer gives (1, 2, ...).
        :param metrics: The epoch's metrics, the objective's ``val_<metric>`` among them.
        :param phase: ``"search"`` or ``"selection"`` (one of :data:`PHASES`).
        """

    @eventspec
    def on_trial_end(self, record: "TrialRecord") -> None:
        """A trial of the search ended (ok, pruned, failed), and its record is already durable in ``trials.jsonl``.

        :param record: The trial's record: status, scores, epochs, rungs, error, duration.
        """

    @eventspec
    def on_selection(self, selection: "SelectionReport") -> None:
        """Robust selection chose the configuration that will be tested (fires with selection off, too).

        :param selection: The contenders with their seeds' validation scores, those left out as outside the
            noise band, and the chosen trial.
        """

    @eventspec
    def on_run_end(self, result: "RunResult") -> None:
        """The run finished: the test score, the saved model, the predictions and ``summary.json`` are written.

        :param result: The run's result; ``result.summary`` is the :class:`~autoglm.core.results.RunSummary`
            that ``summary.json`` holds.
        """

    @eventspec
    def on_run_stopped(self, stop: "RunStopped") -> None:
        """The run ended without finishing, instead of :meth:`on_run_end`: interrupted (Ctrl-C, SIGTERM) or failed
        (every trial failed, a write failed, ...). The run directory holds what was finished.

        :param stop: ``status`` (``"interrupted"`` or ``"failed"``), ``reason``, the records so far and the run
            directory.
        """


EVENTS = tuple(name for name in vars(RunEvents) if name.startswith("on_"))


def event_arguments(event: str) -> tuple[str, ...]:
    """The argument names an event passes."""
    import inspect

    return tuple(p for p in inspect.signature(getattr(RunEvents, event)).parameters if p != "self")
