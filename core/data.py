"""Getting a loader's data and a task's view of it, with every failure turned into one DataError.

Shared by a run (:class:`~autoglm.core.runner.Runner`) and by a saved run that
predicts (:mod:`autoglm.core.saved_run`), so both say the same thing about the
same bad data.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from autoglm.core.errors import AutoglmError, DataError, is_out_of_memory


def load_data(loader: Any, name: str, options: Mapping[str, Any]) -> Any:
    """``loader.load()``; a plugin's exception or an out-of-memory becomes a DataError naming the loader."""
    try:
        return loader.load()
    except AutoglmError:
        raise
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise DataError(f"data loader {name!r} failed: {type(exc).__name__}: {exc}") from exc
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "its defaults"
        raise DataError(
            f"data loader {name!r} ran out of memory loading the data (data.options: {shown}); "
            "the dataset does not fit this machine's memory"
        ) from None


def task_view(make: Callable[[], Any], task: str, loader: str | None) -> Any:
    """What ``make()`` (a task's ``prepare`` or ``inference_data``) returns; its failures name the task and
    the loader (``None``: data handed over from Python)."""
    where = "the data given" if loader is None else f"data loader {loader!r}"
    try:
        return make()
    except AutoglmError as exc:
        raise DataError(f"{where}: {exc} (task {task!r})") from None
    except Exception as exc:
        raise DataError(f"task {task!r} cannot use {where.replace('data loader', 'the data of loader')}: {type(exc).__name__}: {exc}") from exc
