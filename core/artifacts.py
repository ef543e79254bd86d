"""Saving the best model and loading it back, without pickle.

Weights are a plain ``state_dict`` (loaded with ``weights_only=True``); how to
rebuild the module is a small JSON spec naming the registered model factory and
its parameters, so a run directory can be reloaded by any engine that has the
model's plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from autoglm.core.errors import AutoglmError, DataError, RunError
from autoglm.core.rundir import BEST_SPEC, BEST_WEIGHTS, RunDirectory

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from autoglm.core.engine import Engine


def save_best_model(
    run_dir: RunDirectory, state_dict: Mapping[str, "torch.Tensor"], spec: Mapping[str, Any]
) -> None:
    run_dir.save_tensors(BEST_WEIGHTS, {k: v.detach().cpu() for k, v in state_dict.items()})
    run_dir.write_json(BEST_SPEC, dict(spec))


def load_best_model(run_dir: str | Path, engine: "Engine | None" = None) -> tuple["torch.nn.Module", dict[str, Any]]:
    """Rebuild the best model of a finished run, in eval mode, with its saved weights.

    The task of the run (recorded in ``best_model.json``) rebuilds the whole
    model, head included, from the model plugin's encoder.

    :return: The module and its spec (task, model name, parameters, the data's sizes).
    """
    import torch

    from autoglm.core.engine import Engine

    directory = RunDirectory(run_dir)
    spec_path, weights_path = directory / BEST_SPEC, directory / BEST_WEIGHTS
    if not spec_path.exists() or not weights_path.exists():
        raise DataError(f"{str(directory.path)!r} holds no saved best model ({BEST_SPEC} and {BEST_WEIGHTS}); is it a finished run?")
    spec = directory.read_json(BEST_SPEC, doing="load the best model")
    legacy = "task" not in spec  # saved before tasks: a node classifier built straight from the factory
    wanted: dict[str, type] = {"model": str, "model_params": dict}
    wanted |= {"in_channels": int, "out_channels": int} if legacy else {"task": dict, "task_params": dict, "sizes": dict}
    wrong = [key for key, kind in wanted.items() if not isinstance(spec.get(key), kind)]
    if wrong:
        raise RunError(f"cannot load the best model: {spec_path}: missing or wrong {', '.join(wrong)}; the file was edited or damaged")
    engine = engine or Engine()
    factory = engine.component("models", spec["model"]).factory
    if legacy:
        model = factory(spec["in_channels"], spec["out_channels"], **spec["model_params"])
    else:
        from autoglm.core.config import ComponentSpec

        task_spec = spec["task"]
        task = engine.build("tasks", ComponentSpec(task_spec.get("name", ""), dict(task_spec.get("options") or {})))

        def encoder(in_channels: int, out_channels: int) -> Any:
            return factory(in_channels, out_channels, **spec["model_params"])

        model = task.build(encoder, spec["sizes"], spec["task_params"])
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise AutoglmError(f"cannot load weights from {str(weights_path)!r}: {exc}") from None
    model.eval()
    return model, spec
