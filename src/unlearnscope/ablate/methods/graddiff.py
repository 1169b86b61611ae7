"""``graddiff``: gradient difference — ascent on the forget data, descent on the retain data:
``−NLL_f + α · NLL_r`` (α 1 by default; ConceptVectors' code hard-codes 1.5)."""

from __future__ import annotations

from .base import UnlearningMethod, register
from .ga import forget_loss

RETAIN_WEIGHT = 1.0

register(
    UnlearningMethod(
        "graddiff",
        "gradient difference: ascent on forget, descent on retain",
        "Liu et al. 2022; ConceptVectors' GD",
        forget_loss,
        retain_weight=RETAIN_WEIGHT,
        paper={
            "source": "ConceptVectors' GD: -CE_f + 1.5 CE_r (their hard-coded retain weight)",
            "config": {
                "method": "graddiff",
                "lr": 1e-5,
                "weight_decay": 0.01,
                "batch_size": 32,
                "retain_weight": 1.5,
                "steps": 50,
            },
        },
    )
)
