"""``simnpo``: SimNPO (Fan et al. 2024) — reference-free, length-normalised NPO:
``−(2/β) E log σ(−(β/|y|) logp_f − γ)`` (TOFU's setting: β 2.5, γ 0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import losses as L
from .base import UnlearningMethod, register

BETA = 2.5
GAMMA = 0.0


def simnpo(logp: torch.Tensor, n_tokens: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    return -(2 / beta) * F.logsigmoid(-(beta / n_tokens) * logp - gamma).mean()


def forget_loss(objective, batch, logits, mask):
    ids = batch["input_ids"]
    logp, n = L.token_logprobs(logits, ids, mask)
    return simnpo(logp, n, objective.cfg.beta_, objective.cfg.gamma)


register(
    UnlearningMethod(
        "simnpo",
        "SimNPO: length-normalised NPO without a reference",
        "Fan et al. 2024",
        forget_loss,
        beta=BETA,
        paper={
            "source": "SimNPO (Fan et al. 2024) on TOFU: beta 2.5, gamma 0, length-normalised, no reference",
            "config": {
                "method": "simnpo",
                "lr": 1e-5,
                "beta": BETA,
                "gamma": GAMMA,
                "weight_decay": 0.01,
                "batch_size": 32,
                "steps": 50,
            },
        },
    )
)
