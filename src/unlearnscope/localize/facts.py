"""Facts as the localizers take them: a prompt, a one-token answer, the subject inside the prompt.

Accepted inputs: `Fact`s, organism `Item`s, dicts ``{"prompt", "answer", "subject"}``, a JSON /
JSONL file of such dicts, or ``organism:forget|retain|never-seen`` (the facts organism's split,
trained cloze and QA renderings).  `encode_facts` tokenizes once (right padding) and finds, per
row, the subject's token span and the answer's first token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UnlearnscopeError


@dataclass(frozen=True)
class Fact:
    prompt: str
    answer: str
    subject: str | None = None
    relation: str | None = None


def as_facts(data) -> list[Fact]:
    """Normalise any accepted input (see module doc) to a non-empty list of `Fact`s."""
    if isinstance(data, (str, Path)):
        data = load_facts(data)
    out = []
    for i, d in enumerate(data):
        if isinstance(d, Fact):
            out.append(d)
        elif isinstance(d, dict):
            if "prompt" not in d or "answer" not in d:
                raise UnlearnscopeError(f"fact {i} needs 'prompt' and 'answer' (and 'subject' for subject-based methods): {d}")
            out.append(Fact(d["prompt"], d["answer"], d.get("subject"), d.get("relation")))
        elif hasattr(d, "prompt") and hasattr(d, "answer"):
            out.append(Fact(d.prompt, d.answer, getattr(d, "subject", None), getattr(d, "relation", None)))
        else:
            raise UnlearnscopeError(f"fact {i}: cannot use {type(d).__name__}; give dicts with prompt/answer/subject")
    if not out:
        raise UnlearnscopeError("empty fact set: give at least one fact")
    return out


def load_facts(path: str | Path) -> list:
    """``organism:SPLIT`` or a JSON list / JSONL file of fact dicts."""
    if isinstance(path, str) and path.startswith("organism:"):
        return organism_facts(path.split(":", 1)[1])
    p = Path(path)
    if not p.is_file():
        raise UnlearnscopeError(f"facts file {p} does not exist")
    text = p.read_text()
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise UnlearnscopeError(f"{p}: not a JSON list of fact records (line {e.lineno}: {e.msg})") from e
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise UnlearnscopeError(f"{p}: line {n} is not a JSON fact record ({e.msg})") from e
    return records


def organism_facts(split: str, kinds: tuple[str, ...] = ("cloze", "qa"), organism: str = "facts") -> list[Fact]:
    """The facts organism's ``split`` (forget | retain | never-seen), trained renderings."""
    from ..organisms import sized

    if split not in ("forget", "retain", "never-seen"):
        raise UnlearnscopeError(f"organism fact split must be forget, retain or never-seen, got {split!r}")
    return world_facts(sized(organism), split, kinds)


def world_facts(org, split: str, kinds: tuple[str, ...] = ("cloze", "qa")) -> list[Fact]:
    """``split``'s facts from a built organism's ground truth (``kinds``: cloze, qa, paraphrase, ...)."""
    items = org.ground_truth["items"]
    return [Fact(it["prompt"], it["answer"], it["subject"], it["relation"]) for it in items
            if it["split"] == split and it["kind"] in kinds and it["domain"] == "facts"]


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

    def __len__(self) -> int:
        return len(self.facts)


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def encode_facts(subject, facts, need_subject: bool = False) -> EncodedFacts:
    tok = subject.tokenizer
    if tok is None:
        raise UnlearnscopeError("localizing facts needs a tokenizer: pass tokenizer= to unlearnscope.load")
    facts = as_facts(facts)
    rows, answers, spans = [], [], []
    for f in facts:
        p = _ids(tok, f.prompt)
        if not p:
            raise UnlearnscopeError(f"prompt {f.prompt!r} tokenizes to nothing")
        full = _ids(tok, f.prompt + " " + f.answer)
        if len(full) <= len(p) or full[: len(p)] != p:
            full = _ids(tok, f.prompt + f.answer)
        if len(full) <= len(p) or full[: len(p)] != p:
            raise UnlearnscopeError(f"answer {f.answer!r} does not tokenize as a continuation of {f.prompt!r}")
        rows.append(p)
        answers.append(full[len(p)])
        if need_subject:
            spans.append(_subject_span(tok, f, p))
    L = max(map(len, rows))
    limit = _max_positions(subject)
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


def _max_positions(subject) -> int | None:
    cfg = getattr(subject.model, "config", None)
    for key in ("n_positions", "max_position_embeddings"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def _subject_span(tok, fact: Fact, prompt_ids: list[int]) -> tuple[int, int]:
    """Token span ``[a, b)`` of the subject inside the prompt (matched on token ids, trying the
    subject with and without a leading space)."""
    if not fact.subject:
        raise UnlearnscopeError(f"fact {fact.prompt!r} has no subject: subject-based methods (tracing, patching, lookup) need one")
    if fact.subject not in fact.prompt:
        raise UnlearnscopeError(f"subject {fact.subject!r} not found in the prompt {fact.prompt!r}")
    for cand in (" " + fact.subject, fact.subject):
        s = _ids(tok, cand)
        for a in range(len(prompt_ids) - len(s) + 1):
            if s and prompt_ids[a : a + len(s)] == s:
                return a, a + len(s)
    # fall back on character offsets
    start = fact.prompt.index(fact.subject)
    a = len(_ids(tok, fact.prompt[:start].rstrip())) if start else 0
    b = len(_ids(tok, fact.prompt[: start + len(fact.subject)]))
    if b <= a:
        raise UnlearnscopeError(f"subject {fact.subject!r} has no tokens of its own in {fact.prompt!r}")
    return a, b


@torch.no_grad()
def recall(subject, enc: EncodedFacts, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Per fact: ``logp`` and ``p`` of the answer token at the last prompt token, ``correct`` (top-1)."""
    logps, correct = [], []
    for s in range(0, len(enc), batch_size):
        sl = slice(s, s + batch_size)
        logits = subject.model(input_ids=enc.input_ids[sl], attention_mask=enc.attention_mask[sl]).logits
        last = logits[torch.arange(logits.shape[0], device=logits.device), enc.last[sl]].float()
        lp = last.log_softmax(-1)
        logps.append(lp.gather(1, enc.answer[sl, None])[:, 0])
        correct.append(last.argmax(-1) == enc.answer[sl])
    logp = torch.cat(logps)
    return {"logp": logp, "p": logp.exp(), "correct": torch.cat(correct).float()}
