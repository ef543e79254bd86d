"""A user's own graph from CSV / TSV files: an edge list, and optionally a node table and graph labels.

- **Node classification**: ``edges`` (``src,dst``) and ``nodes`` (``id,label`` and
  feature columns). Ids may be strings or any integers; labels may be strings
  (classes are numbered in sorted order); an empty label means "no label"
  (the node passes messages but sits in no split and is still predicted).
- **Link prediction**: ``edges`` alone is enough.
- **Graph classification**: ``edges`` with a graph-id column (``graph:``) and
  ``graph_labels`` (``graph,label``); a node table, if given, carries the
  same graph column.

A graph without feature columns gets structural ones: PyG's local degree
profile (degree and the min / max / mean / std of the neighbours' degrees).
Files are read in place (a read-only folder is fine) with Python's ``csv``
module; every problem is a DataError naming the file, the line and the column.
What was built is cached outside the data folder (``$AUTOGLM_CACHE_DIR/csv``,
by default ``~/.cache/autoglm/csv``), keyed by the files' bytes and the
options, so a second run does not parse the files again (``cache: false``
turns it off).
Parquet is not read: no well-kept reader is a dependency, and pandas or
pyarrow would be one for this alone.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterator, Literal

from autoglm.plugins import DataError, cache_dir, files_checksum, hookimpl, label_order
from autoglm.plugins.graphs import degree_profile

log = logging.getLogger(__name__)
#: Bumped when what the cache holds changes, so an old cache file is read as a miss.
CACHE_FORMAT = 1

Delimiter = Literal["auto", ",", "\t", ";", "|"]
#: At most this many distinct classes: more means the label column is an id or a number.
MAX_CLASSES = 10_000


class Table:
    """One CSV / TSV file: its header and its rows with their line numbers."""

    def __init__(self, path: Path, delimiter: str, what: str) -> None:
        self.path, self.what = path, what
        if not path.is_file():
            raise DataError(f"{what} file not found: {str(path)!r}")
        self.delimiter = ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",") if delimiter == "auto" else delimiter
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                self.header = [name.strip() for name in next(reader)]
            except StopIteration:
                raise DataError(f"{path}: the file is empty; expected a header line and rows") from None
            except (csv.Error, UnicodeDecodeError) as exc:
                raise DataError(f"{path}: not a readable CSV file: {exc}") from None
            self.rows: list[tuple[int, list[str]]] = []
            try:
                for values in reader:
                    if not values or (len(values) == 1 and not values[0].strip()):
                        continue  # blank line
                    if len(values) != len(self.header):
                        raise DataError(
                            f"{path}: line {reader.line_num} has {len(values)} value(s), the header has "
                            f"{len(self.header)} ({', '.join(self.header)}): a ragged row"
                        )
                    self.rows.append((reader.line_num, [v.strip() for v in values]))
            except (csv.Error, UnicodeDecodeError) as exc:
                raise DataError(f"{path}: line {reader.line_num}: {exc}") from None

    def column(self, name: str, option: str) -> int:
        if name not in self.header:
            raise DataError(
                f"{self.path}: no column {name!r} (data.options.{option}); the header has: {', '.join(self.header)}"
            )
        return self.header.index(name)

    def values(self, index: int) -> Iterator[tuple[int, str]]:
        for line, values in self.rows:
            yield line, values[index]


class CsvGraph:
    """Loads a graph (or many, with ``graph:``) from CSV / TSV files."""

    def __init__(
        self,
        *,
        edges: Path,
        nodes: Path | None = None,
        graph_labels: Path | None = None,
        source: str = "src",
        target: str = "dst",
        id: str = "id",
        label: str = "label",
        features: list[str] | str | None = None,
        weight: str | None = None,
        graph: str | None = None,
        directed: bool = False,
        delimiter: Delimiter = "auto",
        cache: bool = True,
    ) -> None:
        if (graph is None) != (graph_labels is None):
            raise ValueError("graph and graph_labels go together: the graph-id column of the edges and the file of graph labels")
        if source == target:
            raise ValueError(f"source and target must be two columns, got {source!r} for both")
        self.edges, self.nodes, self.graph_labels = Path(edges), None if nodes is None else Path(nodes), graph_labels
        self.source, self.target, self.id, self.label = source, target, id, label
        self.features, self.weight, self.graph = features, weight, graph
        self.directed, self.delimiter, self.cache = directed, delimiter, cache
        self._facts: dict[str, Any] = {}
        self._options = {
            "source": source, "target": target, "id": id, "label": label, "features": features, "weight": weight,
            "graph": graph, "directed": directed, "delimiter": delimiter,
        }

    def files(self) -> list[Path]:
        return [Path(p) for p in (self.edges, self.nodes, self.graph_labels) if p is not None]

    def check(self) -> None:
        """The files exist (``autoglm validate`` and the start of a run call this)."""
        for path, what in zip(self.files(), ("edges", "nodes", "graph_labels")):
            if not path.is_file():
                raise DataError(f"{what} file not found: {str(path)!r} (data.options.{what})")

    def describe(self) -> dict[str, Any]:
        checksum = files_checksum(self.files())
        return {"name": self.edges.stem, "edges": str(self.edges), **self._facts} | ({"checksum": checksum} if checksum else {})

    # -- reading ---------------------------------------------------------

    def load(self) -> Any:
        """The graph (or graphs), from the cache when these files with these options were read before."""
        self.check()
        path = self._cache_path()
        if path is not None and path.is_file():
            cached = _read_cache(path)
            if cached is not None:
                self._facts = cached["facts"]
                log.info("csv: %s read from the cache %s", self.edges.name, path)
                return _rebuild(cached["graphs"])
        loaded = self._parse()
        if path is not None:
            _write_cache(path, loaded, self._facts)
        return loaded

    def _cache_path(self) -> Path | None:
        """Keyed by the files' names and bytes and by every option that changes what is built."""
        if not self.cache:
            return None
        checksum = files_checksum(self.files())
        if checksum is None:
            return None
        key = hashlib.sha256(json.dumps([checksum, self._options, CACHE_FORMAT], sort_keys=True, default=str).encode())
        return cache_dir("csv") / f"{self.edges.stem}-{key.hexdigest()[:20]}.pt"

    def _parse(self) -> Any:
        edges = Table(self.edges, self.delimiter, "edges")
        if not edges.rows:
            raise DataError(f"{self.edges}: no edges (only a header); a graph needs at least one edge")
        nodes = Table(self.nodes, self.delimiter, "nodes") if self.nodes is not None else None
        ids, id_lines = self._node_ids(edges, nodes)
        pairs, weights = self._pairs(edges, ids)
        labels = self._labels(nodes, ids) if nodes is not None and self.label in nodes.header else None
        features = self._feature_matrix(nodes, len(ids)) if nodes is not None else None
        if self.graph is not None:
            return self._graphs(edges, nodes, ids, pairs, weights, features)
        return self._one_graph(ids, pairs, weights, labels, features)

    def _node_ids(self, edges: Table, nodes: Table | None) -> tuple[dict[str, int], dict[str, int]]:
        """Node id -> index: the node table's order, or the edge list's order of first appearance."""
        ids: dict[str, int] = {}
        lines: dict[str, int] = {}
        if nodes is not None:
            column = nodes.column(self.id, "id")
            for line, value in nodes.values(column):
                if not value:
                    raise DataError(f"{nodes.path}: line {line}: empty node id (column {self.id!r})")
                if value in ids:
                    raise DataError(f"{nodes.path}: line {line}: node id {value!r} again (first at line {lines[value]}); ids must be unique")
                ids[value], lines[value] = len(ids), line
            if not ids:
                raise DataError(f"{nodes.path}: no nodes (only a header)")
            return ids, lines
        for name, option in ((self.source, "source"), (self.target, "target")):
            edges.column(name, option)
        for line, values in edges.rows:
            for name in (self.source, self.target):
                value = values[edges.header.index(name)]
                if not value:
                    raise DataError(f"{edges.path}: line {line}: empty node id in column {name!r}")
                if value not in ids:
                    ids[value], lines[value] = len(ids), line
        return ids, lines

    def _pairs(self, edges: Table, ids: dict[str, int]) -> tuple[list[tuple[int, int]], list[float] | None]:
        src, dst = edges.column(self.source, "source"), edges.column(self.target, "target")
        weight = edges.column(self.weight, "weight") if self.weight is not None else None
        pairs, weights = [], [] if weight is not None else None
        for line, values in edges.rows:
            ends = []
            for column in (src, dst):
                value = values[column]
                if value not in ids:
                    where = f"not in {self.nodes}" if self.nodes is not None else "empty"
                    raise DataError(
                        f"{edges.path}: line {line}: the edge names node {value!r} ({edges.header[column]}), {where}"
                    )
                ends.append(ids[value])
            pairs.append((ends[0], ends[1]))
            if weights is not None:
                weights.append(_number(values[weight], edges.path, line, self.weight))
        return pairs, weights

    def _labels(self, nodes: Table, ids: dict[str, int]) -> tuple[list[int], list[str]]:
        """Class index per node (-1 for an empty label) and the class names, in sorted order."""
        column = nodes.column(self.label, "label")
        raw = [value for _, value in nodes.values(column)]
        names = sorted({v for v in raw if v}, key=label_order)
        if not names:
            raise DataError(
                f"{nodes.path}: the label column {self.label!r} is empty on every line; give labels, or drop the "
                "column (link prediction needs none)"
            )
        if len(names) > MAX_CLASSES:
            raise DataError(f"{nodes.path}: column {self.label!r} holds {len(names)} distinct labels: not classes (more than {MAX_CLASSES})")
        index = {name: i for i, name in enumerate(names)}
        return [index[v] if v else -1 for v in raw], names

    def _feature_columns(self, nodes: Table) -> list[int]:
        taken = {self.id, self.label, *([self.graph] if self.graph else [])}
        if self.features is None:
            return [i for i, name in enumerate(nodes.header) if name not in taken]
        if isinstance(self.features, str):
            chosen = [i for i, name in enumerate(nodes.header) if name.startswith(self.features)]
            if not chosen:
                raise DataError(f"{nodes.path}: no column starts with {self.features!r} (data.options.features); the header has: {', '.join(nodes.header)}")
            return chosen
        return [nodes.column(name, "features") for name in self.features]

    def _feature_matrix(self, nodes: Table, count: int) -> Any:
        import torch

        columns = self._feature_columns(nodes)
        if not columns:
            return None
        matrix = torch.empty((count, len(columns)), dtype=torch.float32)
        for row, (line, values) in enumerate(nodes.rows):
            for j, column in enumerate(columns):
                matrix[row, j] = _number(values[column], nodes.path, line, nodes.header[column])
        self._facts["features"] = len(columns)
        return matrix

    # -- building --------------------------------------------------------

    def _edge_index(self, pairs: list[tuple[int, int]], weights: list[float] | None) -> tuple[Any, Any]:
        import torch

        edge_index = torch.tensor(pairs, dtype=torch.long).view(-1, 2).t().contiguous()  # [2, 0] for no pairs
        weight = None if weights is None else torch.tensor(weights, dtype=torch.float32)
        if not self.directed:
            from torch_geometric.utils import to_undirected

            if weight is None:
                edge_index = to_undirected(edge_index)
            else:
                edge_index, weight = to_undirected(edge_index, weight, reduce="mean")
        return edge_index, weight

    def _one_graph(self, ids: dict[str, int], pairs: Any, weights: Any, labels: Any, features: Any) -> Any:
        import torch
        from torch_geometric.data import Data

        edge_index, weight = self._edge_index(pairs, weights)
        data = Data(edge_index=edge_index, num_nodes=len(ids))
        data.x = features if features is not None else degree_profile(data)
        if weight is not None:
            data.edge_weight = weight
        if labels is not None:
            data.y = torch.tensor(labels[0], dtype=torch.long)
            data.num_classes = len(labels[1])
            data.class_names = list(labels[1])  # the task records them: predictions name classes as the files do
            self._facts["classes"] = labels[1][:50]
            self._facts["labelled_nodes"] = sum(v >= 0 for v in labels[0])
        data.node_ids = list(ids)
        self._facts |= {"nodes": len(ids), "edges": len(pairs)}
        return data

    def _graphs(self, edges: Table, nodes: Table | None, ids: dict[str, int], pairs: Any, weights: Any, features: Any) -> list[Any]:
        import torch
        from torch_geometric.data import Data

        column = edges.column(self.graph, "graph")
        graph_of_node: dict[int, str] = {}
        if nodes is not None:
            graph_column = nodes.column(self.graph, "graph")
            for node, (_, values) in enumerate(nodes.rows):
                graph_of_node[node] = values[graph_column]
        members: dict[str, list[int]] = {}
        for (line, values), (a, b) in zip(edges.rows, pairs):
            graph = values[column]
            for node in (a, b):
                known = graph_of_node.setdefault(node, graph)
                if known != graph:
                    raise DataError(f"{edges.path}: line {line}: the edge joins graph {graph!r} to a node of graph {known!r}")
        for node, graph in graph_of_node.items():
            members.setdefault(graph, []).append(node)
        labels = Table(Path(self.graph_labels), self.delimiter, "graph_labels")
        id_column, label_column = labels.column(self.graph, "graph"), labels.column(self.label, "label")
        raw = {}
        for line, values in labels.rows:
            raw[values[id_column]] = (line, values[label_column])
        missing = [g for g in members if g not in raw]
        if missing:
            raise DataError(f"{labels.path}: no label for graph {missing[0]!r} ({len(missing)} graph(s) without one)")
        names = sorted({label for _, label in raw.values() if label}, key=label_order)
        classes = {name: i for i, name in enumerate(names)}
        graphs = []
        by_graph: dict[str, list[int]] = {}
        for index, (a, _) in enumerate(pairs):
            by_graph.setdefault(graph_of_node[a], []).append(index)
        for graph, nodes_of in members.items():
            line, label = raw[graph]
            if not label:
                raise DataError(f"{labels.path}: line {line}: graph {graph!r} has an empty label")
            local = {node: i for i, node in enumerate(nodes_of)}
            chosen = by_graph.get(graph, [])
            edge_index, _ = self._edge_index([(local[pairs[i][0]], local[pairs[i][1]]) for i in chosen], None)
            data = Data(edge_index=edge_index, num_nodes=len(nodes_of), y=torch.tensor([classes[label]]))
            data.x = features[torch.tensor(nodes_of)] if features is not None else degree_profile(data)
            data.graph_id = graph
            graphs.append(data)
        self._facts |= {"graphs": len(graphs), "classes": names[:50]}
        return graphs


def _read_cache(path: Path) -> dict[str, Any] | None:
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or foreign file: read the CSV again
        log.warning("csv: ignoring the unreadable cache file %s (%s)", path, exc)
        return None
    if not isinstance(saved, dict) or saved.get("format") != CACHE_FORMAT:
        return None
    return saved


def _write_cache(path: Path, loaded: Any, facts: dict[str, Any]) -> None:
    """Best effort (a read-only home must not stop a run): write-then-rename, so no reader sees half a file."""
    import torch

    graphs = [g.to_dict() for g in loaded] if isinstance(loaded, list) else loaded.to_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"format": CACHE_FORMAT, "graphs": graphs, "facts": facts, "many": isinstance(loaded, list)}, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("csv: cannot write the cache %s (%s); the files will be read again next time", path, exc)


def _rebuild(saved: Any) -> Any:
    from torch_geometric.data import Data

    return [Data.from_dict(g) for g in saved] if isinstance(saved, list) else Data.from_dict(saved)


def _number(text: str, path: Path, line: int, column: str) -> float:
    if not text:
        raise DataError(f"{path}: line {line}: missing value in column {column!r}")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: line {line}: column {column!r} holds {text[:40]!r}, not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}: column {column!r} holds {text!r}, not a finite number")
    return value


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register(
        "csv", CsvGraph,
        summary="Your own graph from CSV/TSV files: an edge list, a node table (ids, labels, features), graph labels",
    )
