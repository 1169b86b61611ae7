"""``npo``: negative preference optimization (Zhang et al. 2024) —
``−(2/β) E log σ(−β (logp_f − logp_f^ref))`` with ``logp`` a sequence's summed answer log-probability
and the reference a frozen copy of the model before unlearning.  ``npo_reference = "self"``
reproduces the released UOE/SEUF trainer's bug (the reference is the model being trained, so the
log-ratio is 0 at every step and NPO degenerates to a weighted gradient ascent)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import losses as L
from .base import UnlearningMethod, register

BETA = 0.1


def npo(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    return -(2 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def forget_loss(objective, batch, logits, mask):
    ids = batch["input_ids"]
    logp, _ = L.token_logprobs(logits, ids, mask)
    with torch.no_grad():
        ref_logp, _ = L.token_logprobs(objective.reference_logits(batch), ids, mask)
    return npo(logp, ref_logp, objective.cfg.beta_)


register(
    UnlearningMethod(
        "npo",
        "negative preference optimization against a frozen reference copy",
        "Zhang et al. 2024",
        forget_loss,
        beta=BETA,
        needs_reference=lambda config: config.npo_reference == "frozen",
        paper={
            "source": "NPO (Zhang et al. 2024) as ConceptVectors runs it: beta 0.1, frozen reference copy, summed "
            "log-likelihoods",
            "config": {"method": "npo", "lr": 1e-5, "beta": BETA, "weight_decay": 0.01, "batch_size": 32, "steps": 50},
        },
    )
)
