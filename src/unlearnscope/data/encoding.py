"""Facts as token ids: one right-padded batch, each row's subject span and answer token.

    enc = encode_facts(subject, facts, need_subject=True)
    enc.input_ids [batch, pos], enc.last [batch], enc.answer [batch], enc.subject_mask [batch, pos]

The answer token is the first token of ``" " + answer`` after the prompt (or of ``answer`` glued
on, for tokenizers without a leading-space convention); it must tokenize as a continuation of the
prompt.  The subject's span is found on token ids (with and without a leading space), falling
back on character offsets.  ``subject`` is anything with ``tokenizer``, ``device`` and ``model``
(a `Subject`); nothing here runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UnlearnscopeError
from .records import Fact, as_facts


@dataclass
class EncodedFacts:
    """Tokenized facts (right padded).  ``subject_mask`` ``[batch, pos]`` marks subject tokens,
    ``last`` ``[batch]`` the last prompt token, ``answer`` ``[batch]`` the answer's first token."""

    facts: list[Fact]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    last: torch.Tensor
    answer: torch.Tensor
    subject_mask: torch.Tensor | None

    def inputs(self) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}

    def rows(self, sl: slice) -> EncodedFacts:
        """The facts in ``sl`` (a batch), every tensor sliced alike."""
        return EncodedFacts(self.facts[sl], self.input_ids[sl], self.attention_mask[sl], self.last[sl], self.answer[sl],
                            None if self.subject_mask is None else self.subject_mask[sl])

    def __len__(self) -> int:
        return len(self.facts)


def token_ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def encode_facts(subject, facts, need_subject: bool = False) -> EncodedFacts:
    tok = subject.tokenizer
    if tok is None:
        raise UnlearnscopeError("localizing facts needs a tokenizer: pass tokenizer= to unlearnscope.load")
    facts = as_facts(facts)
    rows, answers, spans = [], [], []
    for f in facts:
        p = token_ids(tok, f.prompt)
        if not p:
            raise UnlearnscopeError(f"prompt {f.prompt!r} tokenizes to nothing")
        full = token_ids(tok, f.prompt + " " + f.answer)
        if len(full) <= len(p) or full[: len(p)] != p:
            full = token_ids(tok, f.prompt + f.answer)
        if len(full) <= len(p) or full[: len(p)] != p:
            raise UnlearnscopeError(f"answer {f.answer!r} does not tokenize as a continuation of {f.prompt!r}")
        rows.append(p)
        answers.append(full[len(p)])
        if need_subject:
            spans.append(subject_span(tok, f, p))
    L = max(map(len, rows))
    limit = max_positions(subject)
    if limit is not None and L > limit:
        raise UnlearnscopeError(f"a prompt has {L} tokens but the model takes at most {limit} positions: shorten it (fewer in-context facts, shorter renderings)")
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = torch.full((len(rows), L), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    subj = torch.zeros((len(rows), L), dtype=torch.bool) if need_subject else None
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        if need_subject:
            subj[i, spans[i][0] : spans[i][1]] = True
    dev = subject.device
    return EncodedFacts(facts, ids.to(dev), mask.to(dev), torch.tensor([len(r) - 1 for r in rows], device=dev),
                        torch.tensor(answers, device=dev), None if subj is None else subj.to(dev))


def max_positions(subject) -> int | None:
    """The longest input the model takes (``n_positions`` / ``max_position_embeddings``), if it says."""
    cfg = getattr(subject.model, "config", None)
    for key in ("n_positions", "max_position_embeddings"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def subject_span(tok, fact: Fact, prompt_ids: list[int]) -> tuple[int, int]:
    """Token span ``[a, b)`` of the subject inside the prompt (matched on token ids, trying the
    subject with and without a leading space)."""
    if not fact.subject:
        raise UnlearnscopeError(f"fact {fact.prompt!r} has no subject: subject-based methods (tracing, patching, lookup) need one")
    if fact.subject not in fact.prompt:
        raise UnlearnscopeError(f"subject {fact.subject!r} not found in the prompt {fact.prompt!r}")
    for cand in (" " + fact.subject, fact.subject):
        s = token_ids(tok, cand)
        for a in range(len(prompt_ids) - len(s) + 1):
            if s and prompt_ids[a : a + len(s)] == s:
                return a, a + len(s)
    # fall back on character offsets
    start = fact.prompt.index(fact.subject)
    a = len(token_ids(tok, fact.prompt[:start].rstrip())) if start else 0
    b = len(token_ids(tok, fact.prompt[: start + len(fact.subject)]))
    if b <= a:
        raise UnlearnscopeError(f"subject {fact.subject!r} has no tokens of its own in {fact.prompt!r}")
    return a, b
