"""Ranking metrics for scored pairs, in torch, for tasks (built-in and third-party) to share.

All take the scores of the positive and of the negative items as 1-D tensors
(any device, any float dtype) and return a 0-d float tensor on that device,
so a trainer can read every metric of an epoch in one host sync. Ties are
handled as scikit-learn does (``roc_auc_score``, ``average_precision_score``),
and Hits@K as OGB's link-prediction evaluator defines it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor


def roc_auc(positive: "Tensor", negative: "Tensor") -> "Tensor":
    """The probability that a random positive scores above a random negative (ties count a half)."""
    import torch

    scores = torch.cat([positive, negative]).float()
    n_pos, n_neg = positive.numel(), negative.numel()
    if n_pos == 0 or n_neg == 0:
        return torch.tensor(float("nan"), device=scores.device)
    order = torch.argsort(scores)
    sorted_scores = scores[order]
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).float()
    average_rank = ends - (counts.float() - 1) / 2  # 1-based mean rank of each run of tied scores
    ranks = torch.empty_like(scores)
    ranks[order] = average_rank[inverse]
    rank_sum = ranks[:n_pos].sum()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def average_precision(positive: "Tensor", negative: "Tensor") -> "Tensor":
    """Area under the precision-recall curve as a step sum: sum over thresholds of (R_i - R_{i-1}) * P_i."""
    import torch

    scores = torch.cat([positive, negative]).float()
    labels = torch.cat([torch.ones_like(positive, dtype=torch.float), torch.zeros_like(negative, dtype=torch.float)])
    if positive.numel() == 0:
        return torch.tensor(float("nan"), device=scores.device)
    order = torch.argsort(scores, descending=True)
    scores, labels = scores[order], labels[order]
    # One threshold per distinct score: the last position of each run of ties.
    last = torch.ones_like(scores, dtype=torch.bool)
    last[:-1] = scores[1:] != scores[:-1]
    true_pos = torch.cumsum(labels, 0)[last]
    seen = torch.nonzero(last).view(-1).float() + 1
    precision = true_pos / seen
    recall = true_pos / positive.numel()
    previous = torch.cat([recall.new_zeros(1), recall[:-1]])
    return ((recall - previous) * precision).sum()


def hits_at_k(positive: "Tensor", negative: "Tensor", k: int) -> "Tensor":
    """OGB's Hits@K: the share of positives scored strictly above the K-th best negative (1 with fewer than K)."""
    import torch

    if negative.numel() < k:
        return torch.tensor(1.0, device=positive.device)
    threshold = torch.topk(negative.float(), k).values[-1]
    return (positive.float() > threshold).float().mean()
