"""Batches of model inputs and the tokens that count in them.

for start, batch in iter_batches(subject, texts, 32):     # right-padded, on the model's device
    mask = token_mask(batch["attention_mask"], "last")     # [batch, pos] bool
"""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError

POSITIONS = ("all", "last", "first")


def iter_batches(subject, inputs, batch_size: int):
    """Yield ``(start, batch dict)`` over texts or a tokenizer dict, right-padded, on the model's
    device (a tokenizer dict's batches are trimmed to their longest row: one host read in all)."""
    if isinstance(inputs, dict):
        enc = {k: v.to(subject.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        enc.setdefault("attention_mask", torch.ones_like(enc["input_ids"]))
        n = enc["input_ids"].shape[0]
        if not n:
            raise UnlearnscopeError("empty prompt set: give at least one prompt")
        starts = range(0, n, batch_size)
        lengths = enc["attention_mask"].sum(1)
        longest = torch.stack([lengths[s : s + batch_size].max() for s in starts]).tolist()  # one read for all batches
        for s, L in zip(starts, longest, strict=True):
            yield s, {k: v[s : s + batch_size, :L] for k, v in enc.items()}
        return
    texts = [inputs] if isinstance(inputs, str) else list(inputs)
    if not texts:
        raise UnlearnscopeError("empty prompt set: give at least one prompt")
    for s in range(0, len(texts), batch_size):
        yield s, subject.tokenize(texts[s : s + batch_size])


def token_mask(attention_mask: torch.Tensor, positions: str) -> torch.Tensor:
    """``[batch, pos]`` bool: the tokens that count (all non-padding, the last one, or the first one —
    an encoder's ``[CLS]``)."""
    m = attention_mask.bool()
    if positions == "all":
        return m
    if positions in ("last", "first"):
        at = m.long().cumsum(1).argmax(1) if positions == "last" else m.long().argmax(1)
        return torch.zeros_like(m).scatter_(1, at[:, None], True)
    raise UnlearnscopeError(f"positions must be one of {POSITIONS}, got {positions!r}")
