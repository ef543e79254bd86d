"""The ``autoglm`` command line: listings, validation, runs, and how errors look.

Most tests drive :data:`autoglm.cli.main.cli` in-process with click's
``CliRunner``; a few start a fresh interpreter or the installed console script,
where exit codes and imports are those a user gets. Every run is tiny: a
200-node synthetic graph, 2 trials, 20 CPU epochs.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner, Result

from autoglm.cli.main import cli
from autoglm.core import DEFAULT_PLUGINS, Engine

COMMANDS = ("run", "validate", "predict", "report", "plugins", "components", "show")
BUILTIN_NAMES = [path.rsplit(".", 1)[-1] for path in DEFAULT_PLUGINS]
RUN_FILES = (
    "config.yaml",
    "trials.jsonl",
    "leaderboard.csv",
    "summary.json",
    "best_model.pt",
    "best_model.json",
    "predictions.csv",
)
#: Lines of the log handler the CLI installs (``LEVEL logger: message``), not part of an error report.
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) autoglm[\w.]*: ")
HEAVY_MODULES = ("torch", "torch_geometric", "nevergrad")
CONSOLE_SCRIPT = Path(sys.executable).parent / ("autoglm.exe" if os.name == "nt" else "autoglm")


@pytest.fixture(autouse=True)
def _restore_autoglm_logger() -> Iterator[None]:
    """The CLI configures the 'autoglm' logger on each call; keep that from leaking into other tests."""
    logger = logging.getLogger("autoglm")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Runs here are tiny: one intra-op thread is faster than several, above all on a busy machine."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def invoke(*args: str | os.PathLike[str]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="autoglm", catch_exceptions=False)


def error_report(result: Result) -> list[str]:
    """What the CLI said about an error: stderr without its log lines."""
    return [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]


def assert_one_line_error(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = error_report(result)
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    assert lines[0].startswith("autoglm: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def tiny_yaml(tiny_config: dict[str, Any], tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "tiny.yaml", tiny_config)


@pytest.fixture
def run_dir(tiny_config: dict[str, Any]) -> Path:
    return Path(tiny_config["output"])


@pytest.fixture
def finished_run(tiny_yaml: Path, run_dir: Path) -> Path:
    result = invoke("run", tiny_yaml)
    assert result.exit_code == 0, result.output
    return run_dir


def read_trials(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "trials.jsonl").read_text(encoding="utf-8").splitlines()]


def python(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )


# -- help and imports ----------------------------------------------------------------------


def test_help_lists_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), f"{command} missing from --help"
    assert "--debug" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: autoglm {command}")


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("autoglm, version ")


def test_console_script_help(tmp_path: Path) -> None:
    if not CONSOLE_SCRIPT.exists():
        pytest.fail(f"the autoglm console script is not installed next to {sys.executable}")
    proc = subprocess.run([str(CONSOLE_SCRIPT), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: autoglm ")
    for command in COMMANDS:
        assert command in proc.stdout


def test_console_script_config_error(tmp_path: Path) -> None:
    """A real process: exit status 2, one line on stderr, nothing on stdout."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: synthetic\nserach: {models: [gcn]}\n", encoding="utf-8")
    proc = subprocess.run(
        [str(CONSOLE_SCRIPT), "validate", str(bad)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"autoglm: error: {bad}: serach: unknown section 'serach'")
    assert "did you mean 'search'?" in lines[0]


@pytest.mark.parametrize(
    "args", [["--help"], ["plugins"], ["plugins", "--json"], ["components"]], ids=lambda a: " ".join(a)
)
def test_light_commands_do_not_import_torch(args: list[str], tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from autoglm.cli.main import cli
        try:
            code = cli.main(sys.argv[1:], prog_name="autoglm", standalone_mode=False)
        except SystemExit as exc:
            code = exc.code
        heavy = [m for m in %r if m in sys.modules]
        print("EXIT", code or 0)
        print("HEAVY", ",".join(heavy) or "-")
        """
        % (HEAVY_MODULES,)
    )
    proc = python(code, tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.splitlines()[-2:]
    assert tail == ["EXIT 0", "HEAVY -"], proc.stdout[-2000:]


# -- plugins and components -------------------------------------------------------------------


def test_plugins_table() -> None:
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line and not line[0].isspace()}
    for name in BUILTIN_NAMES:
        assert name in rows, f"built-in plugin {name} not listed"
        assert rows[name][1:3] == ["builtin", "loaded"], rows[name]
    assert "model gcn" in result.stdout and "model gat" in result.stdout


def test_plugins_json() -> None:
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    infos = json.loads(result.stdout)
    builtins = {info["name"]: info for info in infos if info["source"] == "builtin"}
    assert sorted(builtins) == sorted(BUILTIN_NAMES)
    for info in builtins.values():
        assert info["status"] == "loaded", info
        assert info["error"] is None
        assert info["distribution"] == "autoglm"
        assert info["module"].startswith("autoglm.plugins_builtin.")
    assert builtins["gcn"]["components"] == {"models": ["gcn"]}
    assert builtins["gat"]["components"] == {"models": ["gat"]}
    assert builtins["planetoid"]["components"] == {"data_loaders": ["planetoid"]}
    assert builtins["defaults"]["components"] == {}


def test_components_all_kinds() -> None:
    result = invoke("components")
    assert result.exit_code == 0, result.output
    for kind in ("data_loaders", "models", "tuners", "trainers", "reporters"):
        assert f"{kind}:" in result.stdout.splitlines()
    names = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ") and line.strip()}
    assert {"planetoid", "synthetic", "gcn", "gat", "nevergrad", "random", "cuda", "console", "jsonl"} <= names


def test_components_models() -> None:
    result = invoke("components", "models")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "models:"
    assert any(line.split()[:1] == ["gcn"] and "[plugin gcn]" in line for line in lines)
    assert any(line.split()[:1] == ["gat"] and "[plugin gat]" in line for line in lines)
    assert "space: dropout, hidden, layers" in result.stdout
    assert "planetoid" not in result.stdout and "tuners:" not in result.stdout


def test_components_json() -> None:
    result = invoke("components", "models", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"gcn", "gat"} <= set(rows)
    assert rows["gcn"]["kind"] == "models"
    assert rows["gcn"]["options"] == [
        "activation", "dropout", "hidden", "input_dropout", "jk", "layers", "norm", "post_layers", "pre_layers", "residual",
    ]
    assert rows["gcn"]["search_space"] == ["dropout", "hidden", "layers"]


def test_components_unknown_kind() -> None:
    result = invoke("components", "layers")
    assert result.exit_code == 2
    assert "'layers' is not one of" in result.stderr and "models" in result.stderr


# -- validate ----------------------------------------------------------------------------------


def test_validate_ok(tiny_yaml: Path, run_dir: Path) -> None:
    result = invoke("validate", tiny_yaml)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{tiny_yaml}: config OK"
    assert "  models:    gcn, gat" in lines
    assert any(line.startswith("  tuner:     random") for line in lines)
    assert any(line.startswith("  trainer:   cuda") for line in lines)
    assert lines[-1].startswith("  data check: none (loader 'synthetic' has no check")
    assert not run_dir.exists(), "validate writes nothing"


def test_validate_tells_a_valid_config_from_data_that_is_not_there(tmp_path: Path) -> None:
    """Exit 1 and both facts when only the data is missing; exit 0 with the check passed when it is there."""
    config = tmp_path / "cora.yaml"
    config.write_text(f"data: {{name: planetoid, options: {{root: {tmp_path / 'nowhere'}}}}}\n", encoding="utf-8")
    missing = invoke("validate", config)
    assert missing.exit_code == 1, missing.output
    assert missing.stdout.splitlines()[0] == f"{config}: config OK"
    assert "the config is valid, but its data is not usable: Planetoid Cora: raw files not found" in missing.stderr
    assert "Traceback" not in missing.output
    raw = tmp_path / "nowhere" / "Cora" / "raw"
    raw.mkdir(parents=True)
    for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
        (raw / f"ind.cora.{part}").write_bytes(b"")
    found = invoke("validate", config)
    assert found.exit_code == 0, found.output
    assert found.stdout.splitlines()[-1] == "  data check: OK (found where the config says; not loaded)"
    bad = invoke("validate", config, "--set", "data.options.datset=Cora")
    assert bad.exit_code == 2 and "data.options.datset" in bad.stderr  # a config error stays exit 2


def test_validate_with_override(tiny_yaml: Path) -> None:
    result = invoke("validate", tiny_yaml, "--set", "search.models=[gcn]", "-s", "tuner.options.budget=5")
    assert result.exit_code == 0, result.output
    assert "  models:    gcn" in result.stdout.splitlines()
    assert "'budget': 5" in result.stdout


BAD_CONFIGS = [
    pytest.param("data: synthetic\nserach: {models: [gcn]}\n", [], ["serach", "did you mean 'search'?"], id="unknown-section"),
    pytest.param(
        "data: {name: synthetic\n  foo: [\n", [], ["malformed YAML", "line 2"], id="malformed-yaml",
    ),
    pytest.param("", [], ["empty"], id="empty-file"),
    pytest.param(
        "data: synthetic\ntrainer: {name: cuda, options: {max_epoch: 5}}\n", [],
        ["trainer.options.max_epoch", "did you mean 'max_epochs'?"],
        id="misspelled-option",
    ),
    pytest.param(
        "data: synthetic\ntrainer: {name: cuda, options: {device: cpu, max_epochs: 0}}\n", [],
        ["trainer.options", "max_epochs must be at least 1"],
        id="factory-value-error",
    ),
    pytest.param("data: synthetic\n", ["tuner.options.budget"], ["must look like key.path=value"], id="set-without-equals"),
    pytest.param(
        "data: synthetic\n", ["seed=[1"], ["cannot parse the value"], id="set-malformed-value",
    ),
]


@pytest.mark.parametrize(("text", "overrides", "fragments"), BAD_CONFIGS)
def test_validate_bad_config(tmp_path: Path, text: str, overrides: list[str], fragments: list[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8")
    args = [a for o in overrides for a in ("--set", o)]
    result = invoke("validate", config, *args)
    assert_one_line_error(result, 2, *fragments)
    assert result.stdout == ""


def test_validate_missing_file(tmp_path: Path) -> None:
    result = invoke("validate", tmp_path / "nope.yaml")
    assert_one_line_error(result, 2, "nope.yaml", "config file not found")


def test_unknown_component_exit_2(tiny_yaml: Path, run_dir: Path) -> None:
    for command in ("validate", "run"):
        result = invoke(command, tiny_yaml, "--set", "tuner.name=bayes")
        assert_one_line_error(result, 2, "tuner.name", "unknown tuner 'bayes'", "plugin not installed?", "nevergrad")
    assert not run_dir.exists(), "a config error leaves no run directory behind"


def test_debug_shows_traceback(tiny_yaml: Path) -> None:
    result = invoke("--debug", "validate", tiny_yaml, "--set", "tuner.name=bayes")
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConfigError" in result.stderr
    assert error_report(result)[-1].startswith("autoglm: error: ")


# -- run and show ------------------------------------------------------------------------------


def test_run_end_to_end(tiny_yaml: Path, run_dir: Path) -> None:
    result = invoke("run", tiny_yaml)
    assert result.exit_code == 0, result.output
    assert "selected " in result.stdout and str(run_dir) in result.stdout
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), f"{name} missing from the run directory"

    trials = read_trials(run_dir)
    assert [t["trial"] for t in trials] == [1, 2]
    assert all(t["status"] == "ok" and t["model"] in ("gcn", "gat") for t in trials)

    with open(run_dir / "leaderboard.csv", newline="", encoding="utf-8") as handle:
        board = list(csv.DictReader(handle))
    assert [row["rank"] for row in board] == ["1", "2"]

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "ok" and summary["seed"] == 0
    assert summary["trials"] == {"total": 2, "ok": 2, "pruned": 0, "failed": 0, "interrupted": 0}
    assert summary["best"]["trial"] == int(board[0]["trial"])
    assert 0.0 <= summary["test"]["score"] <= 1.0

    spec = json.loads((run_dir / "best_model.json").read_text(encoding="utf-8"))
    assert spec["model"] == summary["best"]["model"]
    assert (spec["sizes"]["num_features"], spec["sizes"]["num_classes"]) == (8, 3)
    assert spec["task"] == {"name": "node_classification", "options": {}}

    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    assert list(predictions[0]) == ["node", "split", "y_true", "y_pred", "confidence", "p_0", "p_1", "p_2"]
    assert sum(row["split"] == "test" for row in predictions) == summary["test"]["rows"]
    assert len(predictions) == summary["dataset"]["num_nodes"]

    # the resolved config in the run directory is itself a valid config
    again = Engine(autoload=False).validate(run_dir / "config.yaml")
    assert again.seed == 0 and again.search.models == ["gcn", "gat"]


def test_run_budget_override(tiny_yaml: Path, run_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "budget3"
    result = invoke("run", tiny_yaml, "--set", "tuner.options.budget=3", "--output", other)
    assert result.exit_code == 0, result.output
    assert len(read_trials(other)) == 3
    assert json.loads((other / "summary.json").read_text(encoding="utf-8"))["trials"]["total"] == 3
    assert yaml.safe_load((other / "config.yaml").read_text(encoding="utf-8"))["tuner"]["options"] == {"budget": 3}
    assert not run_dir.exists(), "--output replaces the config's output"


def test_run_again_needs_overwrite(finished_run: Path, tiny_yaml: Path) -> None:
    summary_before = (finished_run / "summary.json").read_text(encoding="utf-8")
    result = invoke("run", tiny_yaml)
    assert_one_line_error(result, 2, str(finished_run), "already holds a run", "--overwrite")
    assert (finished_run / "summary.json").read_text(encoding="utf-8") == summary_before, "refused run changed nothing"

    result = invoke("run", tiny_yaml, "--overwrite", "--set", "seed=1")
    assert result.exit_code == 0, result.output
    assert len(read_trials(finished_run)) == 2, "the old trials were replaced, not appended to"
    assert json.loads((finished_run / "summary.json").read_text(encoding="utf-8"))["seed"] == 1


def test_overwrite_leaves_no_old_events(tiny_yaml: Path, run_dir: Path) -> None:
    args = ["run", tiny_yaml, "--set", "reporters=[jsonl]", "--set", "tuner.options.budget=1"]
    assert invoke(*args).exit_code == 0
    assert invoke(*args, "--overwrite").exit_code == 0
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["event"] for e in events].count("run_start") == 1


def test_show_json(finished_run: Path) -> None:
    result = invoke("show", finished_run, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    summary = json.loads((finished_run / "summary.json").read_text(encoding="utf-8"))
    assert shown["status"] == "ok"
    assert shown["best"] == summary["best"]
    assert shown["test"] == summary["test"]
    assert shown["trials"] == {"total": 2, "ok": 2, "pruned": 0, "failed": 0, "interrupted": 0}


def test_show_prints_a_table_that_fits_the_terminal(finished_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((72, 24)))
    result = invoke("show", finished_run)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    summary = json.loads((finished_run / "summary.json").read_text(encoding="utf-8"))
    assert lines[0].startswith("node_classification on ") and "2 trials (2 ok)" in lines[0]
    assert lines[1].startswith(f"selected: trial {summary['best']['trial']} (")
    assert lines[2].startswith("test_acc: ")
    table = lines[lines.index("") + 1 :]
    assert table[0].split()[:6] == ["rank", "trial", "model", "val_acc", "epochs", "status"]
    assert [row.split()[0] for row in table[1:3]] == ["1", "2"]
    assert all(len(row) <= 72 for row in table[:3])
    assert lines[-2].startswith(f"in {finished_run}: predictions.csv") and "autoglm predict" in lines[-2]
    assert lines[-1] == f"report: none yet; make one with: autoglm report {finished_run}"


def test_show_not_a_run(tmp_path: Path) -> None:
    result = invoke("show", tmp_path)
    line = assert_one_line_error(result, 2, "summary.json", "not a finished autoglm run")
    assert str(tmp_path) in line


def _planetoid_config(tiny_config: dict[str, Any], root: Path) -> dict[str, Any]:
    document = dict(tiny_config)
    document["data"] = {"name": "planetoid", "options": {"dataset": "Cora", "root": str(root)}}
    document["search"] = {"models": ["gcn"]}
    document["tuner"] = {"name": "random", "options": {"budget": 1}}
    document["trainer"] = {"name": "cuda", "options": {"device": "cpu", "max_epochs": 5, "patience": 5}}
    return document


def test_missing_planetoid_root(tiny_config: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "no-data-here"
    config = write_yaml(tmp_path / "cora.yaml", _planetoid_config(tiny_config, root))
    result = invoke("run", config)
    expected = str((root / "Cora" / "raw").resolve())
    assert_one_line_error(result, 1, expected, "ind.cora.x", "data.options.root")


def test_rerun_after_missing_data_needs_no_overwrite(
    tiny_config: dict[str, Any], tmp_path: Path, cora_root: Path
) -> None:
    config = write_yaml(tmp_path / "cora.yaml", _planetoid_config(tiny_config, tmp_path / "no-data-here"))
    assert invoke("run", config).exit_code == 1
    result = invoke("run", config, "--set", f"data.options.root={cora_root}")
    assert result.exit_code == 0, result.output
