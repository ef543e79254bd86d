"""Inputs from outside testing that used to hang, crash or pass unchecked.

YAML that expands or nests past any real config, bounds on model constants,
a search that must exit when it is done, records and checkpoints that were
edited, resources that run out, and the torch thread count chosen for a
machine that may be busy. The CLI's view of the same cases is in
``tests/test_bad_inputs.py``; here they go through the public Python API.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml

from autoglm.core import ConfigError, Engine, RunError, TrialRecord
from autoglm.core.bounds import Between
from autoglm.core.config import read_yaml
from autoglm.core.threads import cgroup_cpu_limit, usable_cores
from autoglm.core.yamlio import MAX_DEPTH, MAX_NODES, DocumentTooLarge, safe_load
from autoglm.plugins import Int, hookimpl
from autoglm.plugins.testing import make_engine, tiny_config


def alias_bomb(levels: int = 8, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "{" + ", ".join(lines) + "}"


# -- YAML past any real config -------------------------------------------------------------


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    with pytest.raises(DocumentTooLarge, match=f"more than {MAX_NODES:,} values"):
        safe_load(alias_bomb())  # 10**8 values; measuring costs one visit per distinct node


def test_aliases_of_a_real_size_still_work() -> None:
    document = safe_load("base: &b {lr: 0.01, wd: 0.001}\nother: *b\n")
    assert document["other"] == {"lr": 0.01, "wd": 0.001}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_deep_nesting_is_refused(depth: int) -> None:
    with pytest.raises(DocumentTooLarge, match=f"nest more than {MAX_DEPTH} deep"):
        safe_load("x: " + "[" * depth + "]" * depth)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(DocumentTooLarge, match="refers to the value that contains it"):
        safe_load("a: &a [1, *a]\n")


def test_a_huge_config_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("seed: 0\n" + "# padding\n" * 200_000, encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        read_yaml(path)


def test_a_bomb_in_an_override_is_refused(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    with pytest.raises(ConfigError, match=r"--set: refused the value of 'search.space'"):
        Engine(autoload=False).load_config(config, [f"search.space={alias_bomb()}"])


def test_a_huge_value_is_cut_short_in_the_message(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    config["search"]["space"] = {"gcn": {"hidden": {"choice": [list(range(100_000))]}}}
    with pytest.raises(ConfigError) as caught:
        Engine(autoload=False).load_config(config)
    assert len(str(caught.value)) < 400 and "..." in str(caught.value)


# -- bounds on what a model can be built with ----------------------------------------------


@pytest.mark.parametrize(
    ("space", "fragment"),
    [
        ({"hidden": 0}, "hidden must be at least 1, got 0"),
        ({"hidden": -5}, "hidden must be at least 1, got -5"),
        ({"hidden": 10**9}, "hidden must be at most 16384"),
        ({"hidden": {"int": [16, 10**9]}}, "hidden must be at most 16384"),
        ({"hidden": {"choice": [16, 0]}}, "hidden must be at least 1, got 0"),
        ({"layers": 100_000}, "layers must be at most 64"),
        ({"dropout": float("nan")}, "expected a number, got nan"),
    ],
)
def test_model_constants_no_machine_can_build_are_config_errors(tmp_path: Path, space: Any, fragment: str) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    config["search"]["space"] = {"gcn": space}
    with pytest.raises(ConfigError, match="search.space.gcn.") as caught:
        Engine(autoload=False).load_config(config)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("training", "fragment"),
    [
        ({"lr": float("nan")}, "expected a number, got nan"),
        ({"lr": 0.0}, "lr must be greater than 0"),
        ({"lr": {"float": [1e-3, 100.0]}}, "lr must be at most 10"),
        ({"weight_decay": -0.1}, "weight_decay must be at least 0"),
    ],
)
def test_training_constants_that_cannot_train_are_config_errors(tmp_path: Path, training: Any, fragment: str) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    config["search"]["training_space"] = training
    with pytest.raises(ConfigError, match="search.training_space.") as caught:
        Engine(autoload=False).load_config(config)
    assert fragment in str(caught.value)


def test_a_third_party_factory_declares_its_bounds_in_its_signature(tmp_path: Path) -> None:
    def build_mlp(
        in_channels: int, out_channels: int, *, width: Annotated[int, Between(4, 512, why="the MLP's own limit")] = 16
    ) -> Any:
        raise AssertionError("never built: the bound is checked first")

    class Plugin:
        @hookimpl
        def autoglm_register_models(self, register: Any) -> None:
            register("mlp", build_mlp, search_space={"width": Int(8, 32)})

    config = tiny_config(tmp_path / "out", models=["mlp"])
    config["search"]["space"] = {"mlp": {"width": {"int": [8, 4096]}}}
    with pytest.raises(ConfigError, match=r"width must be at most 512 \(the MLP's own limit\), got 4096"):
        make_engine(Plugin()).load_config(config)


@pytest.mark.parametrize(
    ("bound", "value", "said"),
    [
        (Between(0, 1, high_open=True), 1.0, "x must be less than 1, got 1"),
        (Between(0, 1, low_open=True), 0, "x must be greater than 0, got 0"),
        (Between(1, None), 0, "x must be at least 1, got 0"),
        (Between(None, 5), 6, "x must be at most 5, got 6"),
        (Between(0, 1), float("nan"), "x must be a number, got nan"),
        (Between(0, 1), 0.5, None),
        (Between(0, 1), "text", None),  # the type check's business
    ],
)
def test_between_says_what_is_wrong(bound: Between, value: Any, said: str | None) -> None:
    assert bound.problem("x", value) == said


def test_between_describes_itself() -> None:
    assert Between(0, 1, high_open=True).describe() == "[0, 1)"
    assert Between(0, None, low_open=True).describe() == "> 0"
    with pytest.raises(ValueError):
        Between(2, 1)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("workers", 100_000, "workers must be at most 512"),
        ("population", 10**6, "population must be at most 1024"),
        ("seed", 2**64, "seed must be a non-negative integer below 2**63"),
        ("threads", 0, "threads must be auto or an integer in 1..1024"),
        ("selection", {"seeds": 10**6}, "seeds must be at most 100"),
    ],
)
def test_run_settings_have_sensible_bounds(tmp_path: Path, key: str, value: Any, fragment: str) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    config[key] = value
    with pytest.raises(ConfigError, match=key) as caught:
        Engine(autoload=False).load_config(config)
    assert fragment in str(caught.value)


# -- a finished run exits ------------------------------------------------------------------


NEVERGRAD_TINY = ["tuner.name=nevergrad", "tuner.options.budget=2", "selection=false",
                  "search.space.gcn={hidden: 16, dropout: {float: [0.1, 0.5]}}", "search.training_space={lr: 0.01}"]


def test_nevergrad_leaves_no_thread_behind(tmp_path: Path) -> None:
    """NGOpt picks a scipy optimizer (Cobyla) for a tiny continuous space; its thread must be stopped."""
    before = set(threading.enumerate())
    Engine(autoload=False).run(tiny_config(tmp_path / "out", models=["gcn"]), overrides=NEVERGRAD_TINY)
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == []


@pytest.mark.slow
def test_a_finished_nevergrad_search_exits(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path / "out", models=["gcn"])), encoding="utf-8")
    sets = [arg for item in NEVERGRAD_TINY for arg in ("--set", item)]
    done = subprocess.run(
        [sys.executable, "-m", "autoglm.cli.main", "-q", "run", str(config), *sets],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "selected gcn" in done.stdout


def test_a_thread_left_by_a_plugin_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from autoglm.plugins_builtin.random_tuner import RandomTuner

    stop = threading.Event()

    class Leaky(RandomTuner):
        def setup(self, space: Any, *, seed: int) -> None:
            super().setup(space, seed=seed)
            threading.Thread(target=stop.wait, name="leaky-helper").start()

    class Plugin:
        @hookimpl
        def autoglm_register_tuners(self, register: Any) -> None:
            register("leaky", Leaky)

    config = tiny_config(tmp_path / "out", models=["gcn"], tuner="leaky", budget=1)
    try:
        with caplog.at_level(logging.WARNING, logger="autoglm"):
            make_engine(Plugin()).run(config)
        assert "left 1 thread(s) running (leaky-helper)" in caplog.text
    finally:
        stop.set()


# -- edited or damaged records -------------------------------------------------------------


GOOD = {"trial": 1, "status": "ok", "model": "gcn", "model_params": {}, "train_params": {}, "seed": 3, "val_score": 0.5}


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"trial": "one"}, "trial must be an integer in 1..1000000000, got 'one'"),
        ({"trial": 10**12}, "trial must be an integer in 1..1000000000"),
        ({"trial": 0}, "trial must be an integer"),
        ({"status": "great"}, "status must be one of ok, pruned, failed, interrupted"),
        ({"val_score": "high"}, "val_score must be a finite number or null, got 'high'"),
        ({"val_score": None}, "a trial with status 'ok' needs a val_score"),
        ({"model_params": [1, 2]}, "model_params must be a JSON object"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"rungs": {"twenty": 0.5}}, "rungs must be an object of epoch -> number"),
        ({"duration_s": True}, "duration_s must be a non-negative number"),
    ],
)
def test_a_record_with_a_wrong_field_is_refused_by_name(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        TrialRecord.from_dict({**GOOD, **change})
    assert fragment in str(caught.value)


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        TrialRecord.from_dict([1, 2])
    with pytest.raises(ValueError, match="missing field"):
        TrialRecord.from_dict({"trial": 1})


@pytest.fixture
def stopped_run(tmp_path: Path) -> tuple[Engine, Path]:
    engine = Engine(autoload=False)
    config = tiny_config(tmp_path / "out", models=["gcn"], budget=3, max_epochs=5)
    engine.run(config)
    return engine, tmp_path / "out"


def _rewrite_records(out: Path, edit: Any) -> None:
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text(encoding="utf-8").splitlines()]
    (out / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in edit(records)), encoding="utf-8")


def test_resume_refuses_a_trial_past_the_budget_without_allocating_for_it(stopped_run: tuple[Engine, Path]) -> None:
    engine, out = stopped_run
    _rewrite_records(out, lambda records: [*records[:1], {**records[1], "trial": 999_999_999}])
    with pytest.raises(RunError, match=r"cannot resume: .*trials.jsonl: trial 999999999 is past the run's budget of 3"):
        engine.resume(out)


def test_resume_names_a_gap_in_the_records(stopped_run: tuple[Engine, Path]) -> None:
    engine, out = stopped_run
    _rewrite_records(out, lambda records: [records[0], records[2]])
    with pytest.raises(RunError, match="holds trial 3 but trial 2 never finished before it"):
        engine.resume(out)


def test_a_line_that_is_not_utf8_is_named(stopped_run: tuple[Engine, Path]) -> None:
    engine, out = stopped_run
    with open(out / "trials.jsonl", "ab") as handle:
        handle.write(b'{"trial": 4, "model": "g\xe9n"}\n')
    with pytest.raises(RunError, match=r"trials.jsonl: line 4 is not UTF-8 text"):
        engine.resume(out)


def test_only_an_unterminated_last_line_counts_as_torn(stopped_run: tuple[Engine, Path]) -> None:
    engine, out = stopped_run
    with open(out / "trials.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"trial": 4, "sta')  # a kill mid-write: dropped
    engine.resume(out)
    with open(out / "trials.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"trial": 4, "sta\n')  # complete, but not a record: damaged
    with pytest.raises(RunError, match="line 4 is not a trial record"):
        engine.resume(out)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("tensor", "not an autoglm checkpoint"),
        ("wrong-keys", "its weights do not fit trial"),
        ("not-tensors", "'state_dict' is not a mapping of names to tensors"),
        ("garbage", "unreadable"),
    ],
)
def test_a_damaged_checkpoint_is_named_with_the_way_out(stopped_run: tuple[Engine, Path], payload: str, fragment: str) -> None:
    import torch

    engine, out = stopped_run
    best = json.loads((out / "summary.json").read_text(encoding="utf-8"))["best"]["trial"]
    path = out / "checkpoint.pt"
    if payload == "garbage":
        path.write_bytes(os.urandom(256))
    else:
        value = {
            "tensor": torch.zeros(3),
            "wrong-keys": {"trial": best, "state_dict": {"foo": torch.zeros(2)}},
            "not-tensors": {"trial": best, "state_dict": {"w": [1, 2]}},
        }[payload]
        torch.save(value, path)
    with pytest.raises(RunError) as caught:
        engine.resume(out)
    message = str(caught.value)
    assert message.startswith(f"cannot resume: {path}: ") and fragment in message
    assert "delete it and the resume retrains the best trial" in message


def test_an_edited_config_is_named_as_such(stopped_run: tuple[Engine, Path]) -> None:
    engine, out = stopped_run
    recorded = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    recorded["tuner"]["options"]["budget"] = 2
    (out / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        engine.resume(out)
    message = str(caught.value)
    assert "config.yaml was edited since the run started" in message
    assert "tuner.options.budget: the run started with 3, the file now has 2" in message
    assert "trials.jsonl" not in message


# -- resources that run out ----------------------------------------------------------------


def test_workers_past_the_process_limit_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_more_processes() -> int:
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    config = tiny_config(tmp_path / "out", models=["gcn"], budget=2, max_epochs=5)
    config["workers"] = 2
    engine = Engine(autoload=False)
    monkeypatch.setattr(os, "fork", no_more_processes)
    with pytest.raises(RunError, match=r"cannot start 2 worker processes \(workers: 2\): resource temporarily unavailable"):
        engine.run(config)
    monkeypatch.undo()
    config["workers"] = 1
    engine.run(config, overwrite=True)  # the lock was released, nothing half-made blocks the next run


# -- torch threads -------------------------------------------------------------------------


class ThreadProbe:
    """A host reporter that notes torch's thread count while trials run."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_trial_start(self, trial: int, candidate: Any) -> None:
        import torch

        self.seen.append(torch.get_num_threads())


@pytest.mark.parametrize(("setting", "expected"), [(None, 1), (2, 2)])
def test_trials_run_with_the_chosen_threads_and_the_host_gets_its_own_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, setting: int | None, expected: int
) -> None:
    import torch

    config = tiny_config(tmp_path / "out", models=["gcn"], budget=1, max_epochs=3)
    if setting is not None:
        config["threads"] = setting
    probe = ThreadProbe()
    torch.set_num_threads(3)
    try:
        with caplog.at_level(logging.INFO, logger="autoglm"):
            Engine(autoload=False).run(config, reporters=[probe])
        assert probe.seen == [expected]
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(1)
    assert f"torch threads: {expected} per trial process" in caplog.text
    assert "usable core(s)" in caplog.text


def test_threads_above_one_need_a_single_worker(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"])
    config.update(threads=2, workers=2)
    with pytest.raises(ConfigError, match="threads: 2 needs workers: 1"):
        Engine(autoload=False).load_config(config)


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_the_cgroup_quota_is_read(tmp_path: Path, files: dict[str, str], limit: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert cgroup_cpu_limit(tmp_path) == limit


def test_usable_cores_is_within_the_affinity_mask() -> None:
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))


PARENT = os.getpid()


def build_fatal(in_channels: int, out_channels: int, *, width: int = 8) -> Any:
    """A model that, in a worker process, dies the way the OOM killer kills: SIGKILL, no goodbye."""
    import signal

    if width == 13 and os.getpid() != PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    from autoglm.plugins_builtin.gcn import build_gcn

    return build_gcn(in_channels, out_channels, hidden=width)


class FatalPlugin:
    @hookimpl
    def autoglm_register_models(self, register: Any) -> None:
        from autoglm.plugins import Choice

        register("fatal", build_fatal, search_space={"width": Choice((8, 13))})


def test_a_worker_killed_mid_trial_fails_that_trial_only(tmp_path: Path) -> None:
    """multiprocessing.Pool waited forever for a task whose worker was SIGKILLed; now the trial fails."""
    config = tiny_config(tmp_path / "out", models=["fatal"], budget=6, max_epochs=5)
    config["workers"] = 2
    result = make_engine(FatalPlugin()).run(config)
    by_width = {(r.model_params["width"], r.status) for r in result.trials}
    assert by_width <= {(8, "ok"), (13, "failed")} and (13, "failed") in by_width and (8, "ok") in by_width
    lost = [r for r in result.trials if r.status == "failed"]
    assert all("worker process died while training it" in (r.error or "") for r in lost)
    assert [r.trial for r in result.trials] == list(range(1, 7))
