"""Trials trained at once: rounds of candidates, worker processes, and what they leave behind.

A run with ``workers: N`` asks the tuner for a round of N candidates, trains
them in N processes, then tells the tuner in trial order. The records must be
complete and identical to those of the same rounds trained one after another
in a single process: where a trial ran changes its wall time, nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from autoglm.core import Engine, RunInterrupted
from autoglm.core import parallel as parallel_module
from autoglm.core import runner as runner_module
from autoglm.core.rundir import SUMMARY, TRIALS
from autoglm.plugins import Candidate, hookimpl, testing

BUDGET = 6


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


@pytest.fixture
def one_thread():
    """Workers run with one torch thread each; the in-process comparison must do the same."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def config_for(
    output: Path, *, workers: int = 2, population: int = 1, tuner: str = "nevergrad", budget: int = BUDGET,
    executor: str | None = None,
) -> dict[str, Any]:
    config = testing.tiny_config(output, models=["gcn", "gat"], tuner=tuner, budget=budget, max_epochs=25, seed=11)
    config.update(workers=workers, population=population, pruning={"min_epochs": 5, "min_trials": 2})
    if executor is not None:
        config["executor"] = executor
    return config


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / TRIALS).read_text().splitlines()]


def without_times(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "duration_s"} for r in found]


def _threads_after_a_matmul(_: int) -> int:
    a = torch.randn(300, 300)
    (a @ a).sum()
    return torch.get_num_threads()


def test_workers_run_one_thread_each_even_after_the_parent_used_several() -> None:
    """GNU OpenMP hangs a forked child that asks for 2+ threads after its parent ran a parallel region."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a = torch.randn(500, 500)
        (a @ a).sum()  # the parent's OpenMP team now exists
        with parallel_module.WorkerPool(_threads_after_a_matmul, 2) as pool:
            assert sorted(pool.map_unordered(range(4))) == [(0, 1), (1, 1), (2, 1), (3, 1)]
    finally:
        torch.set_num_threads(before)


def test_a_closed_pool_leaves_no_thread_running() -> None:
    """The pool's manager thread is not a daemon: a run that ended before it did warned it left a thread running."""
    import threading

    before = set(threading.enumerate())
    with parallel_module.WorkerPool(_threads_after_a_matmul, 2) as pool:
        assert len(list(pool.map_unordered(range(2)))) == 2
    assert [t.name for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon] == []


@pytest.mark.parametrize("tuner", ["nevergrad", "random"])
def test_workers_leave_complete_records_equal_to_one_process(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None, tuner: str
) -> None:
    # NGOpt asked for rounds of two proposes each round's point twice (trials 2, 5, 7 repeat 1, 4, 6), and a
    # repeat is not trained: 8 trials leave enough trained ones for the pruner to cut.
    budget = 8
    parallel = engine.run(config_for(tmp_path / "parallel", tuner=tuner, budget=budget))
    found = records(tmp_path / "parallel")
    assert [r["trial"] for r in found] == list(range(1, budget + 1))  # written back in trial order
    for record in found:
        assert record["status"] in ("ok", "pruned"), record
        assert record["val_score"] is not None and record["epochs"] and record["best_epoch"]
        assert record["seed"] == runner_module.trial_seed(11, record["trial"])
        assert record["rungs"] or record["duplicate_of"], "every trained trial reaches the first rung at epoch 5"
        assert record["duration_s"] > 0 or record["duplicate_of"]  # a repeat is not trained: no time
    assert any(r["status"] == "pruned" for r in found), "the scenario should exercise the pruner"
    summary = json.loads((tmp_path / "parallel" / SUMMARY).read_text())
    assert summary["trials"]["total"] == budget and summary["status"] == "ok"

    # executor: inline trains every round in this process: same rounds, same tuner protocol
    sequential = engine.run(config_for(tmp_path / "sequential", tuner=tuner, budget=budget, executor="inline"))
    assert without_times(found) == without_times(records(tmp_path / "sequential"))
    assert parallel.best.trial == sequential.best.trial
    assert parallel.test_accuracy == sequential.test_accuracy


class ScriptedTuner:
    """Random proposals; logs every ask, tell and set_in_flight to check the round protocol."""

    def __init__(self, *, budget: int = 5) -> None:
        self.budget, self.log, self.asked = budget, [], 0

    def set_in_flight(self, count: int) -> None:
        self.log.append(("in_flight", count))

    def setup(self, space: Any, *, seed: int) -> None:
        self.log.append(("setup", seed))

    def ask(self) -> Candidate | None:
        if self.asked >= self.budget:
            return None
        self.asked += 1
        self.log.append(("ask", self.asked))
        return Candidate("gcn", {"hidden": 8, "layers": 2, "dropout": 0.5}, {"lr": 0.01 * self.asked, "weight_decay": 5e-4},
                         handle=self.asked)

    def tell(self, candidate: Candidate, score: float | None) -> None:
        self.log.append(("tell", candidate.handle))


def test_tuner_is_asked_in_rounds_and_told_in_trial_order(tmp_path: Path) -> None:
    tuners: list[ScriptedTuner] = []

    class Plugin:
        @hookimpl
        def autoglm_register_tuners(self, register: Any) -> None:
            def build(*, budget: int = 5) -> ScriptedTuner:
                tuners.append(ScriptedTuner(budget=budget))
                return tuners[-1]

            register("scripted", build)

    engine = testing.make_engine(Plugin())
    config = testing.tiny_config(tmp_path / "run", models=["gcn"], max_epochs=5)
    config.update(workers=2, tuner={"name": "scripted", "options": {"budget": 5}})
    engine.run(config)
    assert tuners[-1].log == [
        ("in_flight", 2), ("setup", 0),
        ("ask", 1), ("ask", 2), ("tell", 1), ("tell", 2),
        ("ask", 3), ("ask", 4), ("tell", 3), ("tell", 4),
        ("ask", 5), ("tell", 5),  # the budget ends inside the third round
    ]


def test_resume_mid_round_keeps_the_finished_trials_of_that_round(
    engine: Engine, tmp_path: Path, one_thread: None
) -> None:
    full_dir = tmp_path / "full"
    engine.run(config_for(full_dir))
    full = records(full_dir)
    # As a kill would leave it mid-round 3: trial 6 finished, trial 5 did not.
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("config.yaml",):
        (cut / name).write_text((full_dir / name).read_text().replace(str(full_dir), str(cut)))
    kept = [json.dumps(r) for r in full if r["trial"] != 5]
    (cut / TRIALS).write_text("\n".join(kept) + "\n")

    engine.resume(cut)
    resumed = records(cut)
    assert without_times(resumed) == without_times(full)
    assert resumed[5]["duration_s"] == full[5]["duration_s"], "trial 6 was kept, not trained again"


def test_interrupt_marks_every_running_trial(engine: Engine, tmp_path: Path) -> None:
    class CtrlC:
        def on_trial_start(self, trial: int, candidate: Any) -> None:
            if trial == 4:  # the second round has started: trials 3 and 4 are both running
                raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match=r"after 2 of 6 trials"):
        engine.run(config_for(tmp_path / "run"), reporters=[CtrlC()])
    found = records(tmp_path / "run")
    assert [(r["trial"], r["status"]) for r in found] == [(1, found[0]["status"]), (2, found[1]["status"]),
                                                          (3, "interrupted"), (4, "interrupted")]
    result = engine.resume(tmp_path / "run")
    assert [r.trial for r in result.trials] == list(range(1, BUDGET + 1))


def _autoglm_processes(marker: str) -> list[int]:
    """Live processes whose command line mentions ``marker`` (a unique config path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find worker processes")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_stopping_a_parallel_run_leaves_no_worker_behind(tmp_path: Path, how: signal.Signals) -> None:
    config = config_for(tmp_path / "out", budget=40)
    config["trainer"]["options"].update(max_epochs=200, patience=200)
    config["pruning"] = False
    path = tmp_path / f"parallel-{how.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "autoglm.cli.main", "run", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_autoglm_processes(str(path))) < 3:  # the run and its 2 workers
        time.sleep(0.1)
    assert len(_autoglm_processes(str(path))) >= 3, "the workers never started"
    time.sleep(1.0)
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=60)
    if how == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr and "Resume with: autoglm run --resume" in stderr
        # Usually trials are running and are marked interrupted; a signal between two rounds finds none.
        assert {r["status"] for r in records(tmp_path / "out")} <= {"ok", "interrupted"}
        assert json.loads((tmp_path / "out" / SUMMARY).read_text())["status"] == "interrupted"
    else:
        assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _autoglm_processes(str(path)):
        time.sleep(0.1)
    assert _autoglm_processes(str(path)) == [], "worker processes outlived the run"


def test_population_trials_match_solo_trials_without_dropout(engine: Engine, tmp_path: Path, one_thread: None) -> None:
    """End to end: with dropout 0, a GCN trained in a population of 4 records what it records alone."""

    def run(population: int) -> list[dict[str, Any]]:
        config = testing.tiny_config(tmp_path / f"p{population}", models=["gcn"], budget=6, max_epochs=30, seed=5)
        config["trainer"]["options"]["patience"] = 8  # members stop on their own at different epochs
        config.update(population=population, pruning=False, search={"models": ["gcn"], "space": {"gcn": {"dropout": 0.0, "hidden": {"int": [16, 31]}}}})
        engine.run(config)
        return records(tmp_path / f"p{population}")

    alone, batched = run(1), run(4)
    assert [r["population"] for r in batched] == [4, 4, 4, 4, 2, 2]  # rounds of 4: the budget's last 2 share one
    assert [r["population"] for r in alone] == [None] * 6
    for solo, member in zip(alone, batched):
        assert (member["model_params"], member["train_params"], member["seed"]) == (
            solo["model_params"], solo["train_params"], solo["seed"]
        )
        assert (member["status"], member["best_epoch"], member["epochs"]) == (solo["status"], solo["best_epoch"], solo["epochs"])
        assert member["val_score"] == pytest.approx(solo["val_score"], abs=1e-6)
        assert member["train_score"] == pytest.approx(solo["train_score"], abs=1e-6)


def test_selection_retrains_on_the_workers_and_chooses_as_one_process_does(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    def run(name: str, executor: str | None = None) -> dict[str, Any]:
        config = config_for(tmp_path / name, budget=4, executor=executor)
        config["selection"] = {"top_k": 2, "seeds": 3, "noise_band": float("inf")}  # both re-trained
        engine.run(config)
        return json.loads((tmp_path / name / SUMMARY).read_text())

    parallel = run("parallel")
    sequential = run("sequential", executor="inline")
    contenders = parallel["selection"]["contenders"]
    assert len(contenders) == 2 and all(len(c["runs"]) == 3 for c in contenders)
    assert contenders == sequential["selection"]["contenders"]
    assert (parallel["best"], parallel["test"]) == (sequential["best"], sequential["test"])
