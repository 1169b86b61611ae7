"""``direction_ablation``: per layer, the unlearning directions (the mean difference of the
model's residual stream from ORIG's on the forget prompts, then its top principal components;
`evaluate.whitebox.unlearning_directions`) projected out → recall; the worst layer is
cross-fitted over the forget entities (`worst_case`).  ORIG's directions are zero, so ORIG's
value is its own recall."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UnlearnscopeError
from ..models import Anchor, anchor_of
from ..registry import Measurement, readout
from ..rki import Metric
from ..worst_case import option_means, worst_option

NEEDS_ORIG = "not run: the attack undoes the difference from ORIG; give the original model"


@dataclass(frozen=True)
class DirectionSettings:
    k: int = 1  # directions projected out per layer

    def validate(self) -> None:
        if self.k < 1:
            raise UnlearnscopeError(f"direction ablation projects out k >= 1 directions per layer, got {self.k}")


def _directions(subject, orig: Anchor, facts, order, k):
    from ..whitebox import ablation_recall

    return ablation_recall(subject, orig.obj, facts, order, k)[0]


@readout(
    "direction_ablation",
    "adversarial",
    config=DirectionSettings,
    requires=("lm_head", "original"),
    on_noise=False,
    worst_case=True,
    missing=lambda m: None if m.models.has("original") else NEEDS_ORIG,
    section="attacks",
    aliases=("direction",),
    source="Łucki et al. / Arditi et al.: directional ablation of the unlearning difference",
)
def measure(m: Measurement) -> list[Metric]:
    """recall with the unlearning directions (model − ORIG) projected out, at the worst layer"""
    ms, k = m.models, m.settings.k
    vals = ms.map(
        "direction_ablation",
        _directions,
        anchor_of(ms.roles["original"][0]),
        m.data.forget,
        m.data.order,
        k,
        roles=list(ms.roles),
    )
    metric, chosen = worst_option("direction_ablation", vals, m.data.order, m.seed, {"k": k})
    metric.detail["layers"] = chosen
    n_layers = ms.roles["unlearned"][0].anatomy.n_layers
    m.section["direction_ablation"] = {
        "options": [f"layer {l}" for l in range(n_layers)],
        "recovered": option_means(vals),
        "chosen": chosen,
    }
    return [metric]
