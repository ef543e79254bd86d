"""Several GCNs trained as one batched model (see :class:`autoglm.plugins.nn.PopulationModel`).

Imported only when a population is built, so listing plugins never imports torch.
"""

from __future__ import annotations

import math
import warnings
import weakref
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from autoglm.plugins.nn import PopulationModel, SparseInputDropout

__all__ = ["PopulationGCN"]


class _SpMM(torch.autograd.Function):
    """``matrix @ dense`` for a constant sparse CSR ``matrix``, whose transpose is given.

    Why not plain ``csr @ dense``: its backward has to transpose the matrix on
    every step; the graph (and the block structure of the features) is fixed
    for a whole training run, so its transpose is built once and the backward
    is one more CSR product.
    """

    @staticmethod
    def forward(ctx: Any, matrix: Tensor, transposed: Tensor, dense: Tensor) -> Tensor:  # type: ignore[override]
        ctx.transposed = transposed
        return matrix @ dense

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor | None]:  # type: ignore[override]
        return None, None, (ctx.transposed @ grad) if ctx.needs_input_grad[2] else None


def _spmm(pair: tuple[Tensor, Tensor], dense: Tensor) -> Tensor:
    return _SpMM.apply(pair[0], pair[1], dense)


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _transpose_plan(crow: Tensor, col: Tensor, shape: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor]:
    """``(crow_t, col_t, order)`` of the transpose: its values are ``values[order]``."""
    rows, cols = shape
    row = torch.repeat_interleave(torch.arange(rows, device=crow.device), crow[1:] - crow[:-1])
    order = torch.argsort(col * rows + row, stable=True)
    crow_t = torch.zeros(cols + 1, dtype=crow.dtype, device=crow.device)
    crow_t[1:] = torch.cumsum(torch.bincount(col, minlength=cols), 0)
    return crow_t, row[order].to(col.dtype), order


def _with_transpose(matrix: Tensor) -> tuple[Tensor, Tensor]:
    crow, col, values = matrix.crow_indices(), matrix.col_indices(), matrix.values()
    shape = (int(matrix.size(0)), int(matrix.size(1)))
    crow_t, col_t, order = _transpose_plan(crow, col, shape)
    return matrix, _csr(crow_t, col_t, values[order], (shape[1], shape[0]))


class _Blocks:
    """The block-diagonal input ``[P * N, P * F]`` of all members' dropped-out features, structure built once.

    Block ``p`` (rows ``p * N ..``, columns ``p * F ..``) holds member ``p``'s
    copy of the sparse features, so its product with the stacked weights
    ``[P * F, H]`` is every member's ``dropout(x) @ W`` in one sparse product.
    Only the values change from step to step (a new dropout mask over the
    non-zero entries). Member-major rows: each block reads only its own
    member's weights (and, in the backward, its own rows of the gradient),
    which on a CPU is about twice as fast as interleaving the members by node.
    """

    def __init__(self, features: Tensor, rates: Sequence[float]) -> None:
        crow, col, values = features.crow_indices(), features.col_indices(), features.values()
        size, (n, f), nnz = len(rates), features.shape, values.numel()
        members = torch.arange(size, device=crow.device)
        self.crow = torch.cat([(crow[:-1].unsqueeze(0) + members.unsqueeze(1) * nnz).reshape(-1), crow.new_full((1,), size * nnz)])
        self.col = (col.unsqueeze(0) + members.to(col.dtype).unsqueeze(1) * f).reshape(-1)
        self.values = values.repeat(size)
        self.shape = (size * n, size * f)
        self.crow_t, self.col_t, self.order = _transpose_plan(self.crow, self.col, self.shape)
        entry_rates = torch.tensor(rates, dtype=values.dtype, device=values.device).repeat_interleave(nnz)
        self.rates, self.scaled = entry_rates, self.values / (1.0 - entry_rates)  # kept values are scaled by 1/(1-p)
        self.source, self.key = features, list(rates)

    def dropped(self) -> tuple[Tensor, Tensor]:
        """The block matrix with a fresh dropout mask, and its transpose."""
        values = (torch.rand_like(self.scaled) >= self.rates) * self.scaled
        return (
            _csr(self.crow, self.col, values, self.shape),
            _csr(self.crow_t, self.col_t, values[self.order], (self.shape[1], self.shape[0])),
        )


def _keep_scale(shape: tuple[int, ...], rates: Tensor, device: Any, dtype: torch.dtype) -> Tensor:
    """Dropout as a multiplier: 0 with probability ``rate``, else ``1 / (1 - rate)`` (``rates`` broadcasts)."""
    rates = rates.to(dtype)
    # A product, not torch.where: on a CPU a broadcasting where is several times slower.
    return (torch.rand(shape, device=device, dtype=dtype) >= rates) * (1.0 / (1.0 - rates))


class PopulationGCN(PopulationModel):
    """``size`` GCNs (``layers`` GCNConv layers, ReLU, dropout) with their own widths, dropout and weights.

    Layer ``l``'s weights are one parameter ``weights.{l}`` of shape
    ``[size, in, out]`` (the single model's ``lin.weight`` transposed, so the
    stacked ``[size * in, out]`` is a view), and its bias ``biases.{l}`` is
    ``[size, out]``. Hidden features of all members sit side by side,
    ``[N, size * width]``, so one sparse product propagates them all.

    Members narrower than the widest (``width``) are padded with zeros, and
    the padding is exact: a padded unit's pre-activation is ``x @ 0 + 0 = 0``,
    so its output ``relu(A @ 0) = 0`` adds nothing to the next layer; its
    weights get exactly zero gradient, because the first layer's padded
    columns see the upstream gradient through ``relu'(0) = 0`` (and through
    the next layer's padded rows, which are 0), and the next layer's padded
    rows multiply the padded unit's output, which is 0. With a zero gradient
    and a zero weight, L2 decay adds 0 and Adam's moments stay 0, so its step
    ``lr * 0 / (sqrt(0) + eps)`` is exactly 0: the padding stays 0 for good,
    and the real units compute what the member computes alone.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        hidden: Sequence[int],
        layers: int,
        dropout: Sequence[float],
        max_density: float = 0.1,
    ) -> None:
        super().__init__()
        if len(hidden) != len(dropout) or not hidden:
            raise ValueError("hidden and dropout need one entry per member (at least one member)")
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        self.size = len(hidden)
        self.in_channels, self.out_channels, self.layers = in_channels, out_channels, layers
        self.hidden = [int(h) for h in hidden]
        self.rates = [float(p) for p in dropout]
        self.width = max(self.hidden) if layers > 1 else 0
        sizes = [in_channels] + [self.width] * (layers - 1) + [out_channels]
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.zeros(self.size, a, b)) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.biases = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(self.size, b)) for b in sizes[1:])
        #: Per-member dropout rates, on the model's device.
        self.register_buffer("dropout", torch.tensor(self.rates, dtype=torch.float32), persistent=False)
        # Holds the cached CSR copy of sparse features (and the density test) the single GCN uses.
        self.features = SparseInputDropout(0.0, max_density=max_density)
        self._adjacency: tuple[Any, int, tuple[Any, ...], tuple[Tensor, Tensor]] | None = None
        self._blocks: _Blocks | None = None
        self._features_t: tuple[Tensor, tuple[Tensor, Tensor]] | None = None
        self.reset_parameters()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_adjacency"] = state["_blocks"] = state["_features_t"] = None
        return state

    def extra_repr(self) -> str:
        return f"size={self.size}, layers={self.layers}, hidden={self.hidden}, dropout={self.rates}"

    def member_sizes(self, i: int) -> list[int]:
        """Layer sizes of member ``i`` alone: ``[in, hidden, ..., out]``."""
        return [self.in_channels] + [self.hidden[i]] * (self.layers - 1) + [self.out_channels]

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Each member as GCNConv initialises it (glorot weights, zero bias); padding zero."""
        for i in range(self.size):
            sizes = self.member_sizes(i)
            for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                bound = math.sqrt(6.0 / (a + b))
                weight = torch.empty(b, a, device=self.weights[layer].device).uniform_(-bound, bound)
                self.weights[layer][i].zero_()
                self.weights[layer][i, :a, :b].copy_(weight.t())
                self.biases[layer][i].zero_()

    # -- the contract ------------------------------------------------------------------------

    def member_state_dict(self, i: int) -> dict[str, Tensor]:
        sizes = self.member_sizes(i)
        out: dict[str, Tensor] = {}
        for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            out[f"convs.{layer}.bias"] = self.biases[layer][i, :b].detach().to("cpu", copy=True)
            out[f"convs.{layer}.lin.weight"] = self.weights[layer][i, :a, :b].detach().t().to("cpu", copy=True).contiguous()
        return out

    @torch.no_grad()
    def load_member(self, i: int, state_dict: dict[str, Tensor]) -> None:
        sizes = self.member_sizes(i)
        expected = {f"convs.{layer}.{name}" for layer in range(self.layers) for name in ("bias", "lin.weight")}
        if set(state_dict) != expected:
            raise ValueError(
                f"slot {i} takes a GCN state_dict with keys {sorted(expected)}, got {sorted(state_dict)}"
            )
        for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            weight, bias = state_dict[f"convs.{layer}.lin.weight"], state_dict[f"convs.{layer}.bias"]
            if tuple(weight.shape) != (b, a) or tuple(bias.shape) != (b,):
                raise ValueError(
                    f"slot {i}, layer {layer}: expected weight {(b, a)} and bias {(b,)}, "
                    f"got {tuple(weight.shape)} and {tuple(bias.shape)}"
                )
            self.weights[layer][i].zero_()
            self.weights[layer][i, :a, :b].copy_(weight.t())
            self.biases[layer][i].zero_()
            self.biases[layer][i, :b].copy_(bias)

    def keep(self, index: Sequence[int]) -> None:
        index = [int(i) for i in index]
        super().keep(index)
        self.hidden = [self.hidden[i] for i in index]
        self.rates = [self.rates[i] for i in index]
        self._blocks = None  # its structure depends on the number of members

    # -- forward -------------------------------------------------------------------------------

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        num_nodes, size = x.size(0), self.size
        adjacency = self._normalised_adjacency(edge_index, num_nodes, x.dtype, x.device)
        drop = self.training and any(p > 0.0 for p in self.rates)
        h = self._first_layer(x, drop)  # [N, size * out_0], before propagation
        for layer in range(self.layers):
            if layer > 0:
                if drop:  # the same rate as the input dropout, as in the single GCN
                    h = h * _keep_scale(tuple(h.shape), self.dropout.repeat_interleave(self.width), h.device, h.dtype)
                h = torch.einsum("npi,pio->npo", h.view(num_nodes, size, -1), self.weights[layer])
                h = h.reshape(num_nodes, -1)
            h = _spmm(adjacency, h) + self.biases[layer].reshape(-1)
            if layer < self.layers - 1:
                h = F.relu(h, inplace=True)  # the sum is not needed for the backward: no copy
        return h.view(num_nodes, size, -1).transpose(0, 1)

    def _first_layer(self, x: Tensor, drop: bool) -> Tensor:
        """``dropout(x) @ W`` for every member, side by side: ``[N, size * out]``."""
        weight = self.weights[0]  # [P, F, H]
        size, num_nodes, num_features = self.size, x.size(0), x.size(1)
        features = self.features.sparse_features(x)
        if features is not None:  # CPU, sparse features: the single GCN's sparse path
            if drop:
                blocks = self._blocks
                if blocks is None or blocks.source is not features or blocks.key != self.rates:
                    blocks = self._blocks = _Blocks(features, self.rates)
                product = _spmm(blocks.dropped(), weight.reshape(size * num_features, -1))  # [P * N, H]
                return product.view(size, num_nodes, -1).transpose(0, 1).reshape(num_nodes, -1)
            stacked = weight.permute(1, 0, 2).reshape(num_features, -1)  # [F, P * H]
            if not torch.is_grad_enabled() or not stacked.requires_grad:
                return features @ stacked
            cached = self._features_t
            if cached is None or cached[0] is not features:
                cached = self._features_t = (features, _with_transpose(features))
            return _spmm(cached[1], stacked)
        if drop:  # dense features: per-member dropout, one batched product
            dropped = x.unsqueeze(0) * _keep_scale((size, num_nodes, num_features), self.dropout.view(-1, 1, 1), x.device, x.dtype)
            return torch.bmm(dropped, weight).transpose(0, 1).reshape(num_nodes, -1)
        return x @ weight.permute(1, 0, 2).reshape(num_features, -1)

    def _normalised_adjacency(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype, device: Any) -> tuple[Tensor, Tensor]:
        """``D^-1/2 (A + I) D^-1/2`` as CSR (and its transpose), once per ``edge_index``: GCNConv(cached=True)'s."""
        key = (num_nodes, dtype, device)
        cache = self._adjacency
        if cache is not None and cache[0]() is edge_index and cache[1] == edge_index._version and cache[2] == key:
            return cache[3]
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        index, weight = gcn_norm(edge_index, None, num_nodes, False, True, "source_to_target", dtype)
        # Messages flow source (row 0) -> target (row 1): out[target] += w * x[source].
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            coo = torch.sparse_coo_tensor(
                torch.stack([index[1], index[0]]), weight, (num_nodes, num_nodes), check_invariants=False
            )
            matrix = coo.coalesce().to_sparse_csr()
        pair = _with_transpose(matrix)
        self._adjacency = (weakref.ref(edge_index), edge_index._version, key, pair)
        return pair
