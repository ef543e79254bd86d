"""Resume's check that a replayed proposal is the one the run recorded."""

from __future__ import annotations

import math
from typing import Any, Mapping

from autoglm.core.protocols import Candidate
from autoglm.core.results import TrialRecord


def same_candidate(candidate: Candidate, record: TrialRecord) -> bool:
    """Does a replayed proposal match a recorded trial? (Floats survive the JSON round trip exactly.)"""
    return (
        candidate.model == record.model
        and _same_values(candidate.model_params, record.model_params)
        and _same_values(candidate.train_params, record.train_params)
        and _same_values(candidate.task_params, record.task_params)
    )


def _same_values(proposed: Mapping[str, Any], recorded: Mapping[str, Any]) -> bool:
    if set(proposed) != set(recorded):
        return False
    for key, value in proposed.items():
        other = recorded[key]
        if isinstance(value, float) or isinstance(other, float):
            if not (isinstance(other, (int, float)) and math.isclose(value, other, rel_tol=1e-12, abs_tol=0.0)):
                return False
        elif value != other:
            return False
    return True


def describe_point(model: str, model_params: Mapping[str, Any], train_params: Mapping[str, Any]) -> str:
    return f"{model} {dict(model_params)} {dict(train_params)}"


def configuration_key(model: str, *params: Mapping[str, Any]) -> str:
    """One configuration as a string: equal for a proposal the tuner repeats exactly (floats by their repr)."""
    import json

    return json.dumps([model, *[dict(sorted(p.items())) for p in params]], sort_keys=True, default=repr)


def key_of(point: Candidate | TrialRecord) -> str:
    return configuration_key(point.model, point.model_params, point.train_params, point.task_params)
