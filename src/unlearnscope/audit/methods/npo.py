"""``npo``: negative preference optimization (Zhang et al. 2024) at its paper's β and a frozen
reference copy, whole model."""

from __future__ import annotations

from ...ablate.methods.npo import BETA
from .base import audit_method, training_noise, unlearn_run


@audit_method(
    "npo",
    f"negative preference optimization (Zhang et al. 2024; beta {BETA}, frozen reference), whole model",
    noise=training_noise,
    source="Zhang et al. 2024",
)
def run(ctx, subject) -> dict:
    return unlearn_run(ctx, subject, method="npo", beta=BETA)
