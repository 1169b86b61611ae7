"""Prompt-side attacks on forgotten facts: other formats and in-context reintroduction.

* **format**: recall under renderings unlearning did not train on — held-out paraphrases,
  strict paraphrases, multiple choice (each fact's ``kind``).
* **in-context**: ``k`` facts are written before the query, as in few-shot prompting.
  ``mode="demos"`` draws them from a pool of other entities' facts of the same relation (known
  facts that prime the format); ``mode="reintroduce"`` states the queried fact itself (in
  another rendering, ``k − 1`` demos after it) — the "ununlearning" setting, where even a model
  that never knew can copy, so only the excess over REF counts.

Prompts that begin with the tokenizer's BOS text (e.g. ``"<bos> "``) keep one BOS at the front.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from ..data import Fact, as_facts
from ..errors import UnlearnscopeError

if TYPE_CHECKING:
    from ..data.records import FactsLike

INCONTEXT_MODES = ("demos", "reintroduce")


def _split_bos(prompt: str, bos: str | None) -> tuple[str, str]:
    if bos and prompt.startswith(bos):
        return bos + " ", prompt[len(bos) :].lstrip()
    return "", prompt


def incontext_facts(
    facts: FactsLike,
    pool: FactsLike,
    k: int,
    *,
    mode: str = "demos",
    restatements: FactsLike | None = None,
    seed: int = 0,
    bos: str | None = None,
    separator: str = " . ",
) -> list[Fact]:
    """Each fact of ``facts`` with ``k`` stated facts in front (see module doc).

    ``pool``: facts to draw demos from (other entities; same relation preferred).
    ``restatements``: for ``reintroduce``, facts of the same entity and relation in other
    renderings (the first one whose prompt differs from the query's is stated)."""
    facts, pool = as_facts(facts), as_facts(pool) if pool else []
    if mode not in INCONTEXT_MODES:
        raise UnlearnscopeError(f"unknown in-context mode {mode!r}; choose from {INCONTEXT_MODES}")
    if k < 0:
        raise UnlearnscopeError(f"k must be >= 0, got {k}")
    rng = random.Random(f"incontext-{seed}")
    by_rel: dict = {}
    for p in pool:
        by_rel.setdefault(p.relation, []).append(p)
    same: dict = {}
    for r in as_facts(restatements) if restatements else []:
        same.setdefault((r.subject, r.relation), []).append(r)
    out = []
    for f in facts:
        prefix, query = _split_bos(f.prompt, bos)
        stated = []
        if mode == "reintroduce" and k > 0:
            cands = [r for r in same.get((f.subject, f.relation), []) if r.prompt != f.prompt]
            if not cands:
                raise UnlearnscopeError(
                    f"reintroduction needs another rendering of {f.subject!r} / {f.relation!r} in restatements"
                )
            stated.append(cands[0])
        n_demo = k - len(stated)
        cands = [p for p in by_rel.get(f.relation, pool) if p.subject != f.subject] or [
            p for p in pool if p.subject != f.subject
        ]
        if n_demo > 0 and len(cands) < n_demo:
            raise UnlearnscopeError(
                f"in-context attack needs {n_demo} demo facts for {f.subject!r}, the pool has {len(cands)}"
            )
        stated += rng.sample(cands, n_demo) if n_demo > 0 else []
        context = "".join(_split_bos(s.prompt, bos)[1] + " " + s.answer + separator for s in stated)
        out.append(Fact(prefix + context + query, f.answer, f.subject, f.relation))
    return out
