"""The run directory: every file a run leaves behind, written so a kill loses nothing finished.

Per-trial records are appended and fsynced as each trial ends; files that are
rewritten (leaderboard, summary, config, the resume checkpoint) go through
write-then-rename, so a kill at any instant leaves only whole files and at most
one torn last line in ``trials.jsonl``, which :meth:`RunDirectory.read_trials`
drops (that trial simply runs again on resume).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from autoglm.core.errors import ConfigError, RunError, UsageError
from autoglm.core.results import TrialRecord, leaderboard

CONFIG = "config.yaml"
TRIALS = "trials.jsonl"
LEADERBOARD = "leaderboard.csv"
SUMMARY = "summary.json"
BEST_WEIGHTS = "best_model.pt"
BEST_SPEC = "best_model.json"
PREDICTIONS = "predictions.csv"
#: Weights of the best finished trial so far, tagged with its trial number; read on resume.
CHECKPOINT = "checkpoint.pt"

log = logging.getLogger(__name__)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class RunDirectory:
    """Owns the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def holds_run(self) -> bool:
        return any((self.path / name).exists() for name in (CONFIG, TRIALS, SUMMARY))

    def create(self, *, overwrite: bool = False) -> None:
        """Make the directory; refuse to mix two runs in one unless ``overwrite``."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"output {str(self.path)!r} exists and is not a directory", path="output")
        if self.holds_run():
            if not overwrite:
                raise ConfigError(
                    f"output directory {str(self.path)!r} already holds a run; continue it with "
                    f"--resume {str(self.path)!r}, replace it with --overwrite, or choose another --output",
                    path="output",
                )
            # The whole directory goes: reporters may have written files the kernel does not know.
            shutil.rmtree(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory {str(self.path)!r}: {exc.strerror}", path="output") from None
        self.check_writable()

    def check_writable(self) -> None:
        try:
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"cannot write to output directory {str(self.path)!r}: {exc.strerror}", path="output") from None

    def require_run(self) -> None:
        """Check that there is a run here to resume, and that it can be written to."""
        if not self.path.is_dir():
            raise UsageError(f"cannot resume {str(self.path)!r}: no such directory")
        if not (self.path / CONFIG).is_file():
            raise UsageError(
                f"cannot resume {str(self.path)!r}: it holds no {CONFIG}, so no run was started there "
                "(a run stopped while loading its data has nothing to resume: start it again with autoglm run CONFIG)"
            )
        self.check_writable()

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_text(self / CONFIG, yaml.safe_dump(dict(config), sort_keys=False))

    def append_trial(self, record: TrialRecord) -> None:
        with open(self / TRIALS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record.to_dict(), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read_trials(self) -> list[TrialRecord]:
        """The records in ``trials.jsonl``; a torn last line (a kill mid-write) is dropped."""
        path = self / TRIALS
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(TrialRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:
                if number == len(lines):
                    log.warning("%s: dropping the torn last line %d (a kill mid-write): %s", path, number, exc)
                    continue
                raise RunError(f"{path}: line {number} is not a trial record ({exc}); the file was edited or damaged") from None
        return records

    def rewrite_trials(self, records: Iterable[TrialRecord]) -> None:
        atomic_write_text(self / TRIALS, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records))

    def save_checkpoint(self, trial: int, state_dict: Mapping[str, Any]) -> None:
        """Keep the best weights so far, so a resumed run need not retrain its best trial."""
        import torch

        tmp = self / f".{CHECKPOINT}.tmp"
        torch.save({"trial": trial, "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}, tmp)
        os.replace(tmp, self / CHECKPOINT)

    def load_checkpoint(self, trial: int) -> dict[str, Any] | None:
        """The checkpointed weights of ``trial``, or None when the checkpoint holds another trial (or none)."""
        import torch

        path = self / CHECKPOINT
        if not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            log.warning("%s is unreadable (%s); the best trial will be retrained", path, exc)
            return None
        return saved["state_dict"] if saved.get("trial") == trial else None

    def write_leaderboard(self, records: Iterable[TrialRecord]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["rank", "trial", "model", "val_score", "best_epoch", "epochs", "duration_s", "status", "pruned_at", "params"]
        )
        for rank, r in enumerate(leaderboard(list(records)), start=1):
            params = json.dumps({"model": r.model_params, "train": r.train_params}, sort_keys=True)
            score = "" if r.val_score is None else f"{r.val_score:.4f}"
            writer.writerow(
                [rank, r.trial, r.model, score, r.best_epoch, r.epochs, f"{r.duration_s:.2f}", r.status, r.pruned_at, params]
            )
        atomic_write_text(self / LEADERBOARD, buffer.getvalue())

    def write_json(self, name: str, payload: Mapping[str, Any]) -> None:
        atomic_write_text(self / name, json.dumps(payload, indent=2, sort_keys=False) + "\n")

    def read_json(self, name: str) -> dict[str, Any]:
        return json.loads((self / name).read_text(encoding="utf-8"))

    def write_predictions(self, rows: Iterable[tuple[int, int, int, float]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["node", "y_true", "y_pred", "confidence"])
        for node, truth, pred, confidence in rows:
            writer.writerow([node, truth, pred, f"{confidence:.6f}"])
        atomic_write_text(self / PREDICTIONS, buffer.getvalue())
