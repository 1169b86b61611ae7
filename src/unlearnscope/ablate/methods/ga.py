"""``ga``: gradient ascent on the forget data — minimise ``−NLL_f`` (the field's baseline)."""

from __future__ import annotations

from .. import losses as L
from .base import UnlearningMethod, register


def forget_loss(objective, batch, logits, mask):
    ids = batch["input_ids"]
    return -L.nll(logits, ids, mask)


GA = register(
    UnlearningMethod(
        "ga",
        "gradient ascent on the forget data",
        "the field's baseline (e.g. TOFU, ConceptVectors' fine-tuning baselines)",
        forget_loss,
        paper={
            "source": "ConceptVectors (Hong et al.) fine-tuning baselines: lr 1e-5 to 5e-5, AdamW, weight decay 0.01",
            "config": {"method": "ga", "lr": 1e-5, "weight_decay": 0.01, "batch_size": 32, "steps": 50},
        },
    )
)
