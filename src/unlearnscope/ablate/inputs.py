"""What training on a forget or retain set takes: texts, items, facts or token sets, as one
tokenizer dict.

Accepted data: a list of texts, `Item`\\ s (an item trains on ``item.text``) or `Fact`\\ s (a fact
trains on ``prompt + " " + answer``); a tokenizer dict with ``input_ids`` (and
``attention_mask``); a LongTensor ``[n, pos]``; or a list of token-id lists (right-padded here).
"""

from __future__ import annotations

import torch

from ..data import Fact, Item


def texts_of(data) -> list[str]:
    """Training texts of a list of texts, items or facts."""
    return [d.text if isinstance(d, Item) else f"{d.prompt} {d.answer}" if isinstance(d, Fact) else str(d) for d in data]


def as_list(data):
    """Token sets pass through; anything else becomes a list (``None`` → empty)."""
    return data if isinstance(data, (dict, torch.Tensor)) else list(data or [])


def n_rows(data) -> int:
    if isinstance(data, dict) and "input_ids" in data:
        return int(data["input_ids"].shape[0])
    return int(data.shape[0]) if isinstance(data, torch.Tensor) else len(data)


def encode_inputs(subject, data) -> dict[str, torch.Tensor]:
    """Any accepted data (module doc) → ``{"input_ids", "attention_mask"}`` on the model's device."""
    if isinstance(data, dict) and "input_ids" in data:
        ids = data["input_ids"].to(subject.device)
        return {"input_ids": ids, "attention_mask": data.get("attention_mask", torch.ones_like(ids)).to(subject.device)}
    if isinstance(data, torch.Tensor):
        return {"input_ids": data.to(subject.device), "attention_mask": torch.ones_like(data, device=subject.device)}
    if data and isinstance(data[0], (list, tuple)) and data[0] and isinstance(data[0][0], int):
        pad = subject.tokenizer.pad_token_id if subject.tokenizer is not None and subject.tokenizer.pad_token_id is not None else 0
        L_max = max(len(x) for x in data)
        ids = torch.tensor([list(x) + [pad] * (L_max - len(x)) for x in data], device=subject.device)
        mask = torch.tensor([[1] * len(x) + [0] * (L_max - len(x)) for x in data], device=subject.device)
        return {"input_ids": ids, "attention_mask": mask}
    return subject.tokenize(texts_of(data))


def batches(enc: dict, batch_size: int, gen: torch.Generator):
    """Endless seeded epochs of random batches of the rows of ``enc``."""
    n = enc["input_ids"].shape[0]
    while True:
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            yield {k: v[idx] for k, v in enc.items()}
