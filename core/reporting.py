"""Fan-out of run events to reporters; a reporter that raises is reported once and disabled."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

EVENTS = ("on_run_start", "on_trial_start", "on_epoch", "on_trial_end", "on_run_end")


class ReporterGroup:
    def __init__(self, reporters: list[tuple[str, Any]]) -> None:
        self._reporters = list(reporters)
        self.disabled: dict[str, str] = {}

    def members(self) -> list[tuple[str, Any]]:
        """(label, reporter) pairs, in config order (host reporters last)."""
        return list(self._reporters)

    def wants_epochs(self) -> bool:
        return any(hasattr(r, "on_epoch") for name, r in self._reporters if name not in self.disabled)

    def emit(self, event: str, *args: Any) -> None:
        for name, reporter in self._reporters:
            if name in self.disabled:
                continue
            method = getattr(reporter, event, None)
            if method is None:
                continue
            try:
                method(*args)
            except Exception as exc:  # a reporter must never take the run down
                reason = f"{type(exc).__name__}: {exc}"
                self.disabled[name] = reason
                log.error("reporter %r failed in %s and is disabled for the rest of the run: %s", name, event, reason)

    def close(self) -> None:
        for name, reporter in self._reporters:
            close = getattr(reporter, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    log.error("reporter %r failed to close: %s", name, exc)
