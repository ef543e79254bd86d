"""One exception hierarchy for everything a user can get wrong or a run can hit.

Every error carries the exit code the CLI should use, so callers never map
exception types to codes by hand: 2 for usage and configuration mistakes that
are found before any work starts, 1 for failures during a run.
"""

from __future__ import annotations

import errno
import reprlib
from typing import Any


class AutoglmError(Exception):
    """Base class: the message is written for the person who made the mistake."""

    exit_code = 1


class ConfigError(AutoglmError):
    """The config (file, dict or ``--set`` override) is invalid."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, path: str | None = None):
        self.source = source
        self.path = path
        where = ": ".join(part for part in (source, path) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(AutoglmError):
    """A command was pointed at the wrong thing (e.g. a folder that is not a run directory)."""

    exit_code = 2


class PluginError(AutoglmError):
    """A plugin could not be loaded, or broke the plugin contract."""

    exit_code = 2


class RegistryError(AutoglmError):
    """A component name was registered twice, is invalid, or is unknown."""

    exit_code = 2


class DuplicateComponentError(RegistryError):
    """Two plugins registered one name; neither is silently preferred."""


class UnknownComponentError(RegistryError):
    """A config (or a caller) asked for a component no loaded plugin provides."""


class DataError(AutoglmError):
    """The dataset is missing, unreadable or inconsistent."""


class RunError(AutoglmError):
    """The run could not produce a result (for example every trial failed)."""


class RunInterrupted(AutoglmError):
    """The run was stopped (Ctrl-C, SIGTERM); finished trials are kept and it can be resumed."""

    exit_code = 130


class TrialError(AutoglmError):
    """One trial failed; the search records it and goes on."""


def failure_reason(exc: BaseException) -> str:
    """A trial's failure in one line; running out of memory is named as such."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    if isinstance(exc, AutoglmError) and text:  # written for users already
        return text
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if is_out_of_memory(exc):
        return f"out of memory ({reason})"
    return reason


def is_out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or torch's way of saying the same (a RuntimeError from its CPU or CUDA allocator)."""
    text = str(exc).lower()
    said = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory")
    return isinstance(exc, MemoryError) or any(words in text for words in said)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3


def shown(value: Any) -> str:
    """A user's value as it goes into a message: ``repr``, cut short (a message is one line)."""
    return _REPR.repr(value)


def describe_os_error(exc: OSError) -> str:
    """An OSError in words a user acts on; the resources that run out are named as such."""
    named = {
        errno.ENOSPC: "no space left on device (the disk is full)",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EMFILE: "too many open files (ulimit -n)",
        errno.EAGAIN: "resource temporarily unavailable (a process or thread limit was reached)",
        errno.ENOMEM: "out of memory",
    }
    return named.get(exc.errno, exc.strerror or str(exc))
