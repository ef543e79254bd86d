"""Shared fixtures. Tests never download: Cora comes from ../shared/data, other graphs are synthetic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_PLANETOID = REPO.parent / "shared" / "data" / "planetoid"


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no AUTOGLM_* switches unless they set them."""
    for name in list(os.environ):
        if name.startswith("AUTOGLM_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cora_root() -> Path:
    if not (SHARED_PLANETOID / "Cora" / "raw" / "ind.cora.x").exists():
        pytest.skip(f"Cora raw files not found under {SHARED_PLANETOID}")
    return SHARED_PLANETOID


@pytest.fixture
def tiny_config(tmp_path: Path) -> dict[str, Any]:
    """A complete, fast config: 200-node synthetic graph, 2 random trials, 20 CPU epochs."""
    return {
        "seed": 0,
        "output": str(tmp_path / "run"),
        "data": {
            "name": "synthetic",
            "options": {"num_nodes": 200, "num_classes": 3, "num_features": 8, "train_per_class": 10, "num_val": 50},
        },
        "search": {"models": ["gcn", "gat"]},
        "tuner": {"name": "random", "options": {"budget": 2}},
        "trainer": {"name": "cuda", "options": {"device": "cpu", "max_epochs": 20, "patience": 20}},
        "reporters": [],
    }
