"""Valid ranges of numeric options and parameters, declared where the option is.

A factory states a parameter's range in its signature, next to its type::

    def build_mlp(in_channels: int, out_channels: int, *,
                  hidden: Annotated[int, Between(1, 16384)] = 64,
                  dropout: Annotated[float, Between(0, 1, high_open=True)] = 0.5): ...

and the kernel checks every value a run could use against it before anything
is built or trained: the options given, and a search space's constants, choice
values and range ends. A width of 0 or of a billion is then a config error
naming the key, not a trial that trains nonsense, crashes deep in torch or runs
until the machine gives out. Parameters that are not factory arguments (a
trainer's ``lr``) carry their range on the default search dimension:
``Float(3e-3, 3e-2, log=True, domain=Between(0, 10, low_open=True))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Between:
    """The closed (or, per side, open) interval a number must lie in; ``None`` leaves a side unbounded.

    ``why`` is said when a value passes ``high`` ("wider layers cost memory and time that no
    search repays"): an upper bound on what is sensible needs a reason, a lower one rarely does.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    why: str = ""

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"Between needs low <= high, got {self.low} and {self.high}")

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` is outside the interval (one clause, naming ``name``), or None when it is inside."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None  # the type check reports it
        if isinstance(value, float) and math.isnan(value):
            return f"{name} must be a number, got nan"
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not (below or above):
            return None
        if below:
            wanted = f"be {'greater than' if self.low_open else 'at least'} {_number(self.low)}"
        else:
            wanted = f"be {'less than' if self.high_open else 'at most'} {_number(self.high)}"
        reason = f" ({self.why})" if self.why and above else ""
        return f"{name} must {wanted}{reason}, got {_number(value)}"

    def describe(self) -> str:
        """The interval in mathematical notation, e.g. ``[0, 1)`` or ``> 0``."""
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return "any number"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def bounds_of(annotation: Any) -> list[Between]:
    """The :class:`Between` markers of an ``Annotated[...]`` type (none for a plain type)."""
    metadata = getattr(annotation, "__metadata__", ())
    return [item for item in metadata if isinstance(item, Between)]
