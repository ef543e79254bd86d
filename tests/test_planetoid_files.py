"""The Planetoid raw files are a trust boundary: read without running code, checked, and equal to PyG's reading.

Every test works on a copy of the shared Cora files in ``tmp_path`` (the shared
folder is read-only) and is skipped when they are missing. Loads that must fail
fail before any trial, so nothing here trains.
"""

from __future__ import annotations

import builtins
import copyreg
import logging
import os
import pickle
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from autoglm.cli.main import cli
from autoglm.core import Engine
from autoglm.plugins import DataError
from autoglm.plugins_builtin.planetoid.files import ADMITTED_GLOBALS, read_planetoid

SHARED_PLANETOID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "planetoid"
RAW_FILES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
DATA_KEYS = ("x", "y", "edge_index", "train_mask", "val_mask", "test_mask")
#: Unpickling the originals with scipy itself (the trusted reference) warns about the old module path.
SCIPY_WARNING = pytest.mark.filterwarnings("ignore:.*scipy.sparse.csr.*:DeprecationWarning")
#: Lines of the log handler the CLI installs (``LEVEL logger: message``), not part of an error report.
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) autoglm[\w.]*: ")


@pytest.fixture
def planetoid_root(tmp_path: Path) -> Path:
    """A writable copy of the shared Planetoid folder: ``<root>/Cora/raw/ind.cora.*``."""
    shared_raw = SHARED_PLANETOID / "Cora" / "raw"
    if not (shared_raw / "ind.cora.x").is_file():
        pytest.skip(f"Cora raw files not found under {SHARED_PLANETOID}")
    root = tmp_path / "planetoid"
    raw = root / "Cora" / "raw"
    raw.mkdir(parents=True)
    for part in RAW_FILES:  # copyfile, not copytree: the copies must not keep the read-only modes
        shutil.copyfile(shared_raw / f"ind.cora.{part}", raw / f"ind.cora.{part}")
    return root


def raw_file(root: Path, part: str, prefix: str = "cora", dataset: str = "Cora") -> Path:
    return root / dataset / "raw" / f"ind.{prefix}.{part}"


def load_cora(root: Path) -> Any:
    return read_planetoid(root / "Cora" / "raw", "cora")


def assert_same_graph(ours: Any, theirs: Any) -> None:
    assert sorted(ours.keys()) == sorted(theirs.keys())
    for key in DATA_KEYS:
        mine, reference = getattr(ours, key), getattr(theirs, key)
        assert mine.dtype == reference.dtype, key
        assert torch.equal(mine, reference), key


# -- the same graph as PyG's reader ---------------------------------------------------------


@SCIPY_WARNING
def test_cora_is_read_exactly_as_pyg_reads_it(planetoid_root: Path) -> None:
    pytest.importorskip("scipy.sparse")  # PyG's reader unpickles scipy matrices
    from torch_geometric.io import read_planetoid_data

    ours = load_cora(planetoid_root)
    assert_same_graph(ours, read_planetoid_data(str(planetoid_root / "Cora" / "raw"), "cora"))
    assert (ours.num_nodes, ours.num_edges, ours.x.size(1)) == (2708, 10556, 1433)
    assert [int(ours[m].sum()) for m in ("train_mask", "val_mask", "test_mask")] == [140, 500, 1000]


@SCIPY_WARNING
def test_citeseer_isolated_test_nodes_are_filled_in_as_pyg_does(planetoid_root: Path, tmp_path: Path) -> None:
    """CiteSeer's test indices have gaps (isolated nodes): a Cora copy with test nodes dropped, named citeseer."""
    pytest.importorskip("scipy.sparse")
    from torch_geometric.io import read_planetoid_data

    cora, raw = planetoid_root / "Cora" / "raw", tmp_path / "citeseer"
    raw.mkdir()
    for part in ("x", "allx", "y", "ally", "graph"):
        shutil.copyfile(cora / f"ind.cora.{part}", raw / f"ind.citeseer.{part}")
    with open(cora / "ind.cora.tx", "rb") as f, open(cora / "ind.cora.ty", "rb") as g:
        tx, ty = pickle.load(f, encoding="latin1").toarray(), pickle.load(g, encoding="latin1")  # trusted fixture
    test_index = [int(line) for line in (cora / "ind.cora.test.index").read_text().split()]
    lowest, highest = min(test_index), max(test_index)
    keep = [i for i, node in enumerate(test_index) if node in (lowest, highest) or node % 7]
    assert len(keep) < len(test_index)
    (raw / "ind.citeseer.tx").write_bytes(pickle.dumps(tx[keep], protocol=4))  # a dense array, as PyG also accepts
    (raw / "ind.citeseer.ty").write_bytes(pickle.dumps(ty[keep], protocol=4))
    (raw / "ind.citeseer.test.index").write_text("".join(f"{test_index[i]}\n" for i in keep))

    ours = read_planetoid(raw, "citeseer")
    assert_same_graph(ours, read_planetoid_data(str(raw), "citeseer"))
    assert ours.num_nodes == 2708 and int(ours.test_mask.sum()) == len(keep)


@SCIPY_WARNING
def test_files_pickled_by_current_numpy_and_scipy_read_the_same(planetoid_root: Path) -> None:
    """Protocol 4 and today's module paths (numpy._core.multiarray, scipy.sparse._csr, builtins.list)."""
    pytest.importorskip("scipy.sparse")
    before = load_cora(planetoid_root)
    for part in ("x", "tx", "allx", "y", "ty", "ally", "graph"):
        path = raw_file(planetoid_root, part)
        with open(path, "rb") as f:
            trusted = pickle.load(f, encoding="latin1")  # the shared files are the trusted originals
        path.write_bytes(pickle.dumps(trusted, protocol=4))
    assert_same_graph(load_cora(planetoid_root), before)


def test_the_planetoid_loader_reads_through_the_restricted_reader(planetoid_root: Path) -> None:
    loader = Engine(autoload=False).component("data_loaders", "planetoid").factory(root=str(planetoid_root))
    data = loader.load()
    assert data.num_nodes == 2708
    row_sums = data.x.sum(dim=-1)
    assert torch.allclose(row_sums[row_sums > 0], torch.ones(1))  # rows normalized


def test_admitted_globals_are_exactly_what_the_real_files_need() -> None:
    """Pinned: widening the list is a security decision, to be made here and reviewed."""
    assert set(ADMITTED_GLOBALS) == {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("scipy.sparse.csr", "csr_matrix"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("scipy.sparse", "csr_matrix"),
        ("collections", "defaultdict"),
        ("__builtin__", "list"),
        ("builtins", "list"),
    }


# -- pickles that would run code --------------------------------------------------------------


class Payload:
    """Pickles as a call of ``function(*args)``: what a tampered file uses to run code when unpickled."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.function, self.args


def _touch_command(marker: Path) -> str:
    return f"touch {marker}"


MALICIOUS: dict[str, tuple[str, Callable[[Path], Any], int, str]] = {
    # name: (file replaced, payload built for the marker path, pickle protocol, refused global named in the error)
    "os.system": ("x", lambda m: Payload(os.system, _touch_command(m)), 4, f"{os.system.__module__}.system"),
    "builtins.eval": ("x", lambda m: Payload(eval, f"open({str(m)!r}, 'w').close()"), 4, "builtins.eval"),
    "python2-name eval": ("x", lambda m: Payload(eval, f"open({str(m)!r}, 'w').close()"), 2, "__builtin__.eval"),
    "builtins.exec": ("x", lambda m: Payload(exec, f"open({str(m)!r}, 'w').close()"), 4, "builtins.exec"),
    "builtins.open": ("x", lambda m: Payload(builtins.open, str(m), "w"), 4, f"{builtins.open.__module__}.open"),
    "subprocess.Popen": ("x", lambda m: Payload(subprocess.Popen, ["touch", str(m)]), 4, "subprocess.Popen"),
    "builtins.getattr": ("x", lambda m: Payload(getattr, "x", "join"), 4, "builtins.getattr"),
    "numpy.load": ("x", lambda m: Payload(np.load, str(m)), 4, "numpy.load"),
    "nested in a dict": ("y", lambda m: {"labels": [Payload(os.system, _touch_command(m))]}, 2, f"{os.system.__module__}.system"),
    "inside the graph": ("graph", lambda m: {0: [1], 1: Payload(os.system, _touch_command(m))}, 2, f"{os.system.__module__}.system"),
}


@pytest.mark.parametrize("variant", list(MALICIOUS))
def test_a_pickle_that_would_run_code_is_refused_before_it_runs(planetoid_root: Path, tmp_path: Path, variant: str) -> None:
    part, payload, protocol, refused = MALICIOUS[variant]
    marker = tmp_path / "pwned"
    target = raw_file(planetoid_root, part)
    target.write_bytes(pickle.dumps(payload(marker), protocol=protocol))
    with pytest.raises(DataError) as excinfo:
        load_cora(planetoid_root)
    message = str(excinfo.value)
    assert str(target) in message and refused in message, message
    assert "tampered" in message and "not loaded" in message
    assert not marker.exists(), "the payload ran"


@pytest.mark.parametrize(
    "pickled",
    [
        pytest.param(b"(S'touch pwned'\nios\nsystem\n.", id="INST opcode (protocol 0)"),
        pytest.param(b"\x80\x02\x82\xc8X\x0b\x00\x00\x00touch pwned\x85R.", id="EXT1 opcode (copyreg extension)"),
    ],
)
def test_other_opcodes_that_name_a_global_are_refused_too(planetoid_root: Path, pickled: bytes) -> None:
    copyreg.add_extension("os", "system", 200)  # what EXT1 code 200 (\x82\xc8) stands for
    try:
        raw_file(planetoid_root, "x").write_bytes(pickled)
        with pytest.raises(DataError, match=r"references os\.system"):
            load_cora(planetoid_root)
    finally:
        copyreg.remove_extension("os", "system", 200)


def test_a_refused_pickle_imports_nothing(planetoid_root: Path) -> None:
    """Refusal happens at the name: the module a tampered file names is not even imported."""
    raw_file(planetoid_root, "x").write_bytes(b"\x80\x02cautoglm_no_such_module\nboom\nq\x00)R.")
    with pytest.raises(DataError, match=r"autoglm_no_such_module\.boom"):
        load_cora(planetoid_root)


# -- truncated, corrupted and inconsistent files ----------------------------------------------


def _cut_in_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _pickled(value: Any) -> Callable[[bytes], bytes]:
    # Protocol 4: Python 3 writes bytes at protocol 2 as _codecs.encode calls, which the reader refuses.
    return lambda _: pickle.dumps(value, protocol=4)


def _narrow_the_shape(data: bytes) -> bytes:
    """ind.cora.x claims 16 columns (BININT2 1433 -> 16): a valid pickle whose column indices overflow."""
    assert data.count(b"M\x99\x05") >= 1
    return data.replace(b"M\x99\x05", b"M\x10\x00", 1)


def _test_index(edit: Callable[[list[str]], list[str]]) -> Callable[[bytes], bytes]:
    return lambda data: "".join(f"{line}\n" for line in edit(data.decode().split())).encode()


def _replace_line(number: int, text: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines[: number - 1] + [text] + lines[number:]


CORRUPTED: dict[str, tuple[str, Callable[[bytes], bytes], str]] = {
    # name: (file, how its bytes change, what the error says)
    "truncated x": ("x", _cut_in_half, "not a readable pickle (truncated or corrupted?)"),
    "truncated graph": ("graph", _cut_in_half, "not a readable pickle"),
    "random bytes": ("allx", lambda _: np.random.default_rng(0).bytes(4096), "not a readable pickle"),
    "empty file": ("ty", lambda _: b"", "is empty"),
    "trailing garbage": ("ally", lambda data: data + b"garbage", "unexpected bytes after the end of its pickle"),
    "list instead of array": ("x", _pickled([[1.0, 0.0], [0.0, 1.0]]), "holds a list, expected the features"),
    "1-D labels": ("y", _pickled(np.zeros(140, dtype=np.int32)), "holds a 1-D array"),
    "text instead of array": ("tx", _pickled("hello"), "holds a str"),
    "object array": ("ally", _pickled(np.array([[None]], dtype=object)), "not numeric"),
    "too few label rows": ("y", _pickled(np.eye(7, dtype=np.int32)[np.arange(100) % 7]), "has 140 rows but ind.cora.y has 100"),
    "wrong label width": ("ty", _pickled(np.eye(5, dtype=np.int32)[np.arange(1000) % 5]), "disagree on the number of columns"),
    "column index past the shape": ("x", _narrow_the_shape, "column index out of range"),
    "graph is a list": ("graph", _pickled([[1, 2], [0]]), "holds a list, expected the graph"),
    "graph node out of range": ("graph", _pickled({0: [5000]}), "node 5000 is outside 0..2707"),
    "graph neighbours not a list": ("graph", _pickled({0: "12"}), "neighbours of node 0 are not a list"),
    "non-integer test index": ("test.index", _test_index(_replace_line(3, "node7")), "line 3: 'node7' is not a node index"),
    "binary test index": ("test.index", lambda _: b"\x80\x02\xff\x00", "is not plain text"),
    "empty test index": ("test.index", lambda _: b"", "holds no test node indices"),
    "test index out of range": ("test.index", _test_index(_replace_line(1, "99999")), "test node 99999 is outside"),
    "duplicate test index": ("test.index", _test_index(lambda lines: lines[:-1] + lines[:1]), "more than once"),
    "test index shorter than tx": ("test.index", _test_index(lambda lines: lines[:-1]), "lists 999 test nodes but ind.cora.tx has 1000 rows"),
}


@pytest.mark.parametrize("variant", list(CORRUPTED))
def test_a_damaged_file_is_a_data_error_naming_it(planetoid_root: Path, variant: str) -> None:
    part, damage, expected = CORRUPTED[variant]
    target = raw_file(planetoid_root, part)
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(DataError) as excinfo:
        load_cora(planetoid_root)
    message = str(excinfo.value)
    assert target.name in message and expected in message, message
    assert "\n" not in message


# -- through the command line -------------------------------------------------------------------


@pytest.fixture
def _restore_autoglm_logger() -> Iterator[None]:
    """The CLI configures the 'autoglm' logger on each call; keep that from leaking into other tests."""
    logger = logging.getLogger("autoglm")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


CLI_CASES = {
    "malicious x": ("x", lambda marker: pickle.dumps(Payload(os.system, _touch_command(marker)), protocol=2), f"{os.system.__module__}.system"),
    "truncated allx": ("allx", lambda marker: b"\x80\x02cscipy.sparse.csr\ncsr_matrix\nq\x01", "not a readable pickle"),
}


@pytest.mark.usefixtures("_restore_autoglm_logger")
@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_run_reports_a_bad_raw_file_in_one_line(
    planetoid_root: Path, tmp_path: Path, tiny_config: dict[str, Any], case: str
) -> None:
    part, content, fragment = CLI_CASES[case]
    marker = tmp_path / "pwned"
    target = raw_file(planetoid_root, part)
    target.write_bytes(content(marker))
    config = dict(
        tiny_config,
        data={"name": "planetoid", "options": {"dataset": "Cora", "root": str(planetoid_root)}},
        search={"models": ["gcn"]},
        tuner={"name": "random", "options": {"budget": 1}},
    )
    config_path = tmp_path / "cora.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    result = CliRunner().invoke(cli, ["run", str(config_path)], prog_name="autoglm", catch_exceptions=False)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]
    assert len(errors) == 1 and errors[0].startswith("autoglm: error: "), result.stderr
    assert str(target) in errors[0] and fragment in errors[0], errors[0]
    assert not marker.exists()
