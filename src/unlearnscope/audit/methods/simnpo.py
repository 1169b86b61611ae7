"""``simnpo``: SimNPO (Fan et al. 2024) at TOFU's β and γ, no reference, whole model."""

from __future__ import annotations

from ...ablate.methods.simnpo import BETA, GAMMA
from .base import audit_method, training_noise, unlearn_run


@audit_method(
    "simnpo",
    f"SimNPO (Fan et al. 2024; beta {BETA}, gamma {GAMMA:g}, no reference), whole model",
    noise=training_noise,
    source="Fan et al. 2024",
)
def run(ctx, subject) -> dict:
    return unlearn_run(ctx, subject, method="simnpo", beta=BETA, gamma=GAMMA)
