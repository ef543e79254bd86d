"""Any dataset class of ``torch_geometric.datasets`` by name, from files already on disk.

``{name: pyg, options: {dataset: Amazon, root: data/amazon, args: {name: Photo}}}``
builds ``torch_geometric.datasets.Amazon(root=..., name="Photo")``. Two things
differ from calling PyG directly, both for machines without internet access
and for shared, read-only data folders:

- **Nothing is downloaded.** A dataset whose raw files are not under ``root``
  is a DataError naming the files PyG looks for and the folder it looks in,
  never a network attempt that hangs or a traceback.
- **Nothing is written into ``root``.** The dataset is built in a cache folder
  (``cache:``, by default ``~/.cache/autoglm/pyg``, or under ``$AUTOGLM_CACHE_DIR``) that mirrors ``root``'s files
  as symbolic links, so PyG's ``processed/`` files land in the cache, keyed by
  the dataset, its arguments and the raw files' sizes and times. A second run
  reuses them.

A dataset of one graph gives that graph (node classification, link
prediction); a dataset of many gives the list (graph classification).
PyG's own readers read the files (its Planetoid reader unpickles them: the
built-in ``planetoid`` loader is the one that does not trust them).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

from autoglm.plugins import DataError, cache_dir, hookimpl

log = logging.getLogger(__name__)


class PygDataset:
    def __init__(
        self, *, dataset: str, root: Path, args: dict[str, Any] | None = None, cache: Path | None = None
    ) -> None:
        if not dataset or not dataset.isidentifier():
            raise ValueError(f"dataset must be the name of a class in torch_geometric.datasets, got {dataset!r}")
        self.dataset, self.root, self.args = dataset, Path(root), dict(args or {})
        for key in ("root", "transform", "pre_transform", "pre_filter", "force_reload"):
            if key in self.args:
                raise ValueError(f"args.{key} is not an argument autoglm passes on; give root as data.options.root")
        self.cache = Path(cache) if cache is not None else cache_dir("pyg")

    def describe(self) -> dict[str, Any]:
        return {"name": f"{self.dataset}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})", "root": str(self.root)}

    def _class(self) -> Any:
        import torch_geometric.datasets as datasets

        names = [n for n in datasets.__all__ if isinstance(getattr(datasets, n, None), type)]
        if self.dataset not in names:
            close = difflib.get_close_matches(self.dataset, names, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; it has {', '.join(sorted(names)[:12])}, ..."
            raise DataError(f"torch_geometric.datasets has no dataset {self.dataset!r}{hint}")
        return getattr(datasets, self.dataset)

    def check(self) -> None:
        self._class()
        if not self.root.is_dir():
            raise DataError(f"pyg {self.dataset}: root {str(self.root)!r} is not a folder; put the dataset's raw files under it")

    def _mirror(self) -> Path:
        """A cache folder holding links to every file under ``root`` (PyG's own processed/ folders left out)."""
        files = sorted(
            p for p in self.root.rglob("*") if p.is_file() and "processed" not in p.relative_to(self.root).parts
        )
        key = json.dumps(
            [self.dataset, self.args, str(self.root.resolve()), [(str(p.relative_to(self.root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]],
            sort_keys=True, default=str,
        )
        mirror = self.cache / f"{self.dataset}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        try:
            for path in files:
                link = mirror / path.relative_to(self.root)
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.is_symlink():
                    os.symlink(path.resolve(), link)
        except OSError as exc:
            raise DataError(f"pyg {self.dataset}: cannot prepare the cache folder {str(mirror)!r} ({exc.strerror or exc}); set data.options.cache") from None
        return mirror

    def load(self) -> Any:
        cls = self._class()
        self.check()
        dataset_name, root = self.dataset, self.root

        class Offline(cls):  # type: ignore[misc, valid-type]
            def download(self) -> None:
                where = Path(self.raw_dir)
                try:
                    relative = where.relative_to(mirror)
                except ValueError:
                    relative = Path(where.name)
                wanted = [Path(p).name for p in self.raw_paths if not Path(p).exists()]
                raise DataError(
                    f"pyg {dataset_name}: its raw files are not under {str(root)!r} and nothing is downloaded here: "
                    f"put {', '.join(wanted[:8])}{' ...' if len(wanted) > 8 else ''} in {str(root / relative)!r}"
                )

        Offline.__name__ = cls.__name__  # PyG names some folders after the class
        mirror = self._mirror()
        chatter = io.StringIO()  # PyG prints "Processing... Done!" to stderr: kept for the debug log instead
        try:
            with contextlib.redirect_stderr(chatter), contextlib.redirect_stdout(chatter):
                dataset = Offline(root=str(mirror), **self.args)
        except DataError:
            raise
        except TypeError as exc:
            raise DataError(f"pyg {self.dataset}: the arguments {self.args} do not fit {self.dataset}: {exc}") from None
        except Exception as exc:
            raise DataError(f"pyg {self.dataset}: cannot read the files under {str(self.root)!r}: {type(exc).__name__}: {exc}") from None
        finally:
            if chatter.getvalue().strip():
                log.debug("pyg %s: %s", self.dataset, chatter.getvalue().strip())
        if len(dataset) == 1:
            return dataset[0]
        return [dataset[i] for i in range(len(dataset))]


@hookimpl
def autoglm_register_data_loaders(register: Any) -> None:
    register(
        "pyg", PygDataset,
        summary="Any torch_geometric.datasets class, from files already under root (never downloads, never writes there)",
    )
