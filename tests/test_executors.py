"""Executors: where trials train changes their wall time, nothing else.

``inline`` (this process), ``fork`` (worker processes) and ``ray`` (Ray tasks,
here on a local two-CPU cluster started once for the module) must leave the
same records for one seed and round size, resume and stop the same way, and
isolate a trial whose worker dies. The Ray tests need the ``ray`` extra (CI
installs it); they are skipped where it is missing, unless ``AUTOGLM_CI`` says
this is CI, where a skip would hide a broken install.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest

from autoglm.core import ConfigError, Engine, RunInterrupted
from autoglm.core.rundir import SUMMARY, TRIALS
from autoglm.plugins import Executor, TrialJob, hookimpl, testing

BUDGET = 6
ON_CI = bool(os.environ.get("AUTOGLM_CI"))


def config_for(output: Path, executor: Any, *, budget: int = BUDGET, workers: int = 2) -> dict[str, Any]:
    config = testing.tiny_config(output, models=["gcn", "sage"], tuner="nevergrad", budget=budget, max_epochs=25, seed=11)
    config.update(workers=workers, pruning={"min_epochs": 5, "min_trials": 2}, executor=executor)
    return config


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / TRIALS).read_text().splitlines()]


def without_times(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "duration_s"} for r in found]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(autoload=False)


@pytest.fixture(scope="module")
def inline_records(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("inline") / "run"
    engine.run(config_for(out, "inline"))
    return records(out)


def test_the_executor_defaults_to_inline_for_one_worker_and_fork_for_more(engine: Engine, tmp_path: Path) -> None:
    one = engine.validate(testing.tiny_config(tmp_path / "a"), check_data=False)
    many = engine.validate(testing.tiny_config(tmp_path / "b") | {"workers": 3}, check_data=False)
    assert (one.executor.name, many.executor.name) == ("inline", "fork")
    assert one.to_dict()["executor"] == {"name": "inline", "options": {}}  # recorded, so a resume runs where the run did


def test_fork_and_inline_leave_the_same_records(engine: Engine, tmp_path: Path, inline_records: list[dict[str, Any]]) -> None:
    engine.run(config_for(tmp_path / "fork", "fork"))
    assert without_times(records(tmp_path / "fork")) == without_times(inline_records)
    assert [r["trial"] for r in inline_records] == list(range(1, BUDGET + 1))


def test_an_unknown_executor_or_option_is_a_config_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        engine.validate(config_for(tmp_path / "x", "dask"), check_data=False)
    assert caught.value.path == "executor.name" and "known executors: fork, inline, ray" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        engine.validate(config_for(tmp_path / "x", {"name": "ray", "options": {"cpus_per_trail": 1}}), check_data=False)
    assert caught.value.path == "executor.options.cpus_per_trail" and "did you mean 'cpus_per_trial'?" in str(caught.value)


class PicklingExecutor:
    """Runs each unit from a pickled copy of the job and of the unit: what a remote executor does."""

    remote = True
    shares_cores = True
    seen: dict[str, Any] = {}

    def open(self, job: TrialJob, workers: int) -> None:
        self.seen.update(workers=workers, units=0, local=job.local is not None)
        self.job = pickle.loads(pickle.dumps(job))
        assert self.job.local is None  # the runner never travels

    def map_unordered(self, units: Any) -> Iterator[tuple[int, Any]]:
        for index, unit in enumerate(units):
            self.seen["units"] += 1
            yield index, self.job.run(pickle.loads(pickle.dumps(unit)))

    def close(self) -> None:
        self.seen["closed"] = True


class PicklingPlugin:  # at module level: plain pickle takes it by reference
    @hookimpl
    def autoglm_register_executors(self, register: Any) -> None:
        register("pickling", PicklingExecutor)


def test_a_third_party_executor_gets_the_units_and_a_picklable_job(tmp_path: Path, inline_records: list[dict[str, Any]]) -> None:
    assert isinstance(PicklingExecutor(), Executor)
    testing.make_engine(PicklingPlugin()).run(config_for(tmp_path / "run", "pickling"))
    assert without_times(records(tmp_path / "run")) == without_times(inline_records)
    seen = PicklingExecutor.seen
    trained = sum(r["duplicate_of"] is None for r in inline_records)  # a repeated proposal is not trained
    assert seen["workers"] == 2 and seen["local"] and seen["closed"] and seen["units"] == trained


# -- ray -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local two-CPU Ray cluster for the module, its files (and its auth token: HOME) in a temp dir."""
    if not ON_CI:
        pytest.importorskip("ray", reason="the ray executor's tests need the ray extra (pip install 'autoglm[ray]')")
    import ray

    base = tmp_path_factory.mktemp("ray")
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(base / "home"))
    (base / "home").mkdir()
    import shutil
    import tempfile

    short = tempfile.mkdtemp(prefix="ag-ray-")  # Ray's socket paths must stay under 108 characters
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=short)
    try:
        yield ray
    finally:
        ray.shutdown()
        patch.undo()
        shutil.rmtree(short, ignore_errors=True)


RAY = {"name": "ray", "options": {}}


@pytest.mark.slow
def test_ray_leaves_the_records_of_inline(engine: Engine, tmp_path: Path, ray_cluster: Any,
                                          inline_records: list[dict[str, Any]]) -> None:
    result = engine.run(config_for(tmp_path / "ray", RAY))
    assert without_times(records(tmp_path / "ray")) == without_times(inline_records)
    summary = json.loads((tmp_path / "ray" / SUMMARY).read_text())
    assert summary["status"] == "ok" and result.best.trial == max(
        (r for r in inline_records if r["status"] == "ok"), key=lambda r: (r["val_score"], -r["trial"]))["trial"]
    assert ray_cluster.is_initialized(), "a cluster the host started is left running"


@pytest.mark.slow
def test_ctrl_c_under_ray_marks_the_running_trials_and_resume_completes_the_run(
    engine: Engine, tmp_path: Path, ray_cluster: Any, inline_records: list[dict[str, Any]]
) -> None:
    class CtrlC:
        def on_trial_start(self, trial: int, candidate: Any) -> None:
            if trial == 4:  # the second round has started: trials 3 and 4 run on Ray workers
                raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match=r"after 2 of 6 trials"):
        engine.run(config_for(out, RAY), reporters=[CtrlC()])
    assert [(r["trial"], r["status"]) for r in records(out)][2:] == [(3, "interrupted"), (4, "interrupted")]
    assert json.loads((out / SUMMARY).read_text())["status"] == "interrupted"
    engine.resume(out)
    assert without_times(records(out)) == without_times(inline_records)


def _dying_model_plugin(marker: Path, times: int) -> Any:
    """A model whose training kills its own worker process (SIGKILL, as the OS's OOM killer does) the first
    ``times`` times it is built with hidden=13: a Ray worker lost mid-trial. Local, so it pickles by value."""

    class Plugin:
        @hookimpl
        def autoglm_register_models(self, register: Any) -> None:
            def build_fragile(in_channels: int, out_channels: int, *, hidden: int = 8) -> Any:
                import torch

                if hidden == 13:
                    deaths = int(marker.read_text()) if marker.exists() else 0
                    if deaths < times:
                        marker.write_text(str(deaths + 1))
                        os.kill(os.getpid(), signal.SIGKILL)

                class Linear(torch.nn.Linear):
                    def forward(self, x: Any, edge_index: Any) -> Any:
                        return super().forward(x)

                return Linear(in_channels, out_channels)

            register("fragile", build_fragile, search_space={"hidden": 8}, tasks=["node_classification"])

    return Plugin()


class TwoTrials:
    """Trial 1 kills its worker (hidden=13), trial 2 trains normally."""

    def __init__(self, *, budget: int = 2) -> None:
        self.budget, self.asked = budget, 0

    def setup(self, space: Any, *, seed: int) -> None:
        pass

    def ask(self) -> Any:
        from autoglm.plugins import Candidate

        if self.asked >= self.budget:
            return None
        self.asked += 1
        return Candidate("fragile", {"hidden": 13 if self.asked == 1 else 8}, {"lr": 0.01, "weight_decay": 0.0})

    def tell(self, candidate: Any, score: float | None) -> None:
        pass


def _fragile_run(tmp_path: Path, times: int, retries: int) -> tuple[Any, list[dict[str, Any]]]:
    class Tuner:
        @hookimpl
        def autoglm_register_tuners(self, register: Any) -> None:
            register("two", TwoTrials)

    marker = tmp_path / "deaths"
    engine = testing.make_engine(_dying_model_plugin(marker, times), Tuner())
    config = testing.tiny_config(tmp_path / "run", models=["fragile"], budget=2)
    config.update(tuner={"name": "two"}, workers=2, executor={"name": "ray", "options": {"retries": retries}})
    result = engine.run(config)
    return result, records(tmp_path / "run")


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_once(tmp_path: Path, ray_cluster: Any) -> None:
    _, found = _fragile_run(tmp_path, times=1, retries=1)
    assert [r["status"] for r in found] == ["ok", "ok"]  # the retry, on a fresh worker, trained it
    assert (tmp_path / "deaths").read_text() == "1"


@pytest.mark.slow
def test_a_ray_worker_that_dies_again_fails_its_trial_and_the_search_goes_on(tmp_path: Path, ray_cluster: Any) -> None:
    result, found = _fragile_run(tmp_path, times=5, retries=1)
    assert [r["status"] for r in found] == ["failed", "ok"]
    assert "its Ray worker died while training it (tried 2 times)" in found[0]["error"]
    assert (tmp_path / "deaths").read_text() == "2" and result.best.trial == 2


@pytest.mark.slow
def test_ray_runs_trials_on_the_cluster_the_config_names_and_leaves_it_running(tmp_path: Path) -> None:
    """``address:`` joins a cluster started apart (``ray start --head``); the run does not stop it."""
    if not ON_CI:
        pytest.importorskip("ray", reason="the ray executor's tests need the ray extra (pip install 'autoglm[ray]')")
    import shutil
    import socket
    import subprocess
    import sys
    import time

    import yaml

    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # A fresh environment for the cluster and the run: none of the RAY_* settings this process's own Ray set.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    (tmp_path / "home").mkdir()
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="ag-ray-"))  # Ray's socket paths must stay under 108 characters
    log = open(tmp_path / "head.log", "w")
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--num-cpus", "2", "--port", str(port), "--include-dashboard", "false",
         "--temp-dir", str(short)], env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        config = config_for(tmp_path / "run", {"name": "ray", "options": {"address": f"127.0.0.1:{port}"}}, budget=2)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        deadline = time.monotonic() + 60
        while True:  # the head takes a few seconds to accept drivers
            run = subprocess.run([sys.executable, "-m", "autoglm.cli.main", "-q", "run", str(path), "--overwrite"],
                                 env=env, capture_output=True, text=True, timeout=120)
            if run.returncode == 0 or time.monotonic() > deadline or head.poll() is not None:
                break
            time.sleep(2)
        assert run.returncode == 0, run.stderr[-3000:]
        assert [r["status"] for r in records(tmp_path / "run")] == ["ok", "ok"]
        assert head.poll() is None, "the run stopped a cluster it did not start"
    finally:
        head.terminate()
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
        log.close()
        shutil.rmtree(short, ignore_errors=True)


def test_a_hosts_own_graph_travels_with_the_job(tmp_path: Path) -> None:
    """``data: given``: a worker that rebuilds the run (from a pickled job) trains on the host's graph."""
    graph = testing.tiny_graph(seed=3)
    config = config_for(tmp_path / "given", "pickling", budget=2)
    del config["data"]
    testing.make_engine(PicklingPlugin()).run(config, data=graph)
    inline = config_for(tmp_path / "inline", "inline", budget=2)
    del inline["data"]
    Engine(autoload=False).run(inline, data=graph)
    assert without_times(records(tmp_path / "given")) == without_times(records(tmp_path / "inline"))
    assert PicklingExecutor.seen["units"] >= 1
