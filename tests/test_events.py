"""The run's events reach reporters in the documented order, however the run ends and wherever trials train."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from autoglm.core import ConfigError, Engine, RunError, RunInterrupted
from autoglm.core.events import EVENTS, RunEvents, event_arguments
from autoglm.plugins import FitResult, hookimpl
from autoglm.plugins.testing import tiny_config

REPO = Path(__file__).resolve().parents[1]


class Recorder:
    """Every event, with what it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_run_start(self, run: Any) -> None:
        self.events.append(("run_start", run.budget))

    def on_trial_start(self, trial: int, candidate: Any) -> None:
        self.events.append(("trial_start", trial))

    def on_epoch(self, trial: int, epoch: int, metrics: Any, phase: str) -> None:
        self.events.append(("epoch", (trial, epoch, phase, round(metrics["val_acc"], 6))))

    def on_trial_end(self, record: Any) -> None:
        self.events.append(("trial_end", record.trial))

    def on_selection(self, selection: Any) -> None:
        self.events.append(("selection", selection.chosen))

    def on_run_end(self, result: Any) -> None:
        self.events.append(("run_end", result.summary.status))

    def on_run_stopped(self, stop: Any) -> None:
        self.events.append(("run_stopped", (stop.status, stop.reason)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def epochs(self, phase: str = "search") -> dict[int, list[tuple[int, float]]]:
        found: dict[int, list[tuple[int, float]]] = {}
        for name, value in self.events:
            if name == "epoch" and value[2] == phase:
                found.setdefault(value[0], []).append((value[1], value[3]))
        return found


def config(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    cfg = tiny_config(tmp_path / "run", models=["gcn"], budget=3, max_epochs=6, **kw)
    cfg["pruning"] = False
    return cfg


def test_a_finished_run_fires_every_event_in_order(tmp_path: Path) -> None:
    recorder = Recorder()
    cfg = config(tmp_path)
    cfg["selection"] = {"top_k": 2, "seeds": 2, "noise_band": float("inf")}
    result = Engine(autoload=False).run(cfg, reporters=[recorder])
    names = recorder.names()
    assert names[0] == "run_start" and names[-2:] == ["selection", "run_end"]
    position = 1
    for trial in (1, 2, 3):  # each trial: its start, its six epochs, its end, in that order
        assert recorder.events[position] == ("trial_start", trial)
        position += 1
        epochs = 0
        while recorder.events[position][0] == "epoch":
            assert recorder.events[position][1][0] == trial and recorder.events[position][1][2] == "search"
            epochs, position = epochs + 1, position + 1
        assert epochs == 6 and recorder.events[position] == ("trial_end", trial)
        position += 1
    assert set(names[position:-2]) == {"epoch"}  # then selection's re-training, before on_selection
    retrained = recorder.epochs("selection")
    assert sorted(retrained) == sorted({c["trial"] for c in result.summary["selection"]["contenders"]})
    assert all(len(epochs) == 6 for epochs in retrained.values())  # one more seed each, 6 epochs
    assert ("selection", result.best.trial) in recorder.events and ("run_end", "ok") in recorder.events


def test_an_interrupted_run_ends_with_run_stopped(tmp_path: Path) -> None:
    recorder = Recorder()

    class CtrlC:
        def on_trial_start(self, trial: int) -> None:  # a subset of the event's arguments is fine
            if trial == 2:
                raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        Engine(autoload=False).run(config(tmp_path), reporters=[recorder, CtrlC()])
    names = recorder.names()
    assert "run_end" not in names and "selection" not in names and names[-1] == "run_stopped"
    status, reason = recorder.events[-1][1]
    assert status == "interrupted" and "Resume with: autoglm run --resume" in reason
    assert names.count("run_stopped") == 1


class Broken:
    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> FitResult:
        raise RuntimeError("no trial can train")

    def evaluate(self, model: Any, data: Any, run: Any) -> Any:
        return run(model, data)


class BrokenPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register: Any) -> None:
        register("broken", Broken)


def test_a_run_whose_every_trial_failed_ends_with_run_stopped(tmp_path: Path) -> None:
    recorder = Recorder()
    cfg = config(tmp_path)
    cfg["trainer"] = {"name": "broken"}
    with pytest.raises(RunError, match="every trial failed"):
        Engine(plugins=[BrokenPlugin()], autoload=False).run(cfg, reporters=[recorder])
    assert recorder.names()[-1] == "run_stopped" and "run_end" not in recorder.names()
    status, reason = recorder.events[-1][1]
    assert status == "failed" and "every trial failed (3 of 3): RuntimeError: no trial can train" in reason


def test_workers_forward_their_epochs_in_order_and_as_one_process_would(tmp_path: Path) -> None:
    alone, parallel = Recorder(), Recorder()
    Engine(autoload=False).run(config(tmp_path / "one", tuner="random"), reporters=[alone])
    two = config(tmp_path / "two", tuner="random")
    two["workers"] = 2
    Engine(autoload=False).run(two, reporters=[parallel])
    assert parallel.epochs() and set(parallel.epochs()) == {1, 2, 3}
    # one process trains rounds of one, two workers rounds of two: trial 1 is the same in both
    assert parallel.epochs()[1] == alone.epochs()[1]
    for trial, epochs in parallel.epochs().items():
        assert [e for e, _ in epochs] == sorted(e for e, _ in epochs)
        end = parallel.events.index(("trial_end", trial))
        last = max(i for i, (n, v) in enumerate(parallel.events) if n == "epoch" and v[0] == trial and v[2] == "search")
        assert last < end  # a trial's epochs come before its end


def test_a_reporter_that_wants_no_epochs_gets_none(tmp_path: Path) -> None:
    class Quiet(Recorder):
        wants_epochs = False

    quiet = Quiet()
    Engine(autoload=False).run(config(tmp_path), reporters=[quiet])
    assert "epoch" not in quiet.names() and "trial_end" in quiet.names()


def test_a_reporter_whose_methods_do_not_fit_the_events_is_a_config_error(tmp_path: Path) -> None:
    class Misnamed:
        def on_epoch(self, trial: int, step: int, metrics: Any) -> None: ...

    with pytest.raises(ConfigError, match=r"on_epoch\(trial, step, metrics\) takes step, which the event does not pass"):
        Engine(autoload=False).run(config(tmp_path), reporters=[Misnamed()])


def test_the_jsonl_reporter_records_selection_and_a_stop(tmp_path: Path) -> None:
    import json

    cfg = config(tmp_path)
    cfg["reporters"] = [{"name": "jsonl", "options": {"epochs": True}}]
    Engine(autoload=False).run(cfg)
    lines = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "run_start" and kinds[-2:] == ["selection", "run_end"]
    assert {line["phase"] for line in lines if line["event"] == "epoch"} == {"search"}


def test_every_event_is_specified_documented_and_in_the_plugin_guide() -> None:
    guide = (REPO / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    assert EVENTS == ("on_run_start", "on_trial_start", "on_epoch", "on_trial_end", "on_selection", "on_run_end", "on_run_stopped")
    for event in EVENTS:
        doc = inspect.getdoc(getattr(RunEvents, event)) or ""
        assert all(f":param {name}:" in doc for name in event_arguments(event)), event
        assert f"def {event}(" in guide, event


class FakeTerminal:
    """A stream that says it is a terminal, keeping what was written."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None: ...

    def isatty(self) -> bool:
        return True

    def text(self) -> str:
        return "".join(self.parts)


def console(progress: str = "auto", stream: Any = None) -> Any:
    from autoglm.plugins_builtin.console_reporter import ConsoleReporter

    reporter = ConsoleReporter(progress=progress)  # type: ignore[arg-type]
    if stream is not None:
        reporter.stream = stream
    return reporter


def test_the_console_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    terminal = FakeTerminal()
    reporter = console(stream=terminal)
    cfg = config(tmp_path)
    cfg["reporters"] = []
    Engine(autoload=False).run(cfg, reporters=[reporter])
    text = terminal.text()
    assert "\r" in text and "trials:" in text and "/3" in text  # tqdm's live line: done of the budget
    assert "best val_acc=" in text and "epoch" in text  # the best score so far and the current trial's epoch
    assert "[  1/3] gcn" in text and "best: trial" in text  # trial lines above the bar, and the final line


def test_off_a_terminal_the_console_prints_plain_lines(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    reporter = console(stream=stream)
    assert reporter.wants_epochs is False  # plain lines need no epoch events
    Engine(autoload=False).run(config(tmp_path), reporters=[reporter])
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith("autoglm: node_classification on") and "[  3/3] gcn" in text
    assert lines[-1].startswith("best: trial")


def test_quiet_silences_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("AUTOGLM_QUIET", "1")
    stream = io.StringIO()
    Engine(autoload=False).run(config(tmp_path), reporters=[console(progress="bar", stream=stream)])
    assert stream.getvalue() == ""
