"""Corrupted prompts for patching: the same prompt about another subject of the same token length.

`subject_swap` builds them; `clean_and_corrupt` encodes both sides and checks they align token for
token; `corrupt_answers` picks each fact's corrupt answer; `recovered_denominator` is the unit
every patching score is a fraction of.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import torch

from ...data import Fact, as_facts, encode_facts
from ...errors import UnlearnscopeError

if TYPE_CHECKING:
    from ...data.encoding import EncodedFacts
    from ...data.records import FactsLike
    from ...model.subject import Subject


def subject_swap(subject: Subject, facts: FactsLike, seed: int = 0) -> list[Fact]:
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
            raise UnlearnscopeError(
                f"no other subject has the token length of {f.subject!r}: give corrupt prompts yourself"
            )
        other = rng.choice(pool)
        out.append(Fact(f.prompt.replace(f.subject, other), f.answer, other, f.relation))
    return out


def clean_and_corrupt(
    subject: Subject, facts: FactsLike, corrupt: FactsLike | None, seed: int
) -> tuple[EncodedFacts, EncodedFacts]:
    """``(clean, corrupted)`` `EncodedFacts` of equal shape; ``corrupt=None`` swaps subjects."""
    clean = encode_facts(subject, facts, need_subject=True)
    corrupt = subject_swap(subject, clean.facts, seed) if corrupt is None else as_facts(corrupt)
    if len(corrupt) != len(clean):
        raise UnlearnscopeError(
            f"{len(clean)} clean facts but {len(corrupt)} corrupted prompts: give one corrupted prompt per fact"
        )
    corr = encode_facts(
        subject, [Fact(c.prompt, f.answer, c.subject) for c, f in zip(corrupt, clean.facts, strict=True)]
    )
    if corr.input_ids.shape != clean.input_ids.shape or not torch.equal(corr.last, clean.last):
        bad = next(i for i in range(len(clean)) if int(corr.last[i]) != int(clean.last[i]))
        raise UnlearnscopeError(
            f"clean and corrupted prompts must have the same token length: fact {bad} {clean.facts[bad].prompt!r} "
            f"has {int(clean.last[bad]) + 1} tokens, {corr.facts[bad].prompt!r} has {int(corr.last[bad]) + 1}"
        )
    return clean, corr


def corrupt_answers(logits: torch.Tensor, clean_answer: torch.Tensor) -> torch.Tensor:
    """The corrupted run's top-1 token, or its second choice where that is the clean answer."""
    top2 = logits.topk(2, -1).indices
    return torch.where(top2[:, 0] == clean_answer, top2[:, 1], top2[:, 0])


def recovered_denominator(m_clean: float, m_corr: float) -> float:
    """``M_clean − M_corrupt`` (means over facts), the unit every patching score is a fraction of."""
    denom = m_clean - m_corr
    if abs(denom) < 1e-6:
        raise UnlearnscopeError(
            f"clean and corrupted runs give the same metric value ({m_clean:.3g}): the corruption does not change the "
            "answer"
        )
    return denom
