"""Fan-out of run events (:mod:`autoglm.core.events`) to reporters; a reporter that raises is reported once and disabled.

Each run's reporters are registered in a pluggy plugin manager of their own,
whose specs are :class:`~autoglm.core.events.RunEvents`: pluggy checks each
reporter's methods against the events' arguments when the run starts, and
finds which reporter implements what. The calls themselves are made here, one
reporter at a time, so that one reporter's exception disables that reporter
only.
"""

from __future__ import annotations

import logging
from typing import Any

import pluggy

from autoglm.core.errors import ConfigError
from autoglm.core.events import EVENTS, PROJECT, RunEvents, event_arguments

log = logging.getLogger(__name__)


class _ReporterManager(pluggy.PluginManager):
    """Methods named like an event are that event's implementations: reporters need no markers."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if name in EVENTS and callable(getattr(plugin, name, None)):
            return {}
        return None


class ReporterGroup:
    def __init__(self, reporters: list[tuple[str, Any]]) -> None:
        self._reporters = list(reporters)
        self.disabled: dict[str, str] = {}
        self._cache: dict[tuple[str, int], list[tuple[str, Any, tuple[str, ...]]]] = {}
        self._manager = _ReporterManager(PROJECT)
        self._manager.add_hookspecs(RunEvents)
        for label, reporter in self._reporters:
            try:
                self._manager.register(reporter, name=label)
            except pluggy.PluginValidationError as exc:
                raise ConfigError(_validation_message(label, reporter)) from exc
            except ValueError:  # the same object twice: one registration serves both labels
                continue

    def members(self) -> list[tuple[str, Any]]:
        """(label, reporter) pairs, in config order (host reporters last)."""
        return list(self._reporters)

    def _implementations(self, event: str) -> list[tuple[str, Any, tuple[str, ...]]]:
        """(label, method, the arguments it takes), in config order; looked up once per event and kept
        until a reporter is disabled (``on_epoch`` fires every epoch)."""
        key = (event, len(self.disabled))
        if key not in self._cache:
            self._cache[key] = self._find(event)
        return self._cache[key]

    def _find(self, event: str) -> list[tuple[str, Any, tuple[str, ...]]]:
        impls = getattr(self._manager.hook, event).get_hookimpls()
        by_plugin = {id(impl.plugin): impl for impl in impls}
        found = []
        for label, reporter in self._reporters:
            impl = by_plugin.get(id(reporter))
            if impl is not None and label not in self.disabled:
                if event == "on_epoch" and getattr(reporter, "wants_epochs", True) is False:
                    continue
                found.append((label, impl.function, tuple(impl.argnames)))
        return found

    def wants_epochs(self) -> bool:
        """Whether any reporter takes epoch events (when none does, the kernel builds no epoch metrics)."""
        return bool(self._implementations("on_epoch"))

    def emit(self, event: str, **arguments: Any) -> None:
        for label, method, names in self._implementations(event):
            try:
                method(**{name: arguments[name] for name in names})
            except Exception as exc:  # a reporter must never take the run down
                reason = f"{type(exc).__name__}: {exc}"
                self.disabled[label] = reason
                log.error("reporter %r failed in %s and is disabled for the rest of the run: %s", label, event, reason)

    def close(self) -> None:
        for name, reporter in self._reporters:
            close = getattr(reporter, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    log.error("reporter %r failed to close: %s", name, exc)


def _validation_message(label: str, reporter: Any) -> str:
    """Which of a reporter's event methods take arguments the event does not pass."""
    import inspect

    problems = []
    for event in EVENTS:
        method = getattr(reporter, event, None)
        if not callable(method):
            continue
        try:
            taken = [p for p in inspect.signature(method).parameters if p not in ("self",)]
        except (TypeError, ValueError):
            continue
        extra = [name for name in taken if name not in event_arguments(event)]
        if extra:
            problems.append(f"{event}({', '.join(taken)}) takes {', '.join(extra)}, which the event does not pass "
                            f"(it passes {', '.join(event_arguments(event))})")
    detail = "; ".join(problems) or "its event methods do not fit the events (see autoglm.core.events)"
    return f"reporter {label!r} ({type(reporter).__name__}): {detail}"
