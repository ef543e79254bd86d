"""Graph-classification collections in the TU benchmark format (MUTAG, PROTEINS, NCI1, ...), read in place.

``root/NAME/raw/NAME_A.txt``, ``NAME_graph_indicator.txt`` and
``NAME_graph_labels.txt`` are required; ``NAME_node_labels.txt`` (one-hot
encoded) and ``NAME_node_attributes.txt`` (z-scored, with
``node_attributes: true``) become the node features. PyG's ``TUDataset``
writes ``processed/`` next to ``raw/``; this loader writes nothing, so a
shared or read-only data folder is fine. Graph labels of any values (-1/1,
1/2) are mapped to 0..C-1 in sorted order (``summary.json`` records the map).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoglm.plugins import DataError, hookimpl

REQUIRED = ("A", "graph_indicator", "graph_labels")


class TUDatasetLoader:
    def __init__(self, *, name: str = "MUTAG", root: Path = Path("data/TU"), node_attributes: bool = False) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"name must be a dataset name such as MUTAG or PROTEINS, got {name!r}")
        self.name = name
        self.root = Path(root).expanduser()
        self.node_attributes = node_attributes
        self._facts: dict[str, Any] = {}

    @property
    def raw_dir(self) -> Path:
        nested = self.root / self.name / "raw"
        return nested if nested.is_dir() or not (self.root / self.name).is_dir() else self.root / self.name

    def check(self) -> None:
        """The required files are there (``autoglm validate`` and the start of a run call this)."""
        missing = [f"{self.name}_{part}.txt" for part in REQUIRED if not (self.raw_dir / f"{self.name}_{part}.txt").is_file()]
        if missing:
            raise DataError(
                f"TU {self.name}: files not found in {str(self.raw_dir.resolve())!r} (missing: {', '.join(missing)}). "
                f"Put the {self.name}_*.txt files of the TU collection there, or point data.options.root at the "
                f"folder that holds '{self.name}/raw/'"
            )

    def describe(self) -> dict[str, Any]:
        from autoglm.plugins import files_checksum

        files = sorted(self.raw_dir.glob(f"{self.name}_*.txt")) if self.raw_dir.is_dir() else []
        checksum = files_checksum(files) if files else None
        return {"name": self.name, "root": str(self.root.resolve()), **self._facts} | ({"checksum": checksum} if checksum else {})

    def load(self) -> list[Any]:
        from autoglm.plugins import is_out_of_memory
        from autoglm.plugins_builtin.tu.files import read_tu

        self.check()
        try:
            graphs, self._facts = read_tu(self.raw_dir, self.name, node_attributes=self.node_attributes)
        except DataError as exc:
            raise DataError(f"TU {self.name}: {exc}") from None
        except Exception as exc:
            if is_out_of_memory(exc):
                raise DataError(f"TU {self.name}: out of memory reading {str(self.raw_dir)!r}") from None
            raise
        return graphs


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register("tu", TUDatasetLoader, summary="TU graph-classification collections (MUTAG, PROTEINS, ...) from their raw files")
