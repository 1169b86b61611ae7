"""Facts as token ids: one right-padded batch, each row's subject span and answer token.

    enc = encode_facts(subject, facts, need_subject=True)
    enc.input_ids [batch, pos], enc.last [batch], enc.answer [batch], enc.subject_mask [batch, pos]

Prompts follow the special-token policy of `tokens` (the tokenizer's leading specials, a BOS the
prompt already carries not doubled).  The answer token is the first token of ``" " + answer`` after
the prompt (or of ``answer`` glued on, for tokenizers without a leading-space convention); it must
tokenize as a continuation of the
prompt.  The subject's span is found on token ids (with and without a leading space), falling
back on character offsets.  ``subject`` is anything with ``tokenizer``, ``device`` and ``model``
(a `Subject`); nothing here runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch

from ..errors import UnlearnscopeError
from .records import Fact, as_facts
from .tokens import encode_text, encode_texts, pad_id, pad_rows

if TYPE_CHECKING:
    from .records import FactsLike


class TokenizedModel(Protocol):
    """What encoding needs of a model (a `unlearnscope.model.Subject` has it)."""

    @property
    def tokenizer(self) -> Any: ...
    @property
    def device(self) -> torch.device: ...
    @property
    def model(self) -> Any: ...


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
        return EncodedFacts(
            self.facts[sl],
            self.input_ids[sl],
            self.attention_mask[sl],
            self.last[sl],
            self.answer[sl],
            None if self.subject_mask is None else self.subject_mask[sl],
        )

    def __len__(self) -> int:
        return len(self.facts)


def token_ids(tok, text: str) -> list[int]:
    """``text``'s ids without any special token (a piece of a prompt: subjects, answers)."""
    return tok(text, add_special_tokens=False)["input_ids"]


def continuation(tok, prompt: str, answer: str, prompt_ids: list[int] | None = None) -> list[int]:
    """The ids of ``prompt + " " + answer`` (or ``prompt + answer`` for tokenizers without a
    leading-space convention) that start with the prompt's own ids ``prompt_ids``; the answer's
    tokens are the rest.  Raises when the answer does not continue the prompt."""
    p = encode_text(tok, prompt) if prompt_ids is None else prompt_ids
    for text in (f"{prompt} {answer}", prompt + answer):
        full = encode_text(tok, text)
        if len(full) > len(p) and full[: len(p)] == p:
            return full
    raise UnlearnscopeError(f"answer {answer!r} does not tokenize as a continuation of {prompt!r}")


def encode_facts(subject: TokenizedModel, facts: FactsLike, need_subject: bool = False) -> EncodedFacts:
    tok = subject.tokenizer
    if tok is None:
        raise UnlearnscopeError("localizing facts needs a tokenizer: pass tokenizer= to unlearnscope.load")
    facts = as_facts(facts)
    if not facts:
        raise UnlearnscopeError("empty fact set: give at least one fact")
    rows = encode_texts(tok, [f.prompt for f in facts])
    answers = [continuation(tok, f.prompt, f.answer, p)[len(p)] for f, p in zip(facts, rows, strict=True)]
    spans = [subject_span(tok, f, p) for f, p in zip(facts, rows, strict=True)] if need_subject else []
    L = max(map(len, rows))
    limit = max_positions(subject)
    if limit is not None and L > limit:
        raise UnlearnscopeError(
            f"a prompt has {L} tokens but the model takes at most {limit} positions: shorten it (fewer in-context "
            "facts, shorter renderings)"
        )
    enc = pad_rows(rows, pad_id(tok))
    subj = None
    if need_subject:
        subj = torch.zeros(enc["input_ids"].shape, dtype=torch.bool)
        for i, (a, b) in enumerate(spans):
            subj[i, a:b] = True
    dev = subject.device
    return EncodedFacts(
        facts,
        enc["input_ids"].to(dev),
        enc["attention_mask"].to(dev),
        torch.tensor([len(r) - 1 for r in rows], device=dev),
        torch.tensor(answers, device=dev),
        None if subj is None else subj.to(dev),
    )


def overlong(subject, facts) -> tuple[int, int] | None:
    """``(longest prompt, the model's limit)`` in tokens when some prompt of ``facts`` exceeds the
    model's positions, else ``None``."""
    limit = max_positions(subject)
    if limit is None or subject.tokenizer is None:
        return None
    longest = max((len(encode_text(subject.tokenizer, f.prompt)) for f in as_facts(facts)), default=0)
    return (longest, limit) if longest > limit else None


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
        raise UnlearnscopeError(
            f"fact {fact.prompt!r} has no subject: subject-based methods (tracing, patching, lookup) need one"
        )
    if fact.subject not in fact.prompt:
        raise UnlearnscopeError(f"subject {fact.subject!r} not found in the prompt {fact.prompt!r}")
    for cand in (" " + fact.subject, fact.subject):
        s = token_ids(tok, cand)
        for a in range(len(prompt_ids) - len(s) + 1):
            if s and prompt_ids[a : a + len(s)] == s:
                return a, a + len(s)
    # fall back on character offsets (the prompt's leading special tokens counted in)
    start = fact.prompt.index(fact.subject)
    lead = len(prompt_ids) - len(token_ids(tok, fact.prompt))
    a = lead + (len(token_ids(tok, fact.prompt[:start].rstrip())) if start else 0)
    b = lead + len(token_ids(tok, fact.prompt[: start + len(fact.subject)]))
    if b <= a:
        raise UnlearnscopeError(f"subject {fact.subject!r} has no tokens of its own in {fact.prompt!r}")
    return a, b
