"""One self-contained HTML report of a run: ``autoglm report RUN_DIR``, or the ``html`` reporter at the end of a run.

Everything comes from the run directory (``config.yaml``, ``summary.json``,
``trials.jsonl``, ``predictions.csv``), so a report can be made of any run,
finished, running or interrupted (it then shows what is known so far). The
file opens offline: the figures are matplotlib SVG inlined in the page, no
script, no stylesheet or font is fetched. Needs matplotlib
(``pip install 'autoglm[report]'``).
"""

from __future__ import annotations

import csv
import html
import json
import logging
from pathlib import Path
from typing import Any

from autoglm.plugins import DataError, RunResult, RunStopped, hookimpl, leaderboard_params

log = logging.getLogger(__name__)
REPORT = "report.html"

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
th{background:#f4f4f4}tr.ok td:first-child{border-left:3px solid #1f77b4}tr.pruned td:first-child{border-left:3px solid #ff7f0e}
tr.failed td:first-child,tr.interrupted td:first-child{border-left:3px solid #d62728}
pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem}.note{color:#666;font-size:.85rem}
figure{margin:1rem 0}svg{max-width:100%;height:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}@media (max-width:60rem){.pair{grid-template-columns:1fr}}
"""


def render(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (default ``RUN_DIR/report.html``) and return its path."""
    from autoglm.plugins_builtin.html_report import plots

    directory = Path(run_dir)
    if not (directory / "config.yaml").is_file():
        raise DataError(f"{str(directory)!r} holds no autoglm run (no config.yaml)")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise DataError("the HTML report needs matplotlib: pip install 'autoglm[report]' (or pip install matplotlib)") from None
    summary = _json(directory / "summary.json")
    records = _records(directory / "trials.jsonl")
    status = summary.get("status", "running or interrupted (no summary.json yet)")
    objective = summary.get("objective") or {"metric": _metric(directory), "mode": "max"}
    metric, maximise = objective["metric"], objective.get("mode", "max") == "max"
    parts = [
        f"<h1>autoglm run: {_e(summary.get('task', ''))} on {_e(_dataset_name(summary))}</h1>",
        f"<p>status <b>{_e(status)}</b>; objective {_e(objective.get('mode', 'max'))} val_{_e(metric)}; "
        f"{len(records)} trial(s) recorded; seed {_e(summary.get('seed', '?'))}; "
        f"wall time {_e(summary.get('wall_time_s', '?'))} s; directory <code>{_e(str(directory.resolve()))}</code></p>",
        _headline(summary),
    ]
    if records:
        rungs = (summary.get("pruning") or {}).get("rungs") or []
        curves = (
            f"<figure>{plots.curves(records, metric, rungs)}</figure>" if any(r.get("curve") for r in records)
            else "<p class='note'>The records hold no curves (a run made before they were recorded).</p>"
        )
        parts += [
            "<div class='pair'><section><h2>Search convergence</h2>"
            f"<figure>{plots.convergence(records, metric, maximise)}</figure></section>"
            f"<section><h2>Validation curves</h2>{curves}</section></div>",
        ]
    parts += ["<h2>Leaderboard</h2>", _leaderboard(directory, metric, records)]
    if records:
        figures = plots.choices(records, metric)
        if figures:
            parts.append("<h2>The tuner's choices (parameter against validation score)</h2>")
            parts += [f"<h3>{_e(model)}</h3><figure>{figure}</figure>" for model, figure in figures]
    selection = summary.get("selection") or {}
    if selection.get("contenders"):
        chosen = (summary.get("best") or {}).get("trial")
        parts += ["<h2>Selection</h2>", f"<figure>{plots.selection(selection['contenders'], metric, chosen)}</figure>",
                  _contenders(selection)]
    parts += _selected_model(directory, summary)
    parts += ["<h2>Data</h2>", _table([[k, v] for k, v in (summary.get("dataset") or {}).items()], ["fact", "value"])]
    parts += ["<h2>Config</h2>", f"<pre>{_e(_text(directory / 'config.yaml'))}</pre>"]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>autoglm report</title>"
        f"<style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>\n"
    )
    target = Path(path) if path is not None else directory / REPORT
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target


def _selected_model(directory: Path, summary: dict[str, Any]) -> list[str]:
    """The selected model on its test items: a confusion matrix for a classification, a ROC curve for links."""
    from autoglm.plugins_builtin.html_report import plots

    predictions = directory / "predictions.csv"
    if not predictions.is_file():
        return []
    with open(predictions, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("split", "test") == "test"]
    if not rows:
        return []
    if "y_true" in rows[0] and "y_pred" in rows[0]:
        labelled = [r for r in rows if r["y_true"] != ""]
        figure = plots.confusion([r["y_true"] for r in labelled], [r["y_pred"] for r in labelled])
        return ["<h2>The selected model on the test split</h2>", f"<figure>{figure}</figure>"]
    if "label" in rows[0] and "score" in rows[0]:
        labelled = [r for r in rows if r["label"] in ("0", "1")]
        figure, area = plots.roc([int(r["label"]) for r in labelled], [float(r["score"]) for r in labelled])
        return ["<h2>The selected model on the test split</h2>", f"<figure>{figure}</figure>",
                f"<p class='note'>Area under the curve of the saved model: {area:.4f}.</p>"]
    return []


def _headline(summary: dict[str, Any]) -> str:
    best, test = summary.get("best"), summary.get("test")
    if not best:
        return "<p class='note'>No configuration selected yet.</p>"
    label = "selected" if summary.get("status") == "ok" else "best so far (not selected yet)"
    line = f"<p>{label} <b>trial {best['trial']}</b> ({_e(best['model'])}), val_{_e(best['metric'])} {best['val_score']:.4f}"
    if test:
        line += f"; test_{_e(test['metric'])} <b>{test['score']:.4f} ± {test.get('score_std', 0):.4f}</b> over {test.get('seeds', 1)} seed(s)"
        cv = test.get("cross_validation")
        if cv:
            line += f"; {cv['folds']}-fold cross-validation {cv['mean']:.4f} ± {cv['std']:.4f}"
    return line + "</p>"


def _leaderboard(directory: Path, metric: str, records: list[dict[str, Any]]) -> str:
    board = directory / "leaderboard.csv"
    if board.is_file():
        with open(board, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:  # a run still going: the records so far, by trial
        rows = [{"rank": "", "trial": r["trial"], "model": r["model"], f"val_{metric}": r.get("val_score"),
                 "status": r["status"], "params": json.dumps({"model": r.get("model_params", {})})} for r in records]
    body = []
    for row in rows:
        params = leaderboard_params(row.get("params", ""))
        score = row.get(f"val_{metric}", "")
        cells = [row.get("rank", ""), row.get("trial", ""), row.get("model", ""), score, row.get("status", ""),
                 row.get("pruned_at", ""), params]
        body.append(f"<tr class='{_e(row.get('status', ''))}'>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("rank", "trial", "model", f"val_{_e(metric)}", "status", "pruned at", "parameters"))
    return f"<table id='leaderboard'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _contenders(selection: dict[str, Any]) -> str:
    rows = [
        [c["trial"], c["model"], f"{c['val_mean']:.4f} ± {c['val_std']:.4f}",
         ", ".join(f"{r['val_score']:.4f}" for r in c.get("runs", []) if r.get("val_score") is not None)]
        for c in selection["contenders"]
    ]
    table = _table(rows, ["trial", "model", "mean ± std", "seeds"])
    left = selection.get("not_retrained") or []
    if left:
        table += "<p class='note'>Not re-trained: " + "; ".join(f"trial {s['trial']} ({_e(s['reason'])})" for s in left) + "</p>"
    return table


def _table(rows: list[list[Any]], header: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed run
        if isinstance(record, dict) and isinstance(record.get("trial"), int):
            found[record["trial"]] = record
    return [found[t] for t in sorted(found)]


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _metric(directory: Path) -> str:
    board = directory / "leaderboard.csv"
    if board.is_file():
        header = board.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        for name in header:
            if name.startswith("val_"):
                return name[4:]
    return "score"


def _dataset_name(summary: dict[str, Any]) -> str:
    dataset = summary.get("dataset") or {}
    return str(dataset.get("name") or dataset.get("loader") or "?")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


class HtmlReporter:
    """Writes ``report.html`` when a run ends, finished or not."""

    wants_epochs = False

    def __init__(self, *, path: Path | None = None) -> None:
        self.path = path

    def files(self, run_dir: Path) -> list[Path]:
        return [Path(self.path) if self.path else Path(run_dir) / REPORT]

    def render(self, run_dir: Path) -> Path:
        return render(run_dir, self.files(run_dir)[0])

    def on_run_end(self, result: RunResult) -> None:
        self.render(result.run_dir)

    def on_run_stopped(self, stop: RunStopped) -> None:
        self.render(stop.run_dir)


@hookimpl
def autoglm_register_reporters(register: Any) -> None:
    register("html", HtmlReporter, summary="A self-contained HTML report (RUN_DIR/report.html) when the run ends")
