"""Entity-grouped splits: every row of an entity lands on the same side, so a probe has to find
a code shared across entities instead of memorising identities (GroupKFold by entity)."""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError


def entity_folds(subjects: list[str], k: int, seed: int) -> torch.Tensor:
    """Fold id ``[n]`` per row, grouped by subject, entities dealt round-robin after a seeded shuffle."""
    uniq = sorted(set(subjects))
    if len(uniq) < k:
        raise UnlearnscopeError(f"entity-disjoint probing needs at least {k} entities, got {len(uniq)}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(uniq), generator=g).tolist()
    fold_of = {uniq[i]: n % k for n, i in enumerate(perm)}
    return torch.tensor([fold_of[s] for s in subjects])


def fold_masks(folds: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train [k, n], test [k, n])`` boolean masks from fold ids."""
    test = folds[None] == torch.arange(k)[:, None]
    return ~test, test
