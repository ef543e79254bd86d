"""Plugin discovery and loading for one engine.

Order: third-party entry points (group ``autoglm``), then the built-ins named in
:data:`DEFAULT_PLUGINS`, then plugin objects a host passes. Each entry point is
loaded in its own ``try``: a broken plugin is reported and skipped (or raises in
strict mode) so one bad package cannot take the CLI down.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pluggy

from autoglm.core.errors import PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "autoglm"
BUILTIN_PACKAGE = "autoglm.plugins_builtin"
#: Built-in plugins, loaded by module path (they are not entry points of our own,
#: so a broken install of autoglm cannot half-register them).
DEFAULT_PLUGINS: tuple[str, ...] = tuple(
    f"{BUILTIN_PACKAGE}.{name}"
    for name in (
        "node_classification",
        "link_prediction",
        "graph_classification",
        "planetoid",
        "synthetic",
        "synthetic_graphs",
        "tu",
        "files",
        "given",
        "pyg_datasets",
        "ogb_folders",
        "html_report",
        "trackers",
        "gcn",
        "gat",
        "appnp",
        "gin",
        "sage",
        "gcnii",
        "mlp_baseline",
        "nevergrad_tuner",
        "random_tuner",
        "cuda_trainer",
        "executors",
        "ray_executor",
        "console_reporter",
        "jsonl_reporter",
        "defaults",
    )
)

BUILTIN_NAMES = frozenset(path.rsplit(".", 1)[-1] for path in DEFAULT_PLUGINS)

ENV_ONLY = "AUTOGLM_PLUGINS"
ENV_DISABLE = "AUTOGLM_DISABLE_PLUGINS"
ENV_NO_AUTOLOAD = "AUTOGLM_DISABLE_PLUGIN_AUTOLOAD"


@dataclass
class PluginInfo:
    """One plugin as the engine saw it; ``status`` is loaded, failed or disabled."""

    name: str
    source: str  # "entry point", "builtin" or "host"
    module: str = ""
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)
    #: Names this plugin registered that another plugin had registered first (runs refuse them).
    conflicts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "components": {kind: names for kind, names in self.components.items() if names},
            "conflicts": list(self.conflicts),
        }


@dataclass(frozen=True)
class LoadSettings:
    """What to load, after applying the constructor arguments and environment switches."""

    autoload: bool
    builtins: bool
    strict: bool
    only: frozenset[str] | None
    disabled: frozenset[str]

    @classmethod
    def from_env(
        cls, *, autoload: bool | None, builtins: bool, strict: bool, env: Mapping[str, str] | None
    ) -> "LoadSettings":
        env = os.environ if env is None else env
        if autoload is None:
            autoload = not _truthy(env.get(ENV_NO_AUTOLOAD, ""))
        only = _names(env.get(ENV_ONLY, ""))
        return cls(
            autoload=autoload,
            builtins=builtins,
            strict=strict,
            only=frozenset(only) if only else None,
            disabled=frozenset(_names(env.get(ENV_DISABLE, ""))),
        )

    def wanted(self, name: str) -> bool:
        return name not in self.disabled and (self.only is None or name in self.only)


def _truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class PluginLoader:
    """Registers plugins into one pluggy manager and keeps a record of each."""

    def __init__(self, pm: pluggy.PluginManager, settings: LoadSettings) -> None:
        self.pm = pm
        self.settings = settings
        self.infos: list[PluginInfo] = []

    def load_all(self, host_plugins: Iterable[Any]) -> list[PluginInfo]:
        if self.settings.autoload:
            self._load_entry_points()
        if self.settings.builtins:
            for module_path in DEFAULT_PLUGINS:
                self._load_builtin(module_path)
        for plugin in host_plugins:
            self._load_host(plugin)
        self._check_env_names()
        return self.infos

    def _check_env_names(self) -> None:
        """A name in AUTOGLM_PLUGINS or AUTOGLM_DISABLE_PLUGINS that matches no plugin is a typo: say so.

        Left silent, ``AUTOGLM_PLUGINS=gnc`` would load nothing and the run would fail
        later with "unknown model", far from the cause. A warning, or an error in strict mode.
        """
        from autoglm.core.config import unknown_name_message

        named = [(ENV_ONLY, name) for name in sorted(self.settings.only or ())]
        named += [(ENV_DISABLE, name) for name in sorted(self.settings.disabled)]
        if not named:
            return
        known = {info.name for info in self.infos} | set(BUILTIN_NAMES)
        if not self.settings.autoload:  # entry points were not scanned, but their names still count
            known |= {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        for env, name in named:
            if name in known:
                continue
            message = f"{env}: " + unknown_name_message("plugin", name, known).replace("accepted:", "installed plugins:", 1)
            if self.settings.strict:
                raise PluginError(message)
            log.warning("%s (ignored)", message)

    # -- sources ---------------------------------------------------------

    def _load_entry_points(self) -> None:
        by_name: dict[str, list[importlib.metadata.EntryPoint]] = {}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            by_name.setdefault(ep.name, []).append(ep)
        for name in sorted(by_name):
            eps = by_name[name]
            dists = sorted({_dist_name(ep) or "?" for ep in eps})
            if len(dists) > 1:
                raise PluginError(
                    f"entry point {name!r} in group {ENTRY_POINT_GROUP!r} is claimed by several "
                    f"distributions: {', '.join(dists)}. Uninstall all but one"
                )
            ep = eps[0]
            if name in BUILTIN_NAMES:
                info = PluginInfo(name=name, source="entry point", module=ep.value, distribution=_dist_name(ep))
                self.fail(info, PluginError(f"the name {name!r} is taken by a built-in plugin; rename the entry point"))
                continue
            info = PluginInfo(
                name=name,
                source="entry point",
                module=ep.value,
                distribution=_dist_name(ep),
                version=ep.dist.version if ep.dist is not None else None,
            )
            if not self.settings.wanted(name):
                self._skip(info)
                continue
            self._guarded(info, lambda ep=ep: ep.load())

    def _load_builtin(self, module_path: str) -> None:
        name = module_path.rsplit(".", 1)[-1]
        info = PluginInfo(name=name, source="builtin", module=module_path, distribution="autoglm", version=_own_version())
        if not self.settings.wanted(name):
            self._skip(info)
            return
        # A broken built-in is a bug in autoglm itself: always raise.
        self._register(info, importlib.import_module(module_path))

    def _load_host(self, plugin: Any) -> None:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name=name, source="host", module=getattr(plugin, "__module__", "") or name)
        if self.pm.is_registered(plugin):
            loaded_as = self.pm.get_name(plugin)
            self.fail(info, PluginError(f"already loaded as plugin {loaded_as!r} (pass autoload=False to load it only as a host plugin)"))
            return
        self._guarded(info, lambda: plugin)

    # -- helpers ---------------------------------------------------------

    def _skip(self, info: PluginInfo) -> None:
        info.status = "disabled"
        self.infos.append(info)
        log.debug("plugin %s disabled by environment", info.name)

    def _guarded(self, info: PluginInfo, get_plugin: Any) -> None:
        try:
            plugin = get_plugin()
            self._register(info, plugin)
        except PluginError:
            raise
        except Exception as exc:  # a third-party plugin may fail in any way
            self.fail(info, exc)

    def fail(self, info: PluginInfo, exc: BaseException) -> None:
        """Record a broken plugin; in strict mode, stop the engine build."""
        reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        if self.settings.strict:
            raise PluginError(f"plugin {info.name!r} ({info.module}) failed to load: {reason}") from exc
        log.warning("plugin %r (%s) failed to load and is skipped: %s", info.name, info.module, reason)
        if self.pm.has_plugin(info.name):
            self.pm.unregister(name=info.name)
        info.status = "failed"
        info.error = reason
        if info not in self.infos:
            self.infos.append(info)

    def _register(self, info: PluginInfo, plugin: Any) -> None:
        existing = self.pm.get_plugin(info.name)
        if existing is not None:
            first = next((i for i in self.infos if i.name == info.name), None)
            raise PluginError(
                f"two plugins are named {info.name!r}: {info.module} ({info.source}) and "
                f"{first.module if first else existing!r} ({first.source if first else 'unknown'}). "
                f"Disable one with {ENV_DISABLE}={info.name}"
            )
        self.infos.append(info)
        try:
            self.pm.register(plugin, name=info.name)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.infos.remove(info)
            if self.pm.has_plugin(info.name):
                self.pm.unregister(name=info.name)
            raise ValueError(f"invalid hook implementation: {exc}") from exc


def _dist_name(ep: importlib.metadata.EntryPoint) -> str | None:
    return ep.dist.name if ep.dist is not None else None


def _own_version() -> str | None:
    try:
        return importlib.metadata.version("autoglm")
    except importlib.metadata.PackageNotFoundError:
        return None
