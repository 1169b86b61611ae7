"""``ga`` (alias ``full``): gradient ascent on the forget data, whole model — the field's
baseline, on the facts and on the refusal target."""

from __future__ import annotations

from .base import audit_method, training_noise, unlearn_run


@audit_method(
    "ga",
    "gradient ascent on the forget data, whole model (the field's baseline)",
    aliases=("full",),
    targets=("facts", "refusal"),
    noise=training_noise,
)
def run(ctx, subject) -> dict:
    return unlearn_run(ctx, subject)
