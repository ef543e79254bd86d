"""Bad inputs, end to end through the CLI: one table, one check.

Every row is something a user can get wrong (a config file, a ``--set``, an
output directory, a data loader's graph, an installed plugin, an environment
switch) run through ``autoglm`` in-process with click's ``CliRunner``. Each
must end with

- the right exit code: 2 for a usage or config error found before any work
  starts, 1 for a data or run error (0 for the rows that only warn);
- exactly one ``autoglm: error:`` line on stderr (log lines aside) that holds
  what a user needs to fix it: the file and key path, the accepted values or
  valid range, the closest match;
- no traceback and no escaped exception (``result.exception`` is the SystemExit
  of a handled error).

``tests/test_config_errors.py`` checks the same kind of mistakes through the
Python API, in more variants; this file is the user's view. Runs are tiny: a
200-node synthetic graph, one trial, five CPU epochs.

Plugins reach the CLI as a user's do, through entry points: a row's ``plugins``
are written as a throw-away ``*.dist-info`` on ``sys.path`` pointing into
``tests/bad_plugins.py``.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest
import torch
import yaml
from click.testing import CliRunner, Result

from autoglm.cli.main import cli
from autoglm.plugins.testing import TINY_GRAPH

TESTS = Path(__file__).resolve().parent
#: Lines of the log handler the CLI installs (``LEVEL logger: message``).
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) autoglm[\w.]*: ")
ERROR = "autoglm: error: "

#: The config every row starts from: valid, and a whole run takes about a second.
BASE: dict[str, Any] = {
    "seed": 0,
    "data": {"name": "synthetic", "options": dict(TINY_GRAPH)},
    "search": {"models": ["gcn"]},
    "tuner": {"name": "random", "options": {"budget": 1}},
    "trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": 5, "patience": 5}},
    "reporters": [],
}
#: Set to a file path to get a Markdown table of what every row said (for docs and release notes).
TRANSCRIPT = os.environ.get("BAD_INPUTS_TRANSCRIPT")
#: Text written as the config file instead of YAML of BASE: the file does not exist.
MISSING = "<no file>"


@dataclass(frozen=True)
class Case:
    """One bad input and what the user must see.

    In ``text``, ``args``, ``output`` and ``fragments``: ``{tmp}`` is the test's
    temporary directory and ``{cfg}`` the config file's path.
    """

    code: int
    #: Must all appear in the one error line (or, for code 0, nowhere in particular).
    fragments: tuple[str, ...] = ()
    #: The config file's text; None: YAML of BASE after ``edit``; MISSING: no file.
    text: str | None = None
    #: The CONFIG argument; None: the file written from ``text`` / ``edit``.
    config: str | None = None
    #: Top-level sections of BASE to replace (a value of None deletes the section).
    edit: Mapping[str, Any] = field(default_factory=dict)
    #: After the config path, e.g. ("--set", "seed=abc").
    args: tuple[str, ...] = ()
    #: Before the command, e.g. ("--strict",).
    global_args: tuple[str, ...] = ()
    command: str = "run"
    #: Passed as --output to ``run``; None: no --output.
    output: str | None = "{tmp}/out"
    #: Entry points to install, "name = module[:attribute]".
    plugins: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: Prepares ``tmp_path`` before the command (e.g. an earlier run).
    before: Callable[[Path], None] | None = None
    #: Fragments that must appear in the WARNING log lines.
    warnings: tuple[str, ...] = ()


def config_text(edit: Mapping[str, Any]) -> str:
    document = copy.deepcopy(BASE)
    for key, value in edit.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return yaml.safe_dump(document, sort_keys=False)


def data(defect: str) -> dict[str, Any]:
    """The ``bad_graph`` loader of tests/bad_plugins.py, with one defect."""
    return {"data": {"name": "bad_graph", "options": {"defect": defect}}}


def previous_run(tmp_path: Path) -> None:
    """A finished run in {tmp}/out, made through the CLI like the one that follows."""
    config = tmp_path / "first.yaml"
    config.write_text(config_text({}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-q", "run", str(config), "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def read_only_dir(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o500)


def a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a directory\n", encoding="utf-8")


def damaged(edit: Callable[[Path], None]) -> Callable[[Path], None]:
    """A finished run in {tmp}/out (as :func:`previous_run`), then one of its files edited by ``edit(out)``."""

    def before(tmp_path: Path) -> None:
        previous_run(tmp_path)
        edit(tmp_path / "out")

    return before


def first_record(change: Mapping[str, Any]) -> Callable[[Path], None]:
    def edit(out: Path) -> None:
        import json

        lines = (out / "trials.jsonl").read_text(encoding="utf-8").splitlines()
        record = {**json.loads(lines[0]), **change}
        (out / "trials.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")

    return damaged(edit)


def checkpoint(value: Callable[[], Any]) -> Callable[[Path], None]:
    return damaged(lambda out: torch.save(value(), out / "checkpoint.pt"))


def config_edit(out: Path) -> None:
    recorded = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    recorded["tuner"]["options"]["budget"] = 4
    (out / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False), encoding="utf-8")


def user_file_beside_a_run(tmp_path: Path) -> None:
    previous_run(tmp_path)
    (tmp_path / "out" / "notes.txt").write_text("mine\n", encoding="utf-8")


def run_files_without_a_run(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "predictions.csv").write_text("node,y\n", encoding="utf-8")


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    return "seed: 0\ndata: {name: synthetic}\nsearch: {models: [gcn], space: {gcn: {hidden: {choice: [{" + ", ".join(lines) + "}]}}}}\n"


RESUME = ("--resume", "{tmp}/out")

BAD_DATA = ("bad_data = bad_plugins:bad_data",)
FRAGILE = ("fragile = bad_plugins:fragile",)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here: nothing to refuse")
NOT_ROOT = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through any permission bits"
)


def case(id: str, *args: Any, marks: Any = (), **kwargs: Any) -> Any:
    return pytest.param(Case(*args, **kwargs), id=id, marks=marks)


CASES = [
    # -- the config file itself -----------------------------------------------------------
    case("config-missing", 2, ("{cfg}", "config file not found"), text=MISSING),
    case(
        "config-is-a-directory", 2, ("{tmp}", "is a directory, expected a YAML config file"), config="{tmp}",
    ),
    case("empty-file", 2, ("{cfg}", "the config file is empty", "examples/quickstart.yaml"), text=""),
    case("comment-only-file", 2, ("{cfg}", "the config file is empty"), text="# seed: 0\n"),
    case(
        "malformed-yaml", 2, ("{cfg}", "malformed YAML", "line 3, column"),
        text="seed: 0\ndata: {name: synthetic\n  options: [\n",
    ),
    case(
        "malformed-yaml-tab", 2, ("{cfg}", "malformed YAML", "line 2"),
        text="data:\n\tname: synthetic\n",
    ),
    case("duplicate-key", 2, ("{cfg}", "duplicate key 'seed'", "first at line 1"), text="seed: 0\ndata: synthetic\nseed: 1\n"),
    case(
        "unsafe-yaml-tag", 2, ("{cfg}", "malformed YAML", "python/object/apply"),
        text="data: !!python/object/apply:os.system ['echo unsafe']\n",
    ),
    case(
        "top-level-list", 2, ("{cfg}", "the config must be a mapping of sections", "data, search", "got a list"),
        text="- data: synthetic\n- seed: 0\n",
    ),
    case(
        "section-is-a-list", 2, ("{cfg}: data:", "expected a component name or a mapping", "{name: ..., options:"),
        text="data: [synthetic]\n",
    ),
    case(
        "search-is-a-list", 2, ("{cfg}: search:", "search must be a mapping", "models, space, training_space", "got a list"),
        edit={"search": ["gcn", "gat"]},
    ),
    case(
        "options-is-a-list", 2, ("{cfg}: trainer.options:", "options must be a mapping", "[5, 5]"),
        edit={"trainer": {"name": "cuda", "options": [5, 5]}},
    ),
    case(
        "unknown-section", 2,
        ("{cfg}: serach:", "unknown section 'serach'", "accepted: data, executor, output, population, pruning, reporters, search",
         "did you mean 'search'?"),
        edit={"serach": {"models": ["gcn"]}},
    ),
    case("missing-data-section", 2, ("{cfg}: data:", "'data' section is required", "{name: synthetic}"), edit={"data": None}),
    # -- component names --------------------------------------------------------------------
    case(
        "unknown-data-loader", 2,
        ("{cfg}: data.name:", "unknown data loader 'plantoid'", "plugin not installed?",
         "known data loaders: csv, given, ogb, planetoid, pyg, synthetic", "did you mean 'planetoid'?"),
        edit={"data": {"name": "plantoid"}},
    ),
    case(
        "unknown-model", 2,
        ("{cfg}: search.models[1]:", "unknown model 'chebnet'", "known models: appnp, gat, gcn, gcnii, gin, mlp_baseline, sage", "plugin not installed?"),
        edit={"search": {"models": ["gcn", "chebnet"]}},
    ),
    case(
        "unknown-tuner", 2,
        ("{cfg}: tuner.name:", "unknown tuner 'nevergrd'", "known tuners: nevergrad, random", "did you mean 'nevergrad'?"),
        edit={"tuner": "nevergrd"},
    ),
    case(
        "unknown-trainer", 2, ("{cfg}: trainer.name:", "unknown trainer 'gpu'", "known trainers: cuda"),
        edit={"trainer": {"name": "gpu"}},
    ),
    case(
        "unknown-reporter", 2,
        ("{cfg}: reporters[1].name:", "unknown reporter 'jsnl'", "known reporters: console, html, jsonl", "did you mean 'jsonl'?"),
        edit={"reporters": ["console", "jsnl"]},
    ),
    # -- options ----------------------------------------------------------------------------
    case(
        "misspelled-option", 2,
        ("{cfg}: trainer.options.max_epoch:", "unknown option 'max_epoch' for trainer 'cuda'",
         "accepted: amp, batch_size, batching, device, fanouts, max_epochs, patience", "did you mean 'max_epochs'?"),
        edit={"trainer": {"name": "cuda", "options": {"device": "cpu", "max_epoch": 5}}},
    ),
    case(
        "misspelled-component-key", 2,
        ("{cfg}: tuner.option:", "unknown key 'option'", "accepted: name, options", "did you mean 'options'?"),
        edit={"tuner": {"name": "random", "option": {"budget": 1}}},
    ),
    case(
        "option-wrong-type", 2,
        ("{cfg}: trainer.options.patience:", "expected an integer", "got 'ten' (str)", "trainer 'cuda'"),
        edit={"trainer": {"name": "cuda", "options": {"device": "cpu", "patience": "ten"}}},
    ),
    case(
        "option-not-in-literal", 2,
        ("{cfg}: data.options.dataset:", "expected one of 'Cora', 'CiteSeer', 'PubMed'", "did you mean 'Cora'?"),
        edit={"data": {"name": "planetoid", "options": {"dataset": "cora"}}},
    ),
    case(
        "max-epochs-zero", 2, ("{cfg}: trainer.options.max_epochs:", "trainer 'cuda'", "max_epochs must be at least 1, got 0"),
        edit={"trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": 0}}},
    ),
    case(
        "patience-negative", 2, ("{cfg}: trainer.options.patience:", "patience must be at least 1, got -1"),
        edit={"trainer": {"name": "cuda", "options": {"device": "cpu", "patience": -1}}},
    ),
    case(
        "budget-zero", 2, ("{cfg}: tuner.options.budget:", "tuner 'random'", "budget must be at least 1, got 0"),
        edit={"tuner": {"name": "random", "options": {"budget": 0}}},
    ),
    case(
        "budget-negative-nevergrad", 2, ("{cfg}: tuner.options.budget:", "tuner 'nevergrad'", "budget must be at least 1, got -3"),
        edit={"tuner": {"name": "nevergrad", "options": {"budget": -3}}},
    ),
    case(
        "cuda-without-cuda", 2,
        ("{cfg}: trainer.options.device:", "device 'cuda' was requested", "CUDA is not available", "use device: auto or cpu"),
        edit={"trainer": {"name": "cuda", "options": {"device": "cuda"}}},
        marks=NO_CUDA,
    ),
    # -- top-level values -------------------------------------------------------------------
    case("seed-wrong-type", 2, ("{cfg}: seed:", "seed must be a non-negative integer below 2**63, or null", "'abc'"), edit={"seed": "abc"}),
    case("seed-negative", 2, ("{cfg}: seed:", "non-negative integer", "-1"), edit={"seed": -1}),
    case("workers-zero", 2, ("{cfg}: workers:", "workers must be a positive integer", "got 0"), edit={"workers": 0}),
    case(
        "population-not-an-integer", 2,
        ("{cfg}: population:", "population must be a positive integer", "batched model", "got 'big'"),
        edit={"population": "big"},
    ),
    case(
        "reporters-not-a-list", 2, ("{cfg}: reporters:", "reporters must be a list", "[console, {name: jsonl}]"),
        edit={"reporters": "console"},
    ),
    # -- pruning ----------------------------------------------------------------------------
    case(
        "pruning-key-misspelled", 2,
        ("{cfg}: pruning.min_epoch:", "unknown key 'min_epoch'", "accepted: enabled, min_epochs, min_trials, per_model, reduction_factor",
         "did you mean 'min_epochs'?"),
        edit={"pruning": {"min_epoch": 10}},
    ),
    case(
        "pruning-reduction-factor-one", 2,
        ("{cfg}: pruning.reduction_factor:", "reduction_factor must be at least 2", "got 1"),
        edit={"pruning": {"reduction_factor": 1}},
    ),
    case(
        "pruning-not-a-mapping", 2, ("{cfg}: pruning:", "pruning must be true, false or a mapping", "'off'"),
        edit={"pruning": "off"},
    ),
    case(
        "set-pruning-min-trials-wrong-type", 2, ("{cfg}: pruning.min_trials:", "expected an integer", "'four'"),
        args=("--set", "pruning.min_trials=four"),
    ),
    case("output-empty-string", 2, ("{cfg}: output:", "output must be a directory path", "''"), edit={"output": ""}, output=None),
    # -- search spaces ----------------------------------------------------------------------
    case(
        "space-low-above-high", 2, ("{cfg}: search.space.gcn.hidden:", "int range needs low < high", "[256, 16]"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hidden": {"int": [256, 16]}}}}},
    ),
    case(
        "space-log-low-zero", 2, ("{cfg}: search.space.gcn.dropout:", "log scale needs low > 0", "low=0.0"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"dropout": {"float": [0.0, 0.5], "log": True}}}}},
    ),
    case(
        "space-empty-choice", 2, ("{cfg}: search.space.gcn.hidden:", "choice needs at least one option", "{choice: [16, 32]}"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hidden": {"choice": []}}}}},
    ),
    case(
        "space-value-wrong-type", 2,
        ("{cfg}: search.space.gcn.hidden:", "expected an integer", "got 'wide' (str)", "model 'gcn'"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hidden": {"choice": [16, "wide"]}}}}},
    ),
    case(
        "space-float-range-for-int", 2, ("{cfg}: search.space.gcn.layers:", "'layers' takes integers: use int, not float"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"layers": {"float": [1.0, 3.0]}}}}},
    ),
    case(
        "space-unknown-parameter", 2,
        ("{cfg}: search.space.gcn.hiden:", "unknown search parameter 'hiden'", "accepted: activation, dropout, hidden, input_dropout, jk, layers",
         "did you mean 'hidden'?"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hiden": 32}}}},
    ),
    case(
        "training-space-wrong-type", 2, ("{cfg}: search.training_space.lr:", "expected a number", "'fast'", "trainer 'cuda'"),
        edit={"search": {"models": ["gcn"], "training_space": {"lr": "fast"}}},
    ),
    case(
        "space-constant-out-of-range", 2,
        ("{cfg}: search.space.gcn.dropout:", "model 'gcn'", "dropout must be less than 1, got 1.5"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"dropout": 1.5}}}},
    ),
    # -- --set overrides --------------------------------------------------------------------
    case("set-without-equals", 2, ("--set:", "'tuner.options.budget' must look like key.path=value"), args=("--set", "tuner.options.budget")),
    case("set-empty-key", 2, ("--set:", "empty key", "'tuner..budget'"), args=("--set", "tuner..budget=3")),
    case(
        "set-unknown-section", 2, ("{cfg}: tunr:", "unknown section 'tunr'", "did you mean 'tuner'?"),
        args=("--set", "tunr.options.budget=2"),
    ),
    case(
        "set-into-a-scalar", 2, ("--set:", "tuner.options.budget.max is inside a value that is not a mapping"),
        args=("--set", "tuner.options.budget.max=3"),
    ),
    case(
        "set-index-past-list", 2, ("--set:", "search.models.3 indexes a list of 1 items", "use 0..0"),
        args=("--set", "search.models.3=gat"),
    ),
    case("set-malformed-value", 2, ("--set:", "cannot parse the value of 'seed=[1'"), args=("--set", "seed=[1")),
    case(
        "set-misspelled-option", 2, ("{cfg}: tuner.options.budgt:", "unknown option 'budgt'", "did you mean 'budget'?"),
        args=("--set", "tuner.options.budgt=3"),
    ),
    # -- the output directory ---------------------------------------------------------------
    case(
        "output-holds-a-run", 2, ("output", "{tmp}/out", "already holds a run", "--resume", "--overwrite"),
        before=previous_run,
    ),
    case(
        "output-is-a-file-in-config", 2, ("output", "{tmp}/taken", "exists and is not a directory"),
        edit={"output": "{tmp}/taken"}, output=None, before=a_file,
    ),
    case(
        "output-is-a-file", 2, ("output", "{tmp}/taken", "not a directory"), output="{tmp}/taken", before=a_file,
    ),
    case(
        "output-parent-is-a-file", 2, ("output", "{tmp}/taken/run", "cannot create output directory", "Not a directory"),
        output="{tmp}/taken/run", before=a_file,
    ),
    case(
        "output-not-writable", 2, ("output", "{tmp}/ro/out", "Permission denied"),
        output="{tmp}/ro/out", before=read_only_dir, marks=NOT_ROOT,
    ),
    case(  # the same refusal where even root cannot write: the root of sysfs
        "output-on-read-only-filesystem", 2, ("output", "/sys/autoglm-run", "cannot create output directory"),
        output="/sys/autoglm-run", marks=pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="no sysfs"),
    ),
    case(
        "output-flag-empty", 2, ("output", "''"), output="",
    ),
    # -- data: missing or broken ------------------------------------------------------------
    case(
        "planetoid-folder-missing", 1,
        ("Planetoid Cora", "raw files not found in '{tmp}/nope/Cora/raw'", "ind.cora.x", "data.options.root"),
        edit={"data": {"name": "planetoid", "options": {"dataset": "Cora", "root": "{tmp}/nope"}}},
    ),
    case(
        "nan-features", 1, ("data loader 'bad_graph'", "x holds NaN or infinite values in 1 node(s)"),
        edit=data("nan-features"), plugins=BAD_DATA,
    ),
    case(
        "inf-features", 1, ("data loader 'bad_graph'", "NaN or infinite values in 2 node(s)"),
        edit=data("inf-features"), plugins=BAD_DATA,
    ),
    case(
        "label-out-of-range", 1,
        ("data loader 'bad_graph'", "labels must lie in 0..2 (or -1 for no label), found 0..7 (first outside: item 0, label 7)"),
        edit=data("label-out-of-range"), plugins=BAD_DATA,
    ),
    case(
        "negative-label", 1, ("data loader 'bad_graph'", "labels must lie in 0..2 (or -1 for no label), found -2..2"),
        edit=data("negative-label"), plugins=BAD_DATA,
    ),
    case(
        "unlabelled-node-in-a-mask", 1,
        ("data loader 'bad_graph'", "train_mask selects 1 unlabelled node(s) (y = -1)", "a split holds labelled nodes only"),
        edit=data("unlabelled-in-mask"), plugins=BAD_DATA,
    ),
    case(
        "empty-train-mask", 1, ("data loader 'bad_graph'", "train_mask selects no nodes"),
        edit=data("empty-train-mask"), plugins=BAD_DATA,
    ),
    case("empty-val-mask", 1, ("val_mask selects no nodes",), edit=data("empty-val-mask"), plugins=BAD_DATA),
    case("empty-test-mask", 1, ("test_mask selects no nodes",), edit=data("empty-test-mask"), plugins=BAD_DATA),
    case(
        "edge-past-node-count", 1,
        ("data loader 'bad_graph'", "edge_index refers to node 250", "has 200 nodes (valid: 0..199)", "1 edge(s)"),
        edit=data("edge-past-node-count"), plugins=BAD_DATA,
    ),
    case(
        "edge-negative", 1, ("edge_index refers to node -1", "valid: 0..199"), edit=data("negative-edge"), plugins=BAD_DATA,
    ),
    case(
        "float64-features", 1, ("x must hold float32 features, got torch.float64", "data.x = data.x.float()"),
        edit=data("float64-features"), plugins=BAD_DATA,
    ),
    case(
        "int32-labels", 1, ("y must hold int64 (torch.long) labels, got torch.int32", "data.y = data.y.long()"),
        edit=data("int32-labels"), plugins=BAD_DATA,
    ),
    case("not-a-graph", 1, ("data loader 'bad_graph'", "the graph has no 'x'"), edit=data("not-a-graph"), plugins=BAD_DATA),
    case(
        "loader-raises", 1, ("data loader 'bad_graph' failed: OSError:", "Input/output error"),
        edit=data("load-raises"), plugins=BAD_DATA,
    ),
    # -- plugins ----------------------------------------------------------------------------
    case(
        "factory-value-error", 2,
        ("{cfg}: trainer.options.schedule:", "trainer 'fragile'", "schedule must be 'cosine' or 'step', got 'linear'"),
        edit={"trainer": {"name": "fragile", "options": {"schedule": "linear"}}}, plugins=FRAGILE,
    ),
    case(
        "factory-crashes", 2,
        ("trainer 'fragile' from plugin 'fragile' (distribution agtest-bad-inputs 0.1) failed to build", "KeyError: 'cuda_context'"),
        edit={"trainer": {"name": "fragile", "options": {"crash": True}}}, plugins=FRAGILE,
    ),
    case(
        "model-factory-crashes", 1,
        ("every trial failed (1 of 1)", "RuntimeError: brittle cannot be built with width=8"),
        edit={"search": {"models": ["brittle"]}}, plugins=FRAGILE, warnings=("trial 1 (brittle) failed",),
    ),
    case(
        "duplicate-component-name", 2,
        ("model 'gcn' is registered twice", "plugin 'gcn' (distribution autoglm", "plugin 'dup_gcn' (distribution agtest-bad-inputs",
         "AUTOGLM_DISABLE_PLUGINS"),
        plugins=("dup_gcn = bad_plugins:dup_gcn",),
    ),
    case(
        "plugin-import-fails-strict", 2,
        ("plugin 'broken' (bad_plugins_no_such_module) failed to load", "ModuleNotFoundError", "bad_plugins_no_such_module"),
        plugins=("broken = bad_plugins_no_such_module",), global_args=("--strict",),
    ),
    case(
        "plugin-import-fails-lenient", 0, (),
        plugins=("broken = bad_plugins_no_such_module",),
        warnings=("plugin 'broken' (bad_plugins_no_such_module) failed to load and is skipped", "ModuleNotFoundError"),
    ),
    case(
        "only-plugins-typo-strict", 2,
        ("AUTOGLM_PLUGINS: unknown plugin 'gcnn'", "installed plugins:", "did you mean 'gcn'?"),
        env={"AUTOGLM_PLUGINS": "node_classification,synthetic,gcnn,random_tuner,cuda_trainer"}, global_args=("--strict",),
    ),
    case(
        "only-plugins-typo", 2,
        ("{cfg}: search.models[0]:", "unknown model 'gcn'", "known models: none"),
        env={"AUTOGLM_PLUGINS": "node_classification,synthetic,gcnn,random_tuner,cuda_trainer,defaults"},
        warnings=("AUTOGLM_PLUGINS: unknown plugin 'gcnn'", "did you mean 'gcn'?"),
    ),
    case(
        "disable-plugins-typo", 0, (),
        env={"AUTOGLM_DISABLE_PLUGINS": "gatt"},
        warnings=("AUTOGLM_DISABLE_PLUGINS: unknown plugin 'gatt'", "did you mean 'gat'?", "(ignored)"),
    ),
    case(
        "component-of-disabled-plugin", 2,
        ("{cfg}: data.name:", "unknown data loader 'synthetic'", "disabled by AUTOGLM_PLUGINS / AUTOGLM_DISABLE_PLUGINS: ",
         "synthetic"),
        env={"AUTOGLM_DISABLE_PLUGINS": "synthetic"},
    ),
    # -- validate sees what run sees --------------------------------------------------------
    case(
        "validate-unknown-section", 2, ("{cfg}: trainr:", "did you mean 'trainer'?"),
        edit={"trainr": {"name": "cuda"}}, command="validate", output=None,
    ),
    case(
        "validate-budget-zero", 2, ("{cfg}: tuner.options.budget:", "budget must be at least 1, got 0"),
        edit={"tuner": {"name": "random", "options": {"budget": 0}}}, command="validate", output=None,
    ),
    # -- YAML past any real config (used to hang or overflow) ---------------------------------
    case("yaml-alias-bomb", 2, ("{cfg}", "refused", "more than 100,000 values once its aliases"), text=_alias_bomb(), command="validate", output=None),
    case("yaml-deep-nesting", 2, ("{cfg}", "refused", "nest more than 50 deep"), text="seed: " + "[" * 3000 + "]" * 3000 + "\n"),
    case("yaml-recursive-alias", 2, ("{cfg}", "refers to the value that contains it"), text="data: &d {name: synthetic, options: {x: *d}}\n"),
    case("config-file-huge", 2, ("{cfg}", "larger than 1024 KiB"), text="seed: 0\n" + "#" * (1 << 20) + "\n"),
    case(
        "config-not-utf8", 2, ("{tmp}/latin1.yaml", "not UTF-8 text (byte 11)"), config="{tmp}/latin1.yaml",
        before=lambda tmp: (tmp / "latin1.yaml").write_bytes("data: synth\xe9tic\n".encode("latin-1")),
    ),
    # -- model and run constants no machine can use -----------------------------------------
    case(
        "width-zero", 2, ("{cfg}: search.space.gcn.hidden:", "hidden must be at least 1, got 0"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hidden": 0}}}},
    ),
    case(
        "width-absurd", 2, ("{cfg}: search.space.gcn.hidden:", "hidden must be at most 16384", "got 1000000000"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hidden": 10**9}}}},
    ),
    case(
        "width-range-absurd", 2, ("{cfg}: search.space.gcn.hidden:", "hidden must be at most 16384"),
        edit={"search": {"models": ["gcn"], "space": {"gcn": {"hidden": {"int": [16, 10**8], "log": True}}}}},
    ),
    case(
        "depth-absurd", 2, ("{cfg}: search.space.gcn.layers:", "layers must be at most 64", "oversmooth"),
        args=("--set", "search.space.gcn.layers=100000"),
    ),
    case(
        "gat-heads-zero", 2, ("{cfg}: search.space.gat.heads:", "heads must be at least 1, got 0"),
        edit={"search": {"models": ["gat"], "space": {"gat": {"heads": {"choice": [0, 8]}}}}},
    ),
    case(
        "lr-nan", 2, ("{cfg}: search.training_space.lr:", "expected a number, got nan"),
        args=("--set", "search.training_space.lr=.nan"),
    ),
    case(
        "lr-negative", 2, ("{cfg}: search.training_space.lr:", "lr must be greater than 0, got -0.01"),
        args=("--set", "search.training_space.lr=-0.01"),
    ),
    case(
        "weight-decay-range-below-zero", 2, ("{cfg}: search.training_space.weight_decay:", "must be at least 0, got -1"),
        args=("--set", "search.training_space.weight_decay={float: [-1, 0.1]}"),
    ),
    case(
        "epochs-absurd", 2, ("{cfg}: trainer.options.max_epochs:", "max_epochs must be at most 1000000"),
        args=("--set", "trainer.options.max_epochs=10000000000"),
    ),
    case(
        "synthetic-graph-too-big", 2, ("{cfg}: data.options.num_nodes:", "feature values is more than 500,000,000"),
        args=("--set", "data.options={num_nodes: 10000000, num_features: 1000}"),
    ),
    case("seed-too-large", 2, ("{cfg}: seed:", "below 2**63", "18446744073709551616"), edit={"seed": 2**64}),
    case("workers-absurd", 2, ("{cfg}: workers:", "workers must be at most 512"), edit={"workers": 100000}),
    case("threads-with-workers", 2, ("{cfg}: threads:", "threads: 2 needs workers: 1"), edit={"threads": 2, "workers": 2}),
    case("threads-not-a-number", 2, ("{cfg}: threads:", "threads must be auto or an integer"), edit={"threads": "many"}),
    # -- run directories: nothing a user saved is lost --------------------------------------
    case(
        "overwrite-beside-user-files", 2,
        ("output", "also holds files autoglm did not write (notes.txt)", "--keep-other-files"),
        args=("--overwrite",), before=user_file_beside_a_run,
    ),
    case(
        "run-files-but-no-run", 2, ("output", "holds a run's files (predictions.csv) but no config.yaml", "--overwrite"),
        before=run_files_without_a_run,
    ),
    case(
        "reporter-into-trials", 2, ("{cfg}: reporters[0]:", "trials.jsonl", "is the run's own file"),
        edit={"reporters": [{"name": "jsonl", "options": {"path": "{tmp}/out/trials.jsonl"}}]},
    ),
    # -- resuming an edited or damaged run ---------------------------------------------------
    case(
        "resume-record-wrong-type", 1,
        ("cannot resume: {tmp}/out/trials.jsonl: line 1 is not a trial record", "val_score must be a finite number or null, got 'high'"),
        args=RESUME, output=None, before=first_record({"val_score": "high"}),
    ),
    case(
        "resume-absurd-trial-number", 1, ("cannot resume: ", "trial must be an integer in 1..1000000000, got 1000000000000"),
        args=RESUME, output=None, before=first_record({"trial": 10**12}),
    ),
    case(
        "resume-trial-past-budget", 1, ("cannot resume: ", "trial 7 is past the run's budget of 1 trials"),
        args=RESUME, output=None, before=first_record({"trial": 7}),
    ),
    case(
        "resume-record-not-utf8", 1, ("cannot resume: ", "trials.jsonl: line 2 is not UTF-8 text"),
        args=RESUME, output=None,
        before=damaged(lambda out: (out / "trials.jsonl").open("ab").write(b'{"trial": 2, "model": "\xff"}\n')),
    ),
    case(
        "resume-checkpoint-not-a-state-dict", 1, ("cannot resume: {tmp}/out/checkpoint.pt: not an autoglm checkpoint",),
        args=RESUME, output=None, before=checkpoint(lambda: torch.zeros(4)),
    ),
    case(
        "resume-checkpoint-wrong-keys", 1, ("cannot resume: {tmp}/out/checkpoint.pt: its weights do not fit trial 1", "delete it"),
        args=RESUME, output=None, before=checkpoint(lambda: {"trial": 1, "state_dict": {"w": torch.zeros(2)}}),
    ),
    case(
        "resume-config-edited", 2,
        ("config.yaml was edited since the run started", "tuner.options.budget: the run started with 1, the file now has 4"),
        args=RESUME, output=None, before=damaged(config_edit),
    ),
    # -- show on a damaged run ---------------------------------------------------------------
    case(
        "show-summary-not-json", 1, ("cannot show {tmp}/out: {tmp}/out/summary.json: not valid JSON",),
        command="show", config="{tmp}/out", output=None,
        before=damaged(lambda out: (out / "summary.json").write_text("{status: ok", encoding="utf-8")),
    ),
    case(
        "show-summary-a-list", 1, ("summary.json: expected a JSON object, got a list",),
        command="show", config="{tmp}/out", output=None,
        before=damaged(lambda out: (out / "summary.json").write_text("[1, 2]", encoding="utf-8")),
    ),
    case(
        "show-leaderboard-not-utf8", 1, ("leaderboard.csv: line 1 is not UTF-8 text",),
        command="show", config="{tmp}/out", output=None,
        before=damaged(lambda out: (out / "leaderboard.csv").write_bytes(b"rank\xff\n")),
    ),
    # -- tasks -------------------------------------------------------------------------------
    case(
        "task-unknown", 2, ("{cfg}: task.name:", "unknown task 'node_clasification'", "did you mean 'node_classification'?"),
        edit={"task": "node_clasification"},
    ),
    case(
        "task-option-misspelled", 2,
        ("{cfg}: task.options.val_frac:", "unknown option 'val_frac' for task 'link_prediction'", "did you mean 'val_fraction'?"),
        edit={"task": {"name": "link_prediction", "options": {"val_frac": 0.1}}},
    ),
    case(
        "task-space-unknown-parameter", 2,
        ("{cfg}: search.task_space.decodr:", "unknown search parameter 'decodr' for task 'link_prediction'", "did you mean 'decoder'?"),
        edit={"task": "link_prediction", "search": {"models": ["gcn"], "task_space": {"decodr": "dot"}}},
    ),
    case(
        "task-space-value-not-a-choice", 2, ("{cfg}: search.task_space.decoder:", "expected a string", "got 3"),
        edit={"task": "link_prediction", "search": {"models": ["gcn"], "task_space": {"decoder": 3}}},
    ),
    case(
        "graph-task-on-one-graph", 1,
        ("data loader 'synthetic'", "graph classification needs many graphs", "task 'graph_classification'"),
        edit={"task": "graph_classification"},
    ),
    # -- resources that run out --------------------------------------------------------------
    case(
        "data-out-of-memory", 1, ("data loader 'bad_graph' ran out of memory loading the data", "defect='out-of-memory'"),
        edit=data("out-of-memory"), plugins=BAD_DATA,
    ),
]


@pytest.fixture(autouse=True)
def _quiet_torch_and_logger() -> Iterator[None]:
    """One torch thread (runs here are tiny) and the 'autoglm' logger left as it was."""
    import logging

    logger = logging.getLogger("autoglm")
    saved_logger = (logger.handlers[:], logger.level, logger.propagate)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    logger.handlers[:], logger.level, logger.propagate = saved_logger


def install_entry_points(site: Path, entry_points: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed-looking distribution 'agtest-bad-inputs' whose entry points are ``entry_points``."""
    info = site / "agtest_bad_inputs-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: agtest-bad-inputs\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("\n".join(["[autoglm]", *entry_points]) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(TESTS))  # bad_plugins.py
    monkeypatch.syspath_prepend(str(site))


def error_lines(result: Result) -> list[str]:
    """What the CLI said on stderr, its log lines aside."""
    return [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]


def warning_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("WARNING ")]


@pytest.mark.parametrize("bad", CASES)
def test_bad_input(bad: Case, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = str(tmp_path)
    fill = lambda text: text.replace("{tmp}", tmp)  # noqa: E731
    cwd = tmp_path / "cwd"  # a run gone astray (output '.') lands here, not in the repository
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    if bad.plugins:
        install_entry_points(tmp_path / "site", bad.plugins, monkeypatch)
    if bad.before is not None:
        bad.before(tmp_path)
        request.addfinalizer(lambda: [os.chmod(p, 0o700) for p in tmp_path.rglob("*") if p.is_dir()])

    config = Path(fill(bad.config)) if bad.config is not None else tmp_path / "config.yaml"
    if bad.config is None and bad.text != MISSING:
        config.write_text(fill(bad.text if bad.text is not None else config_text(bad.edit)), encoding="utf-8")
    args = [*bad.global_args, bad.command, str(config), *(fill(a) for a in bad.args)]
    if bad.output is not None:
        args += ["--output", fill(bad.output)]

    result = CliRunner().invoke(cli, args, prog_name="autoglm", env=dict(bad.env))
    if TRANSCRIPT:
        said = error_lines(result)[-1:] or warning_lines(result)[-1:] or ["(no error)"]
        shown = said[0].replace(tmp, "<tmp>").replace("|", "\\|")
        with open(TRANSCRIPT, "a", encoding="utf-8") as handle:
            handle.write(f"| {request.node.callspec.id} | {result.exit_code} | {shown} |\n")

    assert result.exit_code == bad.code, result.output
    assert "Traceback" not in result.output, result.output
    if bad.code == 0:
        assert result.exception is None, result.output
        assert not [line for line in error_lines(result) if line.startswith(ERROR)], result.output
    else:
        assert isinstance(result.exception, SystemExit), f"escaped: {result.exception!r}\n{result.output}"
        lines = error_lines(result)
        assert len(lines) == 1 and lines[0].startswith(ERROR), f"expected one error line, got:\n{result.stderr}"
        for fragment in bad.fragments:
            fragment = fill(fragment).replace("{cfg}", str(config))
            assert fragment in lines[0], f"{fragment!r} not in\n{lines[0]}"
        assert ERROR not in result.stdout, "errors go to stderr"
    warnings = "\n".join(warning_lines(result))
    for fragment in bad.warnings:
        assert fragment in warnings, f"{fragment!r} not in the warnings:\n{result.stderr}"
    if bad.code == 2:
        assert not (tmp_path / "out" / "config.yaml").exists() or bad.before is not None, "a config error leaves no run"
        assert not any(cwd.iterdir()), f"written to the current directory: {sorted(p.name for p in cwd.iterdir())}"


def test_the_table_is_large_and_ids_are_unique() -> None:
    ids = [param.id for param in CASES]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


def test_helpers_for_the_engine_checks_work() -> None:
    """The two value checks the engine runs before a run starts, called directly."""
    from autoglm.core import ConfigError, Engine
    from autoglm.core.options import check_model_constants, check_training_space_values
    from autoglm.core.space import Choice, Float

    engine = Engine(autoload=False)
    trainer, gcn = engine.component("trainers", "cuda"), engine.component("models", "gcn")
    check_training_space_values(trainer, {"lr": 0.01, "weight_decay": Float(0, 0.1)}, source="c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml: search.training_space.lr: expected a number, got 'a'"):
        check_training_space_values(trainer, {"lr": Choice(("a", "b"))}, source="c.yaml")
    check_model_constants(gcn, {"layers": 2, "hidden": Float(8, 16)}, source="c.yaml", path="search.space.gcn")
    with pytest.raises(ConfigError, match=r"search.space.gcn.layers: model 'gcn': layers must be at least 1"):
        check_model_constants(gcn, {"layers": 0}, source="c.yaml", path="search.space.gcn")
