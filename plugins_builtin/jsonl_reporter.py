"""Streams finished trials (and optionally epochs) as JSON lines, flushed as they happen."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from autoglm.plugins import RunInfo, RunResult, RunStopped, SelectionReport, TrialRecord, hookimpl


class JsonlReporter:
    def __init__(self, *, path: Path | None = None, epochs: bool = False) -> None:
        self.path = path
        self.epochs = epochs
        self._handle: IO[str] | None = None

    def files(self, run_dir: Path) -> list[Path]:
        """The one file this reporter writes (declared, so the kernel can keep it off the run's own files)."""
        return [self._target(run_dir)]

    def _target(self, run_dir: Path) -> Path:
        return Path(self.path).expanduser() if self.path else Path(run_dir) / "events.jsonl"

    def on_run_start(self, run: RunInfo) -> None:
        target = self._target(run.run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Appending (a resumed run continues the file); a line torn by a kill is ended first.
        torn = target.exists() and target.stat().st_size > 0 and not target.read_bytes().endswith(b"\n")
        self._handle = open(target, "a", encoding="utf-8")
        if torn:
            self._handle.write("\n")
        self._write({"event": "run_start", "run_dir": str(run.run_dir), "seed": run.seed, "budget": run.budget})

    def on_epoch(self, trial: int, epoch: int, metrics: dict[str, float], phase: str) -> None:
        self._write({"event": "epoch", "trial": trial, "epoch": epoch, "phase": phase, **metrics})

    def on_trial_end(self, record: TrialRecord) -> None:
        self._write({"event": "trial_end", **record.to_dict()})

    @property
    def wants_epochs(self) -> bool:
        """With ``epochs: false`` (the default) the kernel sends this reporter no epoch events at all."""
        return self.epochs

    def on_selection(self, selection: SelectionReport) -> None:
        self._write({
            "event": "selection", "chosen": selection.chosen, "metric": selection.metric,
            "contenders": selection.contenders, "not_retrained": selection.not_retrained,
        })

    def on_run_end(self, result: RunResult) -> None:
        self._write({
            "event": "run_end", "best_trial": result.best.trial, "metric": result.metric, "test_score": result.test_score,
        })

    def on_run_stopped(self, stop: RunStopped) -> None:
        self._write({"event": "run_stopped", "status": stop.status, "reason": stop.reason, "trials": len(stop.records)})

    def _write(self, payload: dict[str, Any]) -> None:
        if self._handle is None:
            return
        self._handle.write(json.dumps(payload, sort_keys=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


@hookimpl
def autoglm_register_reporters(register: Any) -> None:
    register("jsonl", JsonlReporter, summary="One JSON line per finished trial (default: RUN_DIR/events.jsonl)")
