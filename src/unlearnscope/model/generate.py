"""Greedy generation on a batch of prompts, decoding only the new tokens."""

from __future__ import annotations

import torch

from ..data.encoding import max_positions


@torch.no_grad()
def greedy(subject, prompts: list[str], max_new_tokens: int = 8, batch_size: int | None = None) -> list[str]:
    """Greedy continuations of ``prompts`` (left padded, in batches of ``batch_size``; all at once
    when ``None``); only the new tokens are decoded.  ``max_new_tokens`` is cut to what the model's
    positions leave after the longest prompt (a 64-position organism cannot continue for 100)."""
    if batch_size is not None:
        return [
            r
            for s in range(0, len(prompts), batch_size)
            for r in greedy(subject, prompts[s : s + batch_size], max_new_tokens)
        ]
    enc = subject.tokenize(prompts, padding_side="left")
    tok = subject.tokenizer
    limit = max_positions(subject)
    if limit is not None:
        max_new_tokens = max(1, min(max_new_tokens, limit - enc["input_ids"].shape[1]))
    out = subject.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
