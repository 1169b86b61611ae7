"""Checks that a localization means something (evaluation.md R1).

* `spearman`: rank correlation with average ranks for ties.
* `agreement`: Spearman ρ between two `FactLocalization`s over every (kind, layer, role) cell they
  share — e.g. attribution patching vs activation patching (stored in both results' ``validation``).
* `validate_facts`: the random-control test at unit level (`units.random_control`) for the top
  ``n_units`` units by attribution patching, stored in the localization's ``validation``.
"""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError
from .effects import FactLocalization


def _ranks(x: torch.Tensor) -> torch.Tensor:
    x = x.double().flatten()
    order = x.argsort()
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(len(x), dtype=torch.double)
    uniq, inv = x.unique(return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inv, ranks)
    counts = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inv, torch.ones_like(ranks))
    return (sums / counts)[inv]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.numel() != b.numel() or a.numel() < 3:
        raise UnlearnscopeError(f"spearman needs two equally long inputs of >= 3 values, got {a.numel()} and {b.numel()}")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(ra.norm() * rb.norm())
    return float((ra @ rb) / den) if den > 0 else float("nan")


def agreement(x: FactLocalization, y: FactLocalization) -> float:
    kinds = [k for k in x.kinds if k in y.kinds]
    roles = [r for r in x.roles if r in y.roles]
    if not kinds or not roles:
        raise UnlearnscopeError("the two localizations share no (kind, role) cells")
    sel = lambda loc: loc.effects[[loc.kinds.index(k) for k in kinds]][:, :, [loc.roles.index(r) for r in roles]]  # noqa: E731
    rho = spearman(sel(x), sel(y))
    x.validation[f"spearman_vs_{y.method}"] = rho
    y.validation[f"spearman_vs_{x.method}"] = rho
    return rho


def validate_facts(subject, loc: FactLocalization, facts, unrelated=None, *, n_units: int = 20, n_random: int = 100,
                   seed: int = 0):
    """Unit-level random control for ``facts``; returns the `RandomControl` and stores its numbers."""
    from .units import random_control, unit_attribution

    scores = unit_attribution(subject, facts, seed=seed)
    top = scores.top(n_units)
    rc = random_control(subject, [(l, k, j) for l, k, j, _ in top], facts, unrelated, n_random=n_random, seed=seed)
    loc.validation["random_control"] = {k: v for k, v in rc.to_dict().items() if not k.startswith("random_")}
    return rc
