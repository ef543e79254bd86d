"""``autoglm`` commands. Every error becomes one clear message and an exit code:
0 success, 1 a failed run, 2 a usage or config error; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import shutil
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from autoglm.core import AutoglmError, DataError, Engine, RunConfig, UsageError
from autoglm.core.registry import KIND_LABELS, KINDS
from autoglm.core.results import leaderboard_params

EXIT_INTERRUPTED = 130


def _fail(ctx: click.Context, message: str, code: int) -> None:
    click.echo(f"autoglm: error: {message}", err=True)
    ctx.exit(code)


def guarded(ctx: click.Context, action: Callable[[], Any]) -> Any:
    """Run a command body, turning errors into messages and exit codes."""
    debug = ctx.find_root().obj.get("debug", False)
    try:
        return action()
    except AutoglmError as exc:
        if debug:
            traceback.print_exc()
        _fail(ctx, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail(ctx, "interrupted", EXIT_INTERRUPTED)
    except click.ClickException:
        raise
    except BrokenPipeError:  # e.g. `autoglm plugins | head`
        sys.stderr.close()
        ctx.exit(0)
    except Exception as exc:  # a bug, not a user mistake: say so
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for the traceback)"
        _fail(ctx, f"internal error: {type(exc).__name__}: {exc}{hint}", 1)


def make_engine(ctx: click.Context, strict: bool = False) -> Engine:
    return Engine(strict=strict or ctx.find_root().obj.get("strict", False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.option("--strict", is_flag=True, help="Fail when a third-party plugin cannot be loaded.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors in the log.")
@click.version_option(package_name="autoglm", prog_name="autoglm")
@click.pass_context
def cli(ctx: click.Context, debug: bool, strict: bool, quiet: bool) -> None:
    """Search GNN architectures and hyperparameters for a graph dataset.

    \b
    Quick start:
      autoglm run examples/quickstart.yaml                 # node classification
      autoglm run examples/link_prediction.yaml            # link prediction
      autoglm run examples/graph_classification.yaml       # graph classification
      autoglm run examples/cora.yaml --set data.options.root=PATH --set tuner.options.budget=20
      autoglm run --resume runs/quickstart      # continue a stopped or killed run
      autoglm predict runs/quickstart -o all.csv  # the best model's prediction for every node
    """
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, strict=strict)
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("autoglm")
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    quiet_before = os.environ.get("AUTOGLM_QUIET")
    if quiet:  # the console reporter's progress bar and trial lines go quiet too
        os.environ["AUTOGLM_QUIET"] = "1"

    def restore() -> None:  # leave a host's (or a test's) logging and environment as they were
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        if quiet:
            if quiet_before is None:
                os.environ.pop("AUTOGLM_QUIET", None)
            else:
                os.environ["AUTOGLM_QUIET"] = quiet_before

    ctx.call_on_close(restore)


overrides_option = click.option(
    "--set",
    "-s",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set tuner.options.budget=40 (repeatable; values are YAML).",
)


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@overrides_option
@click.option("--output", "-o", metavar="DIR", help="Run directory (overrides 'output').")
@click.option(
    "--overwrite", is_flag=True,
    help="Replace a run already in the output directory (only its own files are removed).",
)
@click.option(
    "--keep-other-files", is_flag=True,
    help="With --overwrite: leave files autoglm did not write in place (without it, they make --overwrite refuse).",
)
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN_DIR",
    type=click.Path(path_type=Path),
    help="Continue the interrupted run in RUN_DIR (CONFIG, if given, must match its recorded config).",
)
@click.pass_context
def run(
    ctx: click.Context,
    config: Path | None,
    overrides: tuple[str, ...],
    output: str | None,
    overwrite: bool,
    keep_other_files: bool,
    resume_dir: Path | None,
) -> None:
    """Run the search described by CONFIG and write a run directory.

    Ctrl-C (or SIGTERM) stops a run cleanly; `autoglm run --resume RUN_DIR`
    continues it, or one that was killed outright, keeping every finished trial.

    Trials that trail the earlier ones at a rung (epochs 20, 60, 180 by default)
    are pruned: stopped early and never selected. `--set pruning=false` turns
    that off; the config's `pruning` section tunes it.

    The 3 best configurations are then trained again with 2 more seeds each and
    the best mean validation score is selected; test accuracy is reported as
    mean ± std over its seeds. `--set selection=false` keeps the single best
    trial; the config's `selection` section tunes it.

    `--set workers=2` trains two trials at once in two processes; `--set
    population=8` trains up to 8 configurations of one architecture as one
    batched model (GCN). Both ask the tuner for rounds of candidates.
    """

    def body() -> None:
        if resume_dir is None and config is None:
            raise UsageError("give a CONFIG to start a run, or --resume RUN_DIR to continue one")
        if resume_dir is not None and (overwrite or keep_other_files or output is not None):
            raise UsageError(
                "--resume continues the run in RUN_DIR; it cannot be combined with --output, --overwrite "
                "or --keep-other-files"
            )
        if keep_other_files and not overwrite:
            raise UsageError("--keep-other-files goes with --overwrite (a new run never removes anything)")
        if output is not None and not output.strip():
            # click would make '' the current directory: `--output "$UNSET"` must not scatter a run there.
            raise UsageError(f"--output needs a directory path, got {output!r}")
        engine = make_engine(ctx)
        with sigterm_as_interrupt():
            if resume_dir is not None:
                result = engine.resume(resume_dir, config, overrides=overrides)
            else:
                result = engine.run(
                    config, overrides=overrides, output=None if output is None else Path(output),
                    overwrite=overwrite, keep_other_files=keep_other_files,
                )
        click.echo(
            f"selected {result.best.model} (trial {result.best.trial}): val_{result.metric} {result.val_score:.4f}, "
            f"test_{result.metric} {result.test_score:.4f}"
            + (f" ± {result.test_std:.4f} over {result.test_seeds} seeds" if result.test_seeds > 1 else "")
            + (
                f"; {cv['folds']}-fold cross-validation {result.metric} {cv['mean']:.4f} ± {cv['std']:.4f}"
                if (cv := result.cross_validation) else ""
            )
            + f"; run directory {result.run_dir}"
        )

    guarded(ctx, body)


#: (key of a task's sizes, how to say it), in the order ``validate --load`` prints them.
SIZE_WORDS = (
    ("num_graphs", "graphs"), ("num_nodes", "nodes"), ("num_edges", "edges"), ("num_classes", "classes"),
    ("num_features", "features"), ("unlabelled_nodes", "unlabelled nodes"),
)


def describe_sizes(sizes: dict[str, Any]) -> str:
    """``2708 nodes, 10556 edges, 7 classes, 1433 features; split train 140 / val 500 / test 1000 (the graph's masks)``."""
    parts = [f"{sizes[key]} {word}" for key, word in SIZE_WORDS if key in sizes]
    splits = [
        f"{split} {sizes[key]}" for split in ("train", "val", "test")
        for key in (f"{split}_nodes", f"{split}_edges", f"{split}_graphs") if key in sizes
    ]
    text = ", ".join(parts)
    if splits:
        text += "; split " + " / ".join(splits) + (f" ({sizes['split']})" if "split" in sizes else "")
    return text


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A pre-empted job gets SIGTERM: stop the way Ctrl-C does, so the run can be resumed."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (e.g. a host calling the CLI from a worker)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@overrides_option
@click.option("--load", "load_data", is_flag=True,
              help="Also load the data and split it as a run would (no training), and say what was found.")
@click.pass_context
def validate(ctx: click.Context, config: Path, overrides: tuple[str, ...], load_data: bool) -> None:
    """Check CONFIG against the installed plugins, then that its data is where it says, without training.

    Exit 0: the config is valid and its data was found; 2: the config is not
    valid; 1: the config is valid but its data is missing or unreadable.
    With --load the data is read and split too: its nodes, edges, classes,
    features, labelled nodes and split sizes are printed.
    """

    def body() -> None:
        engine = make_engine(ctx)
        resolved: RunConfig = engine.validate(config, overrides, check_data=False)
        space = engine.search_space(resolved)
        click.echo(f"{config}: config OK")
        click.echo(f"  data:      {resolved.data.name} {resolved.data.options or ''}".rstrip())
        click.echo(f"  models:    {', '.join(space.models)}")
        click.echo(f"  tuner:     {resolved.tuner.name} {resolved.tuner.options or ''}".rstrip())
        click.echo(f"  trainer:   {resolved.trainer.name} {resolved.trainer.options or ''}".rstrip())
        click.echo(f"  reporters: {', '.join(r.name for r in resolved.reporters or [])}")
        p = resolved.pruning
        click.echo(
            f"  pruning:   successive halving from epoch {p.min_epochs}, factor {p.reduction_factor}, "
            f"after {p.min_trials} trials" + (", each model against its own" if p.per_model else "")
            if p.enabled else "  pruning:   off"
        )
        chosen = resolved.selection
        click.echo(
            f"  selection: top {chosen.top_k} re-trained with {chosen.seeds} seeds each, best mean validation"
            + (f"; ensemble of the best {chosen.ensemble} ({chosen.ensemble_weights} weights)" if chosen.ensemble > 1 else "")
            if chosen.enabled else "  selection: the single best trial"
        )
        if resolved.time_budget is not None:
            click.echo(f"  time:      the search stops in time for selection within {resolved.time_budget:g} s")
        executor = resolved.executor.name if resolved.executor else "inline"
        click.echo(
            f"  parallel:  {resolved.workers} trial(s) at once (executor {executor}), population {resolved.population}"
            + (" (off)" if resolved.population == 1 else " configurations per batched model")
            + f", torch threads {resolved.threads}" + (" (1 per trial process)" if resolved.threads == "auto" else "")
        )
        try:
            checked = engine.check_data(resolved)
        except DataError as exc:
            raise DataError(f"the config is valid, but its data is not usable: {exc}") from None
        if not load_data:
            click.echo(
                "  data check: OK (found where the config says; not loaded)" if checked
                else f"  data check: none (loader {resolved.data.name!r} has no check; its data is read when a run starts)"
            )
            return
        try:
            found = engine.inspect_data(resolved)
        except DataError as exc:
            raise DataError(f"the config is valid, but its data is not usable: {exc}") from None
        click.echo(f"  data check: OK, loaded and split as a run would: {describe_sizes(found)}")

    guarded(ctx, body)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--data", "data_option", metavar="CONFIG_OR_SECTION",
    help="Predict for this data instead of the run's own: a YAML file (a config, or a data section) or an "
    "inline mapping such as '{name: planetoid, options: {dataset: Cora, root: PATH}}'.",
)
@click.option("--output", "-o", "output", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the CSV here (default: standard output).")
@click.pass_context
def predict(ctx: click.Context, run_dir: Path, data_option: str | None, output: Path | None) -> None:
    """Apply the best model of the finished run in RUN_DIR and write a CSV row for every item.

    \b
    Node classification: every node, with its split (train, val, test,
    unlabelled, unused: labelled but in no split; new: data without masks),
    label, predicted class, confidence and each class's probability.
    Link prediction: each scored pair (the run's edges and held-out pairs,
    or --data's edge_label_index) with its probability of being an edge.
    Graph classification: one row per graph.
    On the run's own data the test rows equal the run's predictions.csv.
    """

    def body() -> None:
        from autoglm.core.saved_run import load_run, read_data_option, write_csv

        data = None if data_option is None else read_data_option(data_option)
        predicted = load_run(run_dir, make_engine(ctx)).predictions(data)
        counts = ", ".join(f"{split} {n}" for split, n in predicted.counts().items())
        if output is None:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(predicted.header)
            writer.writerows(predicted.rows)
            click.echo(f"{len(predicted.rows)} predictions ({counts})", err=True)
        else:
            write_csv(predicted, output)
            click.echo(f"wrote {len(predicted.rows)} predictions ({counts}) to {output}", err=True)

    guarded(ctx, body)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--output", "-o", "output", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here (default: RUN_DIR/report.html).")
@click.pass_context
def report(ctx: click.Context, run_dir: Path, output: Path | None) -> None:
    """Write one self-contained HTML report of the run in RUN_DIR (it opens offline).

    The leaderboard, the search's convergence, the validation curves (pruned
    trials cut at their rung), the tuner's choices against their scores,
    selection's contenders and the selected model on the test split (confusion
    matrix or ROC curve). A running or interrupted run shows what is known so far.
    """

    def body() -> None:
        from autoglm.core.config import ComponentSpec

        reporter = make_engine(ctx).build("reporters", ComponentSpec("html", {} if output is None else {"path": str(output)}))
        written = reporter.render(run_dir)
        click.echo(f"wrote {written} ({written.stat().st_size / 1024:.0f} KiB)")

    guarded(ctx, body)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List loaded, failed and disabled plugins and what each registers."""

    def body() -> None:
        infos = make_engine(ctx).plugins()
        if as_json:
            click.echo(json.dumps([info.to_dict() for info in infos], indent=2))
            return
        for info in infos:
            dist = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "-"
            names = ", ".join(f"{KIND_LABELS[k]} {', '.join(v)}" for k, v in info.components.items() if v)
            line = f"{info.name:<18} {info.source:<12} {info.status:<9} {dist:<20} {names}"
            click.echo(line.rstrip())
            if info.error:
                click.echo(f"{'':<18} error: {info.error}")
            for conflict in info.conflicts:
                click.echo(f"{'':<18} conflict: {conflict}")

    guarded(ctx, body)


@cli.command()
@click.argument("kind", required=False, type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def components(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List registered components (of one KIND), their options and owners."""

    def body() -> None:
        engine = make_engine(ctx)
        rows = []
        for k in [kind] if kind else list(KINDS):
            for c in engine.registry(k):
                rows.append(
                    {
                        "kind": k,
                        "name": c.name,
                        "summary": c.summary,
                        "options": c.option_names(),
                        "search_space": sorted(c.search_space),
                        **({"tasks": list(c.tasks) if c.tasks else "all"} if k == "models" else {}),
                        "plugin": c.owner.plugin,
                        "distribution": c.owner.distribution,
                    }
                )
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        current = None
        for row in rows:
            if row["kind"] != current:
                current = row["kind"]
                click.echo(f"{current}:")
            click.echo(f"  {row['name']:<12} {row['summary']}  [plugin {row['plugin']}]")
            label = "space" if row["kind"] == "models" else "options"
            values = row["search_space"] if row["kind"] == "models" else row["options"]
            if values:
                click.echo(f"  {'':<12} {label}: {', '.join(values)}")
            if row["kind"] == "tasks" and row["search_space"]:
                click.echo(f"  {'':<12} space: {', '.join(row['search_space'])}")
            if row["kind"] == "models":
                served = row["tasks"]
                click.echo(f"  {'':<12} tasks: {served if isinstance(served, str) else ', '.join(served)}")

    guarded(ctx, body)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The summary as JSON (status, best, test, trials, seed, wall time).")
@click.pass_context
def show(ctx: click.Context, run_dir: Path, as_json: bool) -> None:
    """Print the summary and the leaderboard of a run directory (a table that fits the terminal)."""

    def body() -> None:
        from autoglm.core.rundir import CONFIG, LEADERBOARD, SUMMARY, RunDirectory

        directory = RunDirectory(run_dir)
        summary_path = run_dir / SUMMARY
        if not summary_path.exists():
            if (run_dir / CONFIG).exists():
                raise UsageError(
                    f"{str(run_dir)!r} has no {SUMMARY}: the run was stopped before it finished; "
                    f"continue it with: autoglm run --resume {run_dir}"
                )
            raise UsageError(f"{str(run_dir)!r} has no {SUMMARY}: not a finished autoglm run")
        doing = f"show {run_dir}"
        summary = directory.read_json(SUMMARY, doing=doing)
        if as_json:
            keys = ("status", "best", "test", "trials", "seed", "wall_time_s")
            click.echo(json.dumps({k: summary[k] for k in keys if k in summary}, indent=2))
            return
        for line in summary_lines(summary):
            click.echo(line)
        if (run_dir / LEADERBOARD).exists():
            rows = list(csv.DictReader(directory.read_text(LEADERBOARD, doing=doing).splitlines()))
            click.echo("")
            for line in leaderboard_table(rows, width=shutil.get_terminal_size((120, 24)).columns):
                click.echo(line)
        files = ", ".join(name for name in ("predictions.csv", "best_model.pt", "leaderboard.csv") if (run_dir / name).exists())
        click.echo(f"\nin {run_dir}: {files}; predict with: autoglm predict {run_dir}")
        report = run_dir / "report.html"
        click.echo(f"report: {report}" if report.exists() else f"report: none yet; make one with: autoglm report {run_dir}")

    guarded(ctx, body)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """A run's summary in a few lines: what ran, what was selected, how it did on test."""
    trials = summary.get("trials", {})
    counts = ", ".join(f"{trials[k]} {k}" for k in ("ok", "pruned", "failed", "interrupted") if trials.get(k))
    dataset = summary.get("dataset", {})
    lines = [
        f"{summary.get('task', '?')} on {dataset.get('name') or dataset.get('loader', '?')}: {summary.get('status')}, "
        f"{trials.get('total', 0)} trials ({counts or 'none'}), seed {summary.get('seed')}, "
        f"{summary.get('wall_time_s', 0):.0f} s",
    ]
    best, test = summary.get("best"), summary.get("test")
    if best:
        metric = best.get("metric", "score")
        mean = f", mean {best['val_mean']:.4f} ± {best.get('val_std', 0):.4f} over its seeds" if "val_mean" in best else ""
        lines.append(f"selected: trial {best['trial']} ({best['model']}), val_{metric} {best['val_score']:.4f}{mean}")
    if test:
        cv = test.get("cross_validation")
        lines.append(
            f"test_{test['metric']}: {test['score']:.4f} ± {test.get('score_std', 0):.4f} over {test.get('seeds', 1)} seed(s)"
            + (f"; {cv['folds']}-fold cross-validation {cv['mean']:.4f} ± {cv['std']:.4f}" if cv else "")
        )
    return lines


def leaderboard_table(rows: list[dict[str, str]], *, width: int) -> list[str]:
    """The leaderboard as aligned columns; the parameters column is cut to fit ``width`` characters."""
    if not rows:
        return ["(no trials)"]
    score = next((key for key in rows[0] if key.startswith("val_")), "val")
    table = [["rank", "trial", "model", score, "epochs", "status", "parameters"]]
    for row in rows:
        shown_params = leaderboard_params(row.get("params", ""))
        status = row.get("status", "")
        if status == "pruned" and row.get("pruned_at"):
            status = f"pruned@{row['pruned_at']}"
        epochs = f"{row.get('best_epoch', '')}/{row.get('epochs', '')}".strip("/")
        table.append([row.get("rank", ""), row.get("trial", ""), row.get("model", ""), row.get(score, ""), epochs, status, shown_params])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    lines = []
    for r in table:
        head = "  ".join(cell.ljust(w) for cell, w in zip(r, widths))
        room = max(width - len(head) - 2, 0)
        tail = r[-1] if len(r[-1]) <= room else (r[-1][: max(room - 1, 0)] + "…" if room else "")
        lines.append(f"{head}  {tail}".rstrip())
    return lines


def main() -> None:
    try:
        cli(prog_name="autoglm")
    except SystemExit as exc:
        _exit_even_if_threads_linger(exc)
        raise
    _exit_even_if_threads_linger(SystemExit(0))


def _exit_even_if_threads_linger(done: SystemExit) -> None:
    """A finished command always exits: a plugin's stray non-daemon thread must not keep it alive.

    The kernel closes what it knows of (tuners are :class:`~autoglm.plugins.Closeable`)
    and logs any thread a run leaves behind; this is the CLI's last word on it.
    """
    import os
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
