"""Causal tracing (Meng et al., ROME).

Corrupt: add Gaussian noise of std ``noise × std(W_E)`` to the subject tokens' embeddings (the
same draw for every restoration of a fact; ``samples`` draws per fact).  Restore: put back the
clean activation of one (kind, layer, position role) — or of a ``window`` of layers centred on
it — and measure ``p(answer)`` at the last token.  Indirect effect
``IE = p_restored − p_corrupted``, averaged over facts and draws (`FactLocalization.effects`).

Batched: one forward per (kind, layer) runs every role × draw × fact at once.  (Guo et al.'s code
scales the noise as ``sqrt(3·std)``; we follow ROME's ``3·std``; pass ``noise=`` to change it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ...data import EncodedFacts, encode_facts, role_masks
from ...errors import UnlearnscopeError
from .effects import FactLocalization
from .points import KIND_POINTS, check_kinds, kind_points, last_logits, replace_where

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


def _corrupted_runner(subject, ch: EncodedFacts, eps: torch.Tensor, samples: int):
    """``run(reps, extra_hooks) -> p(answer) [reps, samples, b]`` on ``reps × samples`` noised copies."""
    b = len(ch)

    def run(reps: int, extra) -> torch.Tensor:
        def corrupt(act, point):
            return (act.view(reps, samples, *eps.shape[1:]) + eps[None].to(act.dtype)).view_as(act)

        inputs = {k: v.repeat(reps * samples, 1) for k, v in ch.inputs().items()}
        with subject.hooks([("hook_embed", corrupt), *extra]):
            out = subject.model(**inputs)
        p = (
            last_logits(out, ch.last, reps * samples)
            .softmax(-1)
            .gather(1, ch.answer.repeat(reps * samples)[:, None])[:, 0]
        )
        return p.view(reps, samples, b)

    return run


@torch.no_grad()
def _restore_effects(run, clean, masks: torch.Tensor, p_corr: torch.Tensor, kinds, n_layers: int, window: int):
    """``[kind, layer, role]`` summed over the batch: p(answer) with a window of clean states
    restored at one role's positions, minus p(answer) fully corrupted (``p_corr [samples, b]``)."""
    R, b, P = masks.shape
    samples = p_corr.shape[0]
    rmask = masks[:, None].expand(R, samples, b, P).reshape(R * samples, b, P)
    out = torch.zeros(len(kinds), n_layers, R)
    for k, kind in enumerate(kinds):
        for l in range(n_layers):
            lo, hi = max(0, l - window // 2), min(n_layers, l - window // 2 + window)
            names = [KIND_POINTS[kind].format(l=ll) for ll in range(lo, hi)]
            p = run(R, [(name, replace_where(rmask, clean[name])) for name in names])  # [R, samples, b]
            out[k, l] = (p - p_corr[None]).mean(1).sum(-1).cpu()
    return out


def causal_trace(
    subject: Subject,
    facts: FactsLike,
    *,
    kinds: Sequence[str] = ("resid", "mlp", "attn"),
    noise: float = 3.0,
    samples: int = 3,
    window: int = 1,
    seed: int = 0,
    batch_size: int = 32,
) -> FactLocalization:
    kinds = check_kinds(kinds)
    if samples < 1 or window < 1:
        raise UnlearnscopeError("samples and window must be >= 1")
    enc = encode_facts(subject, facts, need_subject=True)
    roles, all_masks = role_masks(enc.subject_mask, enc.last, enc.attention_mask)
    a = subject.anatomy
    sigma = noise * float(a.embed.detach().float().std())
    gen = torch.Generator().manual_seed(seed)
    L = a.n_layers
    sums = torch.zeros(len(kinds), L, len(roles))
    p_clean_sum = p_corr_sum = 0.0
    for s in range(0, len(enc), batch_size):
        ch = enc.rows(slice(s, s + batch_size))
        b, P = ch.input_ids.shape
        masks = all_masks[:, s : s + batch_size]
        eps = (
            torch.randn(samples, b, P, a.d_model, generator=gen).to(subject.device)
            * sigma
            * ch.subject_mask[None, ..., None]
        )
        points = kind_points(kinds, L)
        with subject.capture(points) as clean:
            out = subject.model(**ch.inputs())
        p_clean_sum += float(last_logits(out, ch.last).softmax(-1).gather(1, ch.answer[:, None]).sum())

        run = _corrupted_runner(subject, ch, eps, samples)

        p_corr = run(1, [])[0]  # [samples, b]
        p_corr_sum += float(p_corr.mean(0).sum())
        sums += _restore_effects(run, clean, masks, p_corr, kinds, L, window)
    n = len(enc)
    return FactLocalization(
        "causal_tracing",
        kinds,
        roles,
        sums / n,
        n,
        {"p_clean": p_clean_sum / n, "p_corrupted": p_corr_sum / n},
        {"noise": noise, "sigma": sigma, "samples": samples, "window": window, "seed": seed},
    )
