"""Plugin loading: entry points, built-ins, host plugins, broken plugins and the AUTOGLM_* switches."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from autoglm.core import DEFAULT_PLUGINS, Engine, PluginError
from autoglm.plugins import hookimpl

GOOD_PLUGIN = """
from autoglm.plugins import hookimpl

def build(in_channels: int, out_channels: int, *, hidden: int = 8):
    raise RuntimeError("not built in these tests")

@hookimpl
def autoglm_register_models(register):
    register("{model}", build, search_space={{"hidden": 8}})
"""


def make_dist(root: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (dist-info + modules) into ``root``."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[autoglm]"] + [f"{name} = {target}" for name, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("agtest_")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_entry_point_plugin_is_loaded_with_its_distribution(site: Path) -> None:
    make_dist(site, "agtest-good", "1.2.3", {"good": "agtest_good"}, {"agtest_good": GOOD_PLUGIN.format(model="xgnn")})
    engine = Engine()
    info = next(p for p in engine.plugins() if p.name == "good")
    assert (info.source, info.status, info.distribution, info.version) == ("entry point", "loaded", "agtest-good", "1.2.3")
    assert info.components == {"models": ["xgnn"]}
    component = engine.component("models", "xgnn")
    assert component.owner.distribution == "agtest-good"


def test_broken_plugin_is_reported_and_skipped(site: Path) -> None:
    make_dist(site, "agtest-broken", "0.1", {"broken": "agtest_broken"}, {"agtest_broken": "import no_such_module_xyz\n"})
    make_dist(site, "agtest-good", "1.0", {"good": "agtest_good"}, {"agtest_good": GOOD_PLUGIN.format(model="xgnn")})
    engine = Engine()
    broken = next(p for p in engine.plugins() if p.name == "broken")
    assert broken.status == "failed" and "no_such_module_xyz" in (broken.error or "")
    assert "xgnn" in engine.names("models")  # the good one still loads
    with pytest.raises(Exception) as excinfo:
        engine.component("models", "nope")
    assert "broken" in str(excinfo.value) and "no_such_module_xyz" in str(excinfo.value)


def test_strict_mode_raises_on_a_broken_plugin(site: Path) -> None:
    make_dist(site, "agtest-broken", "0.1", {"broken": "agtest_broken"}, {"agtest_broken": "raise RuntimeError('boom')\n"})
    with pytest.raises(PluginError, match="'broken'.*boom"):
        Engine(strict=True)


def test_plugin_whose_hook_raises_is_skipped_without_partial_registrations(site: Path) -> None:
    source = """
    from autoglm.plugins import hookimpl

    def build(in_channels: int, out_channels: int):
        return None

    @hookimpl
    def autoglm_register_models(register):
        register("half", build)
        raise RuntimeError("crashed half way")
    """
    make_dist(site, "agtest-half", "0.1", {"half": "agtest_half"}, {"agtest_half": source})
    engine = Engine()
    assert "half" not in engine.names("models")
    info = next(p for p in engine.plugins() if p.name == "half")
    assert info.status == "failed" and "crashed half way" in (info.error or "")


def test_plugin_with_misspelled_hook_is_rejected(site: Path) -> None:
    source = """
    from autoglm.plugins import hookimpl

    @hookimpl
    def autoglm_register_model(register):
        pass
    """
    make_dist(site, "agtest-typo", "0.1", {"typo": "agtest_typo"}, {"agtest_typo": source})
    info = next(p for p in Engine().plugins() if p.name == "typo")
    assert info.status == "failed" and "autoglm_register_model" in (info.error or "")


def test_two_distributions_claiming_one_entry_point_name_is_an_error(site: Path) -> None:
    make_dist(site, "agtest-one", "1.0", {"clash": "agtest_one"}, {"agtest_one": GOOD_PLUGIN.format(model="one")})
    make_dist(site, "agtest-two", "1.0", {"clash": "agtest_two"}, {"agtest_two": GOOD_PLUGIN.format(model="two")})
    with pytest.raises(PluginError) as excinfo:
        Engine()
    assert "clash" in str(excinfo.value)
    assert "agtest-one" in str(excinfo.value) and "agtest-two" in str(excinfo.value)


def test_disable_autoload_switch(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist(site, "agtest-good", "1.0", {"good": "agtest_good"}, {"agtest_good": GOOD_PLUGIN.format(model="xgnn")})
    monkeypatch.setenv("AUTOGLM_DISABLE_PLUGIN_AUTOLOAD", "1")
    engine = Engine()
    assert "xgnn" not in engine.names("models")
    assert "gcn" in engine.names("models")  # built-ins still load
    assert "xgnn" in Engine(autoload=True).names("models")  # an explicit argument wins


def test_disable_plugins_switch(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist(site, "agtest-good", "1.0", {"good": "agtest_good"}, {"agtest_good": GOOD_PLUGIN.format(model="xgnn")})
    monkeypatch.setenv("AUTOGLM_DISABLE_PLUGINS", "good, gat")
    engine = Engine()
    assert engine.names("models") == ["appnp", "gcn", "gcnii", "gin", "mlp_baseline", "sage"]
    statuses = {p.name: p.status for p in engine.plugins()}
    assert statuses["good"] == "disabled" and statuses["gat"] == "disabled"


def test_only_plugins_switch(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dist(site, "agtest-good", "1.0", {"good": "agtest_good"}, {"agtest_good": GOOD_PLUGIN.format(model="xgnn")})
    monkeypatch.setenv("AUTOGLM_PLUGINS", "good,synthetic,gcn")
    engine = Engine()
    assert engine.names("models") == ["gcn", "xgnn"]
    assert engine.names("data_loaders") == ["synthetic"]
    assert engine.names("tuners") == []


def test_env_can_be_passed_explicitly() -> None:
    engine = Engine(autoload=False, env={"AUTOGLM_DISABLE_PLUGINS": "gat"})
    assert engine.names("models") == ["appnp", "gcn", "gcnii", "gin", "mlp_baseline", "sage"]


def test_builtins_are_loaded_by_module_path_in_order() -> None:
    engine = Engine(autoload=False)
    builtins = [p for p in engine.plugins() if p.source == "builtin"]
    assert [p.module for p in builtins] == list(DEFAULT_PLUGINS)
    assert all(p.status == "loaded" and p.distribution == "autoglm" for p in builtins)


def test_host_plugins_load_last_and_can_change_defaults() -> None:
    class PreferRandom:
        @hookimpl
        def autoglm_default_component(self, kind: str) -> str | None:
            return "random" if kind == "tuner" else None

    engine = Engine(plugins=[PreferRandom()], autoload=False)
    assert engine.plugins()[-1].source == "host"
    assert engine.default("tuner") == "random"
    assert engine.default("trainer") == "cuda"
    assert Engine(autoload=False).default("tuner") == "nevergrad"


def test_broken_host_plugin_is_reported() -> None:
    class BadHook:
        @hookimpl
        def autoglm_register_models(self, register, extra):  # type: ignore[no-untyped-def]
            pass

    info = Engine(plugins=[BadHook()], autoload=False).plugins()[-1]
    assert info.status == "failed" and "extra" in (info.error or "")
    with pytest.raises(PluginError):
        Engine(plugins=[BadHook()], autoload=False, strict=True)


def test_a_host_plugin_named_like_a_builtin_is_an_error() -> None:
    import types

    module = types.ModuleType("gcn")
    with pytest.raises(PluginError, match="two plugins are named 'gcn'"):
        Engine(plugins=[module], autoload=False)


def _installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *entry_points: str) -> None:
    """A throw-away distribution 'agtest-contract' whose entry points point into tests/bad_plugins.py."""
    info = tmp_path / "site" / "agtest_contract-0.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: agtest-contract\nVersion: 0.2\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("\n".join(["[autoglm]", *entry_points]) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


@pytest.mark.parametrize(
    ("entry_point", "fragments"),
    [
        ("sink = bad_plugins:sink", ["model 'sinky' from plugin 'sink' (distribution agtest-contract 0.2)", "no **kwargs sinks"]),
        ("badname = bad_plugins:badname", ["invalid model name 'Bad Name!' from plugin 'badname' (distribution agtest-contract 0.2)"]),
    ],
)
def test_a_plugin_breaking_the_registry_contract_is_isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_point: str, fragments: list[str]
) -> None:
    """The command a user runs to find the culprit keeps working and names it; strict mode refuses."""
    from click.testing import CliRunner

    from autoglm.cli.main import cli

    _installed(tmp_path, monkeypatch, entry_point)
    name = entry_point.split(" =")[0]
    listed = CliRunner().invoke(cli, ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    info = next(p for p in json.loads(listed.stdout) if p["name"] == name)
    assert info["status"] == "failed" and info["components"] == {}
    assert all(fragment in info["error"] for fragment in fragments), info["error"]
    assert CliRunner().invoke(cli, ["components", "models"]).exit_code == 0
    strict = CliRunner().invoke(cli, ["--strict", "plugins"])
    assert strict.exit_code == 2 and fragments[0] in strict.output


def test_a_duplicate_name_is_listed_with_both_owners_and_refused_for_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from autoglm.cli.main import cli

    _installed(tmp_path, monkeypatch, "dup_gcn = bad_plugins:dup_gcn")
    listed = CliRunner().invoke(cli, ["plugins"])
    assert listed.exit_code == 0, listed.output
    # Entry points load before the built-ins, so the built-in gcn is the second to register the name.
    assert "conflict: model 'gcn' is registered twice: by plugin 'dup_gcn' (distribution agtest-contract 0.2)" in listed.output
    assert "and by plugin 'gcn' (distribution autoglm" in listed.output
    config = tmp_path / "c.yaml"
    config.write_text("data: synthetic\nsearch: {models: [gcn]}\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["validate", str(config)])
    assert refused.exit_code == 2 and "registered twice" in refused.output
