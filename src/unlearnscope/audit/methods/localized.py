"""``localized``: gradient ascent restricted to the located components (attribution patching's
top-k sub-blocks), at the audit's localized learning rate."""

from __future__ import annotations

from .base import audit_method, located_components, training_noise, unlearn_run


@audit_method(
    "localized",
    "gradient ascent restricted to the located components (attribution patching, top-k sub-blocks)",
    noise=training_noise,
)
def run(ctx, subject) -> dict:
    return unlearn_run(ctx, subject, components=located_components(ctx, subject), lr=ctx.config.localized_lr)
