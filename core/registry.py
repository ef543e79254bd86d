"""Component registries with the rules of Go's ``database/sql.Register``.

A name is registered once per engine: a second registration is an error that
names both owners, never an overwrite. Unknown names fail with the known names,
the closest match and the plugins that failed to load. Registries are frozen
once the engine is built, so nothing changes under a running search.
"""

from __future__ import annotations

import difflib
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from autoglm.core.errors import DuplicateComponentError, RegistryError, UnknownComponentError

KINDS = ("tasks", "data_loaders", "models", "tuners", "trainers", "reporters", "executors")
#: Singular labels used in messages and configs.
KIND_LABELS = {
    "tasks": "task",
    "data_loaders": "data loader",
    "models": "model",
    "tuners": "tuner",
    "trainers": "trainer",
    "reporters": "reporter",
    "executors": "executor",
}
#: What ``register`` takes besides name, factory and summary, per kind: one table, so a new
#: capability of a kind is one entry here and a field of :class:`Component`.
KIND_DETAILS: dict[str, tuple[str, ...]] = {
    "tasks": ("search_space", "training_space"),
    "models": ("search_space", "population", "population_key", "tasks", "sampling", "default_search"),
    "trainers": ("search_space",),
}
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
#: Positional inputs every model factory takes before its tunable parameters.
MODEL_INPUTS = ("in_channels", "out_channels")


@dataclass(frozen=True)
class Owner:
    """Who registered a component: the plugin and, if installed, its distribution."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if not self.distribution:
            return f"plugin {self.plugin!r}"
        version = f" {self.version}" if self.version else ""
        return f"plugin {self.plugin!r} (distribution {self.distribution}{version})"


@dataclass(frozen=True)
class Component:
    """A registered factory and what the kernel knows about it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    owner: Owner
    summary: str = ""
    search_space: Mapping[str, Any] = field(default_factory=dict)
    #: Models only: ``population(in_channels, out_channels, members)`` builds one batched module
    #: training several configurations at once (see :class:`autoglm.plugins.nn.PopulationModel`).
    population: Callable[..., Any] | None = None
    #: Models only: ``population_key(params)``; members whose keys are equal can share one population (None: trains alone).
    population_key: Callable[[Mapping[str, Any]], Any] | None = None
    #: Models only: the tasks the model serves (None: every task, the default for a node encoder).
    tasks: tuple[str, ...] | None = None
    #: Tasks only: defaults the task proposes for trainer tunables of the same name (``weight_decay``),
    #: used over the trainer's own defaults and under the config's ``search.training_space``.
    training_space: Mapping[str, Any] = field(default_factory=dict)
    #: Models only: whether the model trains correctly on sampled subgraphs (mini-batch training): nothing
    #: in it depends on the whole graph (GCN's symmetric normalisation needs every node's full degree).
    sampling: bool = False
    #: Models only: whether a config that names no ``search.models`` searches it (for every task it serves;
    #: opt-in models say False).
    default_search: bool = True

    def serves(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks

    def searched_by_default(self, task: str) -> bool:
        """Whether a config for ``task`` that names no models searches this one."""
        return self.default_search and self.serves(task)

    def option_names(self) -> list[str]:
        """Keyword options the factory accepts (for models: its tunable parameters)."""
        params = factory_parameters(self.factory)
        skip = MODEL_INPUTS if self.kind == "models" else ()
        return sorted(name for name in params if name not in skip)


def _task_names(value: Any) -> bool:
    try:
        names = list(value)
    except TypeError:
        return False
    return bool(names) and all(isinstance(n, str) and n for n in names)


def factory_parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The named parameters of a factory; raises if it hides options behind ``**kwargs``."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"factory {factory!r} has no inspectable signature: {exc}") from None
    params = {}
    for name, param in signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise RegistryError(
                f"factory {_qualname(factory)} takes **{name}: list every option as a named "
                "parameter so configs can be checked (no **kwargs sinks)"
            )
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        params[name] = param
    return params


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry:
    """Names of one kind of component, mapped to their factories."""

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        self.kind = kind
        self.label = KIND_LABELS[kind]
        self._components: dict[str, Component] = {}
        #: name -> the owners of second (third, ...) registrations of a name; the first one stays registered.
        self.conflicts: dict[str, list[Owner]] = {}
        self._frozen = False
        #: Plugins that failed to load, named in "unknown component" errors.
        self.failed_plugins: Mapping[str, str] = {}
        #: Plugins switched off by AUTOGLM_PLUGINS / AUTOGLM_DISABLE_PLUGINS, also named there:
        #: "known trainers: none" alone does not tell the user that an environment switch hid them.
        self.disabled_plugins: Sequence[str] = ()

    def register(
        self,
        name: str,
        factory: Callable[..., Any],
        owner: Owner,
        *,
        summary: str | None = None,
        **details: Any,
    ) -> Component:
        """Add a component; raises RegistryError for anything that breaks the registry's rules.

        ``details`` are the kind's extra facts (:data:`KIND_DETAILS`), e.g. a model's
        ``search_space``. A duplicate name raises :class:`DuplicateComponentError`.
        """
        if self._frozen:
            raise RegistryError(
                f"cannot register {self.label} {name!r} from {owner}: the registry is frozen "
                "once the engine is built; register components from a plugin hook"
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise RegistryError(
                f"invalid {self.label} name {name!r} from {owner}: names are lower-case letters, "
                "digits, '_' and '-', starting with a letter"
            )
        if not callable(factory):
            raise RegistryError(f"{self.label} {name!r} from {owner}: factory {factory!r} is not callable")
        accepted = KIND_DETAILS.get(self.kind, ())
        unknown = sorted(set(details) - set(accepted))
        if unknown:
            raise RegistryError(
                f"{self.label} {name!r} from {owner}: register() got {', '.join(unknown)}, which "
                f"{self.label}s do not take; accepted: {', '.join(('summary', *accepted))}"
            )
        if name in self._components:
            self.conflicts.setdefault(name, []).append(owner)
            raise DuplicateComponentError(self.duplicate_message(name))
        try:
            factory_parameters(factory)  # every option must be a named, checkable parameter
        except RegistryError as exc:
            raise RegistryError(f"{self.label} {name!r} from {owner}: {exc}") from None
        search_space = details.get("search_space")
        population, population_key = details.get("population"), details.get("population_key")
        for label, extra in (("population", population), ("population_key", population_key)):
            if extra is not None and (self.kind != "models" or not callable(extra)):
                raise RegistryError(
                    f"{self.label} {name!r} from {owner}: {label} must be a callable and only models take one, got {extra!r}"
                )
        if population_key is not None and population is None:
            raise RegistryError(f"model {name!r} from {owner}: population_key needs a population factory")
        tasks = details.get("tasks")
        if tasks is not None:
            if isinstance(tasks, str) or not _task_names(tasks):
                raise RegistryError(f"model {name!r} from {owner}: tasks must be a non-empty list of task names, got {tasks!r}")
            tasks = tuple(tasks)
        space = dict(search_space or {})
        training_space = details.get("training_space") or {}
        if not isinstance(training_space, Mapping):
            raise RegistryError(f"task {name!r} from {owner}: training_space must be a mapping, got {training_space!r}")
        sampling, default_search = details.get("sampling", False), details.get("default_search", True)
        for label, flag in (("sampling", sampling), ("default_search", default_search)):
            if not isinstance(flag, bool):
                raise RegistryError(f"model {name!r} from {owner}: {label} must be True or False, got {flag!r}")
        component = Component(
            self.kind, name, factory, owner, (summary or _doc_line(factory)), space, population, population_key, tasks,
            dict(training_space), sampling, default_search,
        )
        self._check_space(component)
        self._components[name] = component
        return component

    def duplicate_message(self, name: str) -> str:
        owners = [self._components[name].owner, *self.conflicts.get(name, [])]
        return (
            f"{self.label} {name!r} is registered twice: by {' and by '.join(str(o) for o in owners)}. "
            "Uninstall or disable one of them (AUTOGLM_DISABLE_PLUGINS)"
        )

    def _check_space(self, component: Component) -> None:
        if self.kind == "models":
            accepted = set(component.option_names())
            extra = sorted(set(component.search_space) - accepted)
            if extra:
                raise RegistryError(
                    f"model {component.name!r} from {component.owner}: search_space names {extra} are not "
                    f"parameters of its factory; accepted: {sorted(accepted)}"
                )
        for key, value in component.search_space.items():
            if isinstance(value, Mapping):
                raise RegistryError(
                    f"{self.label} {component.name!r}: search_space[{key!r}] must be an Int, Float, Choice "
                    "or a constant, not a mapping"
                )

    def discard_owner(self, owner: Owner) -> None:
        """Drop what a plugin registered before its hook failed (only while not frozen)."""
        if self._frozen:
            raise RegistryError("a frozen registry cannot change")
        self._components = {n: c for n, c in self._components.items() if c.owner != owner}

    def freeze(self) -> None:
        self._frozen = True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def names(self) -> list[str]:
        return sorted(self._components)

    def __iter__(self) -> Iterator[Component]:
        return (self._components[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __len__(self) -> int:
        return len(self._components)

    def get(self, name: str) -> Component:
        try:
            return self._components[name]
        except (KeyError, TypeError):
            raise UnknownComponentError(self.unknown_message(name)) from None

    def unknown_message(self, name: Any) -> str:
        known = self.names()
        parts = [f"unknown {self.label} {name!r} (plugin not installed?)"]
        parts.append(f"known {self.label}s: {', '.join(known) if known else 'none'}")
        close = difflib.get_close_matches(str(name), known, n=1)
        if close:
            parts.append(f"did you mean {close[0]!r}?")
        if self.failed_plugins:
            failed = "; ".join(f"{plugin}: {reason}" for plugin, reason in sorted(self.failed_plugins.items()))
            parts.append(f"plugins that failed to load: {failed}")
        if self.disabled_plugins:
            parts.append(
                "plugins disabled by AUTOGLM_PLUGINS / AUTOGLM_DISABLE_PLUGINS: "
                + ", ".join(sorted(self.disabled_plugins))
            )
        return "; ".join(parts)


def _doc_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
