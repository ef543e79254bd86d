"""A configuration the tuner proposes again is not trained again, and competes in selection once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoglm.core import Engine, RunInterrupted
from autoglm.plugins import Candidate, hookimpl
from autoglm.plugins.testing import tiny_config

#: The scripted tuner's proposals: hidden sizes, 16 twice (trials 1 and 3) and 32 twice in one round (4 and 5).
HIDDEN = [16, 24, 16, 32, 32, 48]


class Scripted:
    """Proposes HIDDEN in order, whatever it is told; remembers what it was told."""

    def __init__(self, *, budget: int = len(HIDDEN)) -> None:
        self.budget = budget
        self.told: list[tuple[int, float | None]] = []

    def setup(self, space: Any, *, seed: int) -> None:
        self.asked = 0

    def ask(self) -> Candidate | None:
        if self.asked >= self.budget:
            return None
        hidden = HIDDEN[self.asked]
        self.asked += 1
        params = {"hidden": hidden, "layers": 2, "dropout": 0.5}
        return Candidate("gcn", params, {"lr": 0.01, "weight_decay": 5e-4}, task_params={"preprocess": "raw", "structural": "none"})

    def tell(self, candidate: Candidate, score: float | None) -> None:
        self.told.append((candidate.model_params["hidden"], score))


TUNERS: list[Scripted] = []


class Plugin:
    @hookimpl
    def autoglm_register_tuners(self, register: Any) -> None:
        def build(*, budget: int = len(HIDDEN)) -> Scripted:
            TUNERS.append(Scripted(budget=budget))
            return TUNERS[-1]

        register("scripted", build)


class CountFits:
    """Counts the trials that were trained (their first epoch)."""

    def __init__(self) -> None:
        self.trained: list[int] = []

    def on_epoch(self, trial: int, epoch: int, phase: str) -> None:
        if epoch == 1 and phase == "search":
            self.trained.append(trial)


def config(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    cfg = tiny_config(tmp_path / "run", models=["gcn"], max_epochs=5)
    cfg["tuner"] = {"name": "scripted"}
    cfg["pruning"] = False
    cfg.update(kw)
    return cfg


@pytest.mark.parametrize("workers", [1, 2])
def test_a_repeated_proposal_is_recorded_and_told_but_not_trained(tmp_path: Path, workers: int) -> None:
    counter = CountFits()
    result = Engine(plugins=[Plugin()], autoload=False).run(config(tmp_path, workers=workers), reporters=[counter])
    by_trial = {t.trial: t for t in result.trials}
    assert sorted(counter.trained) == [1, 2, 4, 6]  # trials 3 and 5 repeat 1 and 4
    assert by_trial[3].duplicate_of == 1 and by_trial[5].duplicate_of == 4
    assert by_trial[3].val_score == by_trial[1].val_score and by_trial[3].duration_s == 0.0
    assert by_trial[3].seed != by_trial[1].seed and by_trial[3].status == by_trial[1].status
    told = dict(enumerate(TUNERS[-1].told, start=1))
    assert told[3] == (16, by_trial[1].val_score) and told[5] == (32, by_trial[4].val_score)
    assert result.summary["trials"]["repeated"] == 2


def test_selection_compares_distinct_configurations_only(tmp_path: Path) -> None:
    cfg = config(tmp_path, selection={"top_k": 6, "seeds": 2, "noise_band": float("inf")})
    result = Engine(plugins=[Plugin()], autoload=False).run(cfg)
    trials = [c["trial"] for c in result.summary["selection"]["contenders"]]
    assert sorted(trials) == [1, 2, 4, 6]  # 3 and 5 are the same configurations as 1 and 4


def test_a_resume_replays_repeats_as_they_were(tmp_path: Path) -> None:
    class CtrlC:
        def on_trial_start(self, trial: int) -> None:
            if trial == 5:
                raise KeyboardInterrupt

    engine = Engine(plugins=[Plugin()], autoload=False)
    whole = engine.run(config(tmp_path / "a"))
    with pytest.raises(RunInterrupted):
        engine.run(config(tmp_path / "b"), reporters=[CtrlC()])
    resumed = engine.resume(tmp_path / "b" / "run")

    def plain(records: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.to_dict().items() if k != "duration_s"} for r in records]

    assert plain(resumed.trials) == plain(whole.trials)
