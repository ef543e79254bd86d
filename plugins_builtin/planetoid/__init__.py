"""Planetoid citation graphs (Cora, CiteSeer, PubMed) from their raw files, with the public split.

The raw files are read in place and nothing is written next to them, so a
shared or read-only data folder is fine.

The raw files are a trust boundary: seven of them are pickles, usually
downloaded from somewhere, and unpickling with plain :mod:`pickle` (as PyG's
``read_planetoid_data`` does) runs any code a tampered file names. They are
therefore read by :mod:`autoglm.plugins_builtin.planetoid.files`, whose
unpickler admits only the numpy, scipy-CSR and ``defaultdict(list)`` globals
the real files hold and refuses anything else with a :class:`DataError`
before it runs; the graph it builds is the one PyG's reader gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from autoglm.plugins import DataError, hookimpl, is_out_of_memory
from autoglm.plugins_builtin.planetoid.files import PICKLED_PARTS, TEST_INDEX_PART, read_planetoid

RAW_NAMES = (*PICKLED_PARTS, TEST_INDEX_PART)


class PlanetoidLoader:
    def __init__(
        self,
        *,
        dataset: Literal["Cora", "CiteSeer", "PubMed"] = "Cora",
        root: Path = Path("data/planetoid"),
        normalize_features: bool = True,
    ) -> None:
        self.dataset = dataset
        self.root = Path(root).expanduser()
        self.normalize_features = normalize_features

    def describe(self) -> dict[str, Any]:
        from autoglm.plugins import files_checksum

        prefix = self.dataset.lower()
        checksum = None if self.missing_files() else files_checksum([self.raw_dir / f"ind.{prefix}.{n}" for n in RAW_NAMES])
        return {"name": self.dataset, "root": str(self.root.resolve())} | ({"checksum": checksum} if checksum else {})

    @property
    def raw_dir(self) -> Path:
        return self.root / self.dataset / "raw"

    def missing_files(self) -> list[str]:
        prefix = self.dataset.lower()
        return [f"ind.{prefix}.{n}" for n in RAW_NAMES if not (self.raw_dir / f"ind.{prefix}.{n}").is_file()]

    def check(self) -> None:
        """Fail early (``autoglm validate``, before a run directory exists) when files are missing."""
        missing = self.missing_files()
        if missing:
            where = self.raw_dir.resolve()
            raise DataError(
                f"Planetoid {self.dataset}: raw files not found in {str(where)!r} (missing: {', '.join(missing)}). "
                f"Put the 8 files ind.{self.dataset.lower()}.* from the Planetoid data/ folder there, "
                "or point data.options.root at the folder that holds "
                f"'{self.dataset}/raw/' (e.g. --set data.options.root=PATH)"
            )

    def load(self) -> Any:
        self.check()
        try:
            data = read_planetoid(self.raw_dir, self.dataset.lower())
        except DataError as exc:
            raise DataError(f"Planetoid {self.dataset}: {exc}") from None
        except Exception as exc:  # a case the checks missed: still one message, not a traceback
            if is_out_of_memory(exc):
                raise DataError(
                    f"Planetoid {self.dataset}: out of memory reading the raw files in {str(self.raw_dir)!r}; "
                    "the dataset does not fit this machine's memory"
                ) from None
            raise DataError(
                f"Planetoid {self.dataset}: cannot read the raw files in {str(self.raw_dir)!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if self.normalize_features:
            data.x = data.x / data.x.sum(dim=-1, keepdim=True).clamp(min=1.0)
        return data


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register("planetoid", PlanetoidLoader, summary="Cora / CiteSeer / PubMed citation graphs (public split)")
