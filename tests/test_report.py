"""The HTML report: what it shows, that it needs nothing from the network, and that a real browser renders it."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import Engine, RunInterrupted
from autoglm.plugins.testing import tiny_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: CI installs Chromium (.ci/run): there the browser test must run, never skip.
IN_CI = os.environ.get("AUTOGLM_CI") == "1"


def pruning_run(out: Path, **kw: Any) -> dict[str, Any]:
    config = tiny_config(out, models=["gcn", "gat"], budget=8, max_epochs=30, **kw)
    config["pruning"] = {"min_epochs": 5, "reduction_factor": 2, "min_trials": 2}
    config["selection"] = {"top_k": 2, "seeds": 2, "noise_band": float("inf")}
    config["reporters"] = ["html"]
    return config


@pytest.fixture(scope="module")
def node_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("report") / "run"
    result = Engine(autoload=False).run(pruning_run(out))
    return out / "report.html", result


def test_a_run_with_the_html_reporter_writes_a_self_contained_report(node_report: tuple[Path, Any]) -> None:
    path, result = node_report
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing is fetched: it opens offline
    for heading in ("Leaderboard", "Search convergence", "Validation curves", "The tuner's choices", "Selection",
                    "The selected model on the test split", "Data", "Config"):
        assert f"<h2>{heading}" in page, heading
    assert page.count("<svg") >= 5
    assert page.count("<tr class=") == len(result.trials)
    assert any(t.status == "pruned" for t in result.trials), "the run should prune, so the curves show a cut"


def test_link_and_graph_reports_show_a_roc_curve_and_a_confusion_matrix(tmp_path: Path) -> None:
    link = tiny_config(tmp_path / "lp", models=["gcn"], task="link_prediction")
    link["reporters"] = ["html"]
    Engine(autoload=False).run(link)
    assert "ROC (test pairs)" in (tmp_path / "lp" / "report.html").read_text(encoding="utf-8")
    graphs = tiny_config(tmp_path / "gc", models=["gin"], task="graph_classification")
    graphs["data"] = {"name": "synthetic_graphs", "options": {"num_graphs": 30}}
    graphs["reporters"] = ["html"]
    Engine(autoload=False).run(graphs)
    assert "Confusion matrix (test)" in (tmp_path / "gc" / "report.html").read_text(encoding="utf-8")


def test_an_interrupted_run_gets_a_report_of_what_is_known(tmp_path: Path) -> None:
    class CtrlC:
        def on_trial_start(self, trial: int) -> None:
            if trial == 3:
                raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        Engine(autoload=False).run(pruning_run(tmp_path / "run"), reporters=[CtrlC()])
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "status <b>interrupted</b>" in page and page.count("<tr class=") == 3  # 2 finished, 1 interrupted
    assert "best so far (not selected yet) <b>trial" in page and "<h2>Selection" not in page


def test_autoglm_report_writes_the_report_of_any_run(node_report: tuple[Path, Any], tmp_path: Path) -> None:
    run_dir = node_report[0].parent
    result = CliRunner().invoke(cli, ["report", str(run_dir), "-o", str(tmp_path / "r.html")], prog_name="autoglm")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {tmp_path / 'r.html'} (") and (tmp_path / "r.html").stat().st_size > 10_000
    missing = CliRunner().invoke(cli, ["report", str(tmp_path)], prog_name="autoglm")
    assert missing.exit_code == 1 and "holds no autoglm run" in missing.stderr


def test_the_report_renders_in_a_real_browser(node_report: tuple[Path, Any]) -> None:
    """Headless Chromium opens the file: the figures are drawn, the leaderboard has a row per trial, no errors."""
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("Chromium is not installed; .ci/run installs it (apt-get install chromium)")
        pytest.skip("no Chromium here (apt-get install -y --no-install-recommends chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    path, result = node_report
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.resolve().as_uri())
            rows = page.locator("#leaderboard tbody tr").count()
            figures = page.locator("figure svg").count()
            drawn = page.evaluate("() => [...document.querySelectorAll('figure svg')].map(s => s.querySelectorAll('path').length)")
            sizes = page.evaluate("() => [...document.querySelectorAll('figure svg')].map(s => s.getBoundingClientRect().width)")
        finally:
            browser.close()
    assert errors == []
    assert rows == len(result.trials)
    assert figures >= 5 and all(count > 10 for count in drawn) and all(width > 100 for width in sizes)
    assert all(url.startswith("file://") for url in requests)  # nothing from the network
