"""Open Graph Benchmark datasets from a local folder in OGB's own layout: node (``ogbn-``), link (``ogbl-``)
and graph (``ogbg-``) property prediction.

``{name: ogb, options: {name: ogbn-arxiv, root: data/ogb}}`` reads
``root/ogbn_arxiv/raw/*.csv.gz`` and the official split under
``root/ogbn_arxiv/split/<split>/`` in place, with the ``ogb`` package's raw
reader (``pip install 'autoglm[ogb]'``); nothing is downloaded and nothing is
written into the folder. The official split is kept: node datasets get it as
the graph's masks, graph datasets as each graph's ``split``, link datasets as
``split_edge`` (training edges for message passing, OGB's validation and test
negatives held out). The evaluator's metric is recorded as ``ogb_metric``; to
select on it, give the task the same metric (``acc`` for ogbn and ogbg-ppa,
``auc`` for the binary ogbg-mol datasets, ``hits@20/50/100`` for ogbl-ddi,
ogbl-collab and ogbl-ppa). A dataset without node features gets the local
degree profile.

OGB's dataset classes are not used: they save and reload a processed file
with ``torch.load``, which torch 2.6 and later refuse for PyG objects unless
told to trust the file, and they would write ``processed/`` next to the data.
Refused with a message: multi-task and regression datasets (``ogbn-proteins``,
``ogbg-molpcba``, ``ogbg-molesol``), heterogeneous ones (``ogbn-mag``), and
those whose split is not positive / negative edge pairs (``ogbl-citation2``,
the knowledge graphs, ``ogbl-vessel``).
"""

from __future__ import annotations

import contextlib
import difflib
import io
from pathlib import Path
from typing import Any

from autoglm.plugins import DataError, files_checksum, hookimpl

SPLIT_FILES = ("train", "valid", "test")
#: Dataset-name prefix -> the ogb module whose master.csv describes it.
KINDS = {"ogbn-": "nodeproppred", "ogbg-": "graphproppred", "ogbl-": "linkproppred"}
#: Link datasets whose split is positive and negative pairs (valid/test ``edge`` and ``edge_neg``).
PAIR_SPLIT_LINKS = ("ogbl-collab", "ogbl-ddi", "ogbl-ppa")


class OgbDataset:
    def __init__(self, *, name: str = "ogbn-arxiv", root: Path = Path("data/ogb")) -> None:
        if not name.startswith(tuple(KINDS)):
            raise ValueError(f"name must be an OGB dataset name (ogbn-..., ogbl-... or ogbg-...), got {name!r}")
        self.name, self.root = name, Path(root)
        self.kind = KINDS[name[:5]]

    @property
    def folder(self) -> Path:
        return self.root / self.name.replace("-", "_")

    def _meta(self) -> dict[str, str]:
        try:
            import importlib

            import pandas as pd

            module = importlib.import_module(f"ogb.{self.kind}")
        except ImportError:
            raise DataError(
                "reading OGB folders needs the ogb package: pip install 'autoglm[ogb]' (or pip install ogb)"
            ) from None
        master = pd.read_csv(Path(module.__file__).parent / "master.csv", index_col=0, keep_default_na=False)
        if self.name not in master:
            close = difflib.get_close_matches(self.name, list(master), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(master)}"
            raise DataError(f"OGB has no {self.kind[:-8]}-property dataset {self.name!r}{hint}")
        meta = {k: str(v) for k, v in master[self.name].items()}
        if meta.get("is hetero") == "True" or meta.get("binary") == "True":
            raise DataError(f"{self.name} is a heterogeneous or binary-format OGB dataset; only homogeneous ones are read")
        if self.kind != "linkproppred" and int(meta["num tasks"]) != 1:
            raise DataError(f"{self.name} has {meta['num tasks']} label tasks per item (multi-task); the tasks here take one")
        if "classification" not in meta["task type"] and self.kind != "linkproppred":
            raise DataError(f"{self.name} is a {meta['task type']} dataset; only classification datasets are read")
        if self.kind == "linkproppred" and self.name not in PAIR_SPLIT_LINKS:
            raise DataError(
                f"{self.name}'s split is not positive / negative edge pairs; the link datasets read are "
                f"{', '.join(PAIR_SPLIT_LINKS)}"
            )
        return meta

    def _required(self, meta: dict[str, str]) -> list[Path]:
        raw = self.folder / "raw"
        files = [raw / "edge.csv.gz", raw / "num-node-list.csv.gz", raw / "num-edge-list.csv.gz"]
        files += {"nodeproppred": [raw / "node-label.csv.gz"], "graphproppred": [raw / "graph-label.csv.gz"]}.get(self.kind, [])
        if meta["has_node_attr"] == "True":
            files.append(raw / "node-feat.csv.gz")
        split = self.folder / "split" / meta["split"]
        suffix = ".pt" if self.kind == "linkproppred" else ".csv.gz"
        return files + [split / f"{part}{suffix}" for part in SPLIT_FILES]

    def check(self) -> None:
        meta = self._meta()
        missing = [p for p in self._required(meta) if not p.is_file()]
        if missing:
            raise DataError(
                f"OGB {self.name}: files missing in OGB's layout under {str(self.folder)!r}: "
                f"{', '.join(str(p.relative_to(self.folder)) for p in missing)} (nothing is downloaded here)"
            )

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"name": self.name, "root": str(self.root)}
        with contextlib.suppress(DataError):
            meta = self._meta()
            facts |= {"ogb_metric": meta["eval metric"], "ogb_split": meta["split"]}
            checksum = files_checksum(self._required(meta))
            if checksum:
                facts["checksum"] = checksum
        return facts

    def load(self) -> Any:
        import pandas as pd
        from ogb.io.read_graph_raw import read_csv_graph_raw

        meta = self._meta()
        self.check()
        extra = [] if meta["additional node files"] == "None" else meta["additional node files"].split(",")
        chatter = io.StringIO()  # ogb prints progress: not for a command's output
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                graphs = read_csv_graph_raw(
                    str(self.folder / "raw"), add_inverse_edge=meta["add_inverse_edge"] == "True",
                    additional_node_files=extra, additional_edge_files=[],
                )
            label_file = {"nodeproppred": "node-label.csv.gz", "graphproppred": "graph-label.csv.gz"}.get(self.kind)
            labels = None if label_file is None else pd.read_csv(self.folder / "raw" / label_file, compression="gzip", header=None).values
        except Exception as exc:
            raise DataError(f"OGB {self.name}: cannot read {str(self.folder / 'raw')!r}: {type(exc).__name__}: {exc}") from None
        split = self.folder / "split" / meta["split"]
        if self.kind == "nodeproppred":
            return self._node_graph(graphs[0], labels, split, meta)
        if self.kind == "graphproppred":
            return self._graph_list(graphs, labels, split)
        return self._link_graph(graphs[0], split)

    def _index(self, split: Path, part: str, count: int) -> Any:
        import numpy as np
        import pandas as pd

        path = split / f"{part}.csv.gz"
        try:
            index = pd.read_csv(path, compression="gzip", header=None).values[:, 0].astype(np.int64)
        except Exception as exc:
            raise DataError(f"OGB {self.name}: cannot read {path}: {exc}") from None
        if index.size and (index.min() < 0 or index.max() >= count):
            raise DataError(f"OGB {self.name}: {path} names items outside 0..{count - 1}")
        return index

    def _data(self, graph: dict[str, Any]) -> Any:
        import numpy as np
        import torch
        from torch_geometric.data import Data

        from autoglm.plugins.graphs import degree_profile

        data = Data(edge_index=torch.from_numpy(graph["edge_index"]).long(), num_nodes=int(graph["num_nodes"]))
        features = graph["node_feat"]
        data.x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)) if features is not None else degree_profile(data)
        return data

    def _labels(self, values: Any, count: int, what: str) -> Any:
        import numpy as np
        import torch

        if values.shape[0] != count:
            raise DataError(f"OGB {self.name}: {what} labels: {values.shape[0]} rows for {count} {what}s")
        y = values[:, 0]
        if np.issubdtype(y.dtype, np.floating):
            y = np.where(np.isnan(y), -1, y)
        return torch.from_numpy(y.astype(np.int64))

    def _node_graph(self, graph: dict[str, Any], labels: Any, split: Path, meta: dict[str, str]) -> Any:
        import torch

        data = self._data(graph)
        data.y = self._labels(labels, data.num_nodes, "node")
        data.num_classes = int(meta["num classes"])
        for part, mask_name in zip(SPLIT_FILES, ("train_mask", "val_mask", "test_mask")):
            mask = torch.zeros(data.num_nodes, dtype=torch.bool)
            mask[torch.from_numpy(self._index(split, part, data.num_nodes))] = True
            setattr(data, mask_name, mask)
        return data

    def _graph_list(self, graphs: list[dict[str, Any]], labels: Any, split: Path) -> list[Any]:
        y = self._labels(labels, len(graphs), "graph")
        out = [self._data(graph) for graph in graphs]
        for i, data in enumerate(out):
            data.y = y[i : i + 1]
        for part, name in zip(SPLIT_FILES, ("train", "val", "test")):
            for i in self._index(split, part, len(out)).tolist():
                out[i].split = name
        return out

    def _link_graph(self, graph: dict[str, Any], split: Path) -> Any:
        import torch

        data = self._data(graph)
        split_edge = {}
        for part in SPLIT_FILES:
            path = split / f"{part}.pt"
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise DataError(f"OGB {self.name}: cannot read {path}: {type(exc).__name__}: {exc}") from None
            if not isinstance(saved, dict) or "edge" not in saved or (part != "train" and "edge_neg" not in saved):
                raise DataError(f"OGB {self.name}: {path} holds no 'edge'{'' if part == 'train' else ' and edge_neg'} pairs")
            split_edge[part] = {k: torch.as_tensor(v).long() for k, v in saved.items() if k in ("edge", "edge_neg")}
        data.split_edge = split_edge
        return data


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register(
        "ogb", OgbDataset,
        summary="OGB node / link / graph datasets from a local folder in OGB's layout, official split (extra: ogb)",
    )
