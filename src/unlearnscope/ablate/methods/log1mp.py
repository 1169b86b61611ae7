"""``log1mp``: Guo et al.'s forget loss (mechanistic unlearning) — the mean over scored tokens of
``−log(1 − p(token))``, a term dropped once ``log p < log1mp_floor``, plus their maintain loss
(``α`` NLL on the retain data, α 1); the forget part weighted by ``c_f`` (``forget_weight``)."""

from __future__ import annotations

import torch

from .base import UnlearningMethod, register

RETAIN_WEIGHT = 1.0


def log1mp(logits, ids, mask, floor: float) -> torch.Tensor:
    """Mean ``-log(1 - p(token))`` over the scored tokens whose ``log p >= floor`` (0 when none is left)."""
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    keep = mask[:, 1:].bool() & (lp >= floor)
    term = -torch.log1p(-lp.exp().clamp(max=1 - 1e-6))
    return (term * keep).sum() / keep.sum().clamp_min(1)


def forget_loss(objective, batch, logits, mask):
    ids = batch["input_ids"]
    return log1mp(logits, ids, mask, objective.cfg.log1mp_floor)


register(
    UnlearningMethod(
        "log1mp",
        "-log(1 - p) on the answer tokens with a floor, plus the maintain loss",
        "Guo et al. 2025 (mechanistic unlearning)",
        forget_loss,
        retain_weight=RETAIN_WEIGHT,
        paper={
            "source": "Guo et al. 2025 (mechanistic unlearning): -log(1-p) forget loss dropped below log p = -5, "
            "maintain CE, AdamW without decay, cosine schedule over 50 steps, gradient clip 1, lr 1e-5, c_f 5 "
            "(MLP-only) / 0.1 (AP, CT, random)",
            "config": {
                "method": "log1mp",
                "lr": 1e-5,
                "steps": 50,
                "schedule": "cosine",
                "clip": 1.0,
                "forget_weight": 5.0,
                "retain_weight": RETAIN_WEIGHT,
                "batch_size": 64,
            },
        },
    )
)
