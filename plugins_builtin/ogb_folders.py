"""Open Graph Benchmark node-property datasets (``ogbn-*``) from a local folder in OGB's own layout.

``{name: ogb, options: {name: ogbn-arxiv, root: data/ogb}}`` reads
``root/ogbn_arxiv/raw/*.csv.gz`` and the official split
``root/ogbn_arxiv/split/<split>/{train,valid,test}.csv.gz`` in place, with the
``ogb`` package's raw reader (``pip install 'autoglm[ogb]'``); nothing is
downloaded and nothing is written into the folder. The split becomes the
graph's masks, so node classification uses it as is, and the dataset's
evaluator metric is recorded (for the multi-class ogbn datasets it is
accuracy, the task's own objective).

OGB's dataset classes are not used: they save and reload a processed file
with ``torch.load``, which torch 2.6 and later refuse for PyG objects unless
told to trust the file, and they would write ``processed/`` next to the data.
Multi-label (``ogbn-proteins``) and heterogeneous (``ogbn-mag``) datasets are
refused with a message; link- and graph-property datasets are not read yet.
"""

from __future__ import annotations

import contextlib
import difflib
import io
from pathlib import Path
from typing import Any

from autoglm.plugins import DataError, files_checksum, hookimpl

SPLIT_FILES = ("train", "valid", "test")


class OgbNodeDataset:
    def __init__(self, *, name: str = "ogbn-arxiv", root: Path = Path("data/ogb")) -> None:
        if not name.startswith("ogbn-"):
            raise ValueError(
                f"name must be an OGB node-property dataset (ogbn-...), got {name!r}; link (ogbl-) and graph "
                "(ogbg-) datasets are not read yet"
            )
        self.name, self.root = name, Path(root)

    @property
    def folder(self) -> Path:
        return self.root / self.name.replace("-", "_")

    def _meta(self) -> dict[str, str]:
        try:
            import pandas as pd
            import ogb.nodeproppred
        except ImportError:
            raise DataError(
                "reading OGB folders needs the ogb package: pip install 'autoglm[ogb]' (or pip install ogb)"
            ) from None
        master = pd.read_csv(Path(ogb.nodeproppred.__file__).parent / "master.csv", index_col=0, keep_default_na=False)
        if self.name not in master:
            close = difflib.get_close_matches(self.name, list(master), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(master)}"
            raise DataError(f"OGB has no node-property dataset {self.name!r}{hint}")
        meta = {k: str(v) for k, v in master[self.name].items()}
        if meta["is hetero"] == "True" or meta["binary"] == "True":
            raise DataError(f"{self.name} is a heterogeneous or binary-format OGB dataset; only homogeneous ogbn datasets are read")
        if int(meta["num tasks"]) != 1:
            raise DataError(f"{self.name} has {meta['num tasks']} label tasks per node (multi-label); node classification takes one")
        return meta

    def _required(self, meta: dict[str, str]) -> list[Path]:
        raw = self.folder / "raw"
        files = [raw / "edge.csv.gz", raw / "num-node-list.csv.gz", raw / "num-edge-list.csv.gz", raw / "node-label.csv.gz"]
        if meta["has_node_attr"] == "True":
            files.append(raw / "node-feat.csv.gz")
        split = self.folder / "split" / meta["split"]
        return files + [split / f"{part}.csv.gz" for part in SPLIT_FILES]

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
        import numpy as np
        import pandas as pd
        import torch
        from ogb.io.read_graph_raw import read_csv_graph_raw
        from torch_geometric.data import Data

        meta = self._meta()
        self.check()
        extra = [] if meta["additional node files"] == "None" else meta["additional node files"].split(",")
        chatter = io.StringIO()  # ogb prints progress: not for a command's output
        try:
            with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                graph = read_csv_graph_raw(
                    str(self.folder / "raw"), add_inverse_edge=meta["add_inverse_edge"] == "True",
                    additional_node_files=extra, additional_edge_files=[],
                )[0]
            labels = pd.read_csv(self.folder / "raw" / "node-label.csv.gz", compression="gzip", header=None).values
        except Exception as exc:
            raise DataError(f"OGB {self.name}: cannot read {str(self.folder / 'raw')!r}: {type(exc).__name__}: {exc}") from None
        num_nodes = int(graph["num_nodes"])
        if labels.shape[0] != num_nodes:
            raise DataError(f"OGB {self.name}: node-label.csv.gz has {labels.shape[0]} rows for {num_nodes} nodes")
        y = labels[:, 0]
        y = np.where(np.isnan(y), -1, y) if np.issubdtype(y.dtype, np.floating) else y
        features = graph["node_feat"]
        data = Data(
            x=torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)) if features is not None else None,
            edge_index=torch.from_numpy(graph["edge_index"]).long(), y=torch.from_numpy(y.astype(np.int64)),
            num_nodes=num_nodes,
        )
        data.num_classes = int(meta["num classes"])
        split = self.folder / "split" / meta["split"]
        for part, mask_name in zip(SPLIT_FILES, ("train_mask", "val_mask", "test_mask")):
            try:
                index = pd.read_csv(split / f"{part}.csv.gz", compression="gzip", header=None).values[:, 0].astype(np.int64)
            except Exception as exc:
                raise DataError(f"OGB {self.name}: cannot read {split / f'{part}.csv.gz'}: {exc}") from None
            if index.size and (index.min() < 0 or index.max() >= num_nodes):
                raise DataError(f"OGB {self.name}: {split / f'{part}.csv.gz'} names nodes outside 0..{num_nodes - 1}")
            mask = torch.zeros(num_nodes, dtype=torch.bool)
            mask[torch.from_numpy(index)] = True
            setattr(data, mask_name, mask)
        return data


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register(
        "ogb", OgbNodeDataset,
        summary="OGB node-property datasets (ogbn-*) from a local folder in OGB's layout, official split (extra: ogb)",
    )
