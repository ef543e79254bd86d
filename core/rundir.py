"""The run directory: every file a run leaves behind, written so a kill loses nothing finished.

Per-trial records are appended and fsynced as each trial ends; files that are
rewritten (leaderboard, summary, config, the resume checkpoint) go through
write-then-rename, so a kill at any instant leaves only whole files and at most
one torn last line in ``trials.jsonl``, which :meth:`RunDirectory.read_trials`
drops (that trial simply runs again on resume).

A run directory may also hold files a user put there: they are never removed.
``--overwrite`` removes only what a run writes: the kernel's files, and the
files reporters declared (recorded in ``.autoglm-run.json``, with the config
the run started from). One process owns a run directory at a time
(:mod:`autoglm.core.runlock`). A write that fails (a full disk, a quota) ends
the run with one message naming the file, and leaves no temporary file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import yaml

from autoglm.core.errors import ConfigError, RunError, UsageError, describe_os_error
from autoglm.core.protocols import Objective
from autoglm.core.results import TrialRecord, leaderboard
from autoglm.core.runlock import LOCK, RunLock

CONFIG = "config.yaml"
TRIALS = "trials.jsonl"
LEADERBOARD = "leaderboard.csv"
SUMMARY = "summary.json"
BEST_WEIGHTS = "best_model.pt"
BEST_SPEC = "best_model.json"
PREDICTIONS = "predictions.csv"
#: Weights of the best finished trial so far, tagged with its trial number; read on resume.
CHECKPOINT = "checkpoint.pt"
#: The run's own bookkeeping: the config it started from and every file it writes.
STATE = ".autoglm-run.json"
#: Files whose presence means a run (or part of one) is here.
RUN_FILES = (CONFIG, TRIALS, LEADERBOARD, SUMMARY, BEST_WEIGHTS, BEST_SPEC, PREDICTIONS, CHECKPOINT, STATE)
_PROBE = ".write-test"
#: Files that belong to the kernel and no reporter may write.
RESERVED = (*RUN_FILES, LOCK, _PROBE)

log = logging.getLogger(__name__)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename over ``path``; on any failure the temporary file is removed."""
    tmp = _tmp(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write)


class RunDirectory:
    """Owns the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = RunLock(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- claiming the directory ----------------------------------------------

    def run_files(self) -> list[str]:
        """The run files present (a run, or what is left of one)."""
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def holds_run(self) -> bool:
        return bool(self.run_files())

    def create(self, *, overwrite: bool = False, keep_other_files: bool = False, claimed: Iterable[Path] = ()) -> None:
        """Make the directory and take its lock; refuse to mix two runs in one unless ``overwrite``.

        ``claimed`` are the files this run's reporters will write (they count as
        the run's own when overwriting). Files autoglm did not write stop an
        overwrite unless ``keep_other_files``, and are never removed.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"output {str(self.path)!r} exists and is not a directory", path="output")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory {str(self.path)!r}: {exc.strerror}", path="output") from None
        self.check_writable()
        self.lock.acquire()
        try:
            present = self.run_files()
            if present and not overwrite:
                what = "already holds a run" if CONFIG in present else (
                    f"holds a run's files ({', '.join(present)}) but no {CONFIG}"
                )
                raise ConfigError(
                    f"output directory {str(self.path)!r} {what}; continue it with --resume {str(self.path)!r}, "
                    "replace it with --overwrite, or choose another --output",
                    path="output",
                )
            if overwrite:
                self._remove_run_files(claimed, keep_other_files)
        except BaseException:
            self.lock.release()
            raise

    def _owned(self, claimed: Iterable[Path]) -> set[str]:
        """Paths (relative, with '/') a run writes here: the kernel's, its temporaries, and declared ones."""
        names = set(RESERVED) | set(self.read_state_files()) | set(self.relative(claimed))
        return names | {f".{name}.tmp" for name in names}

    def _remove_run_files(self, claimed: Iterable[Path], keep_other_files: bool) -> None:
        owned = self._owned(claimed)
        ours, others = [], []
        for path in self._files():
            relative = path.relative_to(self.path).as_posix()
            # a declared folder (a reporter's log directory) owns everything below it
            mine = relative in owned or any(relative.startswith(f"{name}/") for name in owned)
            (ours if mine else others).append(path)
        if others and not keep_other_files:
            tops = sorted({p.relative_to(self.path).parts[0] + ("/" if len(p.relative_to(self.path).parts) > 1 else "") for p in others})
            listed = ", ".join(tops[:5]) + (f" and {len(tops) - 5} more" if len(tops) > 5 else "")
            raise ConfigError(
                f"output directory {str(self.path)!r} also holds files autoglm did not write ({listed}); "
                "--overwrite removes only a run's own files: move those away, or add --keep-other-files "
                "to replace the run and leave them in place",
                path="output",
            )
        for path in ours:
            if path.name == LOCK:
                continue  # held by this process; removing a lock file is racy
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ConfigError(f"cannot remove {str(path)!r} of the old run: {describe_os_error(exc)}", path="output") from None
        self._prune_empty_dirs()
        removed = sum(p.name != LOCK for p in ours)
        if removed:
            log.info("--overwrite: removed %d file(s) of the old run in %s", removed, self.path)

    def _files(self) -> Iterator[Path]:
        """Every file (and symlink) below the directory; symlinked folders inside are not followed."""
        for folder, dirs, files in os.walk(self.path):
            base = Path(folder)
            for name in dirs:
                if (base / name).is_symlink():
                    yield base / name
            for name in files:
                yield base / name

    def _prune_empty_dirs(self) -> None:
        for folder, _, _ in sorted(os.walk(self.path), key=lambda entry: -len(entry[0])):
            if Path(folder) != self.path:
                with contextlib.suppress(OSError):
                    Path(folder).rmdir()  # only empty ones go

    def relative(self, paths: Iterable[Path]) -> list[str]:
        """The paths that lie inside this directory, relative to it (with '/')."""
        root = self.path.resolve()
        inside = []
        for path in paths:
            try:
                inside.append(Path(path).resolve().relative_to(root).as_posix())
            except ValueError:
                continue
        return inside

    def check_claims(self, claims: Mapping[str, Iterable[Path]], *, source: str | None = None) -> None:
        """Refuse a component's file that is one of the run's own (``jsonl`` writing into ``trials.jsonl``)."""
        reserved = {(self.path / name).resolve() for name in RESERVED} | {self.path.resolve()}
        seen: dict[Path, str] = {}
        for where, paths in claims.items():
            for path in paths:
                resolved = Path(path).resolve()
                if resolved in reserved:
                    raise ConfigError(
                        f"{str(path)!r} is the run's own {'directory' if resolved == self.path.resolve() else 'file'}; "
                        "a reporter must write elsewhere (leave its path out for its default file)",
                        source=source,
                        path=where,
                    )
                if resolved in seen:
                    raise ConfigError(
                        f"{str(path)!r} is also written by {seen[resolved]}; give each its own file", source=source, path=where
                    )
                seen[resolved] = where

    def check_writable(self) -> None:
        try:
            probe = self.path / _PROBE
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"cannot write to output directory {str(self.path)!r}: {exc.strerror}", path="output") from None

    def require_run(self) -> None:
        """Check that there is a run here to resume and that it can be written to (``lock`` it to resume it)."""
        if not self.path.is_dir():
            raise UsageError(f"cannot resume {str(self.path)!r}: no such directory")
        if not (self.path / CONFIG).is_file():
            raise UsageError(
                f"cannot resume {str(self.path)!r}: it holds no {CONFIG}, so no run was started there "
                "(a run stopped while loading its data has nothing to resume: start it again with autoglm run CONFIG)"
            )
        self.check_writable()

    def release(self) -> None:
        self.lock.release()

    # -- writing -------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """Any OSError while writing ``name`` becomes one RunError naming the file and the resource."""
        path = self.path / name
        try:
            yield path
        except OSError as exc:
            resume = f"; after fixing it, continue with: autoglm run --resume {self.path}" if (self.path / CONFIG).exists() else ""
            raise RunError(f"cannot write {str(path)!r}: {describe_os_error(exc)}{resume}") from None

    def write_text(self, name: str, text: str) -> None:
        with self.writing(name) as path:
            atomic_write_text(path, text)

    def write_config(self, config: Mapping[str, Any]) -> None:
        self.write_text(CONFIG, yaml.safe_dump(dict(config), sort_keys=False))

    def write_state(
        self, config: Mapping[str, Any], files: Iterable[str], dataset: Mapping[str, Any] | None = None
    ) -> None:
        """Record the config the run started from, the files it writes (for resume and --overwrite) and
        the facts of its data (its checksum, where the loader gives one: resume and predict compare it)."""
        state = {"format": 1, "config": dict(config), "files": sorted(set(files))}
        if dataset is not None:
            state["dataset"] = {k: v for k, v in dataset.items() if isinstance(v, (str, int, float, bool))}
        self.write_text(STATE, json.dumps(state, indent=1, sort_keys=True) + "\n")

    def read_state(self) -> dict[str, Any] | None:
        """The recorded state, or None when there is none (a run from before it existed) or it is unreadable."""
        path = self / STATE
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or not isinstance(state.get("files"), list):
                raise ValueError("not a run state")
            return state
        except (OSError, ValueError) as exc:
            log.warning("%s is unreadable (%s); going on without it", path, exc)
            return None

    def read_state_files(self) -> list[str]:
        state = self.read_state()
        return [name for name in (state or {}).get("files", []) if isinstance(name, str)]

    def append_trial(self, record: TrialRecord) -> None:
        with self.writing(TRIALS) as path, open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record.to_dict(), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def rewrite_trials(self, records: Iterable[TrialRecord]) -> None:
        self.write_text(TRIALS, "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records))

    def save_checkpoint(self, trial: int, state_dict: Mapping[str, Any]) -> None:
        """Keep the best weights so far, so a resumed run need not retrain its best trial."""
        self.save_tensors(CHECKPOINT, {"trial": trial, "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}})

    def save_tensors(self, name: str, payload: Any) -> None:
        """``torch.save`` into memory, then an ordinary fsynced write: a full disk is then an OSError
        (torch's own writer turns a short write into "unexpected pos")."""
        import torch

        buffer = io.BytesIO()
        torch.save(payload, buffer)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                handle.write(buffer.getbuffer())
                handle.flush()
                os.fsync(handle.fileno())

        with self.writing(name) as path:
            atomic_write(path, write)

    def write_leaderboard(self, records: Iterable[TrialRecord], objective: Objective) -> None:
        """Trials best first by ``objective``; the score column is named after its metric (``val_acc``)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["rank", "trial", "model", objective.key, "best_epoch", "epochs", "duration_s", "status", "pruned_at", "params"]
        )
        for rank, r in enumerate(leaderboard(list(records), objective), start=1):
            parts = {"model": r.model_params, "train": r.train_params} | ({"task": r.task_params} if r.task_params else {})
            params = json.dumps(parts, sort_keys=True)
            score = "" if r.val_score is None else f"{r.val_score:.4f}"
            writer.writerow(
                [rank, r.trial, r.model, score, r.best_epoch, r.epochs, f"{r.duration_s:.2f}", r.status, r.pruned_at, params]
            )
        self.write_text(LEADERBOARD, buffer.getvalue())

    def write_json(self, name: str, payload: Mapping[str, Any]) -> None:
        self.write_text(name, json.dumps(payload, indent=2, sort_keys=False) + "\n")

    def write_predictions(self, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
        """The task's prediction rows for the test split, under its header."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(list(header))
        writer.writerows(rows)
        self.write_text(PREDICTIONS, buffer.getvalue())

    # -- reading (what a resume or `show` trusts is checked first) -----------

    def read_text(self, name: str, *, doing: str) -> str:
        """A run file's text; unreadable or non-UTF-8 content is a RunError 'cannot <doing>: <file>: ...'."""
        path = self / name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise RunError(f"cannot {doing}: {path}: {describe_os_error(exc)}") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise RunError(f"cannot {doing}: {path}: line {line} is not UTF-8 text; the file was edited or damaged") from None

    def read_json(self, name: str, *, doing: str = "read the run") -> dict[str, Any]:
        """A JSON object from a run file; anything else is a RunError naming the file and the problem."""
        text = self.read_text(name, doing=doing)
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise RunError(f"cannot {doing}: {self / name}: not valid JSON ({exc}); the file was edited or damaged") from None
        if not isinstance(payload, dict):
            raise RunError(f"cannot {doing}: {self / name}: expected a JSON object, got a {type(payload).__name__}")
        return payload

    def read_trials(self, *, doing: str = "resume") -> list[TrialRecord]:
        """The records in ``trials.jsonl``; a torn last line (a kill mid-write) is dropped.

        A line is torn only when it is the last and the file does not end with a
        newline (records are written whole, newline included); any other bad line
        means the file was edited or damaged, and is refused with its number.
        """
        path = self / TRIALS
        if not path.exists():
            return []
        text = self.read_text(TRIALS, doing=doing)
        lines = text.split("\n")
        torn_allowed = not text.endswith("\n")
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(TrialRecord.from_dict(json.loads(line)))
            except ValueError as exc:
                if number == len(lines) and torn_allowed:
                    log.warning("%s: dropping the torn last line %d (a kill mid-write): %s", path, number, exc)
                    continue
                raise RunError(
                    f"cannot {doing}: {path}: line {number} is not a trial record ({exc}); the file was edited or damaged"
                ) from None
        return records

    def load_checkpoint(self, trial: int) -> dict[str, Any] | None:
        """The checkpointed weights of ``trial``, or None when the checkpoint holds another trial (or none).

        A checkpoint that is not what this module writes is refused: resuming
        from weights nobody can vouch for would select and test them.
        """
        import torch

        path = self / CHECKPOINT
        if not path.exists():
            return None
        hint = "; delete it and the resume retrains the best trial from its recorded seed"
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise RunError(f"cannot resume: {path}: unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}){hint}") from None
        if not isinstance(saved, dict) or set(saved) != {"trial", "state_dict"}:
            raise RunError(f"cannot resume: {path}: not an autoglm checkpoint (expected keys trial, state_dict){hint}")
        state = saved["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            raise RunError(f"cannot resume: {path}: 'state_dict' is not a mapping of names to tensors{hint}")
        return state if saved["trial"] == trial else None
