"""The autoglm kernel: plugin loading, registries, config validation and the trial loop.

Importing it has no side effects: no torch import, no entry-point scan, no
global state. Build an :class:`Engine` to do any of those::

    from autoglm.core import Engine
    result = Engine().run("examples/quickstart.yaml")
    result.best.model, result.test_accuracy     # ('gcn', 0.85...)
    load_run(result.run_dir).predict()          # a class per node, from the saved best model
"""

from autoglm.core.artifacts import load_best_model
from autoglm.core.config import ComponentSpec, PruningSpec, RunConfig, SearchSpec, SelectionSpec
from autoglm.core.engine import Engine
from autoglm.core.errors import (
    AutoglmError,
    ConfigError,
    DataError,
    DuplicateComponentError,
    PluginError,
    RegistryError,
    RunError,
    RunInterrupted,
    TrialError,
    UnknownComponentError,
    UsageError,
)
from autoglm.core.loading import DEFAULT_PLUGINS, ENTRY_POINT_GROUP, PluginInfo
from autoglm.core.pruning import SuccessiveHalvingPruner
from autoglm.core.results import RunInfo, RunResult, TrialRecord
from autoglm.core.saved_run import SavedRun, load_run

__all__ = [
    "AutoglmError",
    "ComponentSpec",
    "ConfigError",
    "DataError",
    "DEFAULT_PLUGINS",
    "DuplicateComponentError",
    "ENTRY_POINT_GROUP",
    "Engine",
    "PluginError",
    "PluginInfo",
    "PruningSpec",
    "RegistryError",
    "RunConfig",
    "RunError",
    "RunInfo",
    "RunInterrupted",
    "RunResult",
    "SavedRun",
    "SearchSpec",
    "SelectionSpec",
    "SuccessiveHalvingPruner",
    "TrialError",
    "TrialRecord",
    "UnknownComponentError",
    "UsageError",
    "load_best_model",
    "load_run",
]
