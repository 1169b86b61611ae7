"""The likelihood pieces unlearning objectives share.  ``logp`` is a sequence's summed token
log-probability, ``nll`` its mean per-token negative log-likelihood.  Each objective's own formula
lives in its module (`ablate.methods`: GA, GradDiff, NPO, SimNPO, log(1 − p), relabel, RMU)."""

from __future__ import annotations

import torch


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum of next-token log-probs [batch], number of predicted tokens [batch])``."""
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    m = mask[:, 1:].float()
    return (lp * m).sum(1), m.sum(1).clamp_min(1)


def nll(logits, ids, mask) -> torch.Tensor:
    lp, n = token_logprobs(logits, ids, mask)
    return -(lp / n).mean()


def kl_to_ref(logits, ref_logits, mask) -> torch.Tensor:
    """Mean per-token KL(ref || model) over predicted positions."""
    lp, lq = torch.log_softmax(logits[:, :-1].float(), -1), torch.log_softmax(ref_logits[:, :-1].float(), -1)
    kl = (lq.exp() * (lq - lp)).sum(-1)
    m = mask[:, 1:].float()
    return (kl * m).sum() / m.sum().clamp_min(1)
