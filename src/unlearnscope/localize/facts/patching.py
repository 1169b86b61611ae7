"""Activation patching with corrupted prompts (subject swap; Meng et al., Heimersheim & Nanda).

Each (kind, layer, position role)'s clean activation is put into the corrupted run (denoising) and
the run is scored by a patching metric (`metrics`; default the logit difference
``logit(clean answer) − logit(corrupt answer)`` at the last token).  Score = fraction of
``M_clean − M_corrupt`` recovered, ``(M_patched − M_corrupt) / (M_clean − M_corrupt)`` (means over
facts).  One forward per (kind, layer) runs every role at once.  `attribution.attribution_patching`
is its first-order estimate.

Clean and corrupted prompts must tokenize to the same length (`corruption.subject_swap` builds
such pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ...data import EncodedFacts, role_masks
from ...errors import UnlearnscopeError
from .corruption import clean_and_corrupt, corrupt_answers, recovered_denominator
from .effects import FactLocalization
from .metrics import PatchingMetric, resolve_metric, score
from .points import KIND_POINTS, check_kinds, kind_points, last_logits, replace_where

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


@dataclass
class PatchingRun:
    """What activation and attribution patching both start from: the checked component kinds, the
    patching metric (its name and function), clean and corrupted facts, and the position roles
    with their masks ``[role, batch, pos]``."""

    kinds: list[str]
    metric_name: str
    metric: PatchingMetric
    clean: EncodedFacts
    corrupted: EncodedFacts
    roles: list[str]
    role_masks: torch.Tensor

    @classmethod
    def prepare(cls, subject, facts, corrupt, kinds, metric, seed: int) -> PatchingRun:
        kinds = check_kinds(kinds)
        name, fn = resolve_metric(metric)
        clean, corr = clean_and_corrupt(subject, facts, corrupt, seed)
        if clean.subject_mask is None:
            raise UnlearnscopeError("patching reads position roles from each fact's subject: give facts with subjects")
        roles, masks = role_masks(clean.subject_mask, clean.last, clean.attention_mask)
        return cls(kinds, name, fn, clean, corr, roles, masks)

    def result(self, method: str, sums: torch.Tensor, m_clean: float, m_corr: float, seed: int) -> FactLocalization:
        """A `FactLocalization` from metric changes ``[kind, layer, role]`` summed over the facts and
        the summed clean / corrupted metric values."""
        n = len(self.clean)
        m_clean, m_corr = m_clean / n, m_corr / n
        denom = recovered_denominator(m_clean, m_corr)
        return FactLocalization(
            method,
            self.kinds,
            self.roles,
            sums / n / denom,
            n,
            {"metric": self.metric_name, "clean": m_clean, "corrupted": m_corr},
            {"seed": seed, "metric": self.metric_name},
        )


@torch.no_grad()
def activation_patching(
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
    clean, corr, fn, all_masks, kinds = run.clean, run.corrupted, run.metric, run.role_masks, run.kinds
    L, R = subject.anatomy.n_layers, len(run.roles)
    sums = torch.zeros(len(kinds), L, R, device=subject.device)  # summed on the device, read once at the end
    m_clean: float | torch.Tensor = 0.0
    m_corr: float | torch.Tensor = 0.0
    points = kind_points(kinds, L)
    for s in range(0, len(clean), batch_size):
        sl = slice(s, s + batch_size)
        ids_c, am = clean.input_ids[sl], clean.attention_mask[sl]
        ids_x, last, ans = corr.input_ids[sl], clean.last[sl], clean.answer[sl]
        masks = all_masks[:, sl]
        with subject.capture(points) as cache:
            lc = last_logits(subject.model(input_ids=ids_c, attention_mask=am), last)
        lx = last_logits(subject.model(input_ids=ids_x, attention_mask=am), last)
        wrong = corrupt_answers(lx, ans)
        base = score(fn, lx, ans, wrong)
        m_clean = m_clean + score(fn, lc, ans, wrong).sum()
        m_corr = m_corr + base.sum()
        inputs = {"input_ids": ids_x.repeat(R, 1), "attention_mask": am.repeat(R, 1)}
        for k, kind in enumerate(kinds):
            for l in range(L):
                point = KIND_POINTS[kind].format(l=l)
                with subject.hooks([(point, replace_where(masks, cache[point]))]):
                    lp = last_logits(subject.model(**inputs), last, R)
                sums[k, l] += (
                    (score(fn, lp, ans.repeat(R), wrong.repeat(R)).view(R, -1) - base[None]).sum(-1).to(sums.device)
                )
    return run.result("activation_patching", sums.cpu(), float(m_clean), float(m_corr), seed)
