"""The GCN module; imported only when a GCN is built, so listing plugins never imports torch."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch_geometric.nn import GCNConv

from autoglm.plugins.design import Design
from autoglm.plugins.nn import NormalisedGraph
from autoglm.plugins.stack import DesignedStack


class GCN(DesignedStack):
    """GCNConv layers in a :class:`~autoglm.plugins.stack.DesignedStack`; with the design off, Kipf & Welling's GCN."""

    def __init__(
        self, in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float, design: Design | None = None,
    ) -> None:
        # The normalisation is computed once per graph by NormalisedGraph (not cached=True, which
        # would keep the first graph's for every later one: wrong for batches of graphs).
        super().__init__(
            in_channels, out_channels, width=hidden, layers=layers, dropout=dropout,
            design=design or Design(), sparse_input=True,
            conv=lambda width, last: GCNConv(width, out_channels if last else hidden, normalize=False),
        )
        self.normalised = NormalisedGraph()

    def graph(self, x: Tensor, edge_index: Tensor) -> tuple[Any, ...]:
        return self.normalised(edge_index, x.size(0), x.dtype)
