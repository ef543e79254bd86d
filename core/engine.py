"""The engine: one plugin manager, its registries, and the entry point for runs.

Each :class:`Engine` owns its own ``pluggy.PluginManager`` and registries, so
several engines can live in one process without sharing state. Building an
engine imports plugin modules but no heavy libraries: torch and friends are
imported by factories when a run needs them.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pluggy

from autoglm.core import hookspecs
from autoglm.core.config import (
    ComponentSpec,
    RunConfig,
    apply_overrides,
    parse_config,
    read_yaml,
    unknown_name_message,
)
from autoglm.core.errors import (
    AutoglmError,
    ConfigError,
    DataError,
    DuplicateComponentError,
    PluginError,
    RegistryError,
    UnknownComponentError,
)
from autoglm.core.jobs import EngineRecipe
from autoglm.core.loading import LoadSettings, PluginInfo, PluginLoader
from autoglm.core.options import check_model_constants, check_options, check_space_values, check_training_space_values
from autoglm.core.paths import as_paths, resolve_path_options
from autoglm.core.protocols import MiniBatchTrainer, SampledTask, SearchSpace
from autoglm.core.registry import KIND_LABELS, KINDS, Component, Owner, Registry

if TYPE_CHECKING:  # pragma: no cover
    from autoglm.core.results import RunResult

log = logging.getLogger(__name__)

#: Config sections whose component may be left out, and the registry they name.
DEFAULTED_SECTIONS = {"task": "tasks", "tuner": "tuners", "trainer": "trainers", "reporter": "reporters"}


class Engine:
    """Loads plugins, holds their components, validates configs and runs searches.

    :param plugins: Plugin objects (modules or instances with hook implementations)
        passed by a host application; loaded after entry points and built-ins.
    :param autoload: Load third-party plugins from the ``autoglm`` entry-point group.
        None means yes unless ``AUTOGLM_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param builtins: Load the plugins shipped with autoglm.
    :param strict: Raise on a broken third-party plugin instead of skipping it.
    :param env: Environment to read the ``AUTOGLM_*`` switches from (default ``os.environ``).
    """

    def __init__(
        self,
        plugins: Iterable[Any] = (),
        *,
        autoload: bool | None = None,
        builtins: bool = True,
        strict: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        plugins = tuple(plugins)
        self._pm = pluggy.PluginManager("autoglm")
        self._pm.add_hookspecs(hookspecs)
        settings = LoadSettings.from_env(autoload=autoload, builtins=builtins, strict=strict, env=env)
        switches = {k: v for k, v in (os.environ if env is None else env).items() if k.startswith("AUTOGLM_")}
        #: How to build an equal engine in another process (a Ray worker): this one's arguments and switches.
        self.recipe = EngineRecipe(plugins, autoload, builtins, strict, switches)
        self._loader = PluginLoader(self._pm, settings)
        self._plugins = self._loader.load_all(plugins)
        self._registries = {kind: Registry(kind) for kind in KINDS}
        for kind in KINDS:
            self._collect(kind)
        failed = {p.name: p.error or "" for p in self._plugins if p.status == "failed"}
        disabled = [p.name for p in self._plugins if p.status == "disabled"]
        for registry in self._registries.values():
            registry.failed_plugins = failed
            registry.disabled_plugins = disabled
            registry.freeze()

    # -- building --------------------------------------------------------

    def _collect(self, kind: str) -> None:
        registry = self._registries[kind]
        hook = getattr(self._pm.hook, f"autoglm_register_{kind}")
        infos = {p.name: p for p in self._plugins}
        for impl in hook.get_hookimpls():
            info = infos[impl.plugin_name]
            if info.status != "loaded":
                continue
            owner = Owner(info.name, info.distribution, info.version)
            registered: list[str] = info.components.setdefault(kind, [])

            def register(
                name: str,
                factory: Any,
                *,
                summary: str | None = None,
                _owner: Owner = owner,
                _registered: list[str] = registered,
                _info: PluginInfo = info,
                **details: Any,
            ) -> None:
                try:
                    registry.register(name, factory, _owner, summary=summary, **details)
                except DuplicateComponentError as exc:
                    # The first registration stays; runs refuse the conflict (see check_conflicts),
                    # but listing commands keep working and show both owners.
                    _info.conflicts.append(str(exc))
                    return
                _registered.append(name)

            try:
                impl.function(**{arg: register for arg in impl.argnames})
            except Exception as exc:  # a broken hook or a broken registry contract: the plugin is isolated
                for other in self._registries.values():
                    other.discard_owner(owner)
                info.components.clear()
                if isinstance(exc, RegistryError) and info.source == "builtin":
                    raise
                self._loader.fail(info, exc)

    # -- introspection ---------------------------------------------------

    def names(self, kind: str) -> list[str]:
        """Registered component names of one kind, sorted (e.g. ``engine.names("models")``)."""
        return self.registry(kind).names()

    def registry(self, kind: str) -> Registry:
        if kind not in self._registries:
            raise RegistryError(unknown_name_message("component kind", kind, KINDS))
        return self._registries[kind]

    def component(self, kind: str, name: str) -> Component:
        return self.registry(kind).get(name)

    def plugins(self) -> list[PluginInfo]:
        """Every plugin the engine saw, including failed and disabled ones."""
        return list(self._plugins)

    def conflicts(self) -> list[str]:
        """Component names two plugins registered, as messages naming both owners."""
        return [self._registries[kind].duplicate_message(name) for kind in KINDS for name in self._registries[kind].conflicts]

    def check_conflicts(self) -> None:
        """A name registered twice is an error for anything that runs: neither owner is preferred."""
        found = self.conflicts()
        if found:
            raise DuplicateComponentError(found[0])

    def default(self, section: str) -> str | None:
        """The component a plugin proposes for a section the config leaves out."""
        return self._pm.hook.autoglm_default_component(kind=section)

    # -- configs ---------------------------------------------------------

    def load_config(
        self, config: str | Path | Mapping[str, Any] | RunConfig, overrides: Iterable[str] = ()
    ) -> RunConfig:
        """Read, override and fully validate a config, filling in defaults.

        Accepts a YAML path, a mapping, or a :class:`RunConfig`. Nothing is loaded or
        trained here; the result is safe to write as the run's resolved config.
        """
        self.check_conflicts()
        overrides = list(overrides)
        if isinstance(config, RunConfig):
            source = config.source
            document: Mapping[str, Any] = config.to_dict()
        elif isinstance(config, (str, Path)):
            source = str(config)
            document = read_yaml(config)
        elif isinstance(config, Mapping):
            source = "<dict>"
            document = config
        else:
            raise ConfigError(f"a config is a YAML path, a mapping or a RunConfig, not {type(config).__name__}")
        if overrides:
            document = apply_overrides(document, overrides, source=source)
        document = self._name_defaulted_sections(document)
        parsed = parse_config(_drop_nulls(document), source=source)
        return self._resolve(parsed)

    def _name_defaulted_sections(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """``--set trainer.options.max_epochs=300`` on a config without a trainer: the default trainer's option."""
        document = dict(document)
        for section in ("task", "tuner", "trainer"):
            value = document.get(section)
            if isinstance(value, Mapping) and "name" not in value and (name := self.default(section)) is not None:
                document[section] = {"name": name, **value}
        return document

    def _resolve(self, config: RunConfig) -> RunConfig:
        src = config.source
        self._check_component("data_loaders", config.data, "data", src)
        for section in ("task", "tuner", "trainer"):
            spec = getattr(config, section)
            if spec is None:
                spec = ComponentSpec(self._default_name(section, src))
                setattr(config, section, spec)
            self._check_component(DEFAULTED_SECTIONS[section], spec, section, src)
        if config.reporters is None:
            config.reporters = [ComponentSpec(self._default_name("reporter", src))]
        for i, spec in enumerate(config.reporters):
            self._check_component("reporters", spec, f"reporters[{i}]", src)

        models = self.registry("models")
        search = config.search
        task = config.task.name
        if search.models is None:
            search.models = [name for name in models.names() if models.get(name).searched_by_default(task)]
            search.defaulted = True
            if not search.models:
                serving = [name for name in models.names() if models.get(name).serves(task)]
                raise ConfigError(
                    f"no loaded model is searched by default for task {task!r}, so there is nothing to search; "
                    + (f"name some in search.models: {', '.join(serving)}" if serving else "no loaded model serves it"),
                    source=src, path="search.models",
                )
        for i, name in enumerate(search.models):
            if name not in models:
                raise ConfigError(models.unknown_message(name), source=src, path=f"search.models[{i}]")
            if not models.get(name).serves(task):
                served = ", ".join(models.get(name).tasks or ())
                raise ConfigError(
                    f"model {name!r} ({models.get(name).owner}) does not serve task {task!r}: it serves {served}; "
                    f"models for {task!r}: {', '.join(n for n in models.names() if models.get(n).serves(task)) or 'none'}",
                    source=src,
                    path=f"search.models[{i}]",
                )
        for name, params in search.space.items():
            if name not in search.models:
                known = name in models
                raise ConfigError(
                    (
                        f"model {name!r} has a space override but is not in search.models ({', '.join(search.models)}); "
                        "add it there or drop the override"
                    )
                    if known
                    else models.unknown_message(name),
                    source=src,
                    path=f"search.space.{name}",
                )
            component = models.get(name)
            # Any option of the factory, not only the default space's: a config may set or open what the
            # default search leaves at the factory's default (a model's design options, GAT's heads).
            accepted = {**{key: None for key in component.option_names()}, **component.search_space}
            _check_space_keys(params, accepted, f"model {name!r}", src, f"search.space.{name}")
            check_space_values(component, params, source=src, path=f"search.space.{name}")
        trainer = self.component("trainers", config.trainer.name)
        _check_space_keys(
            search.training_space, trainer.search_space, f"trainer {trainer.name!r}", src, "search.training_space"
        )
        check_training_space_values(trainer, search.training_space, source=src)
        task_component = self.component("tasks", task)
        _check_space_keys(search.task_space, task_component.search_space, f"task {task!r}", src, "search.task_space")
        check_training_space_values(task_component, search.task_space, source=src, path="search.task_space")
        _check_feature_choices(search.task_space, src)
        if config.executor is None:  # the kernel's rule, not a plugin's: it follows workers
            config.executor = ComponentSpec("fork" if config.workers > 1 else "inline")
        self._check_component("executors", config.executor, "executor", src)
        return config

    def _default_name(self, section: str, source: str) -> str:
        name = self.default(section)
        if name is None:
            raise ConfigError(f"no {section} given and no plugin provides a default", source=source, path=section)
        return name

    def _check_component(self, kind: str, spec: ComponentSpec, path: str, source: str) -> Component:
        registry = self.registry(kind)
        try:
            component = registry.get(spec.name)
        except UnknownComponentError as exc:
            raise ConfigError(str(exc), source=source, path=f"{path}.name") from None
        check_options(component, spec.options, source=source, path=f"{path}.options")
        spec.options = resolve_path_options(component, spec.options)  # recorded absolute: the run reloads from anywhere
        return component

    def build(self, kind: str, spec: ComponentSpec, *, source: str = "<config>", path: str = "") -> Any:
        """Call a component's factory with its options; factory ValueErrors are config errors."""
        component = self.component(kind, spec.name)
        try:
            inspect.signature(component.factory).bind(**spec.options)
        except TypeError as exc:
            raise ConfigError(f"{KIND_LABELS[kind]} {spec.name!r}: {exc}", source=source, path=path or kind) from None
        try:
            return component.factory(**as_paths(component, spec.options))
        except ValueError as exc:
            # "max_epochs must be ..." -> point at trainer.options.max_epochs
            first_word = str(exc).split(" ", 1)[0].split("[", 1)[0]  # "fanouts[1] is 0" names fanouts too
            where = path or kind
            if first_word in component.option_names():
                where = f"{where}.{first_word}"
            raise ConfigError(f"{KIND_LABELS[kind]} {spec.name!r}: {exc}", source=source, path=where) from None
        except ConfigError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{KIND_LABELS[kind]} {spec.name!r} from {component.owner} failed to build: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def validate(
        self, config: str | Path | Mapping[str, Any] | RunConfig, overrides: Iterable[str] = (), *,
        check_data: bool = True,
    ) -> RunConfig:
        """:meth:`load_config`, then build every component once (no data loaded, nothing trained).

        Catches what only a factory can see, such as ``device: cuda`` on a machine
        without CUDA. With ``check_data`` (the default) the data loader's cheap
        ``check()`` runs too: files missing are a :class:`DataError`, not a config error.
        """
        resolved = self.load_config(config, overrides)
        self.build_components(resolved, check_data=check_data)
        return resolved

    def check_data(self, config: RunConfig) -> bool:
        """Run the data loader's ``check()`` (are the files where the config says?); raises DataError.

        :return: Whether the loader has a check to run.
        """
        loader = self.build("data_loaders", config.data, source=config.source, path="data.options")
        check_data_loader(loader, config.data.name)
        return callable(getattr(loader, "check", None))

    def inspect_data(self, config: RunConfig) -> dict[str, Any]:
        """Load the config's data and let its task check and split it, as a run would, without training:
        the facts a run records (``num_nodes``, ``num_classes``, split sizes, ...). Raises DataError."""
        from autoglm.core.data import load_data, task_view

        loader = self.build("data_loaders", config.data, source=config.source, path="data.options")
        check_data_loader(loader, config.data.name)
        task = self.build("tasks", config.task, source=config.source, path="task.options")
        raw = load_data(loader, config.data.name, config.data.options)
        prepared = task_view(lambda: task.prepare(raw, seed=int(config.seed or 0)), config.task.name, config.data.name)
        described = dict(loader.describe()) if callable(getattr(loader, "describe", None)) else {}
        return {"loader": config.data.name, **described, **dict(prepared.sizes)}

    def build_components(self, config: RunConfig, *, check_data: bool = True) -> "Components":
        """Build the run's components from a resolved config and run the loader's ``check()``.

        The order puts option errors first; nothing is loaded or trained.
        """
        src = config.source
        components = Components(
            task=self.build("tasks", config.task, source=src, path="task.options"),
            trainer=self.build("trainers", config.trainer, source=src, path="trainer.options"),
            tuner=self.build("tuners", config.tuner, source=src, path="tuner.options"),
            data_loader=self.build("data_loaders", config.data, source=src, path="data.options"),
            reporters=[
                (f"{spec.name}#{i}", self.build("reporters", spec, source=src, path=f"reporters[{i}].options"))
                for i, spec in enumerate(config.reporters or [])
            ],
            executor=self.build("executors", config.executor, source=src, path="executor.options")
            if config.executor is not None else None,
        )
        _check_trainer_takes_a_task(components.trainer, config.trainer.name, self.component("trainers", config.trainer.name), src)
        self._check_batching(components, config)
        for name, space in self.search_space(config).models.items():
            # A constant no trial can use is a config error now, not N failed trials later.
            check_model_constants(self.component("models", name), space, source=src, path=f"search.space.{name}")
        if check_data:
            check_data_loader(components.data_loader, config.data.name)
        return components

    def _check_batching(self, components: "Components", config: RunConfig) -> None:
        """``batching: mini`` needs a task that can batch that way and models that can train that way."""
        trainer, task = components.trainer, components.task
        if not isinstance(trainer, MiniBatchTrainer) or trainer.batching != "mini":
            return
        if not isinstance(task, SampledTask):
            raise ConfigError(
                f"task {config.task.name!r} cannot train on sampled subgraphs (it defines no sampled()); "
                "use batching: full (or auto, which trains it full-batch)",
                source=config.source, path="trainer.options.batching",
            )
        self.restrict_to_sampling(config, "trainer.options.batching is mini")

    def restrict_to_sampling(self, config: RunConfig, why: str) -> None:
        """Search only models that can train on sampled subgraphs: a default list is narrowed (and says so),
        a model the config names that cannot is a ConfigError at its place in ``search.models``."""
        search, src = config.search, config.source
        names = list(search.models or [])
        able = [name for name in names if self.component("models", name).sampling]
        if len(able) == len(names):
            return
        every = [name for name in self.registry("models").names() if self.component("models", name).sampling]
        if not search.defaulted:
            index, name = next((i, n) for i, n in enumerate(names) if n not in able)
            raise ConfigError(
                f"model {name!r} cannot train on sampled subgraphs ({why}): it does not declare sampling=True "
                f"(GCN and APPNP normalise by every node's whole-graph degree); models that can: {', '.join(every) or 'none'}. "
                "Drop it from search.models, or use trainer.options.batching: full",
                source=src, path=f"search.models[{index}]",
            )
        if not able:
            raise ConfigError(
                f"no loaded model can train on sampled subgraphs ({why}); models that can: none", source=src, path="search.models"
            )
        log.info("%s: searching %s (%s cannot train on sampled subgraphs)", why, ", ".join(able),
                 ", ".join(n for n in names if n not in able))
        search.models = able

    def search_space(self, config: RunConfig) -> SearchSpace:
        """The effective space: each model's defaults and the trainer's, with config overrides."""
        models = {}
        for name in config.search.models or []:
            space = dict(self.component("models", name).search_space)
            space.update(config.search.space.get(name, {}))
            models[name] = space
        training = dict(self.component("trainers", config.trainer.name).search_space)
        task_component = self.component("tasks", config.task.name) if config.task else None
        if task_component is not None:  # the task's view of the trainer's defaults (link prediction: no weight decay)
            training.update({k: v for k, v in task_component.training_space.items() if k in training})
        training.update(config.search.training_space)
        task = dict(task_component.search_space) if task_component is not None else {}
        task.update(config.search.task_space)
        return SearchSpace(models=models, training=training, task=task)

    # -- running ---------------------------------------------------------

    def run(
        self,
        config: str | Path | Mapping[str, Any] | RunConfig,
        *,
        overrides: Iterable[str] = (),
        output: str | Path | None = None,
        overwrite: bool = False,
        keep_other_files: bool = False,
        reporters: Iterable[Any] = (),
        data: Any = None,
    ) -> "RunResult":
        """Validate ``config``, run the search and return its result.

        :param output: Run directory (overrides the config's ``output``).
        :param overwrite: Replace an existing run in the output directory: only the run's own
            files are removed, and files autoglm did not write there make it refuse...
        :param keep_other_files: ...unless this is set: then they stay where they are.
        :param reporters: Extra reporter objects, e.g. a host's own progress sink.
        :param data: The graph itself (a PyG ``Data``, or a list / dataset of graphs for graph
            classification), checked like a loader's output; the config's ``data:`` may then be left out
            (it becomes ``{name: given}``) and must not name another loader.
        """
        from autoglm.core.runner import Runner

        resolved = self.load_config(config, [*_given_overrides(config, data), *overrides])
        _check_given(resolved, data)
        return Runner(
            self, resolved, output=output, overwrite=overwrite, keep_other_files=keep_other_files,
            extra_reporters=list(reporters), data=data,
        ).run()

    def resume(
        self,
        run_dir: str | Path,
        config: str | Path | Mapping[str, Any] | RunConfig | None = None,
        *,
        overrides: Iterable[str] = (),
        reporters: Iterable[Any] = (),
        data: Any = None,
    ) -> "RunResult":
        """Continue an interrupted (or killed) run in ``run_dir`` until its budget is done.

        Finished trials are kept and replayed into the tuner; trials that were running
        are run again. ``config`` and ``overrides`` are optional: when given they must
        describe the same run as the recorded ``config.yaml`` (a difference is refused).
        """
        from autoglm.core.rundir import CONFIG, RunDirectory
        from autoglm.core.runner import Runner

        directory = RunDirectory(run_dir)
        directory.require_run()
        # A run recorded before the pruning / selection sections existed ran without them: it resumes so.
        written = read_yaml(directory / CONFIG)
        state = directory.read_state()
        if state is not None:
            edits = config_differences(state["config"], written, ignore=("output",))
            if edits:
                shown = "; ".join(edits[:5]) + (f"; and {len(edits) - 5} more" if len(edits) > 5 else "")
                raise ConfigError(
                    f"cannot resume {str(directory.path)!r}: {CONFIG} was edited since the run started "
                    f"({shown.replace('run has', 'the run started with').replace('config has', 'the file now has')}). "
                    "Undo the edit to resume, or start a new run with the edited config in another --output",
                    source=str(directory / CONFIG),
                )
        legacy = [] if "pruning" in written else ["pruning.enabled=false"]
        legacy += [] if "selection" in written else ["selection.seeds=1"]
        recorded = self.load_config(directory / CONFIG, legacy)
        if config is not None or overrides:
            if config is None:
                requested = self.load_config(directory / CONFIG, [*legacy, *overrides])
            else:
                requested = self.load_config(config, overrides)
            if requested.seed is None:
                requested.seed = recorded.seed
            differences = config_differences(recorded.to_dict(), requested.to_dict(), ignore=("output",))
            if differences:
                shown = "; ".join(differences[:5]) + (f"; and {len(differences) - 5} more" if len(differences) > 5 else "")
                raise ConfigError(
                    f"cannot resume {str(directory.path)!r} with a different config ({shown}). Resume with the "
                    f"recorded config (leave out CONFIG and --set) or start a new run in another --output",
                    source=requested.source,
                )
        _check_given(recorded, data)
        return Runner(
            self, recorded, output=directory.path, resume=True, extra_reporters=list(reporters), data=data
        ).run()


@dataclass
class Components:
    """The components of one run, built from its config."""

    task: Any
    trainer: Any
    tuner: Any
    data_loader: Any
    #: (label, reporter) pairs; labels tell two reporters of one name apart in messages.
    reporters: list[tuple[str, Any]]
    #: Where trials train (:class:`~autoglm.core.protocols.Executor`).
    executor: Any = None


def _check_trainer_takes_a_task(trainer: Any, name: str, component: Component, source: str) -> None:
    """A trainer written before tasks existed (``fit`` without ``task=``) cannot train what a task asks."""
    fit = getattr(trainer, "fit", None)
    try:
        takes = fit is not None and "task" in inspect.signature(fit).parameters
    except (TypeError, ValueError):
        takes = True  # cannot tell: let the trial say
    if not takes:
        raise ConfigError(
            f"trainer {name!r} from {component.owner} predates tasks: its fit() takes no task= argument, so it "
            "cannot train what the config's task asks (see 'Trainer' in docs/plugin-guide.md)",
            source=source,
            path="trainer.name",
        )


def check_data_loader(loader: Any, name: str) -> None:
    """Run a loader's optional cheap ``check()``; its failures are data errors."""
    check = getattr(loader, "check", None)
    if check is None:
        return
    try:
        check()
    except AutoglmError:
        raise
    except Exception as exc:
        raise DataError(f"data loader {name!r} failed its check: {type(exc).__name__}: {exc}") from exc


def _check_space_keys(
    params: Mapping[str, Any], declared: Mapping[str, Any], owner: str, source: str, path: str
) -> None:
    for key in params:
        if key not in declared:
            raise ConfigError(
                unknown_name_message("search parameter", key, declared, owner=owner),
                source=source,
                path=f"{path}.{key}",
            )


def config_differences(recorded: Any, requested: Any, *, ignore: Iterable[str] = (), path: str = "") -> list[str]:
    """Key paths where two resolved configs differ, each as ``path: run has X, config has Y``."""
    if isinstance(recorded, Mapping) and isinstance(requested, Mapping):
        found = []
        for key in sorted(set(recorded) | set(requested), key=str):
            if key in ignore:
                continue
            where = f"{path}.{key}" if path else str(key)
            found += config_differences(recorded.get(key, _UNSET), requested.get(key, _UNSET), path=where)
        return found
    if isinstance(recorded, list) and isinstance(requested, list) and len(recorded) == len(requested):
        found = []
        for i, (a, b) in enumerate(zip(recorded, requested)):
            found += config_differences(a, b, path=f"{path}[{i}]")
        return found
    if recorded == requested:
        return []
    def shown(value: Any) -> str:
        return "nothing" if value is _UNSET else repr(value)

    return [f"{path or 'config'}: run has {shown(recorded)}, config has {shown(requested)}"]


_UNSET = object()


def _check_feature_choices(space: Mapping[str, Any], source: str) -> None:
    """``preprocess`` / ``structural`` in ``search.task_space`` name choices :mod:`autoglm.core.features` has."""
    from autoglm.core.features import PREPROCESS, STRUCTURAL
    from autoglm.core.space import Choice

    for key, allowed in (("preprocess", PREPROCESS), ("structural", STRUCTURAL)):
        if key not in space:
            continue
        value = space[key]
        values = list(value.options) if isinstance(value, Choice) else [value]
        for item in values:
            if item not in allowed:
                raise ConfigError(
                    f"{key} {item!r} is not a feature choice; valid: {', '.join(allowed)}",
                    source=source, path=f"search.task_space.{key}",
                )


def _given_overrides(config: Any, data: Any) -> list[str]:
    """A config run with ``data=``: its data section, when left out, is ``given`` (an override keeps the file named)."""
    if data is None or isinstance(config, RunConfig):
        return []
    document = read_yaml(config) if isinstance(config, (str, Path)) else config
    return ["data=given"] if isinstance(document, Mapping) and document.get("data") is None else []


def _check_given(config: RunConfig, data: Any) -> None:
    """``data=`` goes with ``data: given`` (and only with it)."""
    if data is not None and config.data.name != "given":
        raise ConfigError(
            f"data= was passed, but the config's data section names loader {config.data.name!r}; leave data: out "
            "(or write data: given) to run on the graph passed",
            source=config.source, path="data.name",
        )
    if data is None and config.data.name == "given":
        raise ConfigError(
            "data: given runs on a graph passed from Python: Engine().run(config, data=graph) (or "
            "Engine().resume(path, data=graph)); from a config file, name a loader such as csv",
            source=config.source, path="data.name",
        )


def _drop_nulls(document: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level nulls mean "use the default", as if the key were absent (except seed/output)."""
    return {k: v for k, v in document.items() if v is not None or k in ("seed", "output")}

