"""Options that name files or folders are recorded as absolute paths.

A factory parameter annotated :class:`pathlib.Path` (or ``Path | None``) is a
path option. When a config is loaded, a relative value (given, or the
factory's default) is made absolute against the current directory, so the
recorded ``config.yaml`` means the same thing from any working directory:
``--resume``, ``autoglm predict`` and ``autoglm show`` work from anywhere. The
factory receives a :class:`~pathlib.Path`.
"""

from __future__ import annotations

import inspect
import os
import typing
from pathlib import Path, PurePath
from typing import Any, Mapping

from autoglm.core.registry import Component, factory_parameters


def is_path_type(expected: Any) -> bool:
    """``Path``, ``Path | None`` or an ``Annotated`` of them."""
    origin = typing.get_origin(expected)
    if origin is typing.Annotated:
        return is_path_type(typing.get_args(expected)[0])
    if origin is typing.Union or (origin is not None and type(expected).__name__ == "UnionType"):
        args = [a for a in typing.get_args(expected) if a is not type(None)]
        return bool(args) and all(is_path_type(a) for a in args)
    return isinstance(expected, type) and issubclass(expected, PurePath)


def path_options(component: Component) -> list[str]:
    """The names of ``component``'s path options."""
    from autoglm.core.options import type_hints

    hints = type_hints(component.factory)
    return [
        name for name, param in factory_parameters(component.factory).items()
        if is_path_type(hints.get(name, param.annotation))
    ]


def absolute(value: str | os.PathLike[str]) -> str:
    """``value`` made absolute against the current directory (``~`` expanded, ``..`` folded, links kept)."""
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def resolve_path_options(component: Component, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with every path option absolute, the factory's relative defaults included."""
    resolved = dict(options)
    params = factory_parameters(component.factory)
    for name in path_options(component):
        value = resolved.get(name, params[name].default)
        if value is inspect.Parameter.empty or value is None:
            continue
        if isinstance(value, (str, PurePath)):
            if name in resolved or not os.path.isabs(os.path.expanduser(os.fspath(value))):
                resolved[name] = absolute(value)
    return resolved


def as_paths(component: Component, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with the path options as :class:`~pathlib.Path` objects, for the factory."""
    names = set(path_options(component))
    return {k: Path(v) if k in names and isinstance(v, str) else v for k, v in options.items()}


def files_checksum(paths: "list[Path]") -> str | None:
    """SHA-256 over the names and bytes of ``paths`` (in sorted order): a data loader's cheap fingerprint of its
    files, recorded with a run so that resume and predict notice data that changed. None if any is missing."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        try:
            with open(path, "rb") as handle:
                digest.update(path.name.encode() + b"\0")
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return None
    return digest.hexdigest()


def cache_dir(kind: str) -> Path:
    """Where a loader keeps what it made of a dataset (processed graphs): ``$AUTOGLM_CACHE_DIR/kind``,
    by default ``~/.cache/autoglm/kind``; never next to the data, which may be shared or read-only."""
    return Path(os.environ.get("AUTOGLM_CACHE_DIR") or "~/.cache/autoglm").expanduser() / kind
