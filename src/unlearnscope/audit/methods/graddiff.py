"""``graddiff``: gradient difference (ascent on the forget data, descent on the retain data),
whole model, at the audit's localized learning rate."""

from __future__ import annotations

from .base import audit_method, training_noise, unlearn_run


@audit_method(
    "graddiff", "gradient difference (ascent on forget, descent on retain), whole model", noise=training_noise
)
def run(ctx, subject) -> dict:
    return unlearn_run(ctx, subject, method="graddiff", lr=ctx.config.localized_lr, retain=True)
