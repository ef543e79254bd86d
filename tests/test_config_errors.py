"""Bad configs through the public API: every mistake is a ConfigError that says where and what instead.

Each case names the exception, the key path (``ConfigError.path`` and the
message) and the fragments a user needs to fix the config: accepted names,
the closest match, the valid range. Nothing here loads data or trains.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from autoglm.core import ComponentSpec, ConfigError, Engine, PruningSpec, RunConfig

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def engine() -> Engine:
    """One engine for the module: engines are immutable once built, so sharing is safe."""
    return Engine(autoload=False)


# -- helpers that describe an edit of the tiny config ------------------------------------


def _walk(document: dict[str, Any], keys: list[str]) -> Any:
    node: Any = document
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def put(path: str, value: Any) -> Edit:
    """Set ``path`` (dotted, list indexes as numbers) to ``value``."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = _walk(document, parents)
        if isinstance(node, list):
            node[int(last)] = copy.deepcopy(value)
        else:
            node[last] = copy.deepcopy(value)

    edit.__name__ = f"put({path})"
    return edit


def drop(path: str) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        del _walk(document, parents)[last]

    return edit


def raises_config_error(call: Callable[[], Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call()
    return info.value


def assert_mentions(error: ConfigError, fragments: list[str]) -> None:
    message = str(error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the message:\n{message}"


# -- the table ----------------------------------------------------------------------------
# (edit, stage, expected ConfigError.path, fragments the message must contain)
# stage "load" goes through Engine.load_config; "validate" also builds every component.

CASES = [
    # sections and shape
    pytest.param(
        put("serach", {"models": ["gcn"]}), "load", "serach",
        ["unknown section 'serach'", "accepted:", "data", "trainer", "did you mean 'search'?"],
        id="unknown-section-did-you-mean",
    ),
    pytest.param(
        put("trainr", {"name": "cuda"}), "load", "trainr",
        ["unknown section 'trainr'", "did you mean 'trainer'?"],
        id="unknown-section-trainer",
    ),
    pytest.param(drop("data"), "load", "data", ["'data' section is required", "name: synthetic"], id="missing-data"),
    pytest.param(put("data", None), "load", "data", ["'data' section is required"], id="null-data"),
    pytest.param(
        put("data", 5), "load", "data", ["expected a component name or a mapping", "{name: ..., options:"],
        id="data-not-a-component",
    ),
    pytest.param(
        put("data", {"options": {}}), "load", "data.name", ["'name' is required"], id="component-without-name",
    ),
    pytest.param(
        put("tuner", {"name": "random", "option": {"budget": 2}}), "load", "tuner.option",
        ["unknown key 'option'", "accepted: name, options", "did you mean 'options'?"],
        id="component-key-misspelled",
    ),
    pytest.param(
        put("trainer.options", [1, 2]), "load", "trainer.options", ["options must be a mapping"],
        id="options-not-a-mapping",
    ),
    pytest.param(
        put("task", "node_clasification"), "load", "task.name",
        ["unknown task 'node_clasification'", "plugin not installed?", "did you mean 'node_classification'?"],
        id="task-unknown",
    ),
    pytest.param(put("output", 5), "load", "output", ["output must be a directory path"], id="output-not-a-path"),
    # seeds
    pytest.param(put("seed", -1), "load", "seed", ["seed must be a non-negative integer", "-1"], id="seed-negative"),
    pytest.param(put("seed", "abc"), "load", "seed", ["seed must be a non-negative integer", "'abc'"], id="seed-string"),
    pytest.param(put("seed", 1.5), "load", "seed", ["seed must be a non-negative integer", "1.5"], id="seed-float"),
    pytest.param(put("seed", True), "load", "seed", ["seed must be a non-negative integer", "True"], id="seed-bool"),
    # pruning section
    pytest.param(
        put("pruning", {"min_epoch": 10}), "load", "pruning.min_epoch",
        ["unknown key 'min_epoch'", "accepted: enabled, min_epochs, min_trials, per_model, reduction_factor",
         "did you mean 'min_epochs'?"],
        id="pruning-key-misspelled",
    ),
    pytest.param(
        put("pruning", {"reduction_factr": 2}), "load", "pruning.reduction_factr",
        ["unknown key 'reduction_factr'", "did you mean 'reduction_factor'?"],
        id="pruning-key-misspelled-factor",
    ),
    pytest.param(
        put("pruning", "yes please"), "load", "pruning",
        ["pruning must be true, false or a mapping", "{min_epochs: 20, reduction_factor: 3, min_trials: 4}", "'yes please'"],
        id="pruning-string",
    ),
    pytest.param(
        put("pruning", [20, 3]), "load", "pruning", ["pruning must be true, false or a mapping", "got a list"],
        id="pruning-list",
    ),
    pytest.param(
        put("pruning", {"enabled": "no"}), "load", "pruning.enabled", ["expected true or false", "'no'"],
        id="pruning-enabled-string",
    ),
    pytest.param(
        put("pruning", {"per_model": "model"}), "load", "pruning.per_model", ["expected true or false", "'model'"],
        id="pruning-per-model-string",
    ),
    pytest.param(
        put("pruning", {"min_epochs": 0}), "load", "pruning.min_epochs",
        ["min_epochs must be at least 1", "got 0", "first epoch at which a trial can be stopped"],
        id="pruning-min-epochs-zero",
    ),
    pytest.param(
        put("pruning", {"reduction_factor": 1}), "load", "pruning.reduction_factor",
        ["reduction_factor must be at least 2", "got 1"],
        id="pruning-reduction-factor-one",
    ),
    pytest.param(
        put("pruning", {"min_trials": -2}), "load", "pruning.min_trials", ["min_trials must be at least 1", "got -2"],
        id="pruning-min-trials-negative",
    ),
    pytest.param(
        put("pruning", {"min_epochs": 2.5}), "load", "pruning.min_epochs", ["expected an integer", "2.5 (float)"],
        id="pruning-min-epochs-float",
    ),
    pytest.param(
        put("pruning", {"min_trials": True}), "load", "pruning.min_trials", ["expected an integer", "True (bool)"],
        id="pruning-min-trials-bool",
    ),
    pytest.param(
        put("pruning", {"enabled": False, "reduction_factor": 0}), "load", "pruning.reduction_factor",
        ["reduction_factor must be at least 2"],
        id="pruning-disabled-still-checked",
    ),
    # selection section
    pytest.param(
        put("selection", {"top_n": 3}), "load", "selection.top_n",
        ["unknown key 'top_n'", "accepted: ensemble, ensemble_weights, noise_band, seeds, top_k", "did you mean 'top_k'?"],
        id="selection-key-misspelled",
    ),
    pytest.param(
        put("selection", "best"), "load", "selection",
        ["selection must be true, false or a mapping", "{top_k: 3, seeds: 3}", "'best'"],
        id="selection-string",
    ),
    pytest.param(
        put("selection", {"seeds": 0}), "load", "selection.seeds", ["seeds must be at least 1", "got 0"],
        id="selection-seeds-zero",
    ),
    pytest.param(
        put("selection", {"top_k": 2.0}), "load", "selection.top_k", ["expected an integer", "2.0 (float)"],
        id="selection-top-k-float",
    ),
    # component names: the registry lists what is installed
    pytest.param(
        put("data.name", "ogbn"), "load", "data.name",
        ["unknown data loader 'ogbn'", "plugin not installed?", "known data loaders: csv, given, ogb, planetoid, pyg, synthetic"],
        id="unknown-data-loader",
    ),
    pytest.param(
        put("data.name", "synthetc"), "load", "data.name",
        ["unknown data loader 'synthetc'", "plugin not installed?", "did you mean 'synthetic'?"],
        id="misspelled-data-loader",
    ),
    pytest.param(
        put("tuner.name", "nevergrd"), "load", "tuner.name",
        ["unknown tuner 'nevergrd'", "plugin not installed?", "nevergrad, random", "did you mean 'nevergrad'?"],
        id="unknown-tuner",
    ),
    pytest.param(
        put("trainer.name", "gpu"), "load", "trainer.name",
        ["unknown trainer 'gpu'", "plugin not installed?", "known trainers: cuda"],
        id="unknown-trainer",
    ),
    pytest.param(
        put("reporters", ["consol"]), "load", "reporters[0].name",
        ["unknown reporter 'consol'", "plugin not installed?", "console, html, jsonl", "did you mean 'console'?"],
        id="unknown-reporter",
    ),
    # reporters section
    pytest.param(put("reporters", "console"), "load", "reporters", ["reporters must be a list"], id="reporters-string"),
    pytest.param(
        put("reporters", {"name": "console"}), "load", "reporters", ["reporters must be a list", "[console, {name: jsonl}]"],
        id="reporters-mapping",
    ),
    # search section
    pytest.param(
        put("search.models", ["gcn", "gcnn"]), "load", "search.models[1]",
        ["unknown model 'gcnn'", "plugin not installed?", "known models: appnp, gat, gcn, gcnii, gin, mlp_baseline, sage", "did you mean 'gcn'?"],
        id="unknown-model",
    ),
    pytest.param(
        put("search.models", []), "load", "search.models", ["non-empty list of model names"], id="models-empty",
    ),
    pytest.param(
        put("search.models", ["gcn", "gcn"]), "load", "search.models", ["lists a model twice"], id="models-duplicate",
    ),
    pytest.param(
        put("search.model", ["gcn"]), "load", "search.model",
        ["unknown key 'model'", "did you mean 'models'?"],
        id="search-key-misspelled",
    ),
    pytest.param(
        put("search.space", {"gcn": {"hidden": {"int": [256, 16]}}}), "load", "search.space.gcn.hidden",
        ["low < high", "[256, 16]"],
        id="space-int-low-above-high",
    ),
    pytest.param(
        put("search.space", {"gcn": {"dropout": {"float": [0.8, 0.2]}}}), "load", "search.space.gcn.dropout",
        ["low < high", "[0.8, 0.2]"],
        id="space-float-low-above-high",
    ),
    pytest.param(
        put("search.space", {"gcn": {"dropout": {"float": [0.0, 0.5], "log": True}}}), "load",
        "search.space.gcn.dropout", ["log scale needs low > 0", "low=0.0"],
        id="space-log-low-zero",
    ),
    pytest.param(
        put("search.space", {"gcn": {"hidden": {"int": [-4, 64], "log": True}}}), "load", "search.space.gcn.hidden",
        ["log scale needs low > 0", "low=-4"],
        id="space-log-low-negative",
    ),
    pytest.param(
        put("search.space", {"gcn": {"hidden": {"int": [1.5, 64]}}}), "load", "search.space.gcn.hidden",
        ["bounds must be integers"],
        id="space-int-float-bounds",
    ),
    pytest.param(
        put("search.space", {"gcn": {"hidden": {"range": [16, 64]}}}), "load", "search.space.gcn.hidden",
        ["exactly one of", "'int: [low, high]'", "'choice: [...]'", "got keys ['range']"],
        id="space-unknown-spelling",
    ),
    pytest.param(
        put("search.space", {"gat": {"heads": {"choice": [1, 2], "log": True}}}), "load", "search.space.gat.heads",
        ["'log' applies to int and float ranges"],
        id="space-choice-with-log",
    ),
    pytest.param(
        put("search.space", {"gcn": {"hiden": {"int": [16, 64]}}}), "load", "search.space.gcn.hiden",
        ["unknown search parameter 'hiden'", "accepted: activation, dropout, hidden, input_dropout, jk, layers, norm, post_layers, pre_layers, residual",
         "did you mean 'hidden'?", "model 'gcn'"],
        id="space-unknown-parameter",
    ),
    pytest.param(
        put("search.training_space", {"learning_rate": {"float": [0.001, 0.1]}}), "load",
        "search.training_space.learning_rate",
        ["unknown search parameter 'learning_rate'", "accepted: lr, weight_decay", "trainer 'cuda'"],
        id="training-space-unknown-parameter",
    ),
    pytest.param(
        [put("search.models", ["gcn"]), put("search.space", {"gat": {"heads": {"choice": [1, 2]}}})], "load",
        "search.space.gat", ["'gat'", "gcn", "search.models"],
        id="space-model-not-searched",
    ),
    # options: checked against the factory's signature
    pytest.param(
        put("trainer.options", {"max_epoch": 5}), "load", "trainer.options.max_epoch",
        ["unknown option 'max_epoch'", "accepted: amp, batch_size, batching, device, fanouts, max_epochs, patience", "did you mean 'max_epochs'?",
         "trainer 'cuda'"],
        id="trainer-option-misspelled",
    ),
    pytest.param(
        put("data.options.num_node", 100), "load", "data.options.num_node",
        ["unknown option 'num_node'", "num_nodes", "did you mean 'num_nodes'?", "data loader 'synthetic'"],
        id="data-option-misspelled",
    ),
    pytest.param(
        put("reporters", [{"name": "jsonl", "options": {"epoch": True}}]), "load", "reporters[0].options.epoch",
        ["unknown option 'epoch'", "accepted: epochs, path", "did you mean 'epochs'?", "reporter 'jsonl'"],
        id="reporter-option-misspelled",
    ),
    pytest.param(
        put("trainer.options.patience", "ten"), "load", "trainer.options.patience",
        ["expected an integer", "'ten'", "trainer 'cuda'"],
        id="option-wrong-type-string",
    ),
    pytest.param(
        put("trainer.options.max_epochs", True), "load", "trainer.options.max_epochs",
        ["expected an integer", "True"],
        id="option-wrong-type-bool",
    ),
    pytest.param(
        put("trainer.options.device", 0), "load", "trainer.options.device", ["expected a string", "0 (int)"],
        id="option-wrong-type-int",
    ),
    pytest.param(
        put("data", {"name": "planetoid", "options": {"dataset": "cora"}}), "load", "data.options.dataset",
        ["expected one of 'Cora', 'CiteSeer', 'PubMed'", "'cora'"],
        id="option-not-in-literal",
    ),
    # only a factory can tell: validate() builds each component once
    pytest.param(
        put("trainer.options.max_epochs", 0), "validate", "trainer.options.max_epochs",
        ["trainer 'cuda'", "max_epochs must be at least 1", "got 0"],
        id="max-epochs-zero",
    ),
    pytest.param(
        put("trainer.options.patience", -5), "validate", "trainer.options.patience",
        ["patience must be at least 1", "got -5"],
        id="patience-negative",
    ),
    pytest.param(
        put("tuner.options.budget", 0), "validate", "tuner.options.budget",
        ["tuner 'random'", "budget must be at least 1", "got 0"],
        id="budget-zero-random",
    ),
    pytest.param(
        put("tuner", {"name": "nevergrad", "options": {"budget": 0}}), "validate", "tuner.options.budget",
        ["tuner 'nevergrad'", "budget must be at least 1"],
        id="budget-zero-nevergrad",
    ),
    pytest.param(
        put("tuner", {"name": "nevergrad", "options": {"optimizer": "NGopt"}}), "validate", "tuner.options",
        ["unknown nevergrad optimizer 'NGopt'", "did you mean NGOpt", "nevergrad.optimizers.registry"],
        id="nevergrad-optimizer-misspelled",
    ),
    pytest.param(
        put("tuner", {"name": "nevergrad", "options": {"optimizer": "Bayesian"}}), "validate", "tuner.options",
        ["unknown nevergrad optimizer 'Bayesian'", "e.g. NGOpt, TwoPointsDE, CMA"],
        id="nevergrad-optimizer-unknown",
    ),
    pytest.param(
        put("trainer.options.device", "gpu"), "validate", "trainer.options.device",
        ["device must be auto, cpu, cuda or cuda:N", "'gpu'"],
        id="device-invalid",
    ),
    pytest.param(
        put("trainer.options.amp", True), "validate", "trainer.options.amp", ["amp", "needs a CUDA device"],
        id="amp-on-cpu",
    ),
    pytest.param(
        put("data.options.num_nodes", 20), "validate", "data.options", ["num_nodes=20 is too small"],
        id="data-option-out-of-range",
    ),
]


@pytest.mark.parametrize(("edits", "stage", "path", "fragments"), CASES)
def test_bad_config(
    engine: Engine, tiny_config: dict[str, Any], edits: Edit | list[Edit], stage: str, path: str, fragments: list[str]
) -> None:
    document = copy.deepcopy(tiny_config)
    for edit in edits if isinstance(edits, list) else [edits]:
        edit(document)
    call = engine.load_config if stage == "load" else engine.validate
    error = raises_config_error(lambda: call(document))
    assert error.path == path
    assert error.source == "<dict>"
    assert str(error).startswith(f"<dict>: {path}: "), str(error)
    assert_mentions(error, fragments)
    assert error.exit_code == 2


def test_declared_range_is_checked_at_load_and_factory_checks_at_validate(engine: Engine, tiny_config: dict[str, Any]) -> None:
    """An option's declared range (``Annotated[int, Between(...)]``) is part of its type: load_config
    refuses it. What only the factory knows (an optimizer name) waits for validate()."""
    tiny_config["trainer"]["options"]["max_epochs"] = 0
    error = raises_config_error(lambda: engine.load_config(tiny_config))
    assert error.path == "trainer.options.max_epochs"
    assert_mentions(error, ["max_epochs must be at least 1, got 0", "trainer 'cuda'"])
    tiny_config["trainer"]["options"]["max_epochs"] = 5
    tiny_config["tuner"] = {"name": "nevergrad", "options": {"optimizer": "NGOptt", "budget": 2}}
    assert engine.load_config(tiny_config).tuner.options["optimizer"] == "NGOptt"
    with pytest.raises(ConfigError, match="unknown nevergrad optimizer 'NGOptt'"):
        engine.validate(tiny_config)


def test_cuda_requested_without_cuda(engine: Engine, tiny_config: dict[str, Any]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here; the error only exists on machines without it")
    tiny_config["trainer"]["options"]["device"] = "cuda"
    engine.load_config(tiny_config)  # the name and type are fine ...
    error = raises_config_error(lambda: engine.validate(tiny_config))  # ... the machine is not
    assert error.path == "trainer.options.device"
    assert_mentions(error, ["device 'cuda' was requested", "CUDA is not available", "device: auto or cpu"])


def test_not_a_config_object(engine: Engine) -> None:
    error = raises_config_error(lambda: engine.load_config([{"data": "synthetic"}]))  # type: ignore[arg-type]
    assert_mentions(error, ["a YAML path, a mapping or a RunConfig", "not list"])


# -- config files ---------------------------------------------------------------------------

FILE_CASES = [
    pytest.param(
        "data: {name: synthetic\n  foo: [\n", None,
        ["malformed YAML", "line 2, column"],
        id="malformed-yaml",
    ),
    pytest.param(
        "data:\n  name: synthetic\n   options: {}\n", None, ["malformed YAML", "line 3"],
        id="malformed-yaml-indentation",
    ),
    pytest.param("", None, ["the config file is empty", "examples/quickstart.yaml"], id="empty-file"),
    pytest.param("# only a comment\n\n", None, ["the config file is empty"], id="comment-only-file"),
    pytest.param(
        "- data: synthetic\n- seed: 0\n", None,
        ["the config must be a mapping of sections", "data", "search", "got a list"],
        id="top-level-list",
    ),
    pytest.param("just a string\n", None, ["must be a mapping of sections", "got a str"], id="top-level-scalar"),
    pytest.param(
        "data: !!python/object/apply:os.system ['echo unsafe']\n", None, ["malformed YAML"],
        id="python-tag-rejected",
    ),
    pytest.param(
        "data: synthetic\nserach: {models: [gcn]}\n", "serach", ["unknown section 'serach'", "did you mean 'search'?"],
        id="unknown-section-in-file",
    ),
]


@pytest.mark.parametrize(("text", "path", "fragments"), FILE_CASES)
def test_bad_config_file(engine: Engine, tmp_path: Path, text: str, path: str | None, fragments: list[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8")
    error = raises_config_error(lambda: engine.load_config(config))
    assert error.source == str(config)
    assert str(error).startswith(f"{config}: "), str(error)
    if path is not None:
        assert error.path == path
    assert_mentions(error, fragments)


def test_malformed_yaml_points_at_line_and_column(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("seed: 0\ndata: {name: synthetic\n  foo: [\n", encoding="utf-8")
    error = raises_config_error(lambda: engine.load_config(config))
    assert error.path is not None and error.path.startswith("line 3, column ")
    assert "\n" not in str(error)


def test_missing_config_file(engine: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    error = raises_config_error(lambda: engine.load_config(missing))
    assert error.source == str(missing)
    assert_mentions(error, ["config file not found"])


def test_config_path_is_a_directory(engine: Engine, tmp_path: Path) -> None:
    error = raises_config_error(lambda: engine.load_config(tmp_path))
    assert_mentions(error, [str(tmp_path), "is a directory"])


def test_config_file_not_utf8(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "latin1.yaml"
    config.write_bytes("data: synth\xe9tic\n".encode("latin-1"))
    error = raises_config_error(lambda: engine.load_config(config))
    assert_mentions(error, ["cannot read config file"])


def test_duplicate_yaml_key_is_an_error(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "dup.yaml"
    config.write_text(
        "data: synthetic\ntrainer: {name: cuda, options: {max_epochs: 5}}\ntrainer: {name: cuda}\n", encoding="utf-8"
    )
    error = raises_config_error(lambda: engine.load_config(config))
    assert_mentions(error, ["trainer", "duplicate", "line 3"])


# -- --set overrides --------------------------------------------------------------------------

OVERRIDE_CASES = [
    pytest.param(
        ["tuner.options.budget"], "--set", None,
        ["override 'tuner.options.budget' must look like key.path=value"],
        id="set-without-equals",
    ),
    pytest.param(
        ["search.models.5=gcn"], "--set", None,
        ["'search.models.5=gcn'", "search.models.5 indexes a list of 2 items", "use 0..1"],
        id="set-index-past-list",
    ),
    pytest.param(
        ["search.models.first=gcn"], "--set", None, ["search.models.first indexes a list of 2 items"],
        id="set-non-numeric-index",
    ),
    pytest.param(
        ["tuner..budget=3"], "--set", None, ["empty key", "'tuner..budget'"], id="set-empty-key",
    ),
    pytest.param(
        ["seed.value=3"], "--set", None, ["seed.value is inside a value that is not a mapping"],
        id="set-into-a-scalar",
    ),
    pytest.param(
        ["seed=[1"], "--set", None, ["cannot parse the value of 'seed=[1'"], id="set-malformed-value",
    ),
    # well-formed overrides are checked like the file itself, with the file as source
    pytest.param(
        ["tuner.options.budgt=3"], "<dict>", "tuner.options.budgt",
        ["unknown option 'budgt'", "did you mean 'budget'?"],
        id="set-misspelled-option",
    ),
    pytest.param(
        ["tuner.name=bayes"], "<dict>", "tuner.name",
        ["unknown tuner 'bayes'", "plugin not installed?", "nevergrad, random"],
        id="set-unknown-component",
    ),
    pytest.param(["seed=-3"], "<dict>", "seed", ["non-negative integer"], id="set-bad-seed"),
    pytest.param(["serach.models=[gcn]"], "<dict>", "serach", ["did you mean 'search'?"], id="set-unknown-section"),
    pytest.param(
        ["pruning.min_epochs=soon"], "<dict>", "pruning.min_epochs", ["expected an integer", "'soon'"],
        id="set-pruning-wrong-type",
    ),
    pytest.param(
        ["pruning.min_trial=2"], "<dict>", "pruning.min_trial", ["unknown key 'min_trial'", "did you mean 'min_trials'?"],
        id="set-pruning-unknown-key",
    ),
]


@pytest.mark.parametrize(("overrides", "source", "path", "fragments"), OVERRIDE_CASES)
def test_bad_override(
    engine: Engine,
    tiny_config: dict[str, Any],
    overrides: list[str],
    source: str,
    path: str | None,
    fragments: list[str],
) -> None:
    error = raises_config_error(lambda: engine.load_config(tiny_config, overrides=overrides))
    assert error.source == source
    assert error.path == path
    assert_mentions(error, fragments)


def test_override_checked_by_validate(engine: Engine, tiny_config: dict[str, Any]) -> None:
    error = raises_config_error(lambda: engine.validate(tiny_config, overrides=["tuner.options.budget=0"]))
    assert error.path == "tuner.options.budget"
    assert_mentions(error, ["budget must be at least 1"])


def test_override_value_error_is_one_line(engine: Engine, tiny_config: dict[str, Any]) -> None:
    error = raises_config_error(lambda: engine.load_config(tiny_config, overrides=["seed=[1"]))
    assert "\n" not in str(error)


def test_override_index_into_empty_list(engine: Engine, tiny_config: dict[str, Any]) -> None:
    assert tiny_config["reporters"] == []
    error = raises_config_error(lambda: engine.load_config(tiny_config, overrides=["reporters.0=console"]))
    assert "0..-1" not in str(error)
    assert_mentions(error, ["empty", "reporters=["])


def test_override_options_of_shorthand_component(engine: Engine) -> None:
    document = {"data": "synthetic", "tuner": "random", "trainer": "cuda"}
    resolved = engine.load_config(document, overrides=["tuner.options.budget=3", "trainer.options.device=cpu"])
    assert resolved.tuner == ComponentSpec("random", {"budget": 3})
    assert resolved.trainer == ComponentSpec("cuda", {"device": "cpu"})


# -- positive cases -----------------------------------------------------------------------


def test_override_fixes_a_config(engine: Engine, tiny_config: dict[str, Any]) -> None:
    tiny_config["tuner"]["options"]["budget"] = 0
    with pytest.raises(ConfigError):
        engine.validate(tiny_config)
    before = copy.deepcopy(tiny_config)
    resolved = engine.validate(tiny_config, overrides=["tuner.options.budget=3"])
    assert resolved.tuner is not None and resolved.tuner.options["budget"] == 3
    assert tiny_config == before, "overrides must not change the caller's mapping"


def test_override_values_are_yaml(engine: Engine, tiny_config: dict[str, Any]) -> None:
    resolved = engine.load_config(
        tiny_config,
        overrides=[
            "seed=7",
            "search.models=[gcn]",
            "search.space.gcn.hidden={int: [8, 32], log: true}",
            "trainer.options.amp=false",
            "reporters=[{name: jsonl, options: {epochs: true}}]",
            "output=a=b",
        ],
    )
    assert resolved.seed == 7
    assert resolved.search.models == ["gcn"]
    assert resolved.search.to_dict()["space"] == {"gcn": {"hidden": {"int": [8, 32], "log": True}}}
    assert resolved.trainer is not None and resolved.trainer.options["amp"] is False
    assert resolved.reporters == [ComponentSpec("jsonl", {"epochs": True})]
    assert resolved.output == "a=b", "only the first '=' separates key and value"


def test_override_list_item(engine: Engine, tiny_config: dict[str, Any]) -> None:
    resolved = engine.load_config(tiny_config, overrides=["search.models.1=gcn", "search.models.0=gat"])
    assert resolved.search.models == ["gat", "gcn"]


def test_override_creates_missing_sections(engine: Engine) -> None:
    resolved = engine.load_config({"data": "synthetic"}, overrides=["tuner.name=random", "tuner.options.budget=4"])
    assert resolved.tuner == ComponentSpec("random", {"budget": 4})


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_validate(example: Path, request: pytest.FixtureRequest) -> None:
    overrides = []
    if _is_planetoid(example):  # point the example at the shared Cora files (skips without them)
        overrides.append(f"data.options.root={request.getfixturevalue('cora_root')}")
    resolved = Engine().validate(example, overrides=overrides)
    assert resolved.source == str(example)
    assert resolved.search.models, "every example searches at least one model"
    assert resolved.tuner is not None and resolved.trainer is not None


def _is_planetoid(example: Path) -> bool:
    return yaml.safe_load(example.read_text(encoding="utf-8"))["data"]["name"] == "planetoid"


def test_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"quickstart.yaml", "cora.yaml"}


def test_dict_config(engine: Engine, tiny_config: dict[str, Any]) -> None:
    resolved = engine.validate(tiny_config)
    assert isinstance(resolved, RunConfig)
    assert resolved.source == "<dict>"
    assert resolved.data == ComponentSpec("synthetic", tiny_config["data"]["options"])
    assert resolved.tuner == ComponentSpec("random", {"budget": 2})
    assert resolved.reporters == []
    assert resolved.seed == 0


def test_defaults_filled_in(engine: Engine) -> None:
    resolved = engine.load_config({"data": "synthetic"})
    assert resolved.task == ComponentSpec("node_classification")
    assert resolved.tuner == ComponentSpec(engine.default("tuner") or "?")
    assert resolved.trainer == ComponentSpec(engine.default("trainer") or "?")
    assert resolved.reporters == [ComponentSpec(engine.default("reporter") or "?")]
    defaults = [n for n in engine.names("models") if engine.component("models", n).default_search]
    assert resolved.search.models == defaults == sorted(resolved.search.models)  # opt-in models left out
    assert {"gcn", "gat"} <= set(resolved.search.models)
    assert resolved.seed is None and resolved.output is None
    # the built-in defaults, as documented
    assert (resolved.tuner.name, resolved.trainer.name, resolved.reporters[0].name) == ("nevergrad", "cuda", "console")


def test_null_sections_mean_default(engine: Engine) -> None:
    resolved = engine.load_config({"data": "synthetic", "tuner": None, "trainer": None, "reporters": None})
    assert resolved.tuner is not None and resolved.tuner.name == "nevergrad"
    assert resolved.reporters == [ComponentSpec("console")]


def test_empty_reporters_stay_empty(engine: Engine) -> None:
    assert engine.load_config({"data": "synthetic", "reporters": []}).reporters == []


def test_string_shorthand_components(engine: Engine) -> None:
    resolved = engine.load_config(
        {"data": "synthetic", "search": {"models": "gcn"}, "tuner": "random", "reporters": ["console", {"name": "jsonl"}]}
    )
    assert resolved.search.models == ["gcn"]
    assert resolved.tuner == ComponentSpec("random")
    assert [r.name for r in resolved.reporters or []] == ["console", "jsonl"]


def test_to_dict_round_trips_through_yaml(engine: Engine, tiny_config: dict[str, Any], tmp_path: Path) -> None:
    tiny_config["search"]["space"] = {"gat": {"heads": {"choice": [1, 2]}}, "gcn": {"layers": 2}}
    tiny_config["search"]["training_space"] = {"lr": {"float": [0.001, 0.1], "log": True}}
    tiny_config["reporters"] = ["console", {"name": "jsonl", "options": {"epochs": True}}]
    resolved = engine.load_config(tiny_config)
    written = tmp_path / "resolved.yaml"
    written.write_text(yaml.safe_dump(resolved.to_dict(), sort_keys=False), encoding="utf-8")
    again = engine.load_config(written)
    assert again.to_dict() == resolved.to_dict()
    assert again.source == str(written)
    assert engine.load_config(resolved.to_dict()).to_dict() == resolved.to_dict()
    assert engine.load_config(resolved).to_dict() == resolved.to_dict()


def test_pruning_defaults_on_and_resolved_into_the_config(engine: Engine) -> None:
    resolved = engine.load_config({"data": "synthetic"})
    assert resolved.pruning == PruningSpec(enabled=True, min_epochs=20, reduction_factor=3, min_trials=4, per_model=False)
    assert resolved.to_dict()["pruning"] == {
        "enabled": True, "min_epochs": 20, "reduction_factor": 3, "min_trials": 4, "per_model": False,
    }
    assert engine.load_config({"data": "synthetic", "pruning": None}).pruning == PruningSpec()


@pytest.mark.parametrize(
    ("pruning", "overrides", "expected"),
    [
        (False, [], PruningSpec(enabled=False)),
        (True, [], PruningSpec()),
        ({"enabled": False}, [], PruningSpec(enabled=False)),
        ({}, [], PruningSpec()),
        ({"min_epochs": 5, "min_trials": 2}, [], PruningSpec(min_epochs=5, min_trials=2)),
        (None, ["pruning=false"], PruningSpec(enabled=False)),
        (None, ["pruning.enabled=false"], PruningSpec(enabled=False)),
        (None, ["pruning.reduction_factor=2"], PruningSpec(reduction_factor=2)),
        # `pruning: false` in the file, then one setting with --set: still off, the setting kept
        (False, ["pruning.min_epochs=7"], PruningSpec(enabled=False, min_epochs=7)),
        (True, ["pruning.min_trials=1"], PruningSpec(min_trials=1)),
    ],
    ids=["false", "true", "enabled-false", "empty", "settings", "set-false", "set-enabled", "set-factor",
         "false-then-set", "true-then-set"],
)
def test_pruning_section_spellings(engine: Engine, pruning: Any, overrides: list[str], expected: PruningSpec) -> None:
    document: dict[str, Any] = {"data": "synthetic"}
    if pruning is not None:
        document["pruning"] = pruning
    resolved = engine.load_config(document, overrides=overrides)
    assert resolved.pruning == expected
    assert engine.load_config(resolved.to_dict()).pruning == expected  # what the run directory records reads back


def test_pruning_off_in_yaml(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("data: synthetic\npruning: off   # YAML 1.1: off is false\n", encoding="utf-8")
    assert engine.load_config(config).pruning.enabled is False


def test_to_dict_round_trips_defaults(engine: Engine) -> None:
    resolved = engine.load_config({"data": "synthetic", "seed": 3})
    assert engine.load_config(resolved.to_dict()).to_dict() == resolved.to_dict()


def test_unresolved_run_config_loads(engine: Engine) -> None:
    config = RunConfig(data=ComponentSpec("synthetic"))
    resolved = engine.load_config(config)
    assert resolved.search.models == [n for n in engine.names("models") if engine.component("models", n).default_search]
