"""The registry contract (Go's database/sql Register rules), through Registry and Engine."""

from __future__ import annotations

from typing import Any

import pytest

from autoglm.core import DuplicateComponentError, Engine, RegistryError, UnknownComponentError
from autoglm.core.registry import Owner, Registry
from autoglm.plugins import Float, hookimpl, testing

OWNER_A = Owner("plugin_a", "dist-a", "1.0")
OWNER_B = Owner("plugin_b", "dist-b", "2.0")


def factory(*, width: int = 4) -> object:
    return object()


def model_factory(in_channels: int, out_channels: int, *, hidden: int = 8, dropout: float = 0.5) -> object:
    return object()


def test_duplicate_name_is_an_error_naming_both_owners() -> None:
    registry = Registry("tuners")
    registry.register("grid", factory, OWNER_A)
    with pytest.raises(DuplicateComponentError) as excinfo:
        registry.register("grid", factory, OWNER_B)
    message = str(excinfo.value)
    assert "plugin_a" in message and "dist-a" in message
    assert "plugin_b" in message and "dist-b" in message
    assert registry.get("grid").owner == OWNER_A  # never overwritten


@pytest.mark.parametrize("name", ["", "Grid", "1grid", "grid search", None, "grid/x"])
def test_invalid_names_are_rejected(name: object) -> None:
    with pytest.raises(RegistryError, match="invalid tuner name"):
        Registry("tuners").register(name, factory, OWNER_A)  # type: ignore[arg-type]


def test_non_callable_factory_is_rejected() -> None:
    with pytest.raises(RegistryError, match="not callable"):
        Registry("tuners").register("grid", 42, OWNER_A)  # type: ignore[arg-type]


def test_kwargs_sink_factory_is_rejected() -> None:
    def sink(**options: object) -> object:
        return object()

    with pytest.raises(RegistryError, match="no \\*\\*kwargs sinks"):
        Registry("tuners").register("grid", sink, OWNER_A)


def test_model_space_must_name_factory_parameters() -> None:
    registry = Registry("models")
    registry.register("ok", model_factory, OWNER_A, search_space={"hidden": 16, "dropout": Float(0.1, 0.5)})
    with pytest.raises(RegistryError, match="not parameters of its factory"):
        registry.register("bad", model_factory, OWNER_A, search_space={"hiden": 16})


def test_unknown_name_lists_known_suggests_closest_and_failed_plugins() -> None:
    registry = Registry("models")
    registry.register("gcn", model_factory, OWNER_A)
    registry.register("gat", model_factory, OWNER_A)
    registry.failed_plugins = {"broken_plugin": "ImportError: no module named foo"}
    with pytest.raises(UnknownComponentError) as excinfo:
        registry.get("gcm")
    message = str(excinfo.value)
    assert "unknown model 'gcm'" in message
    assert "plugin not installed?" in message
    assert "gat, gcn" in message
    assert "did you mean 'gcn'" in message
    assert "broken_plugin" in message and "ImportError" in message


def test_names_are_sorted_and_registry_freezes() -> None:
    registry = Registry("reporters")
    for name in ("zeta", "alpha", "mid"):
        registry.register(name, factory, OWNER_A)
    assert registry.names() == ["alpha", "mid", "zeta"]
    assert [c.name for c in registry] == ["alpha", "mid", "zeta"]
    registry.freeze()
    with pytest.raises(RegistryError, match="frozen"):
        registry.register("late", factory, OWNER_A)


def test_engine_registries_are_frozen_after_build() -> None:
    engine = Engine(autoload=False)
    with pytest.raises(RegistryError, match="frozen"):
        engine.registry("models").register("late", model_factory, OWNER_A)


class _Dup:
    """A host plugin that claims a built-in name."""

    @hookimpl
    def autoglm_register_models(self, register):  # type: ignore[no-untyped-def]
        register("gcn", model_factory)


def test_a_duplicate_across_plugins_is_listed_and_refused_for_runs(tmp_path: Any) -> None:
    """Listing still works (that is how a user finds the culprit); anything that runs refuses."""
    engine = Engine(plugins=[_Dup()], autoload=False)
    assert engine.component("models", "gcn").owner.plugin == "gcn"  # the first registration stays
    [conflict] = engine.conflicts()
    assert "'gcn'" in conflict and "plugin 'gcn'" in conflict and "_Dup" in conflict
    assert [info.conflicts for info in engine.plugins() if info.name == "_Dup"] == [[conflict]]
    with pytest.raises(DuplicateComponentError) as excinfo:
        engine.load_config(testing.tiny_config(tmp_path / "run"))
    assert str(excinfo.value) == conflict


class _Extra:
    @hookimpl
    def autoglm_register_models(self, register):  # type: ignore[no-untyped-def]
        register("tiny", model_factory, search_space={"hidden": 4}, summary="a tiny model")


def test_engines_do_not_share_state() -> None:
    with_extra = Engine(plugins=[_Extra()], autoload=False)
    plain = Engine(autoload=False)
    assert "tiny" in with_extra.names("models")
    assert "tiny" not in plain.names("models")
    assert with_extra.registry("models") is not plain.registry("models")
    component = with_extra.component("models", "tiny")
    assert component.owner.plugin == "_Extra" and component.summary == "a tiny model"


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(RegistryError, match="did you mean 'models'"):
        Engine(autoload=False).names("model")
