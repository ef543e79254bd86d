"""Packaging and import hygiene: one copy of the kernel, no heavy imports, a complete wheel."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"core": "autoglm.core", "plugins": "autoglm.plugins", "plugins_builtin": "autoglm.plugins_builtin", "cli": "autoglm.cli"}


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kernel_import_and_engine_build_do_not_import_torch() -> None:
    out = run_python(
        "import sys, json\n"
        "import autoglm.core, autoglm.plugins, autoglm.cli.main\n"
        "after_import = sorted(m for m in ('torch', 'torch_geometric', 'nevergrad') if m in sys.modules)\n"
        "engine = autoglm.core.Engine()\n"
        "engine.load_config('examples/quickstart.yaml')\n"
        "after_build = sorted(m for m in ('torch', 'torch_geometric', 'nevergrad') if m in sys.modules)\n"
        "print(json.dumps([after_import, after_build]))\n"
    )
    assert json.loads(out) == [[], []]


def test_kernel_import_has_no_side_effects() -> None:
    out = run_python(
        "import multiprocessing, logging, sys\n"
        "before = multiprocessing.get_start_method(allow_none=True)\n"
        "handlers = list(logging.getLogger().handlers)\n"
        "import autoglm.core\n"
        "print(before == multiprocessing.get_start_method(allow_none=True), handlers == logging.getLogger().handlers)\n"
    )
    assert out.split() == ["True", "True"]


def test_top_level_folders_are_never_imported_by_their_bare_names() -> None:
    offenders = []
    for folder in [*FOLDERS, "tests", "bench"]:
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in FOLDERS]
    assert offenders == []


def test_one_copy_of_the_kernel_is_loaded() -> None:
    out = run_python(
        "import sys\n"
        "from autoglm.core import Engine\n"
        "Engine().run\n"
        "import autoglm.plugins_builtin.gcn, autoglm.cli.main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('core', 'plugins', 'plugins_builtin', 'cli')))\n"
    )
    assert out.strip() == "[]"


@pytest.mark.slow
def test_wheel_contains_every_subpackage(tmp_path: Path) -> None:
    # Build from a copy: setuptools writes build/ and *.egg-info into the source tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in [*FOLDERS, "pyproject.toml", "setup.cfg", "README.md"]:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("autoglm-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, package in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            expected.add("/".join([*package.split("."), *relative, "__init__.py"]))
        for module in (REPO / folder).rglob("*.py"):
            relative = module.relative_to(REPO / folder).parts
            expected.add("/".join([*package.split("."), *relative]))
    missing = sorted(expected - names)
    assert missing == [], f"missing from the wheel (add them to [tool.setuptools] packages): {missing}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "autoglm = autoglm.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
