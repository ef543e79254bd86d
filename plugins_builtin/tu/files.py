"""Reading the TU benchmark text files (Morris et al. 2020), checked line by line.

Each file is numbers separated by commas, one record per line. Everything a
malformed collection can do wrong is named with its file and line: a ragged
line, a node id outside the graph indicator, a graph indicator that skips
ids, fewer graph labels than graphs, an edge between two graphs. Nothing is
written next to the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm.plugins import DataError


def read_table(path: Path, *, columns: int | None, kind: type) -> Any:
    """The file as a numpy array of ``kind`` (one row per line), or a DataError naming the bad line."""
    import numpy as np

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows = []
    width = columns
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if width is None:
            width = len(fields)
        if len(fields) != width:
            raise DataError(f"{path}: line {number} has {len(fields)} value(s), expected {width} (a ragged file)")
        try:
            rows.append([kind(float(field)) if kind is int and "." in field else kind(field) for field in fields])
        except ValueError:
            raise DataError(f"{path}: line {number} is not {'integers' if kind is int else 'numbers'}: {line.strip()[:80]!r}") from None
    if not rows:
        raise DataError(f"{path}: the file is empty")
    return np.asarray(rows, dtype=np.int64 if kind is int else np.float64)


def read_tu(raw: Path, name: str, *, node_attributes: bool) -> tuple[list[Any], dict[str, Any]]:
    """The graphs of a TU collection as PyG ``Data`` (``x`` float32, ``edge_index``, ``y`` of shape [1]), and facts about it."""
    import numpy as np
    import torch
    from torch_geometric.data import Data

    def part(suffix: str) -> Path:
        return raw / f"{name}_{suffix}.txt"

    indicator = read_table(part("graph_indicator"), columns=1, kind=int)[:, 0]
    num_nodes = len(indicator)
    graph_ids = np.unique(indicator)
    num_graphs = int(graph_ids.max())
    if graph_ids.min() != 1 or len(graph_ids) != num_graphs:
        missing = sorted(set(range(1, num_graphs + 1)) - set(graph_ids.tolist()))[:3]
        raise DataError(
            f"{part('graph_indicator')}: graph ids must run 1..{num_graphs} without gaps, "
            f"but {', '.join(map(str, missing)) if missing else graph_ids.min()} {'is' if len(missing) == 1 else 'are'} missing"
        )
    if np.any(np.diff(indicator) < 0):
        line = int(np.argmax(np.diff(indicator) < 0)) + 2
        raise DataError(f"{part('graph_indicator')}: line {line}: nodes must be listed graph by graph (ids never decrease)")
    labels = read_table(part("graph_labels"), columns=1, kind=int)[:, 0]
    if len(labels) != num_graphs:
        raise DataError(f"{part('graph_labels')}: {len(labels)} label(s) for {num_graphs} graphs; every graph needs one")
    edges = read_table(part("A"), columns=2, kind=int) - 1
    if edges.min() < 0 or edges.max() >= num_nodes:
        bad = int(edges.min() + 1 if edges.min() < 0 else edges.max() + 1)
        line = int(np.argmax((edges < 0).any(1) | (edges >= num_nodes).any(1))) + 1
        raise DataError(f"{part('A')}: line {line}: node id {bad} is outside 1..{num_nodes} (the graph indicator's nodes)")
    across = indicator[edges[:, 0]] != indicator[edges[:, 1]]
    if across.any():
        line = int(np.argmax(across)) + 1
        raise DataError(f"{part('A')}: line {line}: the edge joins nodes of graphs {indicator[edges[line - 1, 0]]} and {indicator[edges[line - 1, 1]]}")

    features, described = [], []
    if part("node_labels").is_file():
        node_labels = read_table(part("node_labels"), columns=None, kind=int)[:, 0]
        if len(node_labels) != num_nodes:
            raise DataError(f"{part('node_labels')}: {len(node_labels)} line(s) for {num_nodes} nodes")
        values, codes = np.unique(node_labels, return_inverse=True)
        features.append(np.eye(len(values), dtype=np.float32)[codes])
        described.append(f"one-hot node labels ({len(values)})")
    if node_attributes and part("node_attributes").is_file():
        attributes = read_table(part("node_attributes"), columns=None, kind=float)
        if len(attributes) != num_nodes:
            raise DataError(f"{part('node_attributes')}: {len(attributes)} line(s) for {num_nodes} nodes")
        if not np.isfinite(attributes).all():
            raise DataError(f"{part('node_attributes')}: line {int(np.argmax(~np.isfinite(attributes).all(1))) + 1} holds NaN or inf")
        spread = attributes.std(0)
        attributes = (attributes - attributes.mean(0)) / np.where(spread > 0, spread, 1.0)  # z-scored: raw values reach 100s
        features.append(attributes.astype(np.float32))
        described.append(f"z-scored node attributes ({attributes.shape[1]})")
    x_all = np.concatenate(features, axis=1) if features else np.ones((num_nodes, 1), dtype=np.float32)
    if not features:
        described.append("a constant 1 (no node labels or attributes)")

    classes, y_all = np.unique(labels, return_inverse=True)
    starts = np.searchsorted(indicator, np.arange(1, num_graphs + 2))
    edge_graph = indicator[edges[:, 0]] - 1
    order = np.argsort(edge_graph, kind="stable")
    edges, edge_graph = edges[order], edge_graph[order]
    edge_starts = np.searchsorted(edge_graph, np.arange(num_graphs + 1))
    x_tensor, edge_tensor = torch.from_numpy(x_all), torch.from_numpy(edges.T.copy())
    graphs = []
    for g in range(num_graphs):
        first, last = int(starts[g]), int(starts[g + 1])
        local = edge_tensor[:, int(edge_starts[g]) : int(edge_starts[g + 1])] - first
        graphs.append(Data(x=x_tensor[first:last].clone(), edge_index=local.clone(), y=torch.tensor([int(y_all[g])])))
    facts = {
        "name": name,
        "features": ", ".join(described),
        "labels": {str(int(value)): index for index, value in enumerate(classes)},
    }
    return graphs, facts
