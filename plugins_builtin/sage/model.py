"""The GraphSAGE module; imported only when one is built."""

from __future__ import annotations

from torch_geometric.nn import SAGEConv

from autoglm.plugins.design import Design
from autoglm.plugins.stack import DesignedStack, designed_stack


def build_module(
    in_channels: int, out_channels: int, *, hidden: int, layers: int, dropout: float, aggr: str, design: Design,
) -> DesignedStack:
    """SAGEConv layers (root weight, ``aggr`` over neighbours). Layer-wise (exact chunked inference) unless ``jk``.

    Dense dropout on the raw input unless pre-layers come first: SAGEConv aggregates the features before its
    linear map, so it cannot take the sparse input of SparseInputDropout (made for GCN and GAT).
    """

    def conv(width: int, last: bool) -> SAGEConv:
        return SAGEConv(width, out_channels if last else hidden, aggr=aggr)

    return designed_stack(
        in_channels, out_channels, layerwise=True, width=hidden, layers=layers, dropout=dropout, design=design, conv=conv,
    )
