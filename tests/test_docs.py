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


def test_the_plugin_guides_worked_example_runs(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The guide's one-module plugin (every kind of component) and its usage, run as printed."""
    import re

    guide = (REPO / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.+?)\n```", guide, flags=re.S)
    plugin = next(b for b in blocks if b.startswith('"""my_autoglm_plugin.py'))
    usage = next(b for b in blocks if "import my_autoglm_plugin" in b)
    (tmp_path / "my_autoglm_plugin.py").write_text(plugin, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(REPO / "examples" / "autoglm-example-plugin"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(usage, "plugin-guide usage", "exec"), namespace)  # noqa: S102 - our own documentation
    result = namespace["result"]
    assert result.best.model in ("mlp", "gcn") and len(result.trials) == 4
    assert (tmp_path / "runs" / "ring-example" / "summary.json").exists()


def test_the_readmes_prediction_example_runs(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The README's `load_run` example, as printed, from a directory holding only the example config."""
    import re
    import shutil

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.+?)\n```", readme, flags=re.S) if "load_run(" in b)
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "quickstart.yaml", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README prediction example", "exec"), namespace)  # noqa: S102 - our own documentation
    run, labels, proba = namespace["run"], namespace["labels"], namespace["proba"]
    assert labels.shape == (1000,) and proba.shape == (1000, 4)
    assert namespace["table"].header[:5] == ["node", "split", "y_true", "y_pred", "confidence"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "torch.Size([50, 4])"
    assert run.path == tmp_path / "runs" / "predict-demo"
