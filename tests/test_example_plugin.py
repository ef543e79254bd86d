"""The example third-party plugin, installed for real and used through the CLI.

``examples/autoglm-example-plugin`` is built and installed offline into a
temporary folder (never into the venv), then put on ``PYTHONPATH`` of
subprocesses: the kernel must find it through its ``autoglm`` entry point,
list it with its distribution, search its model, and the package's own tests
(written with :mod:`autoglm.plugins.testing`) must pass against the installed
copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoglm.plugins.testing import tiny_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "autoglm-example-plugin"
CLI = [sys.executable, "-c", "from autoglm.cli.main import main; main()"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for subprocesses that see the example plugin as an installed distribution."""
    tmp = tmp_path_factory.mktemp("example-plugin")
    # Build from a copy: pip builds in the source tree and would leave build/ and *.egg-info there.
    source = tmp / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "tests"))
    site = tmp / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "--target", str(site), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (site / "autoglm_example_plugin" / "__init__.py").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGLM_")}
    env["PYTHONPATH"] = str(site)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ in the checkout
    # The graphs are tiny: one thread is fastest, and on a busy machine torch's
    # default thread pool makes each 20-epoch trial ten times slower.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, **kwargs)


def test_plugins_lists_the_entry_point_and_its_distribution(plugin_env: dict[str, str]) -> None:
    result = run([*CLI, "--strict", "plugins", "--json"], plugin_env)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert "example_mlp" in plugins, sorted(plugins)
    info = plugins["example_mlp"]
    assert info["status"] == "loaded", info
    assert info["source"] == "entry point"
    assert info["module"] == "autoglm_example_plugin"
    assert (info["distribution"], info["version"]) == ("autoglm-example-plugin", "0.1.0")
    assert info["components"] == {"tasks": ["node_degree"], "models": ["mlp"]}
    assert plugins["gcn"]["status"] == "loaded"  # the built-ins are still there

    result = run([*CLI, "components", "models", "--json"], plugin_env)
    assert result.returncode == 0, result.stderr
    mlp = next(row for row in json.loads(result.stdout) if row["name"] == "mlp")
    assert (mlp["plugin"], mlp["distribution"]) == ("example_mlp", "autoglm-example-plugin")
    assert mlp["options"] == mlp["search_space"] == ["dropout", "hidden"]


def test_run_searches_the_plugin_model(plugin_env: dict[str, str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = tiny_config(run_dir, models=["mlp"])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    result = run([*CLI, "--strict", "run", str(path)], plugin_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "selected mlp" in result.stdout
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "ok"
    assert summary["best"]["model"] == "mlp"
    assert summary["trials"] == {"total": 2, "ok": 2, "pruned": 0, "failed": 0, "interrupted": 0}
    spec = json.loads((run_dir / "best_model.json").read_text(encoding="utf-8"))
    assert spec["model"] == "mlp" and "example_mlp" in spec["owner"]


def test_disable_switch_hides_the_plugin(plugin_env: dict[str, str]) -> None:
    env = {**plugin_env, "AUTOGLM_DISABLE_PLUGINS": "example_mlp"}
    result = run([*CLI, "plugins", "--json"], env)
    assert result.returncode == 0, result.stderr
    info = next(p for p in json.loads(result.stdout) if p["name"] == "example_mlp")
    assert info["status"] == "disabled"
    assert info["components"] == {}


def test_the_example_package_tests_pass_against_the_installed_copy(plugin_env: dict[str, str]) -> None:
    result = run(
        [sys.executable, "-m", "pytest", "examples/autoglm-example-plugin/tests", "-q", "-p", "no:cacheprovider", "-rs"],
        plugin_env,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # Installed, so the entry-point test ran instead of skipping.
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout[-2000:]
