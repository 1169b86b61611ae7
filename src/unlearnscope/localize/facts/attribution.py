"""Attribution patching (Syed et al.; Nanda): the first-order estimate of activation patching.

For every component at once, from one clean forward and one corrupted forward + backward:
``Σ_{pos in role, d} (a_clean − a_corrupt) · ∂M/∂a |_corrupt``, as a fraction of
``M_clean − M_corrupt`` (``M`` a differentiable patching metric, `metrics`; default the logit
difference).  `units.unit_attribution` sums the same terms per neuron or expert.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

from .corruption import corrupt_answers
from .effects import FactLocalization
from .metrics import PatchingMetric, score
from .patching import PatchingRun
from .points import kind_points, last_logits

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


@contextmanager
def activation_grads_only(subject):
    """Gradients reach activations but no parameter: weights are frozen for the block and the
    embedding output becomes the graph's leaf (cheaper, and no ``.grad`` is left on the model)."""
    params = [p for p in subject.model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with subject.hooks([("hook_embed", lambda x, point: x.detach().requires_grad_(True))]):
            yield
    finally:
        for p in params:
            p.requires_grad_(True)


def attribution_terms(subject, clean, corr, points: list[str], batch_size: int, metric: PatchingMetric):
    """Per batch of facts: ``(slice, {point: (a_clean − a_corrupt) · ∂M/∂a |_corrupt}, ΣM_clean, ΣM_corrupt)``.

    The terms keep the point's shape (summing them over any dims is the attribution of that
    part); one clean forward and one corrupted forward + backward per batch."""
    from ...progress import bar

    for s in bar(range(0, len(clean), batch_size), "attribution patching"):
        sl = slice(s, s + batch_size)
        am, last, ans = clean.attention_mask[sl], clean.last[sl], clean.answer[sl]
        with torch.no_grad(), subject.capture(points) as cc:
            lc = last_logits(subject.model(input_ids=clean.input_ids[sl], attention_mask=am), last)
        with torch.enable_grad(), activation_grads_only(subject), subject.capture(points, grad=True) as cx:
            lx = last_logits(subject.model(input_ids=corr.input_ids[sl], attention_mask=am), last)
            wrong = corrupt_answers(lx.detach(), ans)
            m = score(metric, lx, ans, wrong)
            m.sum().backward()
        terms = {p: ((cc[p] - cx[p].detach()) * cx.grads[p]).float() for p in points}
        yield sl, terms, score(metric, lc, ans, wrong).sum(), m.detach().sum()  # device scalars: no host read per batch


def attribution_patching(
    subject: Subject,
    facts: FactsLike,
    corrupt: str | FactsLike | None = None,
    *,
    kinds: Sequence[str] = ("resid", "mlp", "attn"),
    metric: str | PatchingMetric = "logit_diff",
    seed: int = 0,
    batch_size: int = 64,
) -> FactLocalization:
    run = PatchingRun.prepare(subject, facts, corrupt, kinds, metric, seed)
    L = subject.anatomy.n_layers
    points = kind_points(run.kinds, L)  # kind-major: reshapes to [kind, layer]
    sums = torch.zeros(len(points), len(run.roles), device=subject.device)
    m_clean = m_corr = 0.0
    for sl, terms, c, x in attribution_terms(subject, run.clean, run.corrupted, points, batch_size, run.metric):
        m_clean, m_corr = m_clean + c, m_corr + x
        per_pos = torch.stack([terms[p].sum(-1) for p in points])  # [point, b, pos]
        sums += torch.einsum("rbp,nbp->nr", run.role_masks[:, sl].float().to(per_pos.device), per_pos)
    sums = sums.view(len(run.kinds), L, len(run.roles)).cpu()
    return run.result("attribution_patching", sums, float(m_clean), float(m_corr), seed)
