"""``time_budget``: the search stops asking when the time is spent, leaving room for selection.

The clock is scripted: the runner reads a fake ``perf_counter`` that only a
slow scripted trainer moves (10 s a training), so the decisions are exact and
the tests take no real time.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from autoglm.core import ConfigError, Engine
from autoglm.core import runner as runner_module
from autoglm.core.config import parse_duration
from autoglm.plugins import FitResult, Float, hookimpl, testing

TRAINING_S = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class SlowTrainer:
    """Every fit takes 10 s of the fake clock and scores by the learning rate."""

    clock: FakeClock

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> FitResult:
        self.clock.now += TRAINING_S
        return FitResult(val_score=float(hparams["lr"]), best_epoch=1, epochs=1, state_dict=model.state_dict())

    def evaluate(self, model: Any, data: Any, run: Any) -> Any:
        import torch

        model.eval()
        with torch.no_grad():
            return run(model, data)


class SlowPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register: Any) -> None:
        register("slow", SlowTrainer, search_space={"lr": Float(0.001, 0.1, log=True)})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    SlowTrainer.clock = fake
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def run(tmp_path: Path, budget: Any, *, selection: Any = False, trials: int = 100) -> Any:
    config = testing.tiny_config(tmp_path / "run", models=["gcn"], budget=trials)
    config.update(trainer={"name": "slow"}, time_budget=budget, selection=selection, pruning=False)
    return testing.make_engine(SlowPlugin()).run(config)


def test_the_search_stops_when_another_round_and_selection_would_not_fit(tmp_path: Path, clock: FakeClock) -> None:
    # After trial 1 (t=10): 10 + 10 (a round) + 10 (selection's one re-training) = 30 < 35, so trial 2 runs;
    # after it (t=20) 20 + 10 + 10 = 40 > 35: the search stops, and selection ends at t=30, inside the budget.
    result = run(tmp_path, 35, selection={"top_k": 1, "seeds": 2})
    assert len(result.trials) == 2
    assert result.summary.time_budget == {"seconds": 35.0, "wall_s": 30.0, "stopped_by": "time", "stopped_at_s": 20.0}
    assert clock.now == 30.0  # two trials and one selection re-training
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["time_budget"]["stopped_by"] == "time"


def test_without_selection_the_budget_is_for_trials(tmp_path: Path, clock: FakeClock) -> None:
    result = run(tmp_path, "1m")  # stops once t + 10 >= 60: after trial 5 (t=50)
    assert len(result.trials) == 5 and clock.now == 50.0


def test_the_trial_count_still_bounds_the_search(tmp_path: Path, clock: FakeClock) -> None:
    result = run(tmp_path, "1h", trials=3)
    assert len(result.trials) == 3 and result.summary.time_budget["stopped_by"] == "trials"


def test_the_first_round_always_runs(tmp_path: Path, clock: FakeClock) -> None:
    clock.now = 0.0
    result = run(tmp_path, 1)
    assert len(result.trials) == 1 and result.summary.time_budget["stopped_by"] == "time"


def test_no_time_budget_is_recorded_without_one(tmp_path: Path, clock: FakeClock) -> None:
    result = run(tmp_path, None, trials=2)
    assert result.summary.time_budget is None and "time_budget" not in result.summary.to_dict()


@pytest.mark.parametrize(("text", "seconds"), [(600, 600.0), ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0),
                                               ("2.5h", 9000.0), ("1 h 5 min", 3900.0), (12.5, 12.5)])
def test_durations_read_as_users_write_them(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10 minutes", "", "m", "-5", 0, -1, True, "31d", 10**9])
def test_a_bad_time_budget_is_a_config_error(tmp_path: Path, bad: Any) -> None:
    config = testing.tiny_config(tmp_path / "run") | {"time_budget": bad}
    with pytest.raises(ConfigError) as caught:
        Engine(autoload=False).validate(config, check_data=False)
    assert caught.value.path == "time_budget" and "such as 600, 90s, 10m or 1h30m" in str(caught.value)


class UnevenTrainer(SlowTrainer):
    """A high learning rate scores best and trains 5x longer (as a deep model beside shallow ones)."""

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> FitResult:
        self.clock.now += TRAINING_S * (5 if hparams["lr"] > 0.01 else 1)
        return FitResult(val_score=float(hparams["lr"]), best_epoch=1, epochs=1, state_dict=model.state_dict())


class UnevenPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register: Any) -> None:
        register("uneven", UnevenTrainer, search_space={"lr": Float(0.001, 0.1, log=True)})


def test_selection_is_estimated_at_what_its_contenders_cost(tmp_path: Path, clock: FakeClock) -> None:
    """Selection re-trains the best trials, here the slow ones: estimated at their own durations, not the mean
    trial's, so the run still ends inside its budget."""
    UnevenTrainer.clock = clock
    config = testing.tiny_config(tmp_path / "run", models=["gcn"], budget=100)
    config.update(trainer={"name": "uneven"}, time_budget=150, selection={"top_k": 2, "seeds": 2}, pruning=False)
    result = testing.make_engine(UnevenPlugin()).run(config)
    durations = [t.duration_s for t in result.trials]
    assert any(d == 50.0 for d in durations) and any(d == 10.0 for d in durations)  # both kinds ran
    assert result.summary.time_budget["stopped_by"] == "time"
    assert clock.now <= 150.0, f"the run took {clock.now}s of a 150s budget"


class ScriptedRates:
    """Proposes learning rates in order: three fast GCN trials, then a slow GAT one that scores best."""

    RATES = [0.005, 0.004, 0.003, 0.05, 0.002, 0.001]
    budget = len(RATES)

    def setup(self, space: Any, *, seed: int) -> None:
        self.asked = 0

    def ask(self) -> Any:
        from autoglm.plugins import Candidate

        if self.asked >= len(self.RATES):
            return None
        self.asked += 1
        rate = self.RATES[self.asked - 1]
        model, params = ("gat", {"hidden": 4, "heads": 2, "layers": 2, "dropout": 0.5}) if rate > 0.01 else (
            "gcn", {"hidden": 8, "layers": 2, "dropout": 0.5})
        return Candidate(model, params, {"lr": rate}, task_params={"preprocess": "raw", "structural": "none"})

    def tell(self, candidate: Any, score: Any) -> None:
        pass


class ScriptedRatesPlugin(UnevenPlugin):
    @hookimpl
    def autoglm_register_tuners(self, register: Any) -> None:
        register("scripted-rates", ScriptedRates)


def test_selection_leaves_out_contenders_whose_retraining_no_longer_fits(tmp_path: Path, clock: FakeClock) -> None:
    """A slow trial of the last round becomes the leader: its re-training (50 s) leaves 10 s of a 140 s budget,
    enough for one fast contender's, not for the next one's, which is recorded as not re-trained for time."""
    UnevenTrainer.clock = clock
    config = testing.tiny_config(tmp_path / "run", models=["gcn", "gat"])
    config.update(
        trainer={"name": "uneven"}, tuner={"name": "scripted-rates"}, time_budget=140, pruning=False,
        selection={"top_k": 3, "seeds": 2, "noise_band": float("inf")},
    )
    result = testing.make_engine(ScriptedRatesPlugin()).run(config)
    # Trials at t=10, 20, 30, 80; then 80 + 20 (a round) + 70 (selection, each at its model's longest trial)
    # > 140: the search stops.
    assert [t.train_params["lr"] for t in result.trials] == [0.005, 0.004, 0.003, 0.05]
    assert clock.now == 140.0, "the leader's re-training (50 s) and one fast contender's (10 s)"
    selection = result.summary.to_dict()["selection"]
    assert [c["trial"] for c in selection["contenders"]] == [4, 1]
    (skipped,) = selection["not_retrained"]
    assert skipped["trial"] == 2 and skipped["reason"].startswith("the time budget: re-training it as well")


class NoisyTrainer(SlowTrainer):
    """Scores by the learning rate plus seed noise (the trial's seed is set before fit), so selection's means can
    put another configuration ahead of the search's best trial; counts its fits."""

    fits = 0

    def fit(self, model: Any, data: Any, hparams: Any, on_epoch: Any = None, *, task: Any) -> FitResult:
        import torch

        NoisyTrainer.fits += 1
        score = 0.1 * float(hparams["lr"]) + float(torch.rand(()))  # mostly the seed
        return FitResult(val_score=score, best_epoch=1, epochs=1, state_dict=model.state_dict())


class NoisyPlugin:
    @hookimpl
    def autoglm_register_trainers(self, register: Any) -> None:
        register("noisy", NoisyTrainer, search_space={"lr": Float(0.001, 0.1, log=True)})


def test_selection_trains_each_contender_seed_once_even_when_another_wins(tmp_path: Path) -> None:
    """The contenders' own weights are kept during the search: a contender chosen over the best search trial
    needs no extra training to rebuild its own seed (it took one before)."""
    engine = testing.make_engine(NoisyPlugin())
    overtaken = 0
    for seed in range(6):
        NoisyTrainer.fits = 0
        config = testing.tiny_config(tmp_path / f"run{seed}", models=["gcn"], budget=6, seed=seed)
        config.update(trainer={"name": "noisy"}, pruning=False, selection={"top_k": 3, "seeds": 2, "noise_band": float("inf")})
        result = engine.run(config)
        selection = result.summary.to_dict()["selection"]
        retrained = sum(len(c["runs"]) - 1 for c in selection["contenders"])
        assert NoisyTrainer.fits == 6 + retrained == 6 + 3, f"seed {seed}"
        overtaken += result.summary.to_dict()["best"]["trial"] != max(result.trials, key=lambda t: t.val_score).trial
    assert overtaken, "some seed must choose a contender other than the best search trial"
