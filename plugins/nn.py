"""Torch building blocks for model plugins.

Unlike the rest of :mod:`autoglm.plugins`, this module imports torch: import it
from your model module (the one your factory imports lazily), never from the
module that holds your hook implementations, so listing plugins stays fast.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SparseInputDropout"]


class SparseInputDropout(torch.nn.Module):
    """Dropout on node features that draws random numbers only for the non-zero entries.

    Why: bag-of-words features are mostly zeros (Cora: 1.3% of 2708 x 1433),
    and ``F.dropout`` on the dense matrix spends almost a whole CPU epoch
    drawing 3.9 M random numbers for entries that stay zero either way.
    Dropping each non-zero entry with probability ``p`` and scaling the kept
    ones by ``1 / (1 - p)`` is the same distribution as dense dropout, so the
    model is the same; only the random stream differs.

    On a CPU, for a 2-D float input at most ``max_density`` non-zero that
    needs no gradient, the output is a sparse CSR tensor with the input's
    shape: feed it straight to a layer whose first step is a linear map
    (PyG's ``Linear`` in ``GCNConv``/``GATConv`` calls ``F.linear``, which
    takes sparse inputs and gives the weight the same gradient); the sparse
    product is itself far cheaper than the dense one. Any other input gets
    plain ``F.dropout``. The CSR structure is computed once per input tensor
    (held by weak reference, rebuilt if the tensor is modified in place), so a
    trial pays for it once.

    The sparse path is CPU-only on purpose: on a GPU dense dropout is cheap
    and mixed precision may not take sparse operands.
    """

    def __init__(self, p: float, *, max_density: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p = p
        #: Measured break-even (train step + eval, 1433 features, one CPU thread) is near 0.2: keep a margin.
        self.max_density = max_density
        self._cache: tuple[Any, int, Tensor | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Weak references cannot be pickled, and a copy of the model should not share the cache.
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

    def extra_repr(self) -> str:
        return f"p={self.p}, max_density={self.max_density}"

    def sparse_features(self, x: Tensor) -> Tensor | None:
        """The cached CSR copy of ``x``, or None where ``x`` takes the dense path."""
        if x.layout != torch.strided or x.dim() != 2 or x.device.type != "cpu" or x.requires_grad \
                or not x.is_floating_point() or x.numel() == 0:
            return None
        cache = self._cache
        if cache is not None and cache[0]() is x and cache[1] == x._version:
            return cache[2]
        csr: Tensor | None = None
        if int(torch.count_nonzero(x)) <= self.max_density * x.numel():
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
                csr = x.to_sparse_csr()
        self._cache = (weakref.ref(x), x._version, csr)
        return csr

    def forward(self, x: Tensor) -> Tensor:
        csr = self.sparse_features(x)
        if csr is None:
            return F.dropout(x, p=self.p, training=self.training)
        if not self.training or self.p == 0.0:
            return csr
        values = F.dropout(csr.values(), p=self.p, training=True)
        return torch.sparse_csr_tensor(
            csr.crow_indices(), csr.col_indices(), values, csr.shape, check_invariants=False
        )
