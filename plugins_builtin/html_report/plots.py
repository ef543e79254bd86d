"""The report's figures, drawn with matplotlib and inlined as SVG text.

Why SVG from matplotlib rather than plotly: a report must open offline, and
plotly's JavaScript inlined is about 4.8 MB per file; a page of SVG figures is
tens of kilobytes, needs no script at all, and prints.
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

from autoglm.plugins import label_order

#: Colours of trial states, the same in every figure.
COLOURS = {"ok": "#1f77b4", "pruned": "#ff7f0e", "failed": "#d62728", "interrupted": "#7f7f7f"}


def _figure(width: float = 6.4, height: float = 3.4) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display, no GUI toolkit
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def svg(figure: Any) -> str:
    """The figure as an inline ``<svg>`` element (the XML header stripped)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def convergence(records: Sequence[dict[str, Any]], metric: str, maximise: bool) -> str:
    """Each trial's validation score and the best so far, against the trial number."""
    figure = _figure()
    axes = figure.add_subplot()
    scored = [r for r in records if r.get("val_score") is not None]
    for status, colour in COLOURS.items():
        points = [(r["trial"], r["val_score"]) for r in scored if r["status"] == status]
        if points:
            axes.scatter(*zip(*points), s=18, color=colour, label=status, zorder=3)
    best, line = None, []
    for r in sorted(scored, key=lambda r: r["trial"]):
        if r["status"] == "ok":
            better = best is None or (r["val_score"] > best if maximise else r["val_score"] < best)
            best = r["val_score"] if better else best
        if best is not None:
            line.append((r["trial"], best))
    if line:
        axes.step(*zip(*line), where="post", color="black", linewidth=1.2, label="best so far (ok trials)")
    axes.set(xlabel="trial", ylabel=f"val_{metric}", title="Search convergence")
    axes.legend(fontsize=7, loc="best")
    return svg(figure)


def curves(records: Sequence[dict[str, Any]], metric: str, rungs: Sequence[int]) -> str:
    """Every trial's validation curve; a pruned trial's ends with a cross at its rung."""
    figure = _figure(6.4, 3.8)
    axes = figure.add_subplot()
    for r in records:
        curve = r.get("curve") or []
        if not curve:
            continue
        xs = [i + 1 for i, v in enumerate(curve) if v is not None]
        ys = [v for v in curve if v is not None]
        colour = COLOURS.get(r["status"], "#7f7f7f")
        axes.plot(xs, ys, color=colour, alpha=0.55, linewidth=0.9)
        if r["status"] == "pruned" and xs:
            axes.scatter([xs[-1]], [ys[-1]], marker="x", color=colour, s=28, zorder=3)
    for rung in rungs:
        axes.axvline(rung, color="#999999", linestyle=":", linewidth=0.8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, label=s) for s, c in COLOURS.items()]
    axes.legend(handles=handles, fontsize=7, loc="best")
    axes.set(xlabel="epoch", ylabel=f"val_{metric}", title="Validation curves (dotted: pruning rungs; x: pruned there)")
    return svg(figure)


def choices(records: Sequence[dict[str, Any]], metric: str) -> list[tuple[str, str]]:
    """Per model, each numeric parameter against the validation score: what the tuner tried and how it did."""
    figures = []
    for model in sorted({r["model"] for r in records}):
        mine = [r for r in records if r["model"] == model and r.get("val_score") is not None]
        params = sorted({
            k for r in mine for k, v in _params(r).items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        })
        if not mine or not params:
            continue
        columns = min(len(params), 4)
        rows = math.ceil(len(params) / columns)
        figure = _figure(2.2 * columns + 0.6, 2.0 * rows + 0.4)
        for i, name in enumerate(params):
            axes = figure.add_subplot(rows, columns, i + 1)
            points = [(_params(r)[name], r["val_score"], r["status"]) for r in mine if name in _params(r)]
            for status, colour in COLOURS.items():
                chosen = [(x, y) for x, y, s in points if s == status]
                if chosen:
                    axes.scatter(*zip(*chosen), s=12, color=colour)
            values = [x for x, _, _ in points]
            if values and min(values) > 0 and max(values) / min(values) > 20:
                axes.set_xscale("log")
            axes.set_xlabel(name, fontsize=8)
            axes.tick_params(labelsize=7)
            if i % columns == 0:
                axes.set_ylabel(f"val_{metric}", fontsize=8)
        figures.append((model, svg(figure)))
    return figures


def selection(contenders: Sequence[dict[str, Any]], metric: str, chosen: int | None) -> str:
    """Each compared configuration's seeds (dots) and their mean (bar)."""
    figure = _figure(6.4, 2.8)
    axes = figure.add_subplot()
    for i, contender in enumerate(contenders):
        scores = [run["val_score"] for run in contender.get("runs", []) if run.get("val_score") is not None]
        colour = "#2ca02c" if contender["trial"] == chosen else "#1f77b4"
        if scores:
            axes.scatter([i] * len(scores), scores, color=colour, s=22, zorder=3)
            axes.hlines(sum(scores) / len(scores), i - 0.3, i + 0.3, color=colour, linewidth=2)
    axes.set_xticks(range(len(contenders)), [f"trial {c['trial']}\n{c['model']}" for c in contenders], fontsize=8)
    axes.set(ylabel=f"val_{metric}", title="Selection: each contender's seeds (green: chosen)")
    return svg(figure)


def confusion(truth: Sequence[str], predicted: Sequence[str]) -> str:
    """Test items' true class against the predicted one (counts, and row-normalised shades)."""
    labels = sorted(set(truth) | set(predicted), key=label_order)
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted):
        counts[index[t]][index[p]] += 1
    size = min(2.5 + 0.35 * len(labels), 9)
    figure = _figure(size + 0.8, size)
    axes = figure.add_subplot()
    shares = [[c / max(sum(row), 1) for c in row] for row in counts]
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    if len(labels) <= 20:
        for i, row in enumerate(counts):
            for j, count in enumerate(row):
                axes.text(j, i, str(count), ha="center", va="center", fontsize=7, color="white" if shares[i][j] > 0.5 else "black")
    ticks = range(len(labels))
    axes.set_xticks(ticks, labels, fontsize=7, rotation=45 if len(labels) > 6 else 0)
    axes.set_yticks(ticks, labels, fontsize=7)
    axes.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test)")
    return svg(figure)


def roc(labels: Sequence[int], scores: Sequence[float]) -> tuple[str, float]:
    """The ROC curve of the test pairs, and its area."""
    pairs = sorted(zip(scores, labels), key=lambda p: -p[0])
    positives = sum(labels)
    negatives = len(labels) - positives
    tpr, fpr, tp, fp = [0.0], [0.0], 0, 0
    for score, label in pairs:
        tp, fp = tp + label, fp + (1 - label)
        tpr.append(tp / max(positives, 1))
        fpr.append(fp / max(negatives, 1))
    area = sum((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2 for i in range(1, len(fpr)))
    figure = _figure(4.2, 4.0)
    axes = figure.add_subplot()
    axes.plot(fpr, tpr, color="#1f77b4", label=f"AUC {area:.4f}")
    axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=0.8)
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test pairs)")
    axes.legend(loc="lower right", fontsize=8)
    return svg(figure), area


def _params(record: dict[str, Any]) -> dict[str, Any]:
    return {**record.get("model_params", {}), **record.get("train_params", {}), **record.get("task_params", {})}
