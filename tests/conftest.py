"""Shared fixtures. Tests never download: Cora comes from ../shared/data, other graphs are synthetic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from autoglm.plugins import testing

REPO = Path(__file__).resolve().parents[1]
SHARED_PLANETOID = REPO.parent / "shared" / "data" / "planetoid"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Any:
    """Tests train tiny graphs: one torch thread is faster for them, and stays fast on a busy machine
    (with two, OpenMP's spinning threads made the suite up to 20x slower when a core was taken)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no AUTOGLM_* switches unless they set them."""
    for name in list(os.environ):
        if name.startswith("AUTOGLM_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _cache_in_a_temp_dir(_clean_plugin_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Loaders' processed-graph caches go to a temp dir, never to the home directory."""
    monkeypatch.setenv("AUTOGLM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "autoglm-cache"))


@pytest.fixture
def cora_root() -> Path:
    if not (SHARED_PLANETOID / "Cora" / "raw" / "ind.cora.x").exists():
        pytest.skip(f"Cora raw files not found under {SHARED_PLANETOID}")
    return SHARED_PLANETOID


@pytest.fixture
def tiny_config(tmp_path: Path) -> dict[str, Any]:
    """A complete, fast config: 200-node synthetic graph, 2 random trials over gcn and gat, 20 CPU epochs."""
    return testing.tiny_config(tmp_path / "run", models=["gcn", "gat"])
