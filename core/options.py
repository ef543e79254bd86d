"""Checking component options against the factory's own signature.

A factory's named parameters are its options; their annotations are the types.
This keeps configs honest without a second schema that could drift from code.
"""

from __future__ import annotations

import inspect
import math
import typing
from pathlib import PurePath
from typing import Any, Mapping

from autoglm.core.bounds import bounds_of
from autoglm.core.config import unknown_name_message
from autoglm.core.errors import ConfigError, shown
from autoglm.core.registry import Component, factory_parameters
from autoglm.core.space import Choice, Float, Int, is_tunable


def check_options(component: Component, options: Mapping[str, Any], *, source: str, path: str) -> None:
    """Raise ConfigError for unknown, missing or mistyped options of ``component``."""
    params = factory_parameters(component.factory)
    accepted = component.option_names()
    hints = type_hints(component.factory)
    label = f"{component.kind.rstrip('s').replace('_', ' ')} {component.name!r}"
    for key, value in options.items():
        if key not in accepted:
            raise ConfigError(unknown_name_message("option", key, accepted, owner=label), source=source, path=f"{path}.{key}")
        expected = hints.get(key, params[key].annotation)
        problem = type_problem(value, expected, name=key)
        if problem:
            raise ConfigError(f"{problem} for {label}", source=source, path=f"{path}.{key}")
    for key in accepted:
        param = params[key]
        if param.default is inspect.Parameter.empty and key not in options:
            raise ConfigError(f"option {key!r} is required for {label}", source=source, path=f"{path}.{key}")


def type_hints(factory: Any) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target, include_extras=True)  # keep Annotated[..., Between(...)]
    except Exception:  # unresolvable annotations: fall back to raw ones
        return {}


def type_problem(value: Any, expected: Any, *, name: str = "the value") -> str | None:
    """Describe why ``value`` does not fit ``expected`` (its type, and the range of an
    ``Annotated[..., Between(...)]``), or None if it fits (or cannot be checked)."""
    if expected is inspect.Parameter.empty or expected is Any or isinstance(expected, str):
        return None
    if _fits(value, expected):
        for bound in bounds_of(expected):
            problem = bound.problem(name, value)
            if problem:
                return problem
        return None
    message = f"expected {_describe(expected)}, got {shown(value)} ({type(value).__name__})"
    if typing.get_origin(expected) is typing.Literal and isinstance(value, str):
        by_lower = {str(a).lower(): a for a in typing.get_args(expected)}
        if value.lower() in by_lower:
            message += f" (did you mean {by_lower[value.lower()]!r}?)"
    return message


def check_space_values(component: Component, space: Mapping[str, Any], *, source: str, path: str) -> None:
    """Type-check a model's space overrides (constants, choices, range bounds) against its factory."""
    params = factory_parameters(component.factory)
    hints = type_hints(component.factory)
    label = f"model {component.name!r}"
    for key, value in space.items():
        expected = hints.get(key, params[key].annotation) if key in params else inspect.Parameter.empty
        _check_value(key, value, expected, label, source=source, path=path)


def check_training_space_values(
    component: Component, space: Mapping[str, Any], *, source: str, path: str = "search.training_space"
) -> None:
    """Type-check overrides of a trainer's tunables against the kind of value it declares for each.

    A trainer's tunables (``lr``, ``weight_decay``) are not factory parameters, so the
    declared default space is the only schema: a Float takes numbers, an Int integers,
    a Choice or constant values of the same type. Without this, ``lr: fast`` passes
    validation and every trial then fails with "could not convert string to float".
    """
    label = f"{component.kind.rstrip('s')} {component.name!r}"
    for key, value in space.items():
        _check_value(key, value, _declared_type(component.search_space.get(key)), label, source=source, path=path)


def check_model_constants(component: Component, space: Mapping[str, Any], *, source: str, path: str) -> None:
    """Build a model once (tiny sizes) with the constants of its effective space.

    A constant no trial can use (``dropout: 1.5``, ``layers: 0``) is then a config
    error before the run starts, pointing at the parameter, instead of every trial
    failing with the same ValueError. Only the factory's ValueErrors count; other
    failures are left to the trials, which record them.
    """
    constants = {key: value for key, value in space.items() if not is_tunable(value)}
    if not constants:
        return
    try:
        component.factory(1, 2, **constants)
    except ValueError as exc:
        first_word = str(exc).split(" ", 1)[0]
        where = f"{path}.{first_word}" if first_word in constants else path
        raise ConfigError(f"model {component.name!r}: {exc}", source=source, path=where) from None
    except Exception:  # not a statement about the config: the trials will record it
        return


def _declared_type(declared: Any) -> Any:
    """The type (and, from a declared ``domain``, the range) overrides of a tunable must have."""
    if isinstance(declared, (Float, Int)):
        base = float if isinstance(declared, Float) else int
        return base if declared.domain is None else typing.Annotated[base, declared.domain]
    values = list(declared.options) if isinstance(declared, Choice) else [declared]
    kinds = {type(v) for v in values}
    if len(kinds) == 1 and next(iter(kinds)) in (bool, int, float, str):
        return next(iter(kinds))
    return inspect.Parameter.empty  # undeclared or mixed: nothing to check against


def _check_value(key: str, value: Any, expected: Any, label: str, *, source: str, path: str) -> None:
    if isinstance(value, Choice):
        candidates = list(value.options)
    elif isinstance(value, (Int, Float)):
        candidates = [value.low, value.high]
        if isinstance(value, Float) and _base(expected) is int:
            raise ConfigError(f"{key!r} takes integers: use int, not float", source=source, path=f"{path}.{key}")
    else:
        candidates = [value]
    for candidate in candidates:
        problem = type_problem(candidate, expected, name=key)
        if problem:
            raise ConfigError(f"{problem} for {label}", source=source, path=f"{path}.{key}")


def _base(expected: Any) -> Any:
    """``int`` for ``Annotated[int, ...]``; any other type as it is."""
    return typing.get_args(expected)[0] if typing.get_origin(expected) is typing.Annotated else expected


def _fits(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    args = typing.get_args(expected)
    if origin is typing.Annotated:
        return _fits(value, args[0])
    if origin is typing.Union or (origin is not None and type(expected).__name__ == "UnionType"):
        return any(_fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if expected is type(None) or expected is None:
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:  # NaN is never a valid setting: every comparison with it is false
        return isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value))
    if expected is str:
        return isinstance(value, str)
    if isinstance(expected, type) and issubclass(expected, PurePath):  # a path option: a string in YAML
        return isinstance(value, (str, PurePath)) and bool(str(value).strip())
    if origin in (list, tuple, typing.Sequence) or expected in (list, tuple):
        if not isinstance(value, list):
            return False
        return not args or all(_fits(item, args[0]) for item in value)
    if origin in (dict, typing.Mapping) or expected in (dict,):
        return isinstance(value, dict)
    return True  # a type we do not know how to check from YAML values


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    args = typing.get_args(expected)
    if origin is typing.Annotated:
        return _describe(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is typing.Union or (origin is not None and type(expected).__name__ == "UnionType"):
        return " or ".join(_describe(a) for a in args)
    if expected is type(None):
        return "null"
    if origin is not None:
        return str(expected).replace("typing.", "")
    if isinstance(expected, type) and issubclass(expected, PurePath):
        return "a path (a non-empty string)"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        expected, getattr(expected, "__name__", str(expected))
    )
