"""The worst case over an attack's options (layers, bit widths, sweep configurations), chosen
without scoring the choice on the entities it was made on.

The option is the one where the unlearned models' recovered recall exceeds REF's most, chosen by
2-fold cross-fitting over the forget entities (`crossfit`): each half of the entities is scored
at the option chosen on the other half.  REF's value under the same option is its floor."""

from __future__ import annotations

import torch

from .crossfit import cross_fit, halves
from .models import metric
from .rki import Metric


def worst_option(
    name: str,
    vals: dict[str, list[torch.Tensor]],
    entities: list[str],
    seed: int,
    detail: dict,
    allowed: torch.Tensor | None = None,
) -> tuple[Metric, list[int]]:
    """``vals[role]``: ``[option, entity]`` per model → the metric at the cross-fitted worst-case
    option (largest mean excess of the unlearned models over REF; ``allowed`` ``[option]`` masks
    options out) and ``[option chosen on half 0, on half 1]``."""
    mean = lambda r: torch.stack(vals[r]).double().mean(0)
    score = mean("unlearned") - (mean("reference") if "reference" in vals else 0)
    if allowed is not None:
        score = torch.where(allowed[:, None], score, torch.full_like(score, float("nan")))
    pick, chosen = cross_fit(score, halves(entities, seed))
    cols = torch.arange(len(entities))
    per_role = {r: [(entities, v[pick, cols]) for v in vs] for r, vs in vals.items()}
    return metric(name, "adversarial", per_role, detail), chosen


def option_means(vals: dict) -> dict:
    """Per role, the mean over models and entities of each option (what the report plots)."""
    return {r: torch.nanmean(torch.stack(vs).double(), dim=(0, 2)).tolist() for r, vs in vals.items()}
