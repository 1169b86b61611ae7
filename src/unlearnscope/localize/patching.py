"""Activation patching and attribution patching with corrupted prompts (subject swap).

Metric: logit difference at the last token, ``LD = logit(clean answer) − logit(corrupt answer)``
(the corrupt answer is the model's top-1 on the corrupted prompt, or its second choice when that
equals the clean answer).  Both methods report the fraction of ``LD_clean − LD_corrupt`` recovered
when the clean activation of a (kind, layer, position role) is put into the corrupted run
(denoising):

* `activation_patching`: measured — one forward per (kind, layer), all roles batched;
* `attribution_patching`: its first-order estimate from one corrupted forward + backward and one
  clean forward, ``Σ_{pos in role, d} (a_clean − a_corrupt) · ∂LD/∂a |_corrupt`` (Syed et al.),
  for every component at once.

Clean and corrupted prompts must tokenize to the same length (swap subjects of equal token length;
`subject_swap` builds such pairs).
"""

from __future__ import annotations

import random
from contextlib import contextmanager

import torch

from ..errors import UnlearnscopeError
from .effects import FactLocalization
from .facts import Fact, as_facts, encode_facts
from .roles import role_masks
from .tracing import KIND_POINTS, check_kinds, last_logits, replace_where


def subject_swap(subject, facts, seed: int = 0) -> list[Fact]:
    """For each fact, the same prompt with another subject of the set that has the same token length."""
    facts = as_facts(facts)
    tok = subject.tokenizer
    subjects = sorted({f.subject for f in facts if f.subject})
    if len(subjects) < 2:
        raise UnlearnscopeError("subject swap needs facts about at least two subjects")
    by_len: dict[int, list[str]] = {}
    for s in subjects:
        by_len.setdefault(len(tok(" " + s, add_special_tokens=False)["input_ids"]), []).append(s)
    rng = random.Random(seed)
    out = []
    for f in facts:
        if not f.subject or f.subject not in f.prompt:
            raise UnlearnscopeError(f"subject {f.subject!r} not found in the prompt {f.prompt!r}")
        pool = [s for s in by_len[len(tok(" " + f.subject, add_special_tokens=False)["input_ids"])] if s != f.subject]
        if not pool:
            raise UnlearnscopeError(f"no other subject has the token length of {f.subject!r}: give corrupt prompts yourself")
        other = rng.choice(pool)
        out.append(Fact(f.prompt.replace(f.subject, other), f.answer, other, f.relation))
    return out


def _pair(subject, facts, corrupt, seed):
    clean = encode_facts(subject, facts, need_subject=True)
    corrupt = subject_swap(subject, clean.facts, seed) if corrupt is None else as_facts(corrupt)
    if len(corrupt) != len(clean):
        raise UnlearnscopeError(f"{len(clean)} clean facts but {len(corrupt)} corrupted prompts: give one corrupted prompt per fact")
    corr = encode_facts(subject, [Fact(c.prompt, f.answer, c.subject) for c, f in zip(corrupt, clean.facts, strict=True)])
    if corr.input_ids.shape != clean.input_ids.shape or not torch.equal(corr.last, clean.last):
        bad = next(i for i in range(len(clean)) if int(corr.last[i]) != int(clean.last[i]))
        raise UnlearnscopeError(
            f"clean and corrupted prompts must have the same token length: fact {bad} {clean.facts[bad].prompt!r} "
            f"has {int(clean.last[bad]) + 1} tokens, {corr.facts[bad].prompt!r} has {int(corr.last[bad]) + 1}")
    return clean, corr


def _corrupt_answers(logits: torch.Tensor, clean_answer: torch.Tensor) -> torch.Tensor:
    top2 = logits.topk(2, -1).indices
    return torch.where(top2[:, 0] == clean_answer, top2[:, 1], top2[:, 0])


def _ld(logits: torch.Tensor, ans: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, ans[:, None])[:, 0] - logits.gather(1, wrong[:, None])[:, 0]


def recovered_denominator(ld_clean: float, ld_corr: float) -> float:
    """``LD_clean − LD_corrupt`` (mean over facts), the unit every patching score is a fraction of."""
    denom = ld_clean - ld_corr
    if abs(denom) < 1e-6:
        raise UnlearnscopeError(f"clean and corrupted runs give the same logit difference ({ld_clean:.3g}): the corruption does not change the answer")
    return denom


def _result(method, kinds, roles, eff, n, ld_clean, ld_corr, cfg):
    denom = recovered_denominator(ld_clean, ld_corr)
    return FactLocalization(method, kinds, roles, eff / denom, n, {"ld_clean": ld_clean, "ld_corrupted": ld_corr}, cfg)


@torch.no_grad()
def activation_patching(subject, facts, corrupt=None, *, kinds=("resid", "mlp", "attn"), seed: int = 0,
                        batch_size: int = 64) -> FactLocalization:
    kinds = check_kinds(kinds)
    clean, corr = _pair(subject, facts, corrupt, seed)
    roles, all_masks = role_masks(clean.subject_mask, clean.last, clean.attention_mask)
    L, R = subject.anatomy.n_layers, len(roles)
    sums = torch.zeros(len(kinds), L, R, device=subject.device)  # summed on the device, read once at the end
    ld_clean = ld_corr = 0.0
    points = [KIND_POINTS[k].format(l=l) for k in kinds for l in range(L)]
    for s in range(0, len(clean), batch_size):
        sl = slice(s, s + batch_size)
        ids_c, am = clean.input_ids[sl], clean.attention_mask[sl]
        ids_x, last, ans = corr.input_ids[sl], clean.last[sl], clean.answer[sl]
        masks = all_masks[:, sl]
        with subject.capture(points) as cache:
            lc = last_logits(subject.model(input_ids=ids_c, attention_mask=am), last)
        lx = last_logits(subject.model(input_ids=ids_x, attention_mask=am), last)
        wrong = _corrupt_answers(lx, ans)
        base = _ld(lx, ans, wrong)
        ld_clean = ld_clean + _ld(lc, ans, wrong).sum()
        ld_corr = ld_corr + base.sum()
        inputs = {"input_ids": ids_x.repeat(R, 1), "attention_mask": am.repeat(R, 1)}
        for k, kind in enumerate(kinds):
            for l in range(L):
                name = KIND_POINTS[kind].format(l=l)
                with subject.hooks([(name, replace_where(masks, cache[name]))]):
                    lp = last_logits(subject.model(**inputs), last, R)
                sums[k, l] += (_ld(lp, ans.repeat(R), wrong.repeat(R)).view(R, -1) - base[None]).sum(-1).to(sums.device)
    n = len(clean)
    sums, ld_clean, ld_corr = sums.cpu(), float(ld_clean), float(ld_corr)
    return _result("activation_patching", kinds, roles, sums / n, n, ld_clean / n, ld_corr / n, {"seed": seed})


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


def attribution_terms(subject, clean, corr, points: list[str], batch_size: int):
    """Per batch of facts: ``(slice, {point: (a_clean − a_corrupt) · ∂LD/∂a |_corrupt}, ΣLD_clean, ΣLD_corrupt)``.

    The terms keep the point's shape (summing them over any dims is the attribution of that
    part); one clean forward and one corrupted forward + backward per batch."""
    for s in range(0, len(clean), batch_size):
        sl = slice(s, s + batch_size)
        am, last, ans = clean.attention_mask[sl], clean.last[sl], clean.answer[sl]
        with torch.no_grad(), subject.capture(points) as cc:
            lc = last_logits(subject.model(input_ids=clean.input_ids[sl], attention_mask=am), last)
        with torch.enable_grad(), activation_grads_only(subject), subject.capture(points, grad=True) as cx:
            lx = last_logits(subject.model(input_ids=corr.input_ids[sl], attention_mask=am), last)
            wrong = _corrupt_answers(lx.detach(), ans)
            ld = _ld(lx, ans, wrong)
            ld.sum().backward()
        terms = {p: ((cc[p] - cx[p].detach()) * cx.grads[p]).float() for p in points}
        yield sl, terms, _ld(lc, ans, wrong).sum(), ld.detach().sum()  # device scalars: no host read per batch


def attribution_patching(subject, facts, corrupt=None, *, kinds=("resid", "mlp", "attn"), seed: int = 0,
                         batch_size: int = 64) -> FactLocalization:
    kinds = check_kinds(kinds)
    clean, corr = _pair(subject, facts, corrupt, seed)
    roles, all_masks = role_masks(clean.subject_mask, clean.last, clean.attention_mask)
    L = subject.anatomy.n_layers
    points = [KIND_POINTS[k].format(l=l) for k in kinds for l in range(L)]  # kind-major: reshapes to [kind, layer]
    sums = torch.zeros(len(points), len(roles), device=subject.device)
    ld_clean = ld_corr = 0.0
    for sl, terms, c, x in attribution_terms(subject, clean, corr, points, batch_size):
        ld_clean, ld_corr = ld_clean + c, ld_corr + x
        per_pos = torch.stack([terms[p].sum(-1) for p in points])  # [point, b, pos]
        sums += torch.einsum("rbp,nbp->nr", all_masks[:, sl].float().to(per_pos.device), per_pos)
    n = len(clean)
    sums = sums.view(len(kinds), L, len(roles)).cpu()
    return _result("attribution_patching", kinds, roles, sums / n, n, float(ld_clean) / n, float(ld_corr) / n, {"seed": seed})
