"""Search-space types shared by model plugins, trainers, tuners and configs.

A space maps parameter names to a :class:`Int`, :class:`Float`, :class:`Choice`
or a plain constant. Tuners read these types; configs spell them as
``{int: [16, 256], log: true}``, ``{float: [0.0, 0.8]}``, ``{choice: [1, 2]}``
or a bare value for a constant.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from autoglm.core.bounds import Between
from autoglm.core.errors import shown


def _check_bounds(kind: str, low: float, high: float, log: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{kind} bounds must be finite numbers, got [{low}, {high}]")
    if low >= high:
        raise ValueError(f"{kind} range needs low < high, got [{low}, {high}]")
    if log and low <= 0:
        raise ValueError(f"{kind} range on a log scale needs low > 0, got low={low}")


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both inclusive), optionally log-uniform."""

    low: int
    high: int
    log: bool = False
    #: The values any override of this parameter may take (declared on a default space; not part of the range).
    domain: Between | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise ValueError(f"int range bounds must be integers, got [{shown(self.low)}, {shown(self.high)}]")
        _check_bounds("int", self.low, self.high, self.log)

    def sample(self, rng: random.Random) -> int:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(self.high, max(self.low, int(value)))
        return rng.randint(self.low, self.high)

    def to_config(self) -> dict[str, Any]:
        return {"int": [self.low, self.high], "log": self.log}


@dataclass(frozen=True)
class Float:
    """A float in ``[low, high]``, optionally log-uniform."""

    low: float
    high: float
    log: bool = False
    #: The values any override of this parameter may take (declared on a default space; not part of the range).
    domain: Between | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise ValueError(f"float range bounds must be numbers, got [{shown(self.low)}, {shown(self.high)}]")
        _check_bounds("float", float(self.low), float(self.high), self.log)

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)

    def to_config(self) -> dict[str, Any]:
        return {"float": [self.low, self.high], "log": self.log}


@dataclass(frozen=True)
class Choice:
    """One of a fixed list of values (categorical, no order assumed)."""

    options: tuple[Any, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise ValueError("choice needs at least one option, e.g. {choice: [16, 32]}")

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.options)

    def to_config(self) -> dict[str, Any]:
        return {"choice": list(self.options)}


Param = Union[Int, Float, Choice]
#: A search space: parameter name -> a range, a choice, or a fixed value.
Space = Mapping[str, Any]


def is_tunable(value: Any) -> bool:
    return isinstance(value, (Int, Float, Choice))


def sample_space(space: Space, rng: random.Random) -> dict[str, Any]:
    """Draw one point; constants pass through unchanged."""
    return {name: (p.sample(rng) if is_tunable(p) else p) for name, p in space.items()}


def param_from_config(value: Any) -> Any:
    """Parse the config spelling of a parameter; raises ValueError with the reason."""
    if not isinstance(value, Mapping):
        return value
    kinds = [k for k in ("int", "float", "choice") if k in value]
    allowed = {"int", "float", "choice", "log"}
    unknown = sorted(set(value) - allowed)
    if unknown or len(kinds) != 1:
        raise ValueError(
            "a search parameter is a constant or a mapping with exactly one of "
            "'int: [low, high]', 'float: [low, high]' or 'choice: [...]' (plus 'log: true|false' "
            f"for ranges); got keys {sorted(value)}"
        )
    kind = kinds[0]
    body = value[kind]
    if kind == "choice":
        if "log" in value:
            raise ValueError("'log' applies to int and float ranges, not to choice")
        if not isinstance(body, list):
            raise ValueError(f"choice takes a list of values, got {shown(body)}")
        return Choice(tuple(body))
    if not isinstance(body, list) or len(body) != 2:
        raise ValueError(f"{kind} takes a list [low, high], got {shown(body)}")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"log must be true or false, got {shown(log)}")
    return (Int if kind == "int" else Float)(body[0], body[1], log)


def param_to_config(value: Any) -> Any:
    return value.to_config() if is_tunable(value) else value
