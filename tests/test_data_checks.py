"""Bad graphs from a data loader fail the run with a message, before any trial (exit code 1)."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from autoglm.core import DataError, Engine
from autoglm.plugins import hookimpl
from autoglm.plugins.testing import tiny_graph


def corrupt_engine(corrupt: Callable[[Any], None]) -> Engine:
    class Loader:
        def load(self) -> Any:
            data = tiny_graph()
            corrupt(data)
            return data

    def build() -> Loader:
        return Loader()

    class Plugin:
        @hookimpl
        def autoglm_register_data_loaders(self, register):  # type: ignore[no-untyped-def]
            register("bad", build)

    return Engine(plugins=[Plugin()], autoload=False)


def _set(attr: str, value: Callable[[Any], Any]) -> Callable[[Any], None]:
    return lambda data: setattr(data, attr, value(data))


CASES = {
    "nan-features": (_set("x", lambda d: d.x.index_fill(0, torch.tensor([3]), float("nan"))), "NaN or infinite values in 1 node"),
    "inf-features": (_set("x", lambda d: d.x.index_fill(0, torch.tensor([1, 2]), float("inf"))), "in 2 node(s)"),
    "label-out-of-range": (_set("y", lambda d: d.y.index_fill(0, torch.tensor([0]), 99)), "labels must lie in 0..2"),
    "negative-label": (_set("y", lambda d: d.y.index_fill(0, torch.tensor([0]), -2)), "labels must lie in"),
    "float-labels": (_set("y", lambda d: d.y.float()), "y must be a 1-D integer tensor"),
    "edge-past-node-count": (_set("edge_index", lambda d: torch.cat([d.edge_index, torch.tensor([[0], [200]])], 1)), "refers to node 200"),
    "edge-index-shape": (_set("edge_index", lambda d: d.edge_index.t()), "edge_index must be a [2, num_edges]"),
    "empty-train-mask": (_set("train_mask", lambda d: torch.zeros_like(d.train_mask)), "train_mask selects no nodes"),
    "empty-val-mask": (_set("val_mask", lambda d: torch.zeros_like(d.val_mask)), "val_mask selects no nodes"),
    "empty-test-mask": (_set("test_mask", lambda d: torch.zeros_like(d.test_mask)), "test_mask selects no nodes"),
    "int-mask": (_set("test_mask", lambda d: d.test_mask.long()), "test_mask must be a bool tensor"),
    "missing-x": (_set("x", lambda d: None), "the graph has no 'x'"),
    "one-class": (_set("y", lambda d: torch.zeros_like(d.y)), "at least two"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_graph_is_refused_with_a_message(case: str, tiny_config: dict[str, Any]) -> None:
    corrupt, message = CASES[case]
    tiny_config["data"] = {"name": "bad"}
    with pytest.raises(DataError) as excinfo:
        corrupt_engine(corrupt).run(tiny_config)
    assert excinfo.value.exit_code == 1
    assert "data loader 'bad'" in str(excinfo.value) and message in str(excinfo.value)


def test_loader_that_raises_is_a_data_error(tiny_config: dict[str, Any]) -> None:
    def explode(data: Any) -> None:
        raise OSError("disk on fire")

    tiny_config["data"] = {"name": "bad"}
    with pytest.raises(DataError, match="data loader 'bad' failed: OSError: disk on fire"):
        corrupt_engine(explode).run(tiny_config)
