"""Tuners through their public protocol: budgets, seeds, bounds, and the nevergrad traps."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from autoglm.core import ConfigError, Engine
from autoglm.plugins import Candidate, Choice, Float, Int, SearchSpace
from autoglm.plugins_builtin.nevergrad_tuner import FALLBACK_OPTIMIZER, metamodel_is_broken, metamodel_parts


def default_space() -> SearchSpace:
    engine = Engine(autoload=False)
    return engine.search_space(engine.load_config({"data": "synthetic", "search": {"models": ["gcn", "gat"]}}))


def make_tuner(name: str, **options: Any) -> Any:
    return Engine(autoload=False).build("tuners", _spec(name, options))


def _spec(name: str, options: dict[str, Any]) -> Any:
    from autoglm.core import ComponentSpec

    return ComponentSpec(name, options)


def fake_score(candidate: Candidate) -> float:
    """A cheap deterministic stand-in for validation accuracy."""
    p = candidate.model_params
    return 0.8 - abs(p["dropout"] - 0.5) / 4 - abs(np.log(candidate.train_params["lr"] / 0.01)) / 40 + (p["layers"] == 2) * 0.02


def in_space(value: Any, param: Any) -> bool:
    if isinstance(param, Int):
        return isinstance(value, int) and param.low <= value <= param.high
    if isinstance(param, Float):
        return isinstance(value, float) and param.low <= value <= param.high
    if isinstance(param, Choice):
        return value in param.options
    return value == param


def drive(tuner: Any, space: SearchSpace, seed: int = 0, fail_every: int = 0) -> list[Candidate]:
    tuner.setup(space, seed=seed)
    asked = []
    while (candidate := tuner.ask()) is not None:
        asked.append(candidate)
        failed = fail_every and len(asked) % fail_every == 0
        tuner.tell(candidate, None if failed else fake_score(candidate))
    return asked


@pytest.mark.parametrize("name", ["nevergrad", "random"])
def test_a_30_trial_search_over_the_default_space_completes_within_bounds(name: str) -> None:
    """Under the NumPy version installed here (nevergrad 1.0.12's MetaModel breaks on NumPy >= 2.4)."""
    space = default_space()
    asked = drive(make_tuner(name, budget=30), space, fail_every=7)
    assert len(asked) == 30
    assert {c.model for c in asked} <= {"gcn", "gat"}
    for c in asked:
        model_space = space.models[c.model]
        assert set(c.model_params) == set(model_space)
        assert all(in_space(c.model_params[k], model_space[k]) for k in model_space), c
        assert all(in_space(c.train_params[k], space.training[k]) for k in space.training), c


@pytest.mark.parametrize("name", ["nevergrad", "random"])
def test_same_seed_same_candidates(name: str) -> None:
    space = default_space()
    first = [c.to_dict() for c in drive(make_tuner(name, budget=8), space, seed=3)]
    second = [c.to_dict() for c in drive(make_tuner(name, budget=8), space, seed=3)]
    other = [c.to_dict() for c in drive(make_tuner(name, budget=8), space, seed=4)]
    assert first == second
    assert first != other


def test_tuner_seed_option_overrides_the_run_seed() -> None:
    space = default_space()
    a = [c.to_dict() for c in drive(make_tuner("nevergrad", budget=5, seed=11), space, seed=1)]
    b = [c.to_dict() for c in drive(make_tuner("nevergrad", budget=5, seed=11), space, seed=2)]
    assert a == b


def test_constants_in_the_space_pass_through() -> None:
    space = SearchSpace(models={"gcn": {"hidden": 32, "layers": Int(2, 3), "dropout": 0.5}}, training={"lr": 0.01})
    for c in drive(make_tuner("nevergrad", budget=5), space):
        assert c.model_params["hidden"] == 32 and c.model_params["dropout"] == 0.5 and c.train_params == {"lr": 0.01}


def test_a_space_with_nothing_to_tune_is_proposed_once() -> None:
    """nevergrad itself refuses such a space ("No variable to optimize"): one model, every parameter fixed."""
    space = SearchSpace(models={"gcn": {"hidden": 32, "dropout": 0.5}}, training={"lr": 0.01}, task={"preprocess": "row"})
    tuner = make_tuner("nevergrad", budget=5)
    tuner.setup(space, seed=0)
    asked = []
    while (candidate := tuner.ask()) is not None:
        asked.append(candidate)
        tuner.tell(candidate, 0.5)
    assert [c.to_dict() for c in asked] == [asked[0].to_dict()]
    assert asked[0].model == "gcn" and asked[0].model_params == {"hidden": 32, "dropout": 0.5}
    assert asked[0].train_params == {"lr": 0.01} and asked[0].task_params == {"preprocess": "row"}


ONE_FLOAT = SearchSpace(models={"m": {"x": Float(0.0, 1.0)}}, training={})


def test_ngopt_picks_a_metamodel_for_a_one_float_space() -> None:
    """The trap itself, seen without running it: NGOpt's choice here wraps a MetaModel."""
    import nevergrad as ng

    optimizer = ng.optimizers.registry["NGOpt"](parametrization=ng.p.Dict(x=ng.p.Scalar(lower=0.0, upper=1.0)), budget=60)
    assert any("MetaModel" in part for part in metamodel_parts(optimizer))


def test_metamodel_is_avoided_where_it_would_crash(caplog: pytest.LogCaptureFixture) -> None:
    tuner = make_tuner("nevergrad", budget=60)
    with caplog.at_level(logging.WARNING):
        tuner.setup(ONE_FLOAT, seed=0)
    for _ in range(60):  # the MetaModel crash came at about the 12th tell
        candidate = tuner.ask()
        tuner.tell(candidate, 1.0 - abs(candidate.model_params["x"] - 0.3))
    assert tuner.ask() is None
    if metamodel_is_broken():
        assert tuner.active_optimizer == FALLBACK_OPTIMIZER
        assert "crashes under NumPy >= 2.4" in caplog.text
    else:
        assert tuner.active_optimizer == "NGOpt"


def test_unknown_optimizer_is_a_config_error_with_suggestions() -> None:
    with pytest.raises(ConfigError, match="unknown nevergrad optimizer 'TwoPointDE'.*TwoPointsDE"):
        make_tuner("nevergrad", optimizer="TwoPointDE")


@pytest.mark.parametrize("name", ["nevergrad", "random"])
def test_budget_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigError, match="budget must be at least 1"):
        make_tuner(name, budget=0)
