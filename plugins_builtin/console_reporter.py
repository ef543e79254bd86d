"""Progress on the terminal: a live progress bar (or one line per trial when output is not a terminal), and
the final leaderboard.

On a terminal the bar shows trials done of the budget, the best validation
score so far, the ETA and the current trial's epoch (tqdm); each finished
trial still gets its line above the bar. Off a terminal (CI logs, a file) it
prints plain lines only, with no carriage returns. ``AUTOGLM_QUIET=1`` (what
``autoglm -q`` sets) silences it.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal, TextIO

from autoglm.plugins import RunInfo, RunResult, RunStopped, TrialRecord, format_params, hookimpl


class ConsoleReporter:
    def __init__(self, *, top: int = 5, progress: Literal["auto", "bar", "lines"] = "auto") -> None:
        if top < 0:
            raise ValueError(f"top must be 0 or more, got {top}")
        self.top, self.progress = top, progress
        self.quiet = os.environ.get("AUTOGLM_QUIET", "") not in ("", "0")
        self._budget = 0
        self._val = "val"
        self._bar: Any = None
        self._best: float | None = None
        self._mode = "max"
        self.stream: TextIO = sys.stdout

    @property
    def wants_epochs(self) -> bool:
        """Only the bar shows epochs: plain lines need no epoch events."""
        return self._uses_bar()

    def _uses_bar(self) -> bool:
        if self.quiet or self.progress == "lines":
            return False
        return self.progress == "bar" or bool(getattr(self.stream, "isatty", lambda: False)())

    def _print(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def on_run_start(self, run: RunInfo) -> None:
        self._budget = run.budget
        self._val = run.objective.key
        d = run.dataset
        shape = ", ".join(f"{d[key]} {word}" for key, word in _SHAPE if key in d)
        name = d.get("name") or d.get("loader", "")
        self._print(
            f"autoglm: {run.task} on {name} ({shape}); objective {run.objective.mode} {run.objective.key}; "
            f"budget {run.budget} trials; seed {run.seed}; run dir {run.run_dir}"
        )
        if run.resumed_trials:
            self._print(f"resuming: {run.resumed_trials} finished trial(s) kept, {run.budget - run.resumed_trials} to go")
        self._mode = run.objective.mode
        if self._uses_bar():
            from tqdm import tqdm

            self._bar = tqdm(
                total=run.budget, initial=run.resumed_trials, desc="trials", unit="trial", file=self.stream,
                dynamic_ncols=True, leave=False,
            )

    def on_epoch(self, trial: int, epoch: int, metrics: dict[str, float], phase: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(f"{'trial' if phase == 'search' else 'selection, trial'} {trial} epoch {epoch}"))

    def _postfix(self, now: str) -> str:
        best = "-" if self._best is None else f"{self._best:.4f}"
        return f"best {self._val}={best} | {now}"

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_run_stopped(self, stop: RunStopped) -> None:
        self._close_bar()

    def on_trial_end(self, record: TrialRecord) -> None:
        if record.ok and record.val_score is not None:
            better = self._best is None or (record.val_score > self._best if self._mode == "max" else record.val_score < self._best)
            self._best = record.val_score if better else self._best
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(self._postfix(f"trial {record.trial} {record.status}"))
        head = f"[{record.trial:>3}/{self._budget}] {record.model:<6}"
        params = format_params({**record.model_params, **record.train_params, **record.task_params})
        if record.duplicate_of is not None:
            score = "" if record.val_score is None else f" {self._val}={record.val_score:.4f}"
            self._print(f"{head} repeats trial {record.duplicate_of} (not trained again){score}")
        elif record.ok:
            self._print(f"{head} {self._val}={record.val_score:.4f} epoch={record.best_epoch:<4} {record.duration_s:6.1f}s  {params}")
        elif record.status == "pruned":
            # The score is partial: the best before the pruner stopped it, so it says where.
            self._print(
                f"{head} {self._val}={record.val_score:.4f} pruned@{record.pruned_at:<4} {record.duration_s:5.1f}s  {params}"
            )
        else:
            self._print(f"{head} FAILED {record.duration_s:6.1f}s  {record.error}")

    def on_run_end(self, result: RunResult) -> None:
        self._close_bar()
        if self.top:
            self._print(f"leaderboard ({self._val}):")
            for rank, r in enumerate(result.leaderboard()[: self.top], start=1):
                if r.ok:
                    params = format_params({**r.model_params, **r.task_params})
                    self._print(f"  {rank}. trial {r.trial:<3} {r.model:<6} {self._val}={r.val_score:.4f}  {params}")
        selection = result.summary.get("selection") or {}
        compared = selection.get("contenders") or []
        if len(compared) > 1 or selection.get("not_retrained"):
            shown = ", ".join(
                f"trial {c['trial']} ({c['model']}) {c['val_mean']:.4f}±{c['val_std']:.4f}" for c in compared
            )
            left = "; ".join(f"trial {s['trial']} ({s['val_score']:.4f})" for s in selection.get("not_retrained") or [])
            self._print(
                f"selection by mean {self._val} over {selection.get('seeds')} seeds: {shown}"
                + (f"; not re-trained, outside the best's noise band: {left}" if left else "")
            )
        self._print(
            f"best: trial {result.best.trial} ({result.best.model}) {self._val}={result.val_score:.4f} "
            f"test_{result.metric}={_test(result)}; {len(result.trials)} trials{_pruned(result)} in {result.wall_time_s:.1f}s; "
            f"results in {result.run_dir}"
        )


#: Sizes a task may report, as the run's first line names them.
_SHAPE = (("num_graphs", "graphs"), ("num_nodes", "nodes"), ("num_edges", "edges"), ("num_classes", "classes"))


def _pruned(result: RunResult) -> str:
    count = sum(t.status == "pruned" for t in result.trials)
    return f" ({count} pruned)" if count else ""


def _test(result: RunResult) -> str:
    """The headline test figure: mean ± std over the selected configuration's seeds."""
    if result.test_seeds > 1:
        return f"{result.test_score:.4f}±{result.test_std:.4f} ({result.test_seeds} seeds)"
    return f"{result.test_score:.4f}"


@hookimpl
def autoglm_register_reporters(register: Any) -> None:
    register(
        "console", ConsoleReporter,
        summary="A progress bar on a terminal (a line per trial otherwise) and the final leaderboard, on stdout",
    )
