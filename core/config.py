"""Reading and checking run configs.

Two stages, both before any data is loaded or any device touched:
:func:`parse_config` checks the shape of the document (sections, keys, types)
and :meth:`autoglm.core.engine.Engine.load_config` checks component names and
options against the engine's registries. Every error names the source, the
key path, what was wrong and what would be valid.
"""

from __future__ import annotations

import copy
import re
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from autoglm.core.errors import ConfigError, shown
from autoglm.core.space import param_from_config, param_to_config
from autoglm.core.yamlio import DocumentTooLarge, read_yaml, safe_load, yaml_problem

SECTIONS = (
    "task", "seed", "output", "data", "search", "tuner", "trainer", "reporters", "executor", "pruning", "selection",
    "workers", "population", "threads", "time_budget",
)
SEARCH_KEYS = ("models", "space", "training_space", "task_space")
COMPONENT_KEYS = ("name", "options")
PRUNING_KEYS = ("enabled", "min_epochs", "reduction_factor", "min_trials", "per_model")
#: (key, least value, largest value, what it means) of the pruning section's integers.
_PRUNING_INTS = (
    ("min_epochs", 1, 1_000_000, "the first epoch at which a trial can be stopped"),
    ("reduction_factor", 2, 1000, "rungs are this many times apart and 1/this of the trials go on"),
    ("min_trials", 1, 1_000_000, "earlier trials a rung needs before it stops anyone"),
)
SELECTION_KEYS = ("top_k", "seeds", "noise_band", "ensemble", "ensemble_weights")
#: (key, least value, largest value, what it means) of the selection section's integers.
_SELECTION_INTS = (
    ("top_k", 1, 100, "how many of the best configurations are re-trained"),
    ("seeds", 1, 100, "training runs per configuration, the trial's own included; 1 turns re-training off"),
    ("ensemble", 0, 100, "how many of the best configurations' re-trained models to combine; 0 or 1 = no ensemble"),
)
#: (key, largest value, what it means) of the top-level positive integers.
_PROCESS_INTS = (
    ("workers", 512, "trials trained at once, each in its own process"),
    ("population", 1024, "configurations of one architecture trained as one batched model; 1 = off"),
)
MAX_THREADS = 1024
#: How an ensemble's members are weighted: equally, or by greedy selection on the validation split.
ENSEMBLE_WEIGHTS = ("mean", "greedy")
#: Seeds are recorded and fed to torch, numpy and nevergrad, which take at most 64 bits.
MAX_SEED = 2**63 - 1


@dataclass
class ComponentSpec:
    """A config section that names a component and its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": copy.deepcopy(self.options)}


@dataclass
class SearchSpec:
    models: list[str] | None = None
    #: model name -> parameter -> Int/Float/Choice/constant (overrides of the model's defaults)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    training_space: dict[str, Any] = field(default_factory=dict)
    #: Overrides of the task's own tunables (its head), shared by every model.
    task_space: dict[str, Any] = field(default_factory=dict)
    #: Whether ``models`` is the engine's default (every model registered with ``default_search``), not the config's own list:
    #: a default may be narrowed to what the run can train (mini-batch: models that can sample).
    defaulted: bool = field(default=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": None if self.models is None else list(self.models),
            "space": {m: {k: param_to_config(v) for k, v in p.items()} for m, p in self.space.items()},
            "training_space": {k: param_to_config(v) for k, v in self.training_space.items()},
            "task_space": {k: param_to_config(v) for k, v in self.task_space.items()},
        }


@dataclass
class PruningSpec:
    """Successive halving across trials (:mod:`autoglm.core.pruning`); on unless turned off."""

    enabled: bool = True
    min_epochs: int = 20
    reduction_factor: int = 3
    min_trials: int = 4
    #: Compare a trial only with earlier trials of its own model (each model's own rungs and min_trials).
    per_model: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "min_epochs": self.min_epochs,
            "reduction_factor": self.reduction_factor,
            "min_trials": self.min_trials,
            "per_model": self.per_model,
        }


@dataclass
class SelectionSpec:
    """Robust selection (:mod:`autoglm.core.selection`): the top-k configurations re-trained with
    several seeds, the best mean validation score wins, test reported as mean ± std."""

    top_k: int = 3
    seeds: int = 3
    #: A contender is re-trained only if its search score is within this many standard deviations of the
    #: best configuration's seeds (their mean): farther below, the seed noise cannot explain the gap.
    noise_band: float = 2.0
    #: Combine the models of this many of the best contenders (every seed of each); 0 or 1: no ensemble.
    ensemble: int = 0
    #: ``mean`` (equal weights) or ``greedy`` (Caruana's ensemble selection on the validation split).
    ensemble_weights: str = "mean"

    @property
    def enabled(self) -> bool:
        return self.seeds > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "top_k": self.top_k, "seeds": self.seeds, "noise_band": self.noise_band,
            "ensemble": self.ensemble, "ensemble_weights": self.ensemble_weights,
        }


@dataclass
class RunConfig:
    """A config whose shape is valid; component sections may still be unresolved (None)."""

    data: ComponentSpec
    search: SearchSpec = field(default_factory=SearchSpec)
    tuner: ComponentSpec | None = None
    trainer: ComponentSpec | None = None
    reporters: list[ComponentSpec] | None = None
    #: Where trials train (``inline``, ``fork``, ``ray``); None until resolved (by ``workers``).
    executor: ComponentSpec | None = None
    pruning: PruningSpec = field(default_factory=PruningSpec)
    selection: SelectionSpec = field(default_factory=SelectionSpec)
    #: Trials trained at once, each in its own process (torch threads split between them).
    workers: int = 1
    #: Configurations of one architecture trained together as one batched model (1: each alone).
    population: int = 1
    #: Torch intra-op threads per trial process: "auto" (one, see :mod:`autoglm.core.threads`) or a number.
    threads: int | str = "auto"
    #: Seconds the search may take (``time_budget: 10m`` in a config), selection included; None: trials only.
    time_budget: float | None = None
    #: What is learned; None until resolved (the default is a plugin's, node_classification).
    task: ComponentSpec | None = None
    seed: int | None = None
    output: str | None = None
    #: Where the config came from, for messages ("examples/cora.yaml", "<dict>").
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping that parses back to an equal config (written to the run directory)."""
        return {
            "task": self.task.to_dict() if self.task else None,
            "seed": self.seed,
            "output": self.output,
            "data": self.data.to_dict(),
            "search": self.search.to_dict(),
            "tuner": self.tuner.to_dict() if self.tuner else None,
            "trainer": self.trainer.to_dict() if self.trainer else None,
            "reporters": [r.to_dict() for r in self.reporters] if self.reporters is not None else None,
            "executor": self.executor.to_dict() if self.executor else None,
            "pruning": self.pruning.to_dict(),
            "selection": self.selection.to_dict(),
            "workers": self.workers,
            "population": self.population,
            "threads": self.threads,
            "time_budget": self.time_budget,
        }

    @property
    def round_size(self) -> int:
        """Candidates asked from the tuner before any is told: what one round trains at once."""
        return self.workers * self.population


def apply_overrides(document: Mapping[str, Any], overrides: Iterable[str], *, source: str) -> dict[str, Any]:
    """Apply ``--set a.b=c`` overrides; values are parsed as YAML scalars or lists, never evaluated."""
    result = _expand_shorthands(copy.deepcopy(dict(document)))
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {shown(override)} must look like key.path=value", source="--set")
        key_path, raw = override.split("=", 1)
        keys = key_path.strip().split(".")
        if not all(keys):
            raise ConfigError(f"override {shown(override)} has an empty key in {key_path!r}", source="--set")
        try:
            value = safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            problem, where = yaml_problem(exc)
            at = f" at {where.replace('line 1, ', '')}" if where else ""
            raise ConfigError(f"cannot parse the value of {shown(override)}{at}: {problem}", source="--set") from None
        except DocumentTooLarge as exc:
            raise ConfigError(f"refused the value of {key_path.strip()!r}: {exc}", source="--set") from None
        _set_path(result, keys, value, override)
    return result


def _expand_shorthands(document: dict[str, Any]) -> dict[str, Any]:
    """``tuner: random`` -> ``tuner: {name: random}`` so overrides can reach its options."""
    for section in ("task", "data", "tuner", "trainer", "executor"):
        if isinstance(document.get(section), str):
            document[section] = {"name": document[section]}
    if isinstance(document.get("reporters"), list):
        document["reporters"] = [{"name": r} if isinstance(r, str) else r for r in document["reporters"]]
    if isinstance(document.get("pruning"), bool):  # pruning: false -> {enabled: false}
        document["pruning"] = {"enabled": document["pruning"]}
    if document.get("selection") is False:  # selection: false -> one seed, the single best trial
        document["selection"] = {"top_k": 1, "seeds": 1}
    return document


def _set_path(node: Any, keys: list[str], value: Any, override: str) -> None:
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        here = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not node:
                parent = ".".join(keys[:depth])
                raise ConfigError(
                    f"override {shown(override)}: {parent} is an empty list; set the whole list instead, "
                    f"e.g. --set {parent}=[...]",
                    source="--set",
                )
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(
                    f"override {shown(override)}: {here} indexes a list of {len(node)} items; use 0..{len(node) - 1}",
                    source="--set",
                )
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"override {shown(override)}: {here} is inside a value that is not a mapping", source="--set")
        if last:
            node[key] = value
        else:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]


def parse_config(document: Any, *, source: str = "<config>") -> RunConfig:
    """Check the shape of a config mapping and build a :class:`RunConfig`."""
    if not isinstance(document, Mapping):
        raise ConfigError(f"the config must be a mapping, got {type(document).__name__}", source=source)
    _no_unknown_keys(document, SECTIONS, "", source, what="section")
    if "data" not in document or document["data"] is None:
        raise ConfigError("the 'data' section is required, e.g. data: {name: synthetic}", source=source, path="data")

    seed = document.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ConfigError(
            f"seed must be a non-negative integer below 2**63, or null, got {shown(seed)}", source=source, path="seed"
        )
    output = document.get("output")
    if output is not None and (not isinstance(output, str) or not output.strip()):
        # '' would mean the current directory: a run would litter wherever the command was started
        raise ConfigError(
            f"output must be a directory path, e.g. runs/mine, got {shown(output)}", source=source, path="output"
        )

    reporters = document.get("reporters")
    if reporters is not None:
        if not isinstance(reporters, list):
            raise ConfigError(
                "reporters must be a list, e.g. [console, {name: jsonl}]", source=source, path="reporters"
            )
        reporters = [_component(r, f"reporters[{i}]", source) for i, r in enumerate(reporters)]

    return RunConfig(
        task=_component(document["task"], "task", source) if document.get("task") is not None else None,
        seed=seed,
        output=output,
        data=_component(document["data"], "data", source),
        search=_search(document.get("search"), source),
        tuner=_component(document["tuner"], "tuner", source) if document.get("tuner") is not None else None,
        trainer=_component(document["trainer"], "trainer", source) if document.get("trainer") is not None else None,
        reporters=reporters,
        executor=_component(document["executor"], "executor", source) if document.get("executor") is not None else None,
        pruning=_pruning(document.get("pruning"), source),
        selection=_selection(document.get("selection"), source),
        **{key: _positive_int(document, key, most, meaning, source) for key, most, meaning in _PROCESS_INTS},
        threads=_threads(document, source),
        time_budget=_duration(document.get("time_budget"), source, "time_budget"),
        source=source,
    )


_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")
#: A budget past this is a typo, not a plan (30 days).
MAX_DURATION_S = 30 * 24 * 3600


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90``, ``90s``, ``10m``, ``1h30m`` or ``2.5h``; None if ``value`` is none of those."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str) or not value.strip():
        return None
    match = _DURATION.match(value.lower())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _duration(value: Any, source: str, path: str) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None or not 0 < seconds <= MAX_DURATION_S:
        raise ConfigError(
            f"{path} must be a positive duration such as 600, 90s, 10m or 1h30m (at most 30 days), got {shown(value)}",
            source=source, path=path,
        )
    return seconds


def _threads(document: Mapping[str, Any], source: str) -> int | str:
    """``threads: auto`` (the default) or a number of torch threads per trial process."""
    value = document.get("threads", "auto")
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS:
        raise ConfigError(
            f"threads must be auto or an integer in 1..{MAX_THREADS} (torch threads per trial process), "
            f"got {shown(value)}",
            source=source,
            path="threads",
        )
    workers = document.get("workers") or 1
    if value > 1 and isinstance(workers, int) and workers > 1:
        raise ConfigError(
            f"threads: {value} needs workers: 1; forked worker processes run one torch thread each "
            "(more hang under GNU OpenMP), so use workers to fill the cores",
            source=source,
            path="threads",
        )
    return value


def _component(value: Any, path: str, source: str) -> ComponentSpec:
    if isinstance(value, str):
        return ComponentSpec(value, {})
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"expected a component name or a mapping {{name: ..., options: {{...}}}}, got {shown(value)}",
            source=source,
            path=path,
        )
    _no_unknown_keys(value, COMPONENT_KEYS, path, source)
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"'name' is required and must be a string, got {shown(name)}", source=source, path=f"{path}.name")
    options = value.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"options must be a mapping, got {shown(options)}", source=source, path=f"{path}.options")
    for key in options:
        if not isinstance(key, str):
            raise ConfigError(f"option names must be strings, got {shown(key)}", source=source, path=f"{path}.options")
    return ComponentSpec(name, dict(options))


def _search(value: Any, source: str) -> SearchSpec:
    if value is None:
        return SearchSpec()
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"search must be a mapping with keys {', '.join(SEARCH_KEYS)}, e.g. {{models: [gcn]}}; "
            f"got a {type(value).__name__}: {shown(value)}",
            source=source,
            path="search",
        )
    _no_unknown_keys(value, SEARCH_KEYS, "search", source)
    models = value.get("models")
    if models is not None:
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
            raise ConfigError(
                f"search.models must be a non-empty list of model names, got {shown(models)}",
                source=source,
                path="search.models",
            )
        if len(set(models)) != len(models):
            raise ConfigError(f"search.models lists a model twice: {models}", source=source, path="search.models")
    space = value.get("space") or {}
    if not isinstance(space, Mapping):
        raise ConfigError(
            "search.space maps model names to parameters, e.g. {gcn: {hidden: {int: [16, 64]}}}; "
            f"got a {type(space).__name__}: {shown(space)}",
            source=source,
            path="search.space",
        )
    parsed_space = {}
    for model, params in space.items():
        parsed_space[str(model)] = _params(params, f"search.space.{model}", source)
    training = _params(value.get("training_space") or {}, "search.training_space", source)
    task_space = _params(value.get("task_space") or {}, "search.task_space", source)
    return SearchSpec(models=models, space=parsed_space, training_space=training, task_space=task_space)


def _pruning(value: Any, source: str) -> PruningSpec:
    """``pruning:`` is a mapping of :data:`PRUNING_KEYS`, or just true/false; absent means the defaults."""
    if value is None:
        return PruningSpec()
    if isinstance(value, bool):
        return PruningSpec(enabled=value)
    if not isinstance(value, Mapping):
        raise ConfigError(
            "pruning must be true, false or a mapping, e.g. {min_epochs: 20, reduction_factor: 3, min_trials: 4}; "
            f"got a {type(value).__name__}: {shown(value)}",
            source=source,
            path="pruning",
        )
    _no_unknown_keys(value, PRUNING_KEYS, "pruning", source)
    spec = PruningSpec()
    for key in ("enabled", "per_model"):
        flag = value.get(key, getattr(spec, key))
        if not isinstance(flag, bool):
            raise ConfigError(f"expected true or false, got {shown(flag)}", source=source, path=f"pruning.{key}")
        setattr(spec, key, flag)
    _int_settings(value, spec, _PRUNING_INTS, "pruning", source)
    return spec


def _selection(value: Any, source: str) -> SelectionSpec:
    """``selection:`` is a mapping of :data:`SELECTION_KEYS`, or false (no re-training); absent means the defaults."""
    if value is None or value is True:
        return SelectionSpec()
    if value is False:
        return SelectionSpec(top_k=1, seeds=1)
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"selection must be true, false or a mapping, e.g. {{top_k: 3, seeds: 3}}; got a {type(value).__name__}: {shown(value)}",
            source=source,
            path="selection",
        )
    _no_unknown_keys(value, SELECTION_KEYS, "selection", source)
    spec = SelectionSpec()
    _int_settings(value, spec, _SELECTION_INTS, "selection", source)
    if "noise_band" in value:
        band = value["noise_band"]
        if isinstance(band, bool) or not isinstance(band, (int, float)) or math.isnan(band) or band < 0:
            raise ConfigError(
                "noise_band must be a number of standard deviations, 0 or more (.inf re-trains every contender), "
                f"got {shown(band)}",
                source=source, path="selection.noise_band",
            )
        spec.noise_band = float(band)
    if "ensemble_weights" in value:
        if value["ensemble_weights"] not in ENSEMBLE_WEIGHTS:
            raise ConfigError(
                f"ensemble_weights must be one of {', '.join(ENSEMBLE_WEIGHTS)}, got {shown(value['ensemble_weights'])}",
                source=source, path="selection.ensemble_weights",
            )
        spec.ensemble_weights = value["ensemble_weights"]
    if spec.ensemble > 1 and (not spec.enabled or spec.ensemble > spec.top_k):
        raise ConfigError(
            f"ensemble: {spec.ensemble} combines re-trained contenders, so it needs seeds of 2 or more and "
            f"top_k of at least {spec.ensemble} (got seeds {spec.seeds}, top_k {spec.top_k})",
            source=source, path="selection.ensemble",
        )
    return spec


def _positive_int(document: Mapping[str, Any], key: str, most: int, meaning: str, source: str) -> int:
    value = document.get(key, 1)
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer ({meaning}), got {shown(value)}", source=source, path=key)
    if value > most:
        raise ConfigError(f"{key} must be at most {most} ({meaning}), got {value}", source=source, path=key)
    return value


def _int_settings(value: Mapping[str, Any], spec: Any, ints: Any, section: str, source: str) -> None:
    """Set ``spec``'s integer settings from ``value``, each checked for type and least value."""
    for key, least, most, meaning in ints:
        if key not in value:
            continue
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, int):
            raise ConfigError(
                f"expected an integer ({meaning}), got {shown(number)} ({type(number).__name__})",
                source=source,
                path=f"{section}.{key}",
            )
        if number < least:
            raise ConfigError(
                f"{key} must be at least {least} ({meaning}), got {number}", source=source, path=f"{section}.{key}"
            )
        if number > most:
            raise ConfigError(
                f"{key} must be at most {most} ({meaning}), got {number}", source=source, path=f"{section}.{key}"
            )
        setattr(spec, key, number)


def _params(value: Any, path: str, source: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping of parameter names, got {shown(value)}", source=source, path=path)
    parsed = {}
    for name, spec in value.items():
        try:
            parsed[str(name)] = param_from_config(spec)
        except ValueError as exc:
            raise ConfigError(str(exc), source=source, path=f"{path}.{name}") from None
    return parsed


def _no_unknown_keys(
    mapping: Mapping[str, Any], accepted: Iterable[str], path: str, source: str, *, what: str = "key"
) -> None:
    accepted = list(accepted)
    for key in mapping:
        if key not in accepted:
            raise ConfigError(unknown_name_message(what, key, accepted), source=source, path=_join(path, str(key)))


def unknown_name_message(what: str, name: Any, accepted: Iterable[str], *, owner: str = "") -> str:
    accepted = sorted(accepted)
    owner = f" for {owner}" if owner else ""
    message = f"unknown {what} {shown(name)}{owner}; accepted: {', '.join(accepted) if accepted else 'none'}"
    close = difflib.get_close_matches(str(name), accepted, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    return message


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
