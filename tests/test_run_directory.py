"""A run directory never loses what a user saved, and belongs to one process at a time.

- ``--overwrite`` removes only the run's own files (the kernel's and those its
  reporters declared), refuses while files autoglm did not write are there,
  and leaves them in place with ``--keep-other-files``;
- run-named files without a run are not silently replaced;
- a second process on a run directory is refused, naming the holder; a
  SIGKILLed holder leaves no stale lock;
- a reporter cannot write into the run's own records;
- a full disk ends the run with one line and no temporary files, and the run
  resumes once there is space again.
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
import yaml
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import ConfigError, Engine, RunError, UsageError
from autoglm.core.rundir import CONFIG, STATE, TRIALS, RunDirectory
from autoglm.core.runlock import LOCK, RunLock
from autoglm.plugins.testing import tiny_config


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, ["-q", *args], prog_name="autoglm")


def write_config(path: Path, output: Path, **changes: Any) -> Path:
    config = tiny_config(output, models=["gcn"], budget=1, max_epochs=5)
    config.update(changes)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("autoglm: error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, Path]:
    """A finished run in tmp/out (with a jsonl reporter writing events.jsonl) and its config."""
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", out, reporters=[{"name": "jsonl"}])
    result = run_cli("run", str(config))
    assert result.exit_code == 0, result.output
    assert (out / "events.jsonl").exists()
    return config, out


# -- --overwrite ---------------------------------------------------------------------------


def test_overwrite_refuses_while_user_files_are_there_and_removes_nothing(finished: tuple[Path, Path]) -> None:
    config, out = finished
    (out / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.py").write_text("print(1)\n", encoding="utf-8")
    before = sorted(p.name for p in out.iterdir())

    result = run_cli("run", str(config), "--overwrite")
    assert result.exit_code == 2
    line = error_line(result)
    for fragment in ("also holds files autoglm did not write", "analysis/", "notes.txt", "--keep-other-files"):
        assert fragment in line, line
    assert sorted(p.name for p in out.iterdir()) == before, "a refused --overwrite removed something"


def test_overwrite_with_keep_other_files_replaces_the_run_and_keeps_the_rest(finished: tuple[Path, Path], tmp_path: Path) -> None:
    config, out = finished
    (out / "notes.txt").write_text("my notes\n", encoding="utf-8")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.py").write_text("print(1)\n", encoding="utf-8")
    old_trials = (out / TRIALS).read_text(encoding="utf-8")
    # The new run has no jsonl reporter: the old run's events.jsonl is still the old run's, so it goes.
    plain = write_config(tmp_path / "plain.yaml", out, seed=3)

    result = run_cli("run", str(plain), "--overwrite", "--keep-other-files")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text(encoding="utf-8") == "my notes\n"
    assert (out / "analysis" / "plot.py").exists()
    assert not (out / "events.jsonl").exists(), "the old run's reporter file was left behind"
    assert (out / TRIALS).read_text(encoding="utf-8") != old_trials
    assert yaml.safe_load((out / CONFIG).read_text(encoding="utf-8"))["seed"] == 3


def test_overwrite_of_a_plain_run_needs_no_flag(finished: tuple[Path, Path]) -> None:
    config, out = finished
    result = run_cli("run", str(config), "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((out / STATE).read_text(encoding="utf-8"))["files"] == ["events.jsonl"]


def test_keep_other_files_alone_is_a_usage_error(finished: tuple[Path, Path]) -> None:
    config, _ = finished
    result = run_cli("run", str(config), "--keep-other-files")
    assert result.exit_code == 2 and "--keep-other-files goes with --overwrite" in error_line(result)


def test_a_symlinked_output_directory_works_with_overwrite(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    config = write_config(tmp_path / "c.yaml", link)
    for extra in ((), ("--overwrite",)):
        result = run_cli("run", str(config), *extra)
        assert result.exit_code == 0, result.output
    assert link.is_symlink() and (real / TRIALS).exists()


def test_run_files_without_a_config_are_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "leaderboard.csv").write_text("my own leaderboard\n", encoding="utf-8")
    config = write_config(tmp_path / "c.yaml", out)
    result = run_cli("run", str(config))
    assert result.exit_code == 2
    assert "holds a run's files (leaderboard.csv) but no config.yaml" in error_line(result)
    assert (out / "leaderboard.csv").read_text(encoding="utf-8") == "my own leaderboard\n"


def test_user_files_beside_a_new_run_are_fine(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("runs of the paper\n", encoding="utf-8")
    result = run_cli("run", str(write_config(tmp_path / "c.yaml", out)))
    assert result.exit_code == 0, result.output
    assert (out / "README.md").read_text(encoding="utf-8") == "runs of the paper\n"


# -- reporters' files ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["trials.jsonl", "config.yaml", ".autoglm.lock", "sub/../summary.json"])
def test_a_reporter_cannot_write_into_the_run_files(tmp_path: Path, target: str) -> None:
    out = tmp_path / "out"
    config = tiny_config(out, models=["gcn"], budget=1, max_epochs=5)
    config["reporters"] = [{"name": "console"}, {"name": "jsonl", "options": {"path": str(out / target)}}]
    with pytest.raises(ConfigError) as caught:
        Engine(autoload=False).run(config)
    assert caught.value.path == "reporters[1]"
    assert "is the run's own file" in str(caught.value)
    assert not (out / CONFIG).exists() and not (out / TRIALS).exists()


def test_two_reporters_cannot_share_a_file(tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "out", models=["gcn"], budget=1, max_epochs=5)
    shared = str(tmp_path / "events.jsonl")
    config["reporters"] = [{"name": "jsonl", "options": {"path": shared}}, {"name": "jsonl", "options": {"path": shared}}]
    with pytest.raises(ConfigError, match=r"also written by reporters\[0\]"):
        Engine(autoload=False).run(config)


# -- one process per run directory ---------------------------------------------------------


def test_the_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    first = RunLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(UsageError, match=rf"in use by process {os.getpid()}"):
            RunLock(tmp_path).acquire()
        config = write_config(tmp_path / "c.yaml", tmp_path)
        result = run_cli("run", str(config))
        assert result.exit_code == 2 and f"is in use by process {os.getpid()}" in error_line(result)
    finally:
        first.release()
    RunLock(tmp_path).acquire()  # free again once released


SLOW_RUN = """
import sys
from autoglm.cli.main import main
sys.argv = ["autoglm", "-q", "run", sys.argv[1]]
main()
"""


def _start_slow_run(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_a_trial(out: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / TRIALS).exists() and (out / TRIALS).read_text(encoding="utf-8").strip():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()}")
        time.sleep(0.2)
    raise AssertionError("no trial finished in time")


@pytest.mark.slow
def test_two_real_processes_and_a_sigkilled_holder(tmp_path: Path) -> None:
    """The lock across processes: a second run and a resume are refused while the first runs;
    after a SIGKILL the lock is gone and the resume finishes the run with each trial once."""
    out = tmp_path / "out"
    config = write_config(tmp_path / "c.yaml", out)
    slow = tiny_config(out, models=["gcn"], budget=40, max_epochs=200)
    slow["pruning"] = False
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(slow), encoding="utf-8")
    holder = _start_slow_run(tmp_path / "slow.yaml")
    try:
        _wait_for_a_trial(out, holder)
        second = subprocess.run(
            [sys.executable, "-m", "autoglm.cli.main", "-q", "run", str(config), "--output", str(out), "--overwrite"],
            capture_output=True, text=True, timeout=120,
        )
        assert second.returncode == 2, second.stderr
        assert f"is in use by process {holder.pid}" in second.stderr
        resumed = subprocess.run(
            [sys.executable, "-m", "autoglm.cli.main", "-q", "run", "--resume", str(out)],
            capture_output=True, text=True, timeout=120,
        )
        assert resumed.returncode == 2 and f"in use by process {holder.pid}" in resumed.stderr, resumed.stderr
        assert holder.poll() is None, "the refused processes disturbed the holder"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (out / LOCK).exists(), "the lock file stays; only the lock goes"
    resume = run_cli("run", "--resume", str(out))
    assert resume.exit_code == 0, resume.output
    trials = [json.loads(line)["trial"] for line in (out / TRIALS).read_text(encoding="utf-8").splitlines()]
    assert trials == list(range(1, 41))


# -- a full disk -------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 40 KiB tmpfs (root only): big enough for a config, too small for a model checkpoint."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_leaves_no_temporary_file_and_resumes(tiny_disk: Path, tmp_path: Path) -> None:
    out = tiny_disk / "run"
    config = tiny_config(out, models=["gcn"], budget=2, max_epochs=5)
    config["data"]["options"]["num_features"] = 256  # a checkpoint of ~40 KiB: more than the disk has left
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    result = run_cli("run", str(path))
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert "no space left on device" in line and str(out) in line and "--resume" in line, line
    assert "Traceback" not in result.output
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")], sorted(p.name for p in out.iterdir())

    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_disk)], check=True)
    resumed = run_cli("run", "--resume", str(out))
    assert resumed.exit_code == 0, resumed.output
    assert [json.loads(line)["trial"] for line in (out / TRIALS).read_text(encoding="utf-8").splitlines()] == [1, 2]


def test_a_failed_write_removes_its_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without root: the write itself fails with ENOSPC."""
    import errno

    directory = RunDirectory(tmp_path)

    def no_space(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(RunError, match="cannot write .*summary.json.*no space left on device"):
        directory.write_json("summary.json", {"status": "ok"})
    assert list(tmp_path.iterdir()) == []
