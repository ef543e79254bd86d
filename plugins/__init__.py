"""The stable API for autoglm plugin authors.

A plugin is a module (or object) with hook implementations marked by
:data:`hookimpl`. Publish it through the ``autoglm`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.autoglm]
    my_plugin = "my_package.plugin"

    # my_package/plugin.py
    from autoglm.plugins import Float, Int, hookimpl

    def build_mlp(in_channels: int, out_channels: int, *, hidden: int = 64, dropout: float = 0.5):
        from my_package.model import MLP          # import torch inside the factory
        return MLP(in_channels, hidden, out_channels, dropout)

    @hookimpl
    def autoglm_register_models(register):
        register("mlp", build_mlp, search_space={"hidden": Int(16, 256, log=True),
                                                 "dropout": Float(0.0, 0.8)})

Rules worth knowing: a factory lists every option as a named parameter (no
``**kwargs``), so configs are checked against it; import heavy libraries inside
factories so ``autoglm --help`` stays fast; names are unique per engine, and a
duplicate is an error naming both plugins. See ``docs/plugin-guide.md`` and
:mod:`autoglm.plugins.testing`.
"""

import pluggy

from autoglm.core.bounds import Between
from autoglm.core.errors import AutoglmError, ConfigError, DataError, TrialError, is_out_of_memory
from autoglm.core.paths import cache_dir, files_checksum
from autoglm.core.protocols import (
    Candidate,
    Closeable,
    CrossValidatedTask,
    DataLoader,
    Describable,
    EnsemblingTask,
    EpochCallback,
    Executor,
    FeaturedTask,
    FitResult,
    LayerwiseModule,
    MiniBatchTrainer,
    Objective,
    NEW_ITEM,
    PopulationTask,
    PredictingTask,
    Predictions,
    Reporter,
    SampledTask,
    Sampling,
    SearchSpace,
    Task,
    TaskData,
    Trainer,
    Tuner,
    WeightDecayGroups,
    WritesFiles,
)
from autoglm.core.events import PHASES, RunEvents
from autoglm.core.jobs import TrialJob
from autoglm.core.parallel import WorkerLost, WorkerPool
from autoglm.core.results import (
    RunInfo, RunResult, RunStopped, RunSummary, SelectionReport, TrialRecord, format_params, label_order,
    leaderboard_params,
)
from autoglm.core.space import Choice, Float, Int, is_tunable, sample_space

#: Marks a function as an autoglm hook implementation.
hookimpl = pluggy.HookimplMarker("autoglm")

__all__ = [
    "AutoglmError",
    "Between",
    "Candidate",
    "Closeable",
    "CrossValidatedTask",
    "Choice",
    "ConfigError",
    "DataError",
    "DataLoader",
    "Describable",
    "EnsemblingTask",
    "EpochCallback",
    "Executor",
    "FeaturedTask",
    "FitResult",
    "Float",
    "cache_dir",
    "files_checksum",
    "format_params",
    "label_order",
    "leaderboard_params",
    "Int",
    "LayerwiseModule",
    "MiniBatchTrainer",
    "Objective",
    "NEW_ITEM",
    "PHASES",
    "PopulationTask",
    "PredictingTask",
    "Predictions",
    "Reporter",
    "RunInfo",
    "RunEvents",
    "RunResult",
    "RunStopped",
    "RunSummary",
    "SampledTask",
    "Sampling",
    "SearchSpace",
    "SelectionReport",
    "Task",
    "TaskData",
    "Trainer",
    "TrialError",
    "TrialJob",
    "TrialRecord",
    "Tuner",
    "WorkerLost",
    "WorkerPool",
    "WeightDecayGroups",
    "WritesFiles",
    "hookimpl",
    "is_out_of_memory",
    "is_tunable",
    "sample_space",
]
