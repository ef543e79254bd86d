"""Read the raw Planetoid files (``ind.<name>.*``) without trusting them.

Seven of the eight files are Python 2 pickles, and unpickling with plain
:mod:`pickle` runs whatever callables the file names: a tampered file would run
code the moment it is loaded. :class:`RestrictedUnpickler` therefore resolves
only the handful of globals the real files reference (numpy array
reconstruction, scipy's CSR matrix, ``defaultdict(list)``), and hands the
pickle inert stand-ins or narrow wrappers rather than the general callables:

- ``numpy.ndarray`` is a token the array rebuilder accepts, not a callable;
- ``numpy.dtype`` builds numeric dtypes only (bool, int, uint, float);
- scipy's ``csr_matrix`` is a plain record of its arrays: no scipy code runs
  and scipy need not be installed; the matrix is densified here with numpy.

Anything else is refused with a :class:`~autoglm.plugins.DataError` naming the
file and the global. After unpickling, every object is checked for type,
shape and index ranges, and the graph is built exactly as PyG's
``torch_geometric.io.read_planetoid_data`` builds it (same ``x``, ``y``,
``edge_index`` and public split masks), reusing PyG's helpers for everything
but the reading. numpy and torch are imported only when a file is read.
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autoglm.plugins import DataError

log = logging.getLogger(__name__)

PICKLED_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph")
FEATURE_PARTS = ("x", "tx", "allx")
LABEL_PARTS = ("y", "ty", "ally")
TEST_INDEX_PART = "test.index"
#: The public split validates on the ``VALIDATION_NODES`` nodes that follow the training nodes.
VALIDATION_NODES = 500

_RECONSTRUCT = "numpy array reconstruction"
_NDARRAY = "numpy array type (as an argument of the reconstruction)"
_DTYPE = "numeric numpy dtype"
_CSR = "scipy CSR sparse matrix (read as plain arrays)"
_DEFAULTDICT = "collections.defaultdict (the graph)"
_LIST = "list (adjacency lists)"

#: Every (module, name) a Planetoid pickle may reference, under the names Python 2 and
#: current numpy / scipy write; everything else is refused.
ADMITTED_GLOBALS: dict[tuple[str, str], str] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DTYPE,
    ("scipy.sparse.csr", "csr_matrix"): _CSR,
    ("scipy.sparse._csr", "csr_matrix"): _CSR,
    ("scipy.sparse", "csr_matrix"): _CSR,
    ("collections", "defaultdict"): _DEFAULTDICT,
    ("__builtin__", "list"): _LIST,
    ("builtins", "list"): _LIST,
}

#: numpy dtype kinds a feature or label array may have: bool, signed and unsigned int, float.
NUMERIC_KINDS = "biuf"


class _NdarrayToken:
    """Stands for ``numpy.ndarray`` inside a pickle: it can be passed to the rebuilder, never called."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY_TOKEN = _NdarrayToken()


class PickledCSR:
    """The state of a pickled scipy ``csr_matrix``, kept as data: unpickling it runs no scipy code."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _numpy_multiarray() -> Any:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


def _reconstruct_ndarray(subtype: Any, shape: Any, placeholder: Any) -> Any:
    """numpy's ``_reconstruct``, limited to plain arrays; the real dtype and data come with BUILD."""
    if subtype is not _NDARRAY_TOKEN or placeholder not in ("b", b"b"):
        raise ValueError(f"unexpected array reconstruction arguments ({subtype!r}, {placeholder!r})")
    import numpy

    return _numpy_multiarray()._reconstruct(numpy.ndarray, shape, placeholder)


def _numeric_dtype(spec: Any, align: Any = False, copy: Any = False) -> Any:
    """``numpy.dtype`` for numeric type codes such as ``'i4'`` or ``'<f8'`` only (no object or record dtypes)."""
    import numpy

    if not isinstance(spec, str) or not spec or len(spec) > 4:
        raise ValueError(f"unexpected dtype {spec!r}")
    dtype = numpy.dtype(spec, bool(align), bool(copy))
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"dtype {spec!r} is not numeric")
    return dtype


_RESOLVERS: dict[str, Callable[[], Any]] = {
    _RECONSTRUCT: lambda: _reconstruct_ndarray,
    _NDARRAY: lambda: _NDARRAY_TOKEN,
    _DTYPE: lambda: _numeric_dtype,
    _CSR: lambda: PickledCSR,
    _DEFAULTDICT: lambda: collections.defaultdict,
    _LIST: lambda: list,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ADMITTED_GLOBALS`; any other global is a :class:`DataError`.

    ``find_class`` is the one way a pickle reaches code (GLOBAL, STACK_GLOBAL and the
    copyreg extension opcodes all go through it), so nothing outside the list can be
    called or even imported. Persistent ids and out-of-band buffers stay unsupported.
    """

    def __init__(self, file: io.BufferedIOBase | io.BytesIO, *, source: Path) -> None:
        # The files were pickled by Python 2: its str holds bytes, which latin1 maps 1:1 (as PyG does).
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        kind = ADMITTED_GLOBALS.get((module, name))
        if kind is None:
            raise DataError(
                f"{str(self.source)!r} references {module}.{name}, which a Planetoid file never holds "
                "(only numpy arrays, CSR sparse matrices and a dict of lists are admitted): "
                "the file may have been tampered with and was not loaded"
            )
        return _RESOLVERS[kind]()


def _oneline(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def load_pickle(path: Path) -> Any:
    """Unpickle one raw file with :class:`RestrictedUnpickler`; any failure is a :class:`DataError` naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if not raw:
        raise DataError(f"{str(path)!r} is empty (a truncated download?)")
    stream = io.BytesIO(raw)
    try:
        obj = RestrictedUnpickler(stream, source=path).load()
    except DataError:
        raise
    except Exception as exc:  # whatever a corrupt pickle makes the unpickler or numpy raise
        raise DataError(
            f"{str(path)!r} is not a readable pickle (truncated or corrupted?): {type(exc).__name__}: {_oneline(str(exc))}"
        ) from None
    trailing = len(raw) - stream.tell()
    if trailing:
        raise DataError(f"{str(path)!r} has {trailing} unexpected bytes after the end of its pickle (corrupted?)")
    return obj


def read_test_index(path: Path) -> list[int]:
    """The test node indices: plain text, one integer per line (blank lines ignored)."""
    try:
        text = path.read_bytes().decode("ascii")
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{str(path)!r} is not plain text (byte {exc.start} is not ASCII): corrupted?") from None
    indices = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        try:
            indices.append(int(entry))
        except ValueError:
            raise DataError(
                f"{str(path)!r} line {number}: {_oneline(entry, 40)!r} is not a node index (expected one integer per line)"
            ) from None
    if not indices:
        raise DataError(f"{str(path)!r} holds no test node indices")
    return indices


# -- checking what was unpickled ------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_vector(value: Any, what: str, path: Path, *, integer: bool) -> Any:
    import numpy

    if type(value) is not numpy.ndarray or value.ndim != 1:
        found = f"a {value.ndim}-D array" if isinstance(value, numpy.ndarray) else f"a {type(value).__name__}"
        raise DataError(f"{str(path)!r}: the CSR matrix's {what} must be a 1-D array, found {found}")
    kinds, expected = ("iu", "an integer") if integer else (NUMERIC_KINDS, "a numeric")
    if value.dtype.kind not in kinds:
        raise DataError(f"{str(path)!r}: the CSR matrix's {what} has dtype {value.dtype}, expected {expected} dtype")
    return value


def _densify_csr(matrix: PickledCSR, path: Path) -> Any:
    """The dense array of a pickled CSR matrix, as scipy's ``todense`` gives it (duplicate entries summed)."""
    import numpy

    state = getattr(matrix, "state", None)  # unset when the pickle never gave it a state
    if not isinstance(state, dict):
        raise DataError(f"{str(path)!r}: the CSR matrix's state is a {type(state).__name__}, expected a dict")
    shape = state.get("_shape", state.get("shape"))  # old scipy pickles say "shape"
    fields = {"_shape": shape, "data": state.get("data"), "indices": state.get("indices"), "indptr": state.get("indptr")}
    missing = [key for key, value in fields.items() if value is None]
    if missing:
        raise DataError(f"{str(path)!r}: the CSR matrix lacks {', '.join(missing)}")
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(_is_int(n) and n >= 0 for n in shape)):
        raise DataError(f"{str(path)!r}: the CSR matrix's shape {_oneline(repr(shape), 60)} is not two non-negative integers")
    rows, columns = shape
    data = _check_vector(state["data"], "data", path, integer=False)
    indices = _check_vector(state["indices"], "column indices", path, integer=True)
    indptr = _check_vector(state["indptr"], "row pointers", path, integer=True)
    if len(indptr) != rows + 1:
        raise DataError(f"{str(path)!r}: the CSR matrix has {rows} rows but {len(indptr)} row pointers (expected {rows + 1})")
    if len(indices) != len(data):
        raise DataError(f"{str(path)!r}: the CSR matrix has {len(indices)} column indices but {len(data)} values")
    steps = numpy.diff(indptr)
    if indptr[0] != 0 or indptr[-1] != len(data) or (steps < 0).any():
        raise DataError(f"{str(path)!r}: the CSR matrix's row pointers are inconsistent with its {len(data)} values")
    if len(indices) and (indices.min() < 0 or indices.max() >= columns):
        raise DataError(
            f"{str(path)!r}: the CSR matrix has a column index out of range "
            f"({int(indices.min())}..{int(indices.max())} for {columns} columns)"
        )
    try:
        dense = numpy.zeros((rows, columns), dtype=data.dtype)
    except (MemoryError, ValueError) as exc:
        raise DataError(f"{str(path)!r}: the CSR matrix's shape {rows} x {columns} is too large: {exc}") from None
    numpy.add.at(dense, (numpy.repeat(numpy.arange(rows), steps), indices), data)
    return dense


def _as_matrix(obj: Any, part: str, path: Path) -> Any:
    """A 2-D numeric numpy array in native byte order, from a dense array or a pickled CSR matrix."""
    import numpy

    what = "labels (one-hot rows)" if part in LABEL_PARTS else "features"
    if isinstance(obj, PickledCSR):
        array = _densify_csr(obj, path)
    elif type(obj) is numpy.ndarray:
        array = obj
    else:
        raise DataError(
            f"{str(path)!r} holds a {type(obj).__name__}, expected the {what} as a 2-D numeric array or a CSR sparse matrix"
        )
    if array.ndim != 2:
        raise DataError(f"{str(path)!r} holds a {array.ndim}-D array, expected the {what} as a 2-D array")
    if array.dtype.kind not in NUMERIC_KINDS or array.dtype.fields is not None:
        raise DataError(f"{str(path)!r} holds an array of dtype {array.dtype}, expected numbers")
    if array.shape[1] == 0:
        raise DataError(f"{str(path)!r} holds an array with no columns")
    if array.dtype.kind == "u" and array.dtype.itemsize > 1:  # torch < 2.3 has no wider unsigned types
        array = array.astype(numpy.float64)
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _as_graph(obj: Any, path: Path) -> dict[int, list[int]]:
    if not isinstance(obj, dict):
        raise DataError(f"{str(path)!r} holds a {type(obj).__name__}, expected the graph as a dict of node -> neighbour list")
    for node, neighbours in obj.items():
        if not _is_int(node):
            raise DataError(f"{str(path)!r}: graph key {_oneline(repr(node), 40)} is not a node index (integer)")
        if not isinstance(neighbours, list) or not all(_is_int(n) for n in neighbours):
            raise DataError(f"{str(path)!r}: the neighbours of node {node} are not a list of node indices (integers)")
    return obj


@dataclass
class PlanetoidArrays:
    """What the eight raw files hold, checked one by one (numpy arrays, the graph dict, the test indices)."""

    matrices: dict[str, Any]
    graph: dict[int, list[int]]
    test_index: list[int]
    paths: dict[str, Path]

    def num_nodes(self, prefix: str) -> int:
        allx_rows = self.matrices["allx"].shape[0]
        if prefix == "citeseer":  # isolated test nodes: the test block spans min..max of the indices
            return allx_rows + max(self.test_index) - min(self.test_index) + 1
        return allx_rows + self.matrices["tx"].shape[0]

    def check_consistency(self, prefix: str) -> None:
        """Row and column counts that must agree across files, and every index within the node count."""

        def name(part: str) -> str:
            return self.paths[part].name

        for group in (FEATURE_PARTS, LABEL_PARTS):
            widths = {part: self.matrices[part].shape[1] for part in group}
            if len(set(widths.values())) > 1:
                listed = ", ".join(f"{name(p)} {w}" for p, w in widths.items())
                folder = str(self.paths["x"].parent)
                raise DataError(f"Planetoid files in {folder!r} disagree on the number of columns: {listed}")
        for features, labels in (("x", "y"), ("allx", "ally"), ("tx", "ty")):
            rows, label_rows = self.matrices[features].shape[0], self.matrices[labels].shape[0]
            if rows != label_rows:
                raise DataError(
                    f"{str(self.paths[features])!r} has {rows} rows but {name(labels)} has {label_rows}: "
                    "the files do not belong together"
                )
        test_rows = self.matrices["tx"].shape[0]
        if len(self.test_index) != test_rows:
            raise DataError(
                f"{str(self.paths[TEST_INDEX_PART])!r} lists {len(self.test_index)} test nodes "
                f"but {name('tx')} has {test_rows} rows"
            )
        if len(set(self.test_index)) != len(self.test_index):
            raise DataError(f"{str(self.paths[TEST_INDEX_PART])!r} lists a test node more than once")
        nodes = self.num_nodes(prefix)
        low, high = min(self.test_index), max(self.test_index)
        if low < 0 or high >= nodes:
            outside = low if low < 0 else high
            raise DataError(f"{str(self.paths[TEST_INDEX_PART])!r}: test node {outside} is outside 0..{nodes - 1}")
        needed = self.matrices["y"].shape[0] + VALIDATION_NODES
        if nodes < needed:
            raise DataError(
                f"{str(self.paths['allx'])!r}: {nodes} nodes are too few for the public split "
                f"({name('y')} labels {self.matrices['y'].shape[0]} training nodes, then {VALIDATION_NODES} validation nodes)"
            )
        for node, neighbours in self.graph.items():
            for other in (node, *neighbours):
                if other < 0 or other >= nodes:
                    raise DataError(f"{str(self.paths['graph'])!r}: node {other} is outside 0..{nodes - 1}")


def read_planetoid_arrays(raw_dir: Path, prefix: str) -> PlanetoidArrays:
    """Read and check the eight files ``raw_dir/ind.<prefix>.*`` one by one."""
    paths = {part: raw_dir / f"ind.{prefix}.{part}" for part in (*PICKLED_PARTS, TEST_INDEX_PART)}
    matrices = {}
    for part in (*FEATURE_PARTS, *LABEL_PARTS):
        matrices[part] = _as_matrix(load_pickle(paths[part]), part, paths[part])
        log.debug("read %s: %s array of shape %s", paths[part], matrices[part].dtype, matrices[part].shape)
    graph = _as_graph(load_pickle(paths["graph"]), paths["graph"])
    test_index = read_test_index(paths[TEST_INDEX_PART])
    arrays = PlanetoidArrays(matrices=matrices, graph=graph, test_index=test_index, paths=paths)
    arrays.check_consistency(prefix)
    return arrays


def read_planetoid(raw_dir: Path, prefix: str) -> Any:
    """The PyG ``Data`` of a Planetoid dataset with its public split, as ``read_planetoid_data`` builds it.

    :param raw_dir: the folder holding ``ind.<prefix>.*``; only read.
    :param prefix: the lower-case dataset name (``cora``, ``citeseer``, ``pubmed``).
    :raises DataError: a file is unreadable, refused, of the wrong kind or inconsistent with the others.
    """
    arrays = read_planetoid_arrays(raw_dir, prefix)

    import torch
    from torch_geometric.data import Data
    from torch_geometric.io.planetoid import edge_index_from_dict
    from torch_geometric.utils import index_to_mask

    x, tx, allx, y, ty, ally = (
        torch.from_numpy(arrays.matrices[part]).to(torch.float) for part in (*FEATURE_PARTS, *LABEL_PARTS)
    )
    test_index = torch.tensor(arrays.test_index, dtype=torch.long)
    # From here on this mirrors torch_geometric.io.planetoid.read_planetoid_data (PyG 2.8.1).
    train_index = torch.arange(y.size(0), dtype=torch.long)
    val_index = torch.arange(y.size(0), y.size(0) + VALIDATION_NODES, dtype=torch.long)
    sorted_test_index = test_index.sort()[0]

    if prefix == "citeseer":
        # Isolated test nodes leave gaps in the test indices: they get zero rows in tx and ty.
        len_test_indices = int(test_index.max() - test_index.min()) + 1
        tx_ext = torch.zeros(len_test_indices, tx.size(1), dtype=tx.dtype)
        tx_ext[sorted_test_index - test_index.min(), :] = tx
        ty_ext = torch.zeros(len_test_indices, ty.size(1), dtype=ty.dtype)
        ty_ext[sorted_test_index - test_index.min(), :] = ty
        tx, ty = tx_ext, ty_ext

    x = torch.cat([allx, tx], dim=0)
    x[test_index] = x[sorted_test_index]

    y = torch.cat([ally, ty], dim=0).max(dim=1)[1]
    y[test_index] = y[sorted_test_index]

    data = Data(x=x, edge_index=edge_index_from_dict(arrays.graph, num_nodes=y.size(0)), y=y)
    data.train_mask = index_to_mask(train_index, size=y.size(0))
    data.val_mask = index_to_mask(val_index, size=y.size(0))
    data.test_mask = index_to_mask(test_index, size=y.size(0))
    return data
