"""What training on a forget or retain set takes: texts, items, facts or token sets, as one
tokenizer dict.

Accepted data: a list of texts, `Item`\\ s or `Fact`\\ s; a tokenizer dict with ``input_ids`` (and
``attention_mask``, optionally ``loss_mask``); a LongTensor ``[n, pos]``; or a list of token-id
lists (right-padded here).

Facts and items are encoded as ``prompt + " " + answer`` with ``loss_mask`` on the answer tokens
only (``loss_on="answer"``, the default: likelihood losses score the answer given the prompt, as
TOFU's and Guo et al.'s); ``loss_on="text"`` trains on the whole text (an item's ``item.text``,
with its continuation).  ``loss_mask[b, t] = 1`` marks token ``t`` as a scored prediction target;
without it every attended token is scored.
"""

from __future__ import annotations

import torch

from ..data import Fact, Item
from ..data.encoding import continuation
from ..data.tokens import encode_texts, pad_id, pad_rows
from ..errors import UnlearnscopeError


def texts_of(data) -> list[str]:
    """Training texts of a list of texts, items or facts."""
    return [
        d.text if isinstance(d, Item) else f"{d.prompt} {d.answer}" if isinstance(d, Fact) else str(d) for d in data
    ]


def as_list(data):
    """Token sets pass through; anything else becomes a list (``None`` → empty)."""
    return data if isinstance(data, (dict, torch.Tensor)) else list(data or [])


def n_rows(data) -> int:
    if isinstance(data, dict) and "input_ids" in data:
        return int(data["input_ids"].shape[0])
    return int(data.shape[0]) if isinstance(data, torch.Tensor) else len(data)


def encode_inputs(subject, data, loss_on: str = "text") -> dict[str, torch.Tensor]:
    """Any accepted data (module doc) → ``{"input_ids", "attention_mask"}`` on the model's device,
    with ``loss_mask`` for facts and items under ``loss_on="answer"`` (and when given)."""
    if isinstance(data, dict) and "input_ids" in data:
        ids = data["input_ids"].to(subject.device)
        out = {"input_ids": ids, "attention_mask": data.get("attention_mask", torch.ones_like(ids)).to(subject.device)}
        if "loss_mask" in data:
            out["loss_mask"] = data["loss_mask"].to(subject.device)
        return out
    if isinstance(data, torch.Tensor):
        return {"input_ids": data.to(subject.device), "attention_mask": torch.ones_like(data, device=subject.device)}
    if data and isinstance(data[0], (list, tuple)) and data[0] and isinstance(data[0][0], int):
        pad = (
            subject.tokenizer.pad_token_id
            if subject.tokenizer is not None and subject.tokenizer.pad_token_id is not None
            else 0
        )
        L_max = max(len(x) for x in data)
        ids = torch.tensor([list(x) + [pad] * (L_max - len(x)) for x in data], device=subject.device)
        mask = torch.tensor([[1] * len(x) + [0] * (L_max - len(x)) for x in data], device=subject.device)
        return {"input_ids": ids, "attention_mask": mask}
    if loss_on == "answer" and data and all(isinstance(d, Fact) for d in data):
        return answer_encoding(subject, data)
    return subject.tokenize(texts_of(data))


def answer_encoding(subject, facts) -> dict[str, torch.Tensor]:
    """``prompt + " " + answer`` of each fact or item, right-padded, with ``loss_mask`` on the
    answer's tokens (an item's continuation is left out: the answer is what is forgotten)."""
    tok = subject.tokenizer
    if tok is None:
        raise UnlearnscopeError("training on facts needs a tokenizer: pass tokenizer= to unlearnscope.load")
    prompts = encode_texts(tok, [f.prompt for f in facts])
    rows = [continuation(tok, f.prompt, f.answer, p) for f, p in zip(facts, prompts, strict=True)]
    enc = pad_rows(rows, pad_id(tok))
    pos = torch.arange(enc["input_ids"].shape[1])
    plen = torch.tensor([len(p) for p in prompts])[:, None]
    enc["loss_mask"] = ((pos >= plen) & enc["attention_mask"].bool()).long()
    return {k: v.to(subject.device) for k, v in enc.items()}


def model_inputs(batch: dict) -> dict[str, torch.Tensor]:
    """What the model's forward takes of a batch (not ``loss_mask``)."""
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def scored(batch: dict) -> torch.Tensor:
    """``[batch, pos]`` the tokens a likelihood loss scores (module doc)."""
    return batch.get("loss_mask", batch["attention_mask"])


def batches(enc: dict, batch_size: int, gen: torch.Generator):
    """Endless seeded epochs of random batches of the rows of ``enc``."""
    n = enc["input_ids"].shape[0]
    while True:
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            yield {k: v[idx] for k, v in enc.items()}
