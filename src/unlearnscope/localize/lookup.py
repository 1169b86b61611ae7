"""Fact-lookup localization (Guo et al., methods.md §2 "FLU"): where does the attribute become
linearly decodable?

For every depth ``d`` (``d = l`` is the input of block ``l``; ``d = n_layers`` the last block's
output) and position role (``subj_last`` and ``last`` by default) a closed-form ridge classifier
predicts the answer from the residual stream, per relation, with **entity-disjoint** folds (grouped
k-fold over subjects: a probe must find a shared code, not memorise identities).  Block ``l``'s
*gain* is ``acc(d = l + 1) − acc(d = l)``: the lookup MLPs are the blocks that add the attribute.

Result: `FactLocalization` with ``kinds=["mlp"]`` and ``effects[0, l, r]`` = gain of block ``l`` at
role ``r``; ``baseline["accuracy"]`` ``[depth, role]`` and ``baseline["majority"]`` (chance).
"""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError
from ..probes.solvers import ridge_fit_predict
from ..probes.splits import entity_folds
from .effects import FactLocalization
from .facts import encode_facts
from .roles import role_masks


@torch.no_grad()
def fact_lookup(subject, facts, *, roles=("subj_last", "last"), folds: int = 5, ridge: float = 1e-2, seed: int = 0,
                batch_size: int = 128) -> FactLocalization:
    enc = encode_facts(subject, facts, need_subject=True)
    names, masks = role_masks(enc.subject_mask, enc.last, enc.attention_mask)
    missing = [r for r in roles if r not in names]
    if missing:
        raise UnlearnscopeError(f"roles {missing} occur in no prompt (present: {names})")
    L = subject.anatomy.n_layers
    points = [f"blocks.{l}.hook_resid_pre" for l in range(L)] + [f"blocks.{L - 1}.hook_resid_post"]
    feats = []  # [depth, role, n, d]
    for s in range(0, len(enc), batch_size):
        sl = slice(s, s + batch_size)
        with subject.capture(points) as c:
            subject.model(input_ids=enc.input_ids[sl], attention_mask=enc.attention_mask[sl])
        # one position per row and role: the (last) position carrying that role
        per_role = []
        for r in roles:
            m = masks[names.index(r), sl]
            pos = (m.long() * torch.arange(m.shape[1], device=m.device)).argmax(1)
            idx = torch.arange(m.shape[0], device=m.device)
            per_role.append(torch.stack([c[p][idx, pos] for p in points]))  # [depth, b, d]
        feats.append(torch.stack(per_role, 1).float())
    X = torch.cat(feats, 2)  # [depth, role, n, d]
    D, R, n, d = X.shape
    relations = [f.relation or "all" for f in enc.facts]
    subjects = [f.subject for f in enc.facts]
    answers = enc.answer.cpu()
    correct = torch.zeros(D, R)
    majority_hits, total = 0.0, 0
    for rel in sorted(set(relations)):
        rows = torch.tensor([i for i, x in enumerate(relations) if x == rel])
        classes, y = answers[rows].unique(return_inverse=True)
        if len(classes) < 2:
            raise UnlearnscopeError(f"relation {rel!r}: every fact has the same answer; a probe needs at least two classes")
        fold = entity_folds([subjects[i] for i in rows], folds, seed)
        Y = torch.nn.functional.one_hot(y, len(classes)).float().to(X.device)
        Xr = X[:, :, rows].reshape(D * R, len(rows), d)
        for f in range(folds):
            tr, te = (fold != f).nonzero()[:, 0], (fold == f).nonzero()[:, 0]
            if len(te) == 0:
                continue
            pred = ridge_fit_predict(Xr[:, tr], Y[tr], Xr[:, te], ridge).argmax(-1)  # [D*R, m]
            correct += (pred.cpu() == y[te]).sum(-1).view(D, R).float()
            majority_hits += float((y[te] == y[tr].mode().values).sum())
        total += len(rows)
    acc = correct / total
    gain = (acc[1:] - acc[:-1])[None]  # [1, L, R]
    return FactLocalization("fact_lookup", ["mlp"], list(roles), gain, n,
                            {"accuracy": acc, "majority": majority_hits / total, "depths": "d=l is the input of block l; d=n_layers the final block's output"},
                            {"folds": folds, "ridge": ridge, "seed": seed, "split": "entity-disjoint"})
