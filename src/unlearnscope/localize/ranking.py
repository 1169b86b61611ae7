"""Rank agreement between two score tensors (localizations of two methods, two halves of a data set)."""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks of ``x`` (flattened), ties given their average rank."""
    x = x.double().flatten()
    order = x.argsort()
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(len(x), dtype=torch.double)
    uniq, inv = x.unique(return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inv, ranks)
    counts = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inv, torch.ones_like(ranks))
    return (sums / counts)[inv]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's ρ with average ranks for ties (NaN when either side is constant)."""
    if a.numel() != b.numel() or a.numel() < 3:
        raise UnlearnscopeError(
            f"spearman needs two equally long inputs of >= 3 values, got {a.numel()} and {b.numel()}"
        )
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    return float((ra @ rb) / den) if den > 0 else float("nan")
