"""The GAT module; imported only when a GAT is built."""

from __future__ import annotations

from torch_geometric.nn import GATConv

from autoglm.plugins.design import Design
from autoglm.plugins.stack import DesignedStack, designed_stack


def build_module(
    in_channels: int, out_channels: int, *, hidden: int, heads: int, layers: int, dropout: float, design: Design,
) -> DesignedStack:
    """Multi-head GATConv layers (``hidden`` units per head, concatenated); an output convolution has one head.

    ``dropout`` is also the attention-coefficient dropout. Layer-wise (exact chunked inference) unless ``jk``.
    """

    def conv(width: int, last: bool) -> GATConv:
        if last:
            return GATConv(width, out_channels, heads=1, concat=False, dropout=dropout)
        return GATConv(width, hidden, heads=heads, dropout=dropout)

    # Sparse input: GATConv's first step is a linear map, which takes the CSR copy of sparse features.
    return designed_stack(
        in_channels, out_channels, layerwise=True, width=hidden * heads, layers=layers, dropout=dropout,
        design=design, conv=conv, sparse_input=True,
    )
