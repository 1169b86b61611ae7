"""Selecting a configuration without scoring it on the same data (no double dipping).

Where a readout has a free choice — the probe's (depth, role), the relearning learning rate — the
choice is made by 2-fold cross-fitting over the forget entities: the entities are split into two
seeded halves, the option that maximises the selection score on one half is used to score the
entities of the other half, and the other way round.  Every entity is then scored at an option
chosen without it, so selecting where ORIG and REF differ most (or where the unlearned model
recovers most) no longer inflates the denominator or the numerator of the RKI it is scored by.
"""

from __future__ import annotations

import random

import torch


def halves(entities: list[str], seed: int = 0) -> torch.Tensor:
    """``[n_entities]`` 0 / 1: a seeded split into two halves (by entity name, so the same entities
    split the same way for every model and readout)."""
    names = sorted(set(entities))
    random.Random(f"crossfit-{seed}").shuffle(names)
    side = {e: i % 2 for i, e in enumerate(names)}
    return torch.tensor([side[e] for e in entities])


def cross_fit(score: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """``score [n_options, n_entities]`` (NaN: not scored) → ``(option per entity [n_entities],
    [option chosen on half 0, option chosen on half 1])``.  Entities of half ``h`` get the option
    with the largest mean score over half ``1 − h``; with a half empty, every entity gets the option
    chosen on all of them (nothing to cross-fit)."""
    chosen = []
    for h in (0, 1):
        on = half == h
        if not bool(on.any()) or bool(on.all()):
            on = torch.ones_like(on)
        chosen.append(int(torch.nanmean(score[:, on].double(), 1).nan_to_num(float("-inf")).argmax()))
    per_entity = torch.where(half == 0, chosen[1], chosen[0])
    return per_entity, chosen
