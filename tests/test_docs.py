"""Docs that cannot drift: every hook is documented in the spec and in the plugin guide."""

from __future__ import annotations

import inspect
from pathlib import Path

from autoglm.core import hookspecs

REPO = Path(__file__).resolve().parents[1]
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("autoglm_")]


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 6


def test_every_hook_has_a_docstring_with_its_params() -> None:
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        doc = inspect.getdoc(fn) or ""
        assert doc, name
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in doc, f"{name} does not document {param}"


def test_every_hook_is_in_the_plugin_guide() -> None:
    guide = (REPO / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    missing = [name for name in HOOKS if name not in guide]
    assert missing == []


def test_readme_names_every_cli_command() -> None:
    from autoglm.cli.main import cli

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert [c for c in cli.commands if f"autoglm {c}" not in readme] == []
