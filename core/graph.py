"""Checks on the graph a data loader returns, so bad data fails with a message, not deep in torch."""

from __future__ import annotations

from typing import Any

from autoglm.core.errors import DataError

MASKS = ("train_mask", "val_mask", "test_mask")


def check_graph(data: Any, *, source: str) -> dict[str, int]:
    """Validate a node-classification graph; return its sizes for records and reporters."""
    import torch

    def fail(message: str) -> None:
        raise DataError(f"data loader {source!r}: {message}")

    for attr in ("x", "edge_index", "y", *MASKS):
        if getattr(data, attr, None) is None:
            fail(f"the graph has no '{attr}'; a loader must return x, edge_index, y and {', '.join(MASKS)}")
    x, edge_index, y = data.x, data.edge_index, data.y
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        fail(f"x must be a 2-D float tensor [num_nodes, num_features], got {_describe(x)}")
    if x.dtype != torch.float32:  # models and trainers work in float32; anything else fails deep in torch
        fail(f"x must hold float32 features, got {x.dtype}; convert it in the loader (data.x = data.x.float())")
    num_nodes = x.size(0)
    if num_nodes == 0 or x.size(1) == 0:
        fail(f"x is empty ({tuple(x.shape)})")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        fail(f"x holds NaN or infinite values in {bad} node(s); clean or impute the features")
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.size(0) != num_nodes or y.is_floating_point():
        fail(f"y must be a 1-D integer tensor of {num_nodes} labels, got {_describe(y)}")
    if y.dtype != torch.long:  # what cross-entropy takes as class indices
        fail(f"y must hold int64 (torch.long) labels, got {y.dtype}; convert it in the loader (data.y = data.y.long())")
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        fail(f"edge_index must be a [2, num_edges] integer tensor, got {_describe(edge_index)}")
    if edge_index.is_floating_point():
        fail("edge_index must hold integers")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        low, high = int(edge_index.min()), int(edge_index.max())
        bad = low if low < 0 else high
        count = int(((edge_index < 0) | (edge_index >= num_nodes)).any(dim=0).sum())
        fail(
            f"edge_index refers to node {bad} but the graph has {num_nodes} nodes (valid: 0..{num_nodes - 1}); "
            f"{count} edge(s) point outside the graph"
        )
    num_classes = int(getattr(data, "num_classes", 0) or 0) or int(y.max()) + 1
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        fail(f"labels must lie in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
    sizes = {"num_nodes": num_nodes, "num_features": x.size(1), "num_edges": edge_index.size(1), "num_classes": num_classes}
    for mask_name in MASKS:
        mask = getattr(data, mask_name)
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (num_nodes,):
            fail(f"{mask_name} must be a bool tensor of shape ({num_nodes},), got {_describe(mask)}")
        count = int(mask.sum())
        if count == 0:
            fail(f"{mask_name} selects no nodes; every split needs at least one node")
        sizes[mask_name.replace("_mask", "_nodes")] = count
    if int(y.unique().numel()) < 2:
        fail("the labels hold a single class; classification needs at least two")
    return sizes


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} shape={tuple(shape) if shape is not None else None} dtype={dtype}"
