"""Progress on the terminal: one line per trial and the final leaderboard."""

from __future__ import annotations

import sys
from typing import Any

from autoglm.plugins import RunInfo, RunResult, TrialRecord, hookimpl


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


class ConsoleReporter:
    def __init__(self, *, top: int = 5) -> None:
        if top < 0:
            raise ValueError(f"top must be 0 or more, got {top}")
        self.top = top
        self._budget = 0
        self._val = "val"

    def _print(self, text: str) -> None:
        print(text, file=sys.stdout, flush=True)

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

    def on_trial_end(self, record: TrialRecord) -> None:
        head = f"[{record.trial:>3}/{self._budget}] {record.model:<6}"
        params = format_params({**record.model_params, **record.train_params, **record.task_params})
        if record.ok:
            self._print(f"{head} {self._val}={record.val_score:.4f} epoch={record.best_epoch:<4} {record.duration_s:6.1f}s  {params}")
        elif record.status == "pruned":
            # The score is partial: the best before the pruner stopped it, so it says where.
            self._print(
                f"{head} {self._val}={record.val_score:.4f} pruned@{record.pruned_at:<4} {record.duration_s:5.1f}s  {params}"
            )
        else:
            self._print(f"{head} FAILED {record.duration_s:6.1f}s  {record.error}")

    def on_run_end(self, result: RunResult) -> None:
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
    register("console", ConsoleReporter, summary="A line per trial and the final leaderboard on stdout")
