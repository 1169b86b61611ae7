"""``logit_lens``: per forget entity, the best reciprocal rank of the gold answer over depths
when each depth's residual stream is read through the final norm and the unembedding
(`probes.logit_lens.gold_ranks`); ``success@b`` in the details is the share of items whose
answer is within the top ``b`` at some depth."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import metric
from ..registry import Measurement, readout
from ..rki import Metric
from ..stats import per_entity


@dataclass(frozen=True)
class LensSettings:
    budgets: tuple[int, ...] = (1, 5, 20)  # top-b success rates reported per model


def _figures(v: dict) -> list:
    from ...viz.verify import lens_curves

    return [("Logit lens", None, lens_curves(v))] if v.get("lens") else []


@readout(
    "logit_lens",
    "intrinsic",
    config=LensSettings,
    requires=("lm_head",),
    section="lens",
    figure=_figures,
    aliases=("lens",),
    source="nostalgebraist's logit lens",
)
def measure(m: Measurement) -> list[Metric]:
    """best reciprocal rank of the gold answer over depths, read through the unembedding"""
    from ...probes.logit_lens import gold_ranks

    ms = m.models
    ranks = ms.map("logit_lens", gold_ranks, m.data.forget, roles=ms.roles)
    for r, rs in ranks.items():
        stacked = torch.stack([x.ranks for x in rs]).float()  # [model, depth, item]
        m.section[r] = {
            "depths": rs[0].depths,
            "median_rank_per_depth": stacked.median(-1).values.mean(0).tolist(),
            "top1_per_depth": (stacked < 1).float().mean((0, 2)).tolist(),
            **{f"success@{b}": float(torch.stack([x.success(b) for x in rs]).mean()) for b in m.settings.budgets},
        }
    per_role = {r: [per_entity(x.best_reciprocal_rank(), x.entities) for x in rs] for r, rs in ranks.items()}
    return [metric("logit_lens", "intrinsic", per_role, {"score": "max over depths of 1/(1+rank) of the gold answer"})]
