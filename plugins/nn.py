"""Torch building blocks for model plugins.

Unlike the rest of :mod:`autoglm.plugins`, this module imports torch: import it
from your model module (the one your factory imports lazily), never from the
module that holds your hook implementations, so listing plugins stays fast.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MemberAdam", "NormalisedGraph", "PopulationModel", "ProbabilityEnsemble", "SparseInputDropout", "uniform_dropout"]


class NormalisedGraph:
    """GCN's ``D^-1/2 (A + I) D^-1/2`` edge weights, computed once per ``edge_index`` tensor.

    What ``GCNConv(cached=True)`` saves (a full-batch trial normalises the graph
    once, not twice per epoch), without its trap: ``cached=True`` keeps the
    first graph's normalisation for every later call, which is silently wrong
    as soon as the graph changes (batches of graphs, sampled subgraphs, another
    graph at prediction time). Here the cache is keyed by the tensor itself
    (a weak reference, and its version, so an in-place edit recomputes), so a
    new graph is normalised anew. Feed the result to ``GCNConv(normalize=False)``
    or ``APPNP(normalize=False)`` as ``(edge_index, edge_weight)``.
    """

    def __init__(self) -> None:
        self._cache: tuple[Any, int, Any, tuple[Tensor, Tensor]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"_cache": None}  # weak references do not pickle, and a copy should not share the cache

    def __call__(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        key = (num_nodes, dtype)
        cache = self._cache
        if cache is not None and cache[0]() is edge_index and cache[1] == edge_index._version and cache[2] == key:
            return cache[3]
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        index, weight = gcn_norm(edge_index, None, num_nodes, False, True, "source_to_target", dtype)
        self._cache = (weakref.ref(edge_index), edge_index._version, key, (index, weight))
        return index, weight


def uniform_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout``'s distribution, drawn on a CPU from uniform numbers rather than ``bernoulli_``.

    Why: torch's CPU ``bernoulli_`` is slow; on a 2708 x 64 activation (one
    thread) dropout forward and backward took 2.16 ms with ``F.dropout`` and
    0.85 ms this way, and a 64-layer GCNII drops out 65 times an epoch. Each
    entry is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``, as
    in ``F.dropout``; only the random stream differs. Elsewhere (a GPU) it is
    ``F.dropout``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p == 1.0 or not x.is_floating_point():
        return F.dropout(x, p=p, training=True)
    keep = (torch.rand_like(x) >= p).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * keep


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


class PopulationModel(torch.nn.Module):
    """Several configurations of one architecture trained as one batched module.

    Why: a small GNN leaves most of a CPU or GPU idle, and members of one
    architecture share the expensive work (the graph normalisation, the sparse
    propagation, the evaluation pass, the optimizer step), so training them
    side by side costs less than one after another (Cora, 8 GCNs, one CPU
    thread: about 1.8x faster).

    The contract a trainer's ``fit_population`` relies on:

    - ``size``: the number of member slots now.
    - Every parameter has the member dimension first (length ``size``), so an
      optimizer such as :class:`MemberAdam` can give each member its own
      learning rate and weight decay, and per-member masks broadcast over it.
    - ``forward(x, edge_index)`` returns ``[size, num_nodes, out_channels]``;
      in training mode each member applies its own dropout.
    - ``member_state_dict(i)``: CPU copies of slot ``i``, loadable with
      ``strict=True`` into the single model the model's factory builds for
      member ``i``'s parameters.
    - ``load_member(i, state_dict)``: copy such a single model's weights into
      slot ``i`` (so a member starts exactly as it would alone).
    - ``keep(index)``: keep only those slots, in that order. Parameters keep
      their identity (their ``.data`` is replaced), so an optimizer over
      ``parameters()`` stays valid after its own ``keep(index)``.

    Call ``keep`` when no autograd graph of an earlier forward is alive: while
    one is, autograd remembers each parameter's old shape and the next
    backward fails.

    The default :meth:`keep` compacts every parameter and every buffer along
    dimension 0; override it (and call it) to compact per-member Python state
    too, or if some buffer is shared by all members.
    """

    size: int

    def member_state_dict(self, i: int) -> dict[str, Tensor]:
        """Slot ``i``'s weights as the single model's ``state_dict``, on the CPU."""
        raise NotImplementedError

    def load_member(self, i: int, state_dict: dict[str, Tensor]) -> None:
        """Copy a single model's ``state_dict`` into slot ``i``."""
        raise NotImplementedError

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the slots in ``index`` (in that order): finished members stop costing compute."""
        index_list = [int(i) for i in index]
        if not index_list or any(not 0 <= i < self.size for i in index_list) or len(set(index_list)) != len(index_list):
            raise ValueError(f"keep() takes distinct slots in [0, {self.size}), got {index_list}")
        with torch.no_grad():
            for param in self.parameters():
                param.data = param.data[torch.tensor(index_list, device=param.device)]
                param.grad = None
            for module in self.modules():
                for name, buffer in list(module._buffers.items()):
                    if buffer is not None:
                        module._buffers[name] = buffer[torch.tensor(index_list, device=buffer.device)]
        self.size = len(index_list)


class MemberAdam:
    """Adam over parameters whose dimension 0 is the member dimension, one ``lr`` and ``weight_decay`` per member.

    Why not ``torch.optim.Adam`` with one parameter group per member: a group
    needs its own tensors, and the population's point is one tensor per layer
    for all members. The arithmetic is ``torch.optim.Adam``'s for each member
    (default ``betas``/``eps``, ``amsgrad=False``, L2 weight decay added to the
    gradient, bias correction with the member's own step count), in the same
    order of operations, so a member follows the trajectory it would have alone.

    ``set_active(mask)`` freezes the members whose mask is False: their weights,
    moments and step counts stay as they are (``torch.where``, so a NaN in a
    frozen member never leaks). ``keep(index)`` compacts the state together
    with :meth:`PopulationModel.keep`.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float | Sequence[float] | Tensor,
        weight_decay: float | Sequence[float] | Tensor = 0.0,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("MemberAdam got no parameters")
        size = self.params[0].size(0) if self.params[0].dim() > 0 else 0
        if any(p.dim() == 0 or p.size(0) != size for p in self.params):
            raise ValueError(f"every parameter needs the member dimension first (length {size})")
        device = self.params[0].device
        # float64 for the per-member scalars: torch.optim.Adam computes them as Python floats.
        self.lr = self._vector(lr, size, device)
        self.weight_decay = self._vector(weight_decay, size, device)
        if bool((self.lr < 0).any()) or bool((self.weight_decay < 0).any()):
            raise ValueError("lr and weight_decay must be non-negative")
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)
        self.steps = torch.zeros(size, dtype=torch.float64, device=device)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.active = torch.ones(size, dtype=torch.bool, device=device)
        self._all_active = True
        self.size = size

    @staticmethod
    def _vector(value: float | Sequence[float] | Tensor, size: int, device: Any) -> Tensor:
        out = torch.as_tensor(value, dtype=torch.float64).to(device)
        if out.dim() == 0:
            out = out.expand(size).clone()
        if out.shape != (size,):
            raise ValueError(f"expected one value per member ({size}), got shape {tuple(out.shape)}")
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def set_active(self, mask: Sequence[bool] | Tensor) -> None:
        """Update only the members whose entry is True (a host list avoids a device sync)."""
        if isinstance(mask, Tensor):
            active = mask.to(device=self.active.device, dtype=torch.bool)
            self._all_active = bool(active.all())
        else:
            flags = [bool(m) for m in mask]
            active = torch.tensor(flags, dtype=torch.bool, device=self.active.device)
            self._all_active = all(flags)
        if active.shape != (self.size,):
            raise ValueError(f"expected one flag per member ({self.size}), got shape {tuple(active.shape)}")
        self.active = active

    def keep(self, index: Sequence[int]) -> None:
        """Keep the state of the slots in ``index`` only, as :meth:`PopulationModel.keep` does with the weights."""
        idx = torch.as_tensor([int(i) for i in index], dtype=torch.long, device=self.active.device)
        self.lr, self.weight_decay, self.steps = self.lr[idx], self.weight_decay[idx], self.steps[idx]
        self.exp_avg = [m[idx] for m in self.exp_avg]
        self.exp_avg_sq = [v[idx] for v in self.exp_avg_sq]
        self.active = self.active[idx]
        self._all_active = bool(self.active.all()) if idx.numel() else True
        self.size = int(idx.numel())

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        masked = not self._all_active
        self.steps += self.active.to(self.steps.dtype)
        # Per member, as torch.optim.Adam's Python floats: step_size = lr / (1 - beta1^t),
        # sqrt(1 - beta2^t); cast to the parameters' dtype where they meet the tensors.
        bias_correction1 = 1 - torch.pow(torch.tensor(beta1, dtype=torch.float64, device=self.steps.device), self.steps)
        bias_correction2 = 1 - torch.pow(torch.tensor(beta2, dtype=torch.float64, device=self.steps.device), self.steps)
        neg_step_size = -(self.lr / bias_correction1)
        bias_correction2_sqrt = bias_correction2.sqrt()
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if param.data.shape != self.exp_avg[i].shape:
                raise RuntimeError("parameter shapes changed: call MemberAdam.keep() with the model's keep()")
            shape = (-1,) + (1,) * (param.dim() - 1)
            dtype = param.dtype
            decay = self.weight_decay.to(dtype).view(shape)
            grad = grad + decay * param  # == grad.add(param, alpha=weight_decay)
            exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
            if masked:
                exp_avg, exp_avg_sq = exp_avg.clone(), exp_avg_sq.clone()
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt.to(dtype).view(shape)).add_(self.eps)
            update = neg_step_size.to(dtype).view(shape) * exp_avg / denom  # addcdiv_'s order: (value * t1) / t2
            if masked:
                keep = self.active.view(shape)
                param.copy_(torch.where(keep, param + update, param))
                self.exp_avg[i].copy_(torch.where(keep, exp_avg, self.exp_avg[i]))
                self.exp_avg_sq[i].copy_(torch.where(keep, exp_avg_sq, self.exp_avg_sq[i]))
            else:
                param.add_(update)


def normalised_weights(models: Sequence[Any], weights: Sequence[float]) -> list[float]:
    """An ensemble's weights summing to 1; a ValueError unless there is one non-negative weight per model."""
    if not models or len(models) != len(weights):
        raise ValueError(f"an ensemble needs one weight per model, got {len(models)} models and {len(weights)} weights")
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError(f"ensemble weights must be non-negative with a positive sum, got {list(weights)}")
    return [float(w) / total for w in weights]


class ProbabilityEnsemble(torch.nn.Module):
    """Several classifiers as one: the weighted mean of their class probabilities, returned as its logarithm.

    Log-probabilities are valid logits (``log_softmax`` leaves them unchanged), so a task's own evaluation,
    argmax and cross-entropy included, scores the ensemble exactly as it scores one model. For a task
    whose model maps ``(...) -> [items, classes]`` logits (node and graph classification).
    """

    def __init__(self, models: Sequence[torch.nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(models)
        self.weights = normalised_weights(models, weights)

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        mixed: Tensor | None = None
        for weight, model in zip(self.weights, self.members):
            if weight == 0.0:
                continue
            proba = torch.softmax(model(*args, **kwargs).float(), dim=-1) * weight
            mixed = proba if mixed is None else mixed + proba
        assert mixed is not None
        return torch.log(mixed.clamp_min(1e-12))
