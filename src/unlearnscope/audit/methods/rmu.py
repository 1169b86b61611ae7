"""``rmu``: RMU (Li et al. 2024, WMDP) on its default components (three MLPs up to the middle
layer), at the audit's RMU learning rate (its loss is a distance of activations, not a likelihood)."""

from __future__ import annotations

from ...ablate.methods.rmu import RETAIN_WEIGHT
from .base import audit_method, training_noise, unlearn_run


@audit_method(
    "rmu",
    "RMU (Li et al. 2024): forget activations steered to a norm-scaled random direction, retain held; three MLPs up "
    "to the middle layer",
    noise=training_noise,
    source="Li et al. 2024 (WMDP)",
)
def run(ctx, subject) -> dict:
    """The summary's region names the components RMU trained."""
    return unlearn_run(ctx, subject, method="rmu", lr=ctx.config.rmu_lr, retain=True, retain_weight=RETAIN_WEIGHT)
