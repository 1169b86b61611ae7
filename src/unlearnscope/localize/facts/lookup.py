"""Fact-lookup localization (Guo et al., "fact lookup" units): where does the attribute become
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

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ...data import as_facts
from ...errors import UnlearnscopeError
from ...probes.features import fact_features
from ...probes.solvers import ridge_fit_predict
from ...probes.splits import entity_folds
from .effects import FactLocalization

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


@torch.no_grad()
def fact_lookup(
    subject: Subject,
    facts: FactsLike,
    *,
    roles: Sequence[str] = ("subj_last", "last"),
    folds: int = 5,
    ridge: float = 1e-2,
    seed: int = 0,
    batch_size: int = 128,
) -> FactLocalization:
    facts = as_facts(facts)
    if any(not f.subject for f in facts):
        raise UnlearnscopeError("fact lookup needs every fact's subject: probes are entity-disjoint")
    feats = fact_features(subject, facts, roles=tuple(roles), batch_size=batch_size)
    X = feats.X.view(-1, len(roles), *feats.X.shape[1:])  # [depth, role, n, d]
    D, R, n, d = X.shape
    relations = [f.relation or "all" for f in facts]
    subjects = [f.subject for f in facts]
    vocab = sorted({f.answer for f in facts})
    answers = torch.tensor([vocab.index(f.answer) for f in facts])
    correct = torch.zeros(D, R)
    majority_hits, total = 0.0, 0
    for rel in sorted(set(relations)):
        rows = torch.tensor([i for i, x in enumerate(relations) if x == rel])
        classes, y = answers[rows].unique(return_inverse=True)
        if len(classes) < 2:
            raise UnlearnscopeError(
                f"relation {rel!r}: every fact has the same answer; a probe needs at least two classes"
            )
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
    return FactLocalization(
        "fact_lookup",
        ["mlp"],
        list(roles),
        gain,
        n,
        {
            "accuracy": acc,
            "majority": majority_hits / total,
            "depths": "d=l is the input of block l; d=n_layers the final block's output",
        },
        {"folds": folds, "ridge": ridge, "seed": seed, "split": "entity-disjoint"},
    )
