"""Nothing finished is lost: Ctrl-C, SIGKILL and resume, through the Python API and the CLI.

A resumed run replays its finished trials into a freshly seeded tuner and
re-runs the trial that was running, so it must end with exactly the records an
uninterrupted run with the same seed produces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import ConfigError, Engine, RunError, RunInterrupted, UsageError
from autoglm.core.rundir import CHECKPOINT, CONFIG, LEADERBOARD, SUMMARY, TRIALS
from autoglm.plugins import testing

BUDGET = 5


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


def config_for(output: Path, tuner: str = "nevergrad", budget: int = BUDGET, max_epochs: int = 15) -> dict[str, Any]:
    return testing.tiny_config(output, models=["gcn", "gat"], tuner=tuner, budget=budget, max_epochs=max_epochs, seed=7)


def lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / TRIALS).read_text().splitlines()]


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without their wall times, which differ between any two runs."""
    return [{k: v for k, v in r.items() if k != "duration_s"} for r in records]


class InterruptAt:
    """A host reporter that presses Ctrl-C at a chosen moment of a chosen trial."""

    def __init__(self, trial: int, *, event: str = "on_epoch") -> None:
        self.trial, self.event = trial, event

    def on_trial_start(self, trial: int, candidate: Any) -> None:
        if self.event == "on_trial_start" and trial == self.trial:
            raise KeyboardInterrupt

    def on_epoch(self, trial: int, epoch: int, metrics: Any) -> None:
        if self.event == "on_epoch" and trial == self.trial and epoch == 3:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Reference records of runs that were never stopped, per tuner."""
    found = {}
    for tuner in ("nevergrad", "random"):
        out = tmp_path_factory.mktemp(f"reference-{tuner}")
        engine.run(config_for(out / "run", tuner))
        found[tuner] = comparable(lines(out / "run"))
    return found


@pytest.mark.parametrize("tuner", ["nevergrad", "random"])
def test_ctrl_c_mid_trial_then_resume_gives_the_uninterrupted_run(
    tmp_path: Path, engine: Engine, uninterrupted: dict[str, Any], tuner: str
) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted) as stopped:
        engine.run(config_for(out, tuner), reporters=[InterruptAt(3)])
    message = str(stopped.value)
    assert stopped.value.exit_code == 130
    assert "after 2 of 5 trials" in message and f"autoglm run --resume {out}" in message
    records = lines(out)
    assert [r["status"] for r in records] == ["ok", "ok", "interrupted"]
    assert "interrupted" in records[2]["error"] and records[2]["duration_s"] > 0
    board = (out / LEADERBOARD).read_text().splitlines()
    assert len(board) == 1 + 3 and board[-1].split(",")[7] == "interrupted"
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["status"] == "interrupted"
    assert summary["trials"] == {"total": 3, "ok": 2, "pruned": 0, "failed": 0, "interrupted": 1}
    assert summary["best"]["trial"] in (1, 2)

    result = engine.resume(out)
    assert comparable(lines(out)) == uninterrupted[tuner]
    assert len(result.trials) == BUDGET and json.loads((out / SUMMARY).read_text())["status"] == "ok"
    assert len((out / LEADERBOARD).read_text().splitlines()) == 1 + BUDGET


def test_ctrl_c_between_trials_marks_nothing_interrupted(tmp_path: Path, engine: Engine, uninterrupted: Any) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="after 3 of 5"):
        engine.run(config_for(out), reporters=[InterruptAt(4, event="on_trial_start")])
    # on_trial_start belongs to trial 4, which had not started training: it is marked and re-run.
    assert [r["status"] for r in lines(out)] == ["ok", "ok", "ok", "interrupted"]
    engine.resume(out)
    assert comparable(lines(out)) == uninterrupted["nevergrad"]


def test_resume_keeps_finished_records_verbatim_and_drops_a_torn_line(tmp_path: Path, engine: Engine, uninterrupted: Any) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        engine.run(config_for(out), reporters=[InterruptAt(4, event="on_trial_start")])
    kept = (out / TRIALS).read_text().splitlines()[:3]
    # A SIGKILL mid-append leaves half a line and no trace of the interrupt.
    (out / TRIALS).write_text("\n".join(kept) + "\n" + kept[0][: len(kept[0]) // 2])
    (out / SUMMARY).unlink()
    engine.resume(out)
    after = (out / TRIALS).read_text().splitlines()
    assert after[:3] == kept  # byte for byte, wall times included
    assert comparable([json.loads(line) for line in after]) == uninterrupted["nevergrad"]


def test_resume_without_a_checkpoint_retrains_the_best_trial(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        engine.run(config_for(out, budget=3), reporters=[InterruptAt(3, event="on_trial_start")])
    (out / CHECKPOINT).unlink()  # killed after the best record, before its weights
    result = engine.resume(out)
    reference = engine.run(config_for(tmp_path / "reference", budget=3))
    assert result.best.trial == reference.best.trial
    assert result.test_accuracy == pytest.approx(reference.test_accuracy)


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    first = engine.run(config_for(out, budget=2))
    before = (out / TRIALS).read_text()
    again = engine.resume(out)
    assert (out / TRIALS).read_text() == before
    assert (again.best.trial, again.test_accuracy) == (first.best.trial, first.test_accuracy)


def test_resume_refuses_a_different_config_and_says_what_differs(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    engine.run(config_for(out, budget=1))
    changed = config_for(out, budget=9)
    changed["trainer"]["options"]["max_epochs"] = 30
    with pytest.raises(ConfigError) as refused:
        engine.resume(out, changed)
    message = str(refused.value)
    assert "tuner.options.budget: run has 1, config has 9" in message
    assert "trainer.options.max_epochs: run has 15, config has 30" in message
    with pytest.raises(ConfigError, match="seed: run has 7, config has 8"):
        engine.resume(out, overrides=["seed=8"])
    # The same config (even at another output, or with no seed) is not a difference.
    same = config_for(tmp_path / "elsewhere", budget=1)
    del same["seed"]
    assert engine.resume(out, same).best.trial == 1


def test_resume_refuses_a_directory_without_a_run(tmp_path: Path, engine: Engine) -> None:
    with pytest.raises(UsageError, match="no such directory"):
        engine.resume(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=f"holds no {CONFIG}.*autoglm run CONFIG"):
        engine.resume(tmp_path / "empty")


def test_resume_refuses_records_the_tuner_does_not_repeat(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        engine.run(config_for(out), reporters=[InterruptAt(3)])
    records = lines(out)
    records[1]["train_params"]["lr"] = 0.123
    (out / TRIALS).write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(RunError, match=r"replaying trial 2, tuner 'nevergrad' proposed .* but the run recorded .*0\.123"):
        engine.resume(out)


def test_resume_refuses_a_damaged_record_in_the_middle(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        engine.run(config_for(out), reporters=[InterruptAt(4, event="on_trial_start")])
    text = (out / TRIALS).read_text().splitlines()
    text[1] = "{not json"
    (out / TRIALS).write_text("\n".join(text) + "\n")
    with pytest.raises(RunError, match=f"{TRIALS}: line 2 is not a trial record"):
        engine.resume(out)


# -- the CLI ---------------------------------------------------------------------------


def write_config(tmp_path: Path, **kwargs: Any) -> Path:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config_for(tmp_path / "unused", **kwargs)))
    return path


def test_cli_resume_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, expected in [
        (["run"], "give a CONFIG to start a run, or --resume RUN_DIR"),
        (["run", "--resume", str(tmp_path), "--overwrite"], "cannot be combined with --output, --overwrite or --keep-other-files"),
        (["run", "--resume", str(tmp_path), "-o", str(tmp_path / "x")], "cannot be combined"),
        (["run", "--resume", str(tmp_path)], f"holds no {CONFIG}"),
    ]:
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"autoglm: error: {expected}" in result.output.replace("\n", " ") or expected in result.output


def test_cli_refuses_an_existing_run_and_names_both_ways_out(tmp_path: Path) -> None:
    config = write_config(tmp_path, budget=1)
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "run", str(config), "-o", str(tmp_path / "r")]).exit_code == 0
    again = runner.invoke(cli, ["-q", "run", str(config), "-o", str(tmp_path / "r")])
    assert again.exit_code == 2
    assert "--resume" in again.output and "--overwrite" in again.output
    show = runner.invoke(cli, ["show", str(tmp_path / "r")])
    assert show.exit_code == 0 and ': ok, ' in show.output.splitlines()[0]


def _autoglm(*args: str) -> list[str]:
    return [sys.executable, "-m", "autoglm.cli.main", *args]


def _wait_for_records(run_dir: Path, count: int, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = run_dir / TRIALS
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"autoglm exited early ({process.returncode}): {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no {count} finished trials within {timeout}s")


@pytest.mark.slow
def test_sigkill_then_resume_loses_no_finished_trial(tmp_path: Path, engine: Engine) -> None:
    budget = 6
    config = write_config(tmp_path, budget=budget, max_epochs=60)
    out = tmp_path / "killed"
    process = subprocess.Popen(_autoglm("-q", "run", str(config), "-o", str(out)), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_records(out, 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    before = (out / TRIALS).read_text().splitlines()
    assert 2 <= len(before) < budget, "the run finished before the kill; the test proves nothing"
    assert not (out / SUMMARY).exists()

    resumed = subprocess.run(_autoglm("-q", "run", "--resume", str(out)), text=True, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = (out / TRIALS).read_text().splitlines()
    assert after[: len(before)] == before  # every finished trial kept, byte for byte
    assert [json.loads(line)["trial"] for line in after] == list(range(1, budget + 1))
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["status"] == "ok" and summary["trials"]["total"] == budget
    assert len((out / LEADERBOARD).read_text().splitlines()) == 1 + budget

    reference = engine.run(yaml.safe_load(config.read_text()), output=tmp_path / "reference")
    assert comparable([json.loads(line) for line in after]) == comparable(lines(tmp_path / "reference"))
    assert summary["test"]["score"] == pytest.approx(reference.test_accuracy)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_signal_stops_cleanly_and_says_how_to_resume(tmp_path: Path, sig: int) -> None:
    config = write_config(tmp_path, budget=6, max_epochs=60)
    out = tmp_path / "stopped"
    process = subprocess.Popen(_autoglm("-q", "run", str(config), "-o", str(out)), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_records(out, 2, process)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"Resume with: autoglm run --resume {out}" in stderr
    assert json.loads((out / SUMMARY).read_text())["status"] == "interrupted"
    assert (out / LEADERBOARD).exists()
    statuses = [json.loads(line)["status"] for line in (out / TRIALS).read_text().splitlines()]
    assert statuses.count("interrupted") <= 1 and statuses[-1] in ("interrupted", "ok")
    assert os.path.exists(out / CONFIG)


def test_the_jsonl_event_log_continues_across_a_resume(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    config = config_for(out, budget=4)
    config["reporters"] = ["jsonl"]
    with pytest.raises(RunInterrupted):
        engine.run(config, reporters=[InterruptAt(3)])
    events = out / "events.jsonl"
    events.write_text(events.read_text() + '{"event": "trial_e')  # torn by a kill
    engine.resume(out)
    lines_ = events.read_text().splitlines()
    parsed = [json.loads(line) for line in lines_ if line != '{"event": "trial_e']
    assert len(parsed) == len(lines_) - 1
    kinds = [e["event"] for e in parsed]
    assert kinds.count("run_start") == 2 and kinds.count("run_end") == 1
    assert sorted(e["trial"] for e in parsed if e["event"] == "trial_end") == [1, 2, 3, 4]


@pytest.mark.slow
def test_killed_again_and_again_the_run_still_completes_exactly(tmp_path: Path, engine: Engine) -> None:
    """SIGKILL while starting up, then at varied instants after trials end, carrying on each time."""
    budget = 7
    config = write_config(tmp_path, budget=budget, max_epochs=60)
    out = tmp_path / "chaos"
    # (new records to wait for, extra seconds before the kill); None: kill during start-up.
    plan = [None, (1, 0.0), (1, 0.05), (2, 0.2)]
    for step in plan + ["finish"]:
        # Before config.yaml exists there is no run to resume: starting again is what a user does.
        args = ("run", "--resume", str(out)) if (out / CONFIG).exists() else ("run", str(config), "-o", str(out))
        process = subprocess.Popen(_autoglm("-q", *args), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if step == "finish":
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr
            break
        if step is None:
            time.sleep(0.5)
        else:
            done = len((out / TRIALS).read_text().splitlines()) if (out / TRIALS).exists() else 0
            _wait_for_records(out, done + step[0], process)
            time.sleep(step[1])
        process.kill()
        process.communicate()
        if (out / TRIALS).exists():
            whole = (out / TRIALS).read_text().splitlines()[:-1]
            assert all(json.loads(line)["status"] in ("ok", "pruned", "failed") for line in whole)  # a torn last line at most
    records = lines(out)
    assert [r["trial"] for r in records] == list(range(1, budget + 1))
    assert json.loads((out / SUMMARY).read_text())["status"] == "ok"
    reference = engine.run(yaml.safe_load(config.read_text()), output=tmp_path / "reference")
    assert comparable(records) == comparable(lines(tmp_path / "reference"))
    assert json.loads((out / SUMMARY).read_text())["test"]["score"] == pytest.approx(reference.test_accuracy)


def test_ctrl_c_while_writing_results_keeps_every_trial(tmp_path: Path, engine: Engine) -> None:
    class InterruptAtEnd:
        def on_run_end(self, result: Any) -> None:
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="while writing its results; every trial is done"):
        engine.run(config_for(out, budget=2), reporters=[InterruptAtEnd()])
    assert [r["status"] for r in lines(out)] == ["ok", "ok"]
    finished = engine.resume(out)
    assert [t.trial for t in finished.trials] == [1, 2] and [r["status"] for r in lines(out)] == ["ok", "ok"]
    assert json.loads((out / SUMMARY).read_text())["status"] == "ok"
