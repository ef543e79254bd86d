"""A finished run, loaded from its directory, applied to its own data or to new data of the same schema.

This is what ``autoglm predict`` does, and what a host application calls::

    from autoglm.core import load_run

    run = load_run("runs/cora")
    run.predict()                 # a class (or 0/1 edge) per item of the run's own data
    run.predict_proba(graph)      # probabilities for a new graph of the same schema
    run.predictions().rows        # what predictions.csv holds: every item, with its split

The run's own data is loaded by its recorded data section and split exactly as
the run split it (the task's split depends only on the run's seed), so the
test rows equal ``predictions.csv``. New data is checked against the sizes
the model was trained with (feature width, classes) and takes its split from
itself (masks) or is ``new``.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from autoglm.core.artifacts import load_best_model
from autoglm.core.config import ComponentSpec
from autoglm.core.data import load_data, task_view
from autoglm.core.engine import check_data_loader
from autoglm.core.errors import ConfigError, DataError, UsageError, describe_os_error
from autoglm.core.paths import absolute
from autoglm.core import features
from autoglm.core.protocols import (
    Describable, FeaturedTask, MiniBatchTrainer, PredictingTask, Predictions, SampledTask,
)
from autoglm.core.rundir import CONFIG, SUMMARY, RunDirectory, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from autoglm.core.engine import Engine

log = logging.getLogger(__name__)


class SavedRun:
    """A finished run's config, task and best model (on the CPU, in eval mode)."""

    def __init__(self, path: str | Path, engine: "Engine | None" = None) -> None:
        from autoglm.core.engine import Engine

        self.directory = RunDirectory(absolute(path))
        self.path = self.directory.path
        self.engine = engine or Engine()
        self.model, self.spec = load_best_model(self.path, self.engine)
        if "task" not in self.spec:
            raise UsageError(
                f"{str(self.path)!r} was saved before tasks existed (its best_model.json names no task); "
                "load_best_model() still rebuilds its model, but predicting needs a run made by this version"
            )
        self.config = self.engine.load_config(self.directory / CONFIG)
        task_spec = self.spec["task"]
        self.task_name = str(task_spec.get("name", ""))
        self.task = self.engine.build("tasks", ComponentSpec(self.task_name, dict(task_spec.get("options") or {})))
        self.sizes: dict[str, Any] = dict(self.spec["sizes"])
        if not isinstance(self.task, PredictingTask):
            raise UsageError(
                f"task {self.task_name!r} cannot predict outside a run: it defines no inference_data() and predict() "
                "(see 'Task' in docs/plugin-guide.md)"
            )

    # -- data ------------------------------------------------------------

    def prepare(self, data: Any = None) -> Any:
        """The task's view of ``data``: None is the run's own data, split as the run split it; a data section
        (``{name: ..., options: ...}`` or a :class:`ComponentSpec`) is loaded by that loader; anything else is
        taken as what a loader returns (a PyG ``Data``, a list of graphs)."""
        if data is None:
            spec, seed = self.config.data, int(self.config.seed or 0)
            raw, loader = self._load(spec)
            self._check_unchanged(loader)
            return task_view(lambda: self.task.prepare(raw, seed=seed), self.task_name, spec.name)
        if isinstance(data, Mapping):
            data = self._section(data)
        if isinstance(data, ComponentSpec):
            raw, _ = self._load(data)
            return task_view(lambda: self.task.inference_data(raw, self.input_sizes), self.task_name, data.name)
        return task_view(lambda: self.task.inference_data(data, self.input_sizes), self.task_name, None)

    def _batched(self, prepared: Any) -> Any:
        """Data too big for one pass is predicted in chunks, as the run evaluated it: when the run's trainer
        batches mini (or ``auto`` decides so for this data) and the task can, the task's sampled view."""
        if not isinstance(self.task, SampledTask) or self.config.trainer is None:
            return prepared
        options = {**self.config.trainer.options, "device": "cpu"}  # predictions are made on the host
        try:
            trainer = self.engine.build("trainers", ComponentSpec(self.config.trainer.name, options))
        except ConfigError:  # the trainer takes no device option, or no longer builds: predict whole
            return prepared
        if isinstance(trainer, MiniBatchTrainer) and trainer.batching_for(prepared) == "mini":
            return self.task.sampled(prepared, trainer.sampling)
        return prepared

    def _featured(self, prepared: Any) -> Any:
        """The trial's feature choice, applied to the data as the run applied it."""
        params = self.spec.get("task_params") or {}
        if features.is_default(params):
            return prepared
        if not isinstance(self.task, FeaturedTask):
            raise UsageError(f"task {self.task_name!r} cannot apply the saved feature choice {features.choice_of(params)}")
        return self.task.with_features(prepared, features.transform_for(params))

    @property
    def input_sizes(self) -> dict[str, Any]:
        """The sizes new data must have: the loader's feature width, before the trial's feature choice."""
        return {**self.sizes, "num_features": self.sizes.get("input_features", self.sizes["num_features"])}

    def _section(self, section: Mapping[str, Any]) -> ComponentSpec:
        """A data section from a mapping: checked like the ``data:`` of a config."""
        if "data" in section and isinstance(section["data"], Mapping):
            section = section["data"]  # a whole config: its data section
        document = self.config.to_dict() | {"data": dict(section)}
        return self.engine.load_config(document).data

    def _load(self, spec: ComponentSpec) -> tuple[Any, Any]:
        loader = self.engine.build("data_loaders", spec, path="data.options")
        check_data_loader(loader, spec.name)
        return load_data(loader, spec.name, spec.options), loader

    def _check_unchanged(self, loader: Any) -> None:
        """Warn when the run's data is not what the run trained on (its loader's checksum differs)."""
        recorded = self._recorded_dataset().get("checksum")
        now = dict(loader.describe()).get("checksum") if isinstance(loader, Describable) else None
        if recorded and now and recorded != now:
            log.warning(
                "the data of %s changed since the run (checksum %s, now %s): predictions are for the data as it is now",
                self.path, str(recorded)[:12], str(now)[:12],
            )

    def _recorded_dataset(self) -> dict[str, Any]:
        state = self.directory.read_state() or {}
        if isinstance(state.get("dataset"), dict):
            return state["dataset"]
        if (self.directory / SUMMARY).exists():
            return dict(self.directory.read_json(SUMMARY, doing="load the run").get("dataset") or {})
        return {}

    # -- predicting ------------------------------------------------------

    def predictions(self, data: Any = None) -> Predictions:
        """Every item's prediction (rows as ``predictions.csv`` writes them, and tensors)."""
        import torch

        prepared = self._batched(self._featured(self.prepare(data)))
        with torch.no_grad():
            try:
                return self.task.predict(self.model, prepared)
            except RuntimeError as exc:  # shapes the checks could not foresee (a third-party task's)
                raise DataError(f"the saved model cannot predict this data: {exc}") from None

    def predict(self, data: Any = None) -> "torch.Tensor":
        """A predicted label per item: a class, or 1 / 0 for an edge (probability 0.5 and above)."""
        return self.predictions(data).labels

    def predict_proba(self, data: Any = None) -> "torch.Tensor":
        """Class probabilities per item ``[items, classes]``, or an edge's probability per pair ``[pairs]``."""
        return self.predictions(data).proba


def load_run(path: str | Path, engine: "Engine | None" = None) -> SavedRun:
    """Load a finished run from its directory (it may have been moved since) to predict with its best model."""
    return SavedRun(path, engine)


def write_csv(predictions: Predictions, path: str | Path) -> None:
    """Write prediction rows as CSV (write-then-rename: a failed write leaves no half file)."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(predictions.header)
    writer.writerows(predictions.rows)
    target = Path(path)
    try:
        atomic_write_text(target, buffer.getvalue())
    except OSError as exc:
        raise UsageError(f"cannot write predictions to {str(target)!r}: {describe_os_error(exc)}") from None


def read_data_option(text: str) -> dict[str, Any]:
    """``--data``: a YAML file (a config, or only its data section) or an inline YAML mapping."""
    import yaml

    from autoglm.core.yamlio import DocumentTooLarge, read_yaml, safe_load, yaml_problem

    candidate = Path(text).expanduser()
    if text.lstrip().startswith("{"):
        try:
            document = safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--data is not a YAML mapping: {yaml_problem(exc)[0]}", source="--data") from None
        except DocumentTooLarge as exc:
            raise ConfigError(f"--data refused: {exc}", source="--data") from None
    elif candidate.is_file():
        document = read_yaml(candidate)
    else:
        raise UsageError(
            f"--data {text!r}: no such file; give a YAML file (a config or a data section) or an inline mapping "
            "such as --data '{name: planetoid, options: {dataset: CiteSeer}}'"
        )
    if not isinstance(document, Mapping) or not (
        "name" in document or isinstance(document.get("data"), Mapping)
    ):
        raise ConfigError(
            "--data needs a data section ({name: LOADER, options: {...}}) or a config with a 'data:' section",
            source=text,
        )
    return dict(document)
