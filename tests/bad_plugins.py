"""Plugins that misbehave on purpose, for ``tests/test_bad_inputs.py``.

They reach the CLI the way a user's plugins do: through entry points of the
``autoglm`` group, declared by a throw-away ``*.dist-info`` folder that the test
writes into a temporary ``sys.path`` entry (``name = bad_plugins:<attribute>``).
This module is imported by module path, so ``tests/`` must be on ``sys.path``.

Each attribute below is one plugin object:

- :data:`bad_data`: a data loader ``bad_graph`` whose ``defect`` option breaks the
  tiny synthetic graph in one way (NaN features, labels out of range, ...).
- :data:`fragile`: a trainer ``fragile`` and a model ``brittle`` whose factories
  raise (a ValueError about an option, or some other exception: a plugin bug).
- :data:`dup_gcn`: registers a model named ``gcn``, which the built-in gcn plugin owns.
- :data:`sink`: registers a model whose factory hides its options behind ``**kwargs``.
- :data:`badname`: registers a model with a name no config could use.
"""

from __future__ import annotations

from typing import Any, Literal

from autoglm.plugins import hookimpl

Defect = Literal[
    "nan-features",
    "inf-features",
    "label-out-of-range",
    "negative-label",
    "unlabelled-in-mask",
    "empty-train-mask",
    "empty-val-mask",
    "empty-test-mask",
    "edge-past-node-count",
    "negative-edge",
    "float64-features",
    "int32-labels",
    "not-a-graph",
    "load-raises",
    "out-of-memory",
]


def _break(data: Any, defect: str) -> Any:
    import torch

    if defect == "nan-features":
        data.x[3, 0] = float("nan")
    elif defect == "inf-features":
        data.x[1:3, 2] = float("inf")
    elif defect == "label-out-of-range":
        data.y[0] = 7  # the graph has 3 classes
    elif defect == "negative-label":
        data.y[0] = -2  # -1 means "no label"; below that is nothing
    elif defect == "unlabelled-in-mask":
        data.y[int(data.train_mask.nonzero()[0])] = -1
    elif defect in ("empty-train-mask", "empty-val-mask", "empty-test-mask"):
        name = defect[len("empty-") :].replace("-", "_")
        setattr(data, name, torch.zeros_like(getattr(data, name)))
    elif defect == "edge-past-node-count":
        data.edge_index = torch.cat([data.edge_index, torch.tensor([[0], [250]])], dim=1)  # 200 nodes
    elif defect == "negative-edge":
        data.edge_index = torch.cat([data.edge_index, torch.tensor([[-1], [0]])], dim=1)
    elif defect == "float64-features":
        data.x = data.x.double()
    elif defect == "int32-labels":
        data.y = data.y.int()
    elif defect == "not-a-graph":
        return {"x": data.x, "y": data.y}
    elif defect == "load-raises":
        raise OSError("[Errno 5] Input/output error: 'graph.bin'")
    elif defect == "out-of-memory":  # a real allocation no machine has: 16 TiB of features
        data.x = torch.empty((1 << 42,), dtype=torch.float32)
    return data


class BadGraph:
    """The tiny synthetic graph with one defect."""

    def __init__(self, *, defect: Defect = "nan-features") -> None:
        self.defect = defect

    def load(self) -> Any:
        from autoglm.plugins.testing import tiny_graph

        return _break(tiny_graph(), self.defect)


class _BadData:
    @hookimpl
    def autoglm_register_data_loaders(self, register: Any) -> None:
        register("bad_graph", BadGraph, summary="A tiny graph with a defect, for tests")


def build_fragile_trainer(*, schedule: str = "cosine", crash: bool = False) -> Any:
    """A trainer factory with its own option checks, and a bug behind ``crash``."""
    if schedule not in ("cosine", "step"):
        raise ValueError(f"schedule must be 'cosine' or 'step', got {schedule!r}")
    if crash:
        raise KeyError("cuda_context")  # a bug in the plugin, not a user mistake
    from autoglm.plugins_builtin.cuda_trainer import FullBatchTrainer

    return FullBatchTrainer(device="cpu", max_epochs=3, patience=3)


def build_brittle_model(in_channels: int, out_channels: int, *, width: int = 8) -> Any:
    """A model whose factory always crashes: every trial fails."""
    raise RuntimeError(f"brittle cannot be built with width={width}")


class _Fragile:
    @hookimpl
    def autoglm_register_trainers(self, register: Any) -> None:
        register("fragile", build_fragile_trainer)

    @hookimpl
    def autoglm_register_models(self, register: Any) -> None:
        register("brittle", build_brittle_model)


def build_other_gcn(in_channels: int, out_channels: int, *, hidden: int = 16) -> Any:
    raise AssertionError("never built: the engine refuses the duplicate name first")


class _DupGcn:
    @hookimpl
    def autoglm_register_models(self, register: Any) -> None:
        register("gcn", build_other_gcn)


def build_sink(in_channels: int, out_channels: int, **options: Any) -> Any:
    raise AssertionError("never built: the registry refuses a **kwargs factory")


class _Sink:
    @hookimpl
    def autoglm_register_models(self, register: Any) -> None:
        register("sinky", build_sink)


class _BadName:
    @hookimpl
    def autoglm_register_models(self, register: Any) -> None:
        register("Bad Name!", build_other_gcn)


bad_data = _BadData()
sink = _Sink()
badname = _BadName()
fragile = _Fragile()
dup_gcn = _DupGcn()
