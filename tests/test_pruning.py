"""Successive-halving pruning: the decisions, the trainer's side of it, and whole runs with it.

The pruner is pure arithmetic on the values reported, so its decisions are
checked on scripted sequences; the runs use the tiny synthetic graph with
rungs low enough (``min_epochs: 2``) that pruning happens in a second.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from autoglm.core import ConfigError, Engine, RunInterrupted, SuccessiveHalvingPruner
from autoglm.core.rundir import CONFIG, LEADERBOARD, STATE, SUMMARY, TRIALS
from autoglm.core.results import TrialRecord, leaderboard
from autoglm.plugins import hookimpl, testing
from autoglm.plugins.testing import fit_graph
from autoglm.plugins_builtin.cuda_trainer import FullBatchTrainer

# -- the pruner on scripted values ---------------------------------------------------------


def feed(pruner: SuccessiveHalvingPruner, trial: int, values: dict[int, float]) -> int | None:
    """Report ``{epoch: val_acc}`` in epoch order until the pruner says stop; the epoch it did, or None."""
    for epoch, value in sorted(values.items()):
        if pruner.report(trial, epoch, value):
            return epoch
    return None


def with_rung_values(values: list[float], *, rung: int = 20, **settings: int) -> SuccessiveHalvingPruner:
    """A pruner whose ``rung`` already holds ``values`` from earlier trials."""
    pruner = SuccessiveHalvingPruner(**{"min_epochs": 20, "reduction_factor": 3, "min_trials": 4, **settings})
    for value in values:
        pruner.record({rung: value})
    return pruner


@pytest.mark.parametrize(
    ("min_epochs", "factor", "max_epochs", "rungs"),
    [
        (20, 3, 200, [20, 60, 180]),
        (20, 2, 200, [20, 40, 80, 160]),
        (20, 3, 180, [20, 60]),  # a trial at max_epochs has finished: no rung there
        (20, 3, 181, [20, 60, 180]),
        (20, 3, 20, []),
        (20, 3, 15, []),
        (1, 2, 10, [1, 2, 4, 8]),
        (2, 3, 30, [2, 6, 18]),
    ],
)
def test_rung_epochs(min_epochs: int, factor: int, max_epochs: int, rungs: list[int]) -> None:
    pruner = SuccessiveHalvingPruner(min_epochs, factor, 4)
    assert pruner.rung_epochs(max_epochs) == rungs
    assert SuccessiveHalvingPruner(min_epochs, factor, 4, max_epochs=max_epochs).rung_epochs() == rungs


def test_rung_epochs_needs_an_end() -> None:
    with pytest.raises(ValueError, match="needs max_epochs"):
        SuccessiveHalvingPruner(20, 3, 4).rung_epochs()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 3, 4), "min_epochs must be an integer of at least 1, got 0"),
        ((20, 1, 4), "reduction_factor must be an integer of at least 2, got 1"),
        ((20, 3, 0), "min_trials must be an integer of at least 1, got 0"),
        ((20, 2.5, 4), "reduction_factor must be an integer"),
        ((True, 3, 4), "min_epochs must be an integer"),
    ],
)
def test_bad_settings(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SuccessiveHalvingPruner(*args)


def test_bootstrap_fewer_than_min_trials_never_prunes() -> None:
    pruner = SuccessiveHalvingPruner(20, 3, 4)
    # Four trials, each worse than the last: there is no yardstick yet, so all go on.
    for trial, value in enumerate([0.9, 0.5, 0.2, 0.1], start=1):
        assert feed(pruner, trial, {epoch: value for epoch in range(1, 201)}) is None
    assert pruner.values_at(20) == [0.9, 0.5, 0.2, 0.1]
    # The fifth meets four earlier values: bottom of five, keep max(1, 5 // 3) = 1: pruned at the first rung.
    assert feed(pruner, 5, {epoch: 0.3 for epoch in range(1, 201)}) == 20


def test_nothing_happens_between_rungs() -> None:
    pruner = with_rung_values([0.9, 0.9, 0.9, 0.9])
    assert not any(pruner.report(1, epoch, 0.0) for epoch in range(1, 20))
    assert pruner.report(1, 20, 0.0) is True


@pytest.mark.parametrize(
    ("earlier", "value", "pruned"),
    [
        ([0.5, 0.6, 0.7, 0.8], 0.55, True),  # n=5, top 1 goes on: 0.8
        ([0.5, 0.6, 0.7, 0.8], 0.79, True),
        ([0.5, 0.6, 0.7, 0.8], 0.8, False),  # tied with the top: kept
        ([0.5, 0.6, 0.7, 0.8], 0.95, False),
        ([0.7, 0.7, 0.7, 0.7], 0.7, False),  # all tied: everyone kept
        ([0.7, 0.7, 0.7, 0.7], 0.69, True),
        ([0.1, 0.2, 0.3, 0.4, 0.5], 0.45, False),  # n=6, top 2: 0.5 and 0.45
        ([0.1, 0.2, 0.3, 0.4, 0.5], 0.35, True),
        ([0.9, 0.8, 0.3, 0.4, 0.5, 0.6, 0.7, 0.2], 0.75, False),  # n=9, top 3: 0.9, 0.8, 0.75
        ([0.9, 0.8, 0.3, 0.4, 0.5, 0.6, 0.7, 0.2], 0.7, False),  # ties the 3rd (0.7): kept
        ([0.9, 0.8, 0.3, 0.4, 0.5, 0.6, 0.7, 0.2], 0.65, True),  # 4th of 9: outside the top 3
    ],
)
def test_bottom_of_a_rung_is_pruned_ties_kept(earlier: list[float], value: float, pruned: bool) -> None:
    pruner = with_rung_values(earlier)
    assert pruner.report(99, 20, value) is pruned
    assert pruner.values_at(20) == [*earlier, value]  # pruned or not, the value stays for later trials


@pytest.mark.parametrize(("factor", "pruned"), [(2, False), (3, True)])
def test_reduction_factor_sets_how_many_go_on(factor: int, pruned: bool) -> None:
    # Seven values at the rung with the new one: a factor 2 keeps 3 (0.6, 0.5, 0.45), a factor 3 keeps 2.
    pruner = with_rung_values([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], reduction_factor=factor)
    assert pruner.report(7, 20, 0.45) is pruned


def test_later_rungs() -> None:
    pruner = SuccessiveHalvingPruner(10, 2, 1)
    assert feed(pruner, 1, {10: 0.5, 20: 0.6, 40: 0.9}) is None  # first everywhere: nothing to compare with
    # Trial 2 is ahead at 10 and at 20, behind at 40: pruned there, two rungs in.
    assert feed(pruner, 2, {10: 0.6, 20: 0.7, 40: 0.8, 80: 0.99}) == 40
    assert pruner.rungs_of(2) == {10: 0.6, 20: 0.7, 40: 0.8}
    assert pruner.values_at(40) == [0.9, 0.8] and pruner.values_at(80) == []


def test_a_rung_value_is_the_best_so_far_not_the_last_epoch() -> None:
    pruner = with_rung_values([0.6, 0.6, 0.6, 0.6])
    # A noisy dip at the rung itself: the trial's best (0.8) is what counts, and it is kept.
    assert feed(pruner, 5, {5: 0.8, 19: 0.7, 20: 0.1}) is None
    assert pruner.rungs_of(5) == {20: 0.8}


def test_epochs_may_skip_rungs() -> None:
    # A trainer that evaluates every 25 epochs: reaching epoch 75 passes the rungs at 20 and 60 together.
    pruner = with_rung_values([0.9, 0.9, 0.9, 0.9], rung=60)
    assert pruner.report(1, 25, 0.5) is False  # rung 20 is new: no yardstick there yet
    assert pruner.report(1, 75, 0.6) is True  # rung 60: behind four 0.9s
    assert pruner.rungs_of(1) == {20: 0.5, 60: 0.6}


def test_no_rung_at_or_past_max_epochs() -> None:
    pruner = SuccessiveHalvingPruner(20, 3, 1, max_epochs=60)
    pruner.record({20: 0.9, 60: 0.9})
    assert feed(pruner, 2, {20: 0.95, 60: 0.1, 180: 0.1}) is None
    assert pruner.rungs_of(2) == {20: 0.95}


def test_record_rebuilds_the_same_decisions() -> None:
    """Resume: a pruner fed the finished trials' rungs (JSON keys) decides like the one that saw them run."""
    script = [
        {e: 0.3 + 0.01 * e for e in range(1, 100)},
        {e: 0.5 for e in range(1, 100)},
        {e: 0.2 + 0.02 * e for e in range(1, 100)},
        {e: 0.4 for e in range(1, 100)},
        {e: 0.1 for e in range(1, 100)},
        {e: 0.45 + 0.001 * e for e in range(1, 100)},
    ]
    live = SuccessiveHalvingPruner(5, 2, 2)
    stops = [feed(live, trial, values) for trial, values in enumerate(script, start=1)]
    assert any(stops) and not all(stops)

    for cut in range(len(script)):
        rebuilt = SuccessiveHalvingPruner(5, 2, 2)
        for trial in range(1, cut + 1):
            rebuilt.record({str(k): v for k, v in json.loads(json.dumps(live.rungs_of(trial))).items()})
        again = [feed(rebuilt, trial, script[trial - 1]) for trial in range(cut + 1, len(script) + 1)]
        assert again == stops[cut:], f"resumed after {cut} trials"


def test_the_kernel_module_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, autoglm.core.pruning; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# -- the trainer stops when told ----------------------------------------------------------


def test_trainer_stops_when_the_callback_returns_true() -> None:
    data = testing.tiny_graph()
    seen: list[float] = []

    def stop_at_8(epoch: int, metrics: Any) -> bool | None:
        seen.append(metrics["val_acc"])
        return True if epoch == 8 else None  # None (and False) mean go on

    trainer = FullBatchTrainer(device="cpu", max_epochs=100, patience=100)
    torch.manual_seed(0)
    model = Engine(autoload=False).component("models", "gcn").factory(8, 3, hidden=16, dropout=0.0)
    fit = fit_graph(trainer, model, data, {"lr": 0.05, "weight_decay": 0.0}, stop_at_8)
    assert fit.epochs == 8 == len(seen)
    assert fit.val_score == max(seen) and 1 <= fit.best_epoch <= 8
    # The best weights before the stop are kept, loaded in the model and returned.
    predicted = trainer.predict(model, data).argmax(-1)
    assert float((predicted[data.val_mask] == data.y[data.val_mask]).float().mean()) == pytest.approx(fit.val_score)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in fit.state_dict.items())


def test_only_true_stops_the_trainer() -> None:
    data = testing.tiny_graph()
    trainer = FullBatchTrainer(device="cpu", max_epochs=6, patience=100)
    model = Engine(autoload=False).component("models", "gcn").factory(8, 3)
    fit = fit_graph(trainer, model, data, {}, lambda epoch, metrics: 1)  # truthy, but not True
    assert fit.epochs == 6


# -- whole runs ------------------------------------------------------------------------------

BUDGET = 8


def config_for(output: Path, *, tuner: str = "random", pruning: Any = None, budget: int = BUDGET) -> dict[str, Any]:
    config = testing.tiny_config(output, models=["gcn", "gat"], tuner=tuner, budget=budget, max_epochs=30, seed=7)
    config["pruning"] = {"min_epochs": 2, "min_trials": 2} if pruning is None else pruning
    return config


def lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / TRIALS).read_text().splitlines()]


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "duration_s"} for r in records]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> dict[str, Any]:
    """Uninterrupted pruned runs, per tuner: their records and results."""
    found = {}
    for tuner in ("random", "nevergrad"):
        out = tmp_path_factory.mktemp(f"pruned-{tuner}") / "run"
        result = engine.run(config_for(out, tuner=tuner))
        found[tuner] = {"dir": out, "result": result, "records": comparable(lines(out))}
    return found


@pytest.mark.parametrize("tuner", ["random", "nevergrad"])
def test_a_pruned_run_records_and_selects_consistently(reference: dict[str, Any], tuner: str) -> None:
    out, result = reference[tuner]["dir"], reference[tuner]["result"]
    records = lines(out)
    trained = [r for r in records if r["duplicate_of"] is None]  # a repeat is recorded, not trained
    pruned = [r for r in trained if r["status"] == "pruned"]
    finished = [r for r in trained if r["status"] == "ok"]
    assert pruned and finished, "the tiny config must prune some trials and finish others"
    rungs = [2, 6, 18]  # min_epochs 2, factor 3, below max_epochs 30
    for r in pruned:
        assert r["pruned_at"] in rungs and r["epochs"] == r["pruned_at"]
        assert r["val_score"] is not None and r["best_epoch"] <= r["pruned_at"]
        assert r["val_score"] == max(r["rungs"].values())  # best so far, which is the last rung's value
        assert sorted(int(k) for k in r["rungs"]) == [x for x in rungs if x <= r["pruned_at"]]
    for r in finished:
        assert r["pruned_at"] is None and r["epochs"] == 30 and sorted(r["rungs"]) == ["18", "2", "6"]
    # The first min_trials trials face no yardstick: never pruned.
    assert [r["status"] for r in records[:2]] == ["ok", "ok"]

    assert result.best.ok and result.best.trial in {r["trial"] for r in finished}
    assert result.best.val_score == max(r["val_score"] for r in finished)
    summary = json.loads((out / SUMMARY).read_text())
    repeats = [r for r in records if r["duplicate_of"] is not None]
    counts = {"total": BUDGET, "ok": sum(r["status"] == "ok" for r in records), "pruned": sum(r["status"] == "pruned" for r in records)}
    assert summary["trials"] == counts | {"failed": 0, "interrupted": 0} | ({"repeated": len(repeats)} if repeats else {})
    assert summary["best"]["trial"] == result.best.trial
    settings = {"enabled": True, "min_epochs": 2, "reduction_factor": 3, "min_trials": 2, "per_model": False}
    assert summary["pruning"] == settings | {"rungs": rungs}
    assert yaml.safe_load((out / CONFIG).read_text())["pruning"] == settings

    with open(out / LEADERBOARD, newline="") as handle:
        board = list(csv.DictReader(handle))
    statuses = [r["status"] for r in records]
    assert [row["status"] for row in board] == ["ok"] * statuses.count("ok") + ["pruned"] * statuses.count("pruned")
    assert int(board[0]["trial"]) == result.best.trial
    for status in ("ok", "pruned"):
        scores = [float(row["val_acc"]) for row in board if row["status"] == status]
        assert scores == sorted(scores, reverse=True)
    by_trial = {r["trial"]: r for r in records}
    assert all(row["pruned_at"] == str(by_trial[int(row["trial"])]["pruned_at"] or "") for row in board)


def test_the_tuner_is_told_pruned_scores(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from autoglm.plugins_builtin.random_tuner import RandomTuner

    told: list[float | None] = []
    monkeypatch.setattr(RandomTuner, "tell", lambda self, candidate, score: told.append(score))
    result = engine.run(config_for(tmp_path / "run"))
    assert told == [t.val_score for t in result.trials]
    assert all(score is not None for score in told) and any(t.status == "pruned" for t in result.trials)


@pytest.mark.parametrize("off", [False, {"enabled": False, "min_epochs": 2, "min_trials": 2}], ids=["false", "enabled-false"])
def test_pruning_off_prunes_nothing(tmp_path: Path, engine: Engine, off: Any) -> None:
    result = engine.run(config_for(tmp_path / "run", pruning=off))
    assert [t.status for t in result.trials] == ["ok"] * BUDGET
    assert all(t.pruned_at is None and t.rungs == {} and t.epochs == 30 for t in result.trials)
    assert result.summary["trials"]["pruned"] == 0 and "rungs" not in result.summary["pruning"]


def test_pruning_off_from_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from autoglm.cli.main import cli

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(config_for(tmp_path / "unused")), encoding="utf-8")
    for value, pruned in (("pruning=false", False), ("pruning.min_trials=2", True)):
        out = tmp_path / value.replace("=", "-")
        result = CliRunner().invoke(cli, ["-q", "run", str(config), "-o", str(out), "--set", value])
        assert result.exit_code == 0, result.output
        assert any(r["status"] == "pruned" for r in lines(out)) is pruned, value


def test_the_console_shows_pruned_trials(tmp_path: Path, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_for(tmp_path / "run")
    config["reporters"] = ["console"]
    result = engine.run(config)
    out = capsys.readouterr().out
    for trial in result.trials:
        line = next(line for line in out.splitlines() if line.startswith(f"[{trial.trial:>3}/{BUDGET}]"))
        assert (f"pruned@{trial.pruned_at}" in line) is (trial.status == "pruned"), line
    assert f"({sum(t.status == 'pruned' for t in result.trials)} pruned)" in out


class InterruptAt:
    """A host reporter that presses Ctrl-C at one epoch of one trial."""

    def __init__(self, trial: int, epoch: int = 3) -> None:
        self.trial, self.epoch = trial, epoch

    def on_epoch(self, trial: int, epoch: int, metrics: Any) -> None:
        if trial == self.trial and epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("tuner", "at", "epoch"),
    [
        ("random", 6, 2),  # after three pruned trials, at the rung itself
        ("random", 4, 4),  # a trial that passed its first rung (and is pruned at the next), mid-way
        ("nevergrad", 5, 2),  # after a pruned trial, at the rung that prunes it
        ("nevergrad", 7, 1),  # the last trained trial (NGOpt proposes trial 3's point again as trial 8)
    ],
)
def test_resume_makes_the_same_pruning_decisions(
    tmp_path: Path, engine: Engine, reference: dict[str, Any], tuner: str, at: int, epoch: int
) -> None:
    out = tmp_path / "run"
    expected = reference[tuner]["records"]
    assert any(r["status"] == "pruned" for r in expected[: at - 1]), "interrupt after some trial was pruned"
    assert expected[at - 1]["epochs"] >= epoch, "the chosen trial must reach the chosen epoch"
    assert expected[at - 1]["duplicate_of"] is None, "the chosen trial must be trained (a repeat is not)"
    with pytest.raises(RunInterrupted):
        engine.run(config_for(out, tuner=tuner), reporters=[InterruptAt(at, epoch)])
    assert [r["status"] for r in lines(out)][-1] == "interrupted" and len(lines(out)) == at
    result = engine.resume(out)
    assert comparable(lines(out)) == expected
    assert result.best.trial == reference[tuner]["result"].best.trial
    assert result.test_accuracy == reference[tuner]["result"].test_accuracy


def test_resume_refuses_different_pruning(tmp_path: Path, engine: Engine) -> None:
    out = tmp_path / "run"
    engine.run(config_for(out, budget=1))
    with pytest.raises(ConfigError, match="pruning.min_epochs: run has 2, config has 3"):
        engine.resume(out, overrides=["pruning.min_epochs=3"])
    with pytest.raises(ConfigError, match="pruning.enabled: run has True, config has False"):
        engine.resume(out, overrides=["pruning=false"])


def test_a_run_from_before_pruning_resumes_without_it(tmp_path: Path, engine: Engine) -> None:
    """A config.yaml with no pruning section was written by a version without pruning: it ran unpruned."""
    unpruned = engine.run(config_for(tmp_path / "reference", pruning=False))
    out = tmp_path / "old"
    with pytest.raises(RunInterrupted):
        engine.run(config_for(out, pruning=False), reporters=[InterruptAt(5)])
    recorded = yaml.safe_load((out / CONFIG).read_text())
    del recorded["pruning"]
    (out / CONFIG).write_text(yaml.safe_dump(recorded, sort_keys=False))
    (out / STATE).unlink()  # that version kept no run state either
    old_lines = [{k: v for k, v in r.items() if k not in ("pruned_at", "rungs")} for r in lines(out)]
    (out / TRIALS).write_text("".join(json.dumps(r) + "\n" for r in old_lines))  # records as they were then

    result = engine.resume(out)
    assert result.summary["pruning"]["enabled"] is False
    assert [t.status for t in result.trials] == ["ok"] * BUDGET
    assert [t.val_score for t in result.trials] == [t.val_score for t in unpruned.trials]
    engine.resume(out, overrides=["seed=7"])  # the recorded config, no pruning section: no difference


class Stubborn(FullBatchTrainer):
    """A trainer that calls on_epoch but ignores what it returns."""

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> Any:
        return super().fit(model, data, hparams, lambda epoch, metrics: on_epoch(epoch, metrics) and None, task=task)


class StubbornPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register):  # type: ignore[no-untyped-def]
        from autoglm.plugins_builtin.cuda_trainer import SEARCH_SPACE

        register("stubborn", Stubborn, search_space=SEARCH_SPACE)


def test_a_trainer_that_ignores_the_stop_is_never_pruned(
    tmp_path: Path, reference: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path / "run")
    config["trainer"]["name"] = "stubborn"
    with caplog.at_level("INFO", logger="autoglm"):
        result = Engine(plugins=[StubbornPlugin()], autoload=False).run(config)
    assert [t.status for t in result.trials] == ["ok"] * BUDGET
    assert all(t.epochs == 30 and t.pruned_at is None for t in result.trials)
    assert "went on after the pruner asked it to stop" in caplog.text
    # Same trials, trained to the end: the first ones (never pruned) score as in the pruned run.
    assert [t.val_score for t in result.trials[:2]] == [t.val_score for t in reference["random"]["result"].trials[:2]]


class NoValAcc(FullBatchTrainer):
    """A trainer whose epoch metrics name the validation accuracy differently."""

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> Any:
        return super().fit(
            model, data, hparams, lambda epoch, metrics: on_epoch(epoch, {"accuracy": metrics["val_acc"]}), task=task
        )


class NoValAccPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register):  # type: ignore[no-untyped-def]
        from autoglm.plugins_builtin.cuda_trainer import SEARCH_SPACE

        register("no_val_acc", NoValAcc, search_space=SEARCH_SPACE)


def test_a_trainer_without_val_acc_is_never_pruned_and_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(tmp_path / "run")
    config["trainer"]["name"] = "no_val_acc"
    result = Engine(plugins=[NoValAccPlugin()], autoload=False).run(config)
    assert [t.status for t in result.trials] == ["ok"] * BUDGET and all(t.rungs == {} for t in result.trials)
    warnings = [r.getMessage() for r in caplog.records if "no finite val_acc" in r.getMessage()]
    assert len(warnings) == 1 and "trainer 'no_val_acc'" in warnings[0]


def test_leaderboard_order() -> None:
    def record(trial: int, status: str, score: float | None) -> TrialRecord:
        return TrialRecord(trial, status, "gcn", {}, {}, 0, val_score=score)

    records = [
        record(1, "pruned", 0.9), record(2, "ok", 0.5), record(3, "failed", None), record(4, "ok", 0.7),
        record(5, "pruned", 0.95), record(6, "interrupted", None), record(7, "ok", 0.7),
    ]
    assert [r.trial for r in leaderboard(records)] == [4, 7, 2, 5, 1, 3, 6]


# -- per-model rungs ---------------------------------------------------------------------------


def test_groups_keep_their_own_rungs_and_min_trials() -> None:
    pruner = SuccessiveHalvingPruner(20, 3, 2)
    for trial, value in enumerate([0.9, 0.9, 0.9], start=1):
        pruner.report(trial, 20, value, group="fast")
    # Alone in its group, a slow starter meets no yardstick (min_trials is per group): it goes on.
    assert pruner.report(4, 20, 0.1, group="slow") is False
    assert pruner.report(5, 20, 0.1, group="slow") is False
    assert pruner.report(6, 20, 0.05, group="slow") is True  # behind the two slow ones before it
    assert pruner.values_at(20, group="slow") == [0.1, 0.1, 0.05]
    assert pruner.values_at(20, group="fast") == [0.9, 0.9, 0.9] and pruner.values_at(20) == []
    rebuilt = SuccessiveHalvingPruner(20, 3, 2)
    rebuilt.record({"20": 0.1}, group="slow")
    rebuilt.record({"20": 0.1}, group="slow")
    assert rebuilt.report(6, 20, 0.05, group="slow") is True and rebuilt.report(7, 20, 0.05, group="fast") is False


class SlowStarterTrainer:
    """Scripted curves: a GAT scores 0.1 for its first 10 epochs, then 0.9; a GCN scores 0.7 throughout."""

    max_epochs = 30

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> Any:
        from autoglm.plugins import FitResult

        slow = any(type(m).__name__ == "GATConv" for m in model.modules())
        best = 0.0
        for epoch in range(1, self.max_epochs + 1):
            value = (0.1 if epoch <= 10 else 0.9) if slow else 0.7
            best = max(best, value)
            if on_epoch(epoch, {"val_acc": value}) is True:
                break
        return FitResult(val_score=best, best_epoch=epoch, epochs=epoch, state_dict=model.state_dict())

    def evaluate(self, model: Any, data: Any, run: Any) -> Any:
        model.eval()
        with torch.no_grad():
            return run(model, data)


class SlowStarterPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register):  # type: ignore[no-untyped-def]
        from autoglm.plugins import Float

        register("scripted-curves", SlowStarterTrainer, search_space={"lr": Float(0.001, 0.1, log=True)})


@pytest.mark.parametrize("per_model", [False, True])
def test_per_model_rungs_let_a_slow_starting_model_finish(tmp_path: Path, per_model: bool) -> None:
    config = config_for(tmp_path / "run", budget=12)
    config["trainer"] = {"name": "scripted-curves"}
    config["pruning"] = {"min_epochs": 2, "min_trials": 2, "per_model": per_model}
    result = testing.make_engine(SlowStarterPlugin()).run(config)
    slow = [t for t in result.trials if t.model == "gat" and t.duplicate_of is None]
    fast = [t for t in result.trials if t.model == "gcn" and t.duplicate_of is None]
    assert len(slow) >= 3 and len(fast) >= 3, "the seed must draw both models several times"
    if per_model:  # each model meets only its own kind: ties everywhere, nobody is stopped
        assert all(t.status == "ok" and t.val_score == 0.9 for t in slow)
        assert all(t.status == "ok" for t in fast)
    else:  # a GAT after the first trials is judged at epoch 2 against the GCNs' 0.7, and stopped there
        assert any(t.status == "pruned" and t.pruned_at == 2 for t in slow)
    assert result.best.model == "gat" and result.summary["pruning"]["per_model"] is per_model
