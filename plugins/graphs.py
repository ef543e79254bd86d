"""Checks and splits of graph data, for tasks (built-in and third-party) to share.

Every check raises :class:`~autoglm.plugins.DataError` with a message that says
what is wrong and how to fix it in the loader; the kernel adds which data
loader it came from. Bad data then fails before any trial, with one line,
not deep inside torch. Imports torch only when called.
"""

from __future__ import annotations

import numbers
from typing import Any, Sequence

from autoglm.core.errors import DataError

#: Checks of big tensors look at this many elements at a time, so they never hold a copy of the whole.
CHECK_CHUNK = 1 << 24


def describe(value: Any) -> str:
    """A tensor (or anything) as ``Type shape=(...) dtype=...``, for messages."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} shape={tuple(shape) if shape is not None else None} dtype={dtype}"


def check_features(data: Any, *, what: str = "the graph") -> tuple[int, int]:
    """``data.x`` is a finite float32 ``[num_nodes, num_features]`` tensor; returns its shape."""
    import torch

    x = getattr(data, "x", None)
    if x is None:
        raise DataError(f"{what} has no 'x' (node features)")
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise DataError(f"x must be a 2-D float tensor [num_nodes, num_features], got {describe(x)}")
    if x.dtype != torch.float32:  # models and trainers work in float32; anything else fails deep in torch
        raise DataError(f"x must hold float32 features, got {x.dtype}; convert it in the loader (data.x = data.x.float())")
    if x.size(0) == 0 or x.size(1) == 0:
        raise DataError(f"x is empty ({tuple(x.shape)})")
    rows = max(1, CHECK_CHUNK // x.size(1))  # in blocks of rows: a big graph's x is not copied whole
    if not all(bool(torch.isfinite(x[i : i + rows]).all()) for i in range(0, x.size(0), rows)):
        bad = sum(int((~torch.isfinite(x[i : i + rows])).any(dim=1).sum()) for i in range(0, x.size(0), rows))
        raise DataError(f"x holds NaN or infinite values in {bad} node(s); clean or impute the features")
    return int(x.size(0)), int(x.size(1))


def check_edges(data: Any, num_nodes: int) -> int:
    """``data.edge_index`` is a ``[2, num_edges]`` integer tensor of valid node ids; returns the edge count."""
    import torch

    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        raise DataError("the graph has no 'edge_index'")
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise DataError(f"edge_index must be a [2, num_edges] integer tensor, got {describe(edge_index)}")
    if edge_index.is_floating_point():
        raise DataError("edge_index must hold integers")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        low, high = int(edge_index.min()), int(edge_index.max())
        bad = low if low < 0 else high
        count = int(((edge_index < 0) | (edge_index >= num_nodes)).any(dim=0).sum())
        raise DataError(
            f"edge_index refers to node {bad} but the graph has {num_nodes} nodes (valid: 0..{num_nodes - 1}); "
            f"{count} edge(s) point outside the graph"
        )
    return int(edge_index.size(1))


def check_labels(
    y: Any, count: int, *, num_classes: int | None = None, of: str = "nodes", unlabelled: bool = False,
    at_least_two: bool = True,
) -> int:
    """``y`` holds ``count`` int64 class labels in ``0..num_classes-1`` (at least two classes); returns the class count.

    With ``unlabelled``, ``-1`` marks an item without a label (it takes part in
    message passing but in no split); ``at_least_two=False`` accepts data to
    predict on, which may hold a single class or none.
    """
    import torch

    if y is None:
        raise DataError(f"the data has no 'y' (class labels of its {of})")
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.size(0) != count or y.is_floating_point():
        raise DataError(f"y must be a 1-D integer tensor of {count} labels, got {describe(y)}")
    if y.dtype != torch.long:  # what cross-entropy takes as class indices
        raise DataError(f"y must hold int64 (torch.long) labels, got {y.dtype}; convert it in the loader (data.y = data.y.long())")
    labelled = y[y >= 0] if unlabelled else y
    lowest = -1 if unlabelled else 0
    if labelled.numel() == 0:
        if at_least_two:
            raise DataError(f"every one of the {count} {of} is unlabelled (y = -1); training needs labels")
        return int(num_classes or 0)
    classes = int(num_classes or 0) or int(labelled.max()) + 1
    if int(y.min()) < lowest or int(y.max()) >= classes:
        where = int(torch.nonzero((y < lowest) | (y >= classes)).view(-1)[0]) if y.numel() else 0
        allowed = f"0..{classes - 1}" + (" (or -1 for no label)" if unlabelled else "")
        raise DataError(
            f"labels must lie in {allowed}, found {int(y.min())}..{int(y.max())} (first outside: item {where}, "
            f"label {int(y[where])})"
        )
    if at_least_two and int(labelled.unique().numel()) < 2:
        raise DataError("the labels hold a single class; classification needs at least two")
    return classes


def check_mask(data: Any, name: str, num_nodes: int) -> int:
    """``data.<name>`` is a bool ``[num_nodes]`` tensor selecting at least one node; returns how many."""
    import torch

    mask = getattr(data, name, None)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (num_nodes,):
        raise DataError(f"{name} must be a bool tensor of shape ({num_nodes},), got {describe(mask)}")
    count = int(mask.sum())
    if count == 0:
        raise DataError(f"{name} selects no nodes; every split needs at least one node")
    return count


def stratified_split(labels: Any, fractions: Sequence[float], *, seed: int) -> list[Any]:
    """Index tensors of a seeded split of ``labels`` by ``fractions`` (summing to at most 1; the rest is the last part).

    Each class is split in the same proportions, rounding so that every part gets
    at least one item of a class that has enough; deterministic for a seed.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    parts: list[list[Any]] = [[] for _ in range(len(fractions) + 1)]
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).view(-1)
        members = members[torch.randperm(members.numel(), generator=generator)]
        start = 0
        for part, fraction in enumerate(fractions):
            size = int(round(fraction * members.numel()))
            if members.numel() - start > len(fractions) - part:  # keep one for each later part when there are enough
                size = max(size, 1)
            parts[part].append(members[start : start + size])
            start += size
        parts[-1].append(members[start:])
    return [torch.sort(torch.cat(chunks))[0] for chunks in parts]


def negative_pairs(edge_index: Any, num_nodes: int, count: int, *, directed: bool = False, generator: Any = None) -> Any:
    """``count`` distinct node pairs ``[2, count]`` that are neither edges of ``edge_index`` nor self-loops.

    Drawn with torch's random stream (or ``generator``), so a seeded trial draws
    the same pairs: PyG's ``negative_sampling`` draws from Python's global
    ``random`` module, which no trial seed reaches. For an undirected graph a
    pair and its reverse count as the same pair. Fewer than ``count`` come back
    only when the graph has fewer non-edges.
    """
    import torch

    device = edge_index.device
    row, col = edge_index.cpu()
    if not directed:
        row, col = torch.minimum(row, col), torch.maximum(row, col)
    taken = torch.unique(row * num_nodes + col)
    found = torch.empty(0, dtype=torch.long)
    for _ in range(20):
        missing = count - found.numel()
        if missing <= 0:
            break
        draw = max(2 * missing, 64)
        src = torch.randint(0, num_nodes, (draw,), generator=generator)
        dst = torch.randint(0, num_nodes, (draw,), generator=generator)
        if not directed:
            src, dst = torch.minimum(src, dst), torch.maximum(src, dst)
        keys = src * num_nodes + dst
        keys = _first_unique(keys[(src != dst) & ~torch.isin(keys, taken) & ~torch.isin(keys, found)])
        found = torch.cat([found, keys[:missing]])
    pairs = torch.stack([found // num_nodes, found % num_nodes])
    return pairs.to(device)


def _first_unique(keys: Any) -> Any:
    """The distinct values of ``keys`` in the order they first appear (a deterministic dedup)."""
    import torch

    values, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((values.numel(),), keys.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
    return values[torch.argsort(first)]


def degree_profile(data: Any) -> Any:
    """Features for a graph that has none: PyG's local degree profile (the degree and the min / max / mean /
    std of the neighbours' degrees, 5 columns), so there is still something to learn from."""
    from torch_geometric.transforms import LocalDegreeProfile

    return LocalDegreeProfile()(data.clone()).x.float()


def check_fanouts(fanouts: Any) -> list[int]:
    """``fanouts`` as a list of ints, each ``-1`` (every neighbour) or ``>= 1``; a ValueError says what is wrong."""
    valid = "a non-empty list of ints, one per hop, each -1 (every neighbour) or >= 1 (at most that many)"
    if isinstance(fanouts, (str, bytes)) or not isinstance(fanouts, Sequence):
        raise ValueError(f"fanouts must be {valid}; got {fanouts!r}")
    if len(fanouts) == 0:
        raise ValueError(f"fanouts is empty; it must be {valid}")
    out = []
    for hop, fanout in enumerate(fanouts):
        if isinstance(fanout, bool) or not isinstance(fanout, numbers.Integral):
            raise ValueError(
                f"fanouts[{hop}] is {fanout!r} ({type(fanout).__name__}), not an int; fanouts must be {valid}")
        if fanout != -1 and fanout < 1:
            raise ValueError(f"fanouts[{hop}] is {int(fanout)}; fanouts must be {valid}")
        out.append(int(fanout))
    return out
