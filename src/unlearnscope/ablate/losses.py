"""Unlearning objectives (minimised).  ``logp`` is a sequence's summed token log-probability,
``nll`` its mean per-token negative log-likelihood; f = forget batch, r = retain batch.

* ``ga``       GradAscent: ``-nll_f``
* ``graddiff`` GradDiff: ``-nll_f + a * nll_r``
* ``npo``      NPO: ``-(2/β) E log σ(-β (logp_f - logp_f^ref))`` (+ ``a * nll_r``), frozen reference
* ``simnpo``   SimNPO: ``-(2/β) E log σ(-(β/|y|) logp_f - γ)`` (+ ``a * nll_r``), reference-free
* ``log1mp``   Guo et al.: mean over scored tokens of ``-log(1 - p)``, tokens with ``log p < floor``
               dropped (+ ``a * nll_r``, their maintain loss); the forget part weighted by ``c_f``
* ``relabel``  descent on the forget data as given: ``nll_f`` (random-label forgetting)
* ``rmu``      RMU: ``|h_l(f) - c u|² + a |h_l(r) - h_l^ref(r)|²`` at one layer's residual stream,
               ``u`` a fixed random unit vector
Every method adds ``kl_weight * KL(ref || model)`` on retain tokens when asked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def log1mp(logits, ids, mask, floor: float) -> torch.Tensor:
    """Mean ``-log(1 - p(token))`` over the scored tokens whose ``log p >= floor`` (0 when none is left)."""
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    keep = mask[:, 1:].bool() & (lp >= floor)
    term = -torch.log1p(-lp.exp().clamp(max=1 - 1e-6))
    return (term * keep).sum() / keep.sum().clamp_min(1)


def npo(logp, ref_logp, beta: float) -> torch.Tensor:
    return -(2 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def simnpo(logp, n_tokens, beta: float, gamma: float) -> torch.Tensor:
    return -(2 / beta) * F.logsigmoid(-(beta / n_tokens) * logp - gamma).mean()


def rmu_forget(h, control: torch.Tensor, mask) -> torch.Tensor:
    m = mask[..., None].float()
    return (((h.float() - control) ** 2) * m).sum() / (m.sum() * h.shape[-1]).clamp_min(1)


def rmu_retain(h, h_ref, mask) -> torch.Tensor:
    m = mask[..., None].float()
    return (((h.float() - h_ref.float()) ** 2) * m).sum() / (m.sum() * h.shape[-1]).clamp_min(1)
