"""One special-token policy for every text a model reads: training, recall, probes, patching,
relearning and attacks.

    ids = encode_text(tok, "The capital of France is")      # [bos, The, capital, ...] on Llama-style
    enc = encode_batch(tok, texts, padding_side="right")    # {"input_ids", "attention_mask"} [batch, pos]

The policy is the tokenizer's own: the special tokens it puts *before* a text (BOS, ``[CLS]``) are
kept; those it puts *after* (EOS, ``[SEP]``) are not, so a prompt's last position is its last text
token (the one that predicts the answer).  A text that already begins with the tokenizer's BOS
text (``"<s> ..."``, ``"<bos> ..."``) is encoded as written, so the BOS is not doubled.  A text
that tokenizes to nothing is an error (the model would read an empty row).  A tokenizer that has a
BOS token of its own (distinct from EOS) but does not add it, given texts without it, warns once:
models trained with a BOS (the organisms, whose texts carry ``<bos>``) read such prompts out of
distribution.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch

from ..errors import UnlearnscopeError

_PROBE = "a"  # a text every tokenizer encodes to at least one ordinary token


@lru_cache(maxsize=64)
def _affixes(tok) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(prefix, suffix)``: the special-token ids the tokenizer adds before and after a text."""
    bare = tok(_PROBE, add_special_tokens=False)["input_ids"]
    full = tok(_PROBE)["input_ids"]
    for a in range(len(full) - len(bare) + 1):
        if full[a : a + len(bare)] == bare:
            return tuple(full[:a]), tuple(full[a + len(bare) :])
    return (), ()


def prefix_ids(tok) -> tuple[int, ...]:
    """The special tokens the policy puts before every text (``()`` for GPT-2-style tokenizers)."""
    return _affixes(tok)[0]


def carries_bos(tok, text: str) -> bool:
    """Whether ``text`` begins with the tokenizer's BOS text (then it is encoded as written)."""
    bos = getattr(tok, "bos_token", None)
    return bool(bos) and text.lstrip().startswith(bos)


def expects_bos(tok) -> bool:
    """A BOS of its own (not GPT-2's shared end-of-text token) that the tokenizer does not add itself."""
    bos, eos = getattr(tok, "bos_token", None), getattr(tok, "eos_token", None)
    return bool(bos) and bos != eos and getattr(tok, "bos_token_id", None) not in prefix_ids(tok)


_warned: set[int] = set()


def _check_bos(tok, texts) -> None:
    if id(tok) in _warned or not expects_bos(tok):
        return
    if any(not carries_bos(tok, t) for t in texts):
        _warned.add(id(tok))
        warnings.warn(
            f"the tokenizer has a BOS token {tok.bos_token!r} but does not add it, and some texts do not begin "
            "with it: "
            f"a model trained with BOS reads them out of distribution (write {tok.bos_token!r} at the start of each "
            "prompt)",
            UserWarning,
            stacklevel=3,
        )


def encode_text(tok, text: str) -> list[int]:
    """``text``'s ids under the policy (module doc)."""
    body = tok(text, add_special_tokens=False)["input_ids"]
    if not body:
        raise UnlearnscopeError(f"the text {text!r} tokenizes to nothing: give every prompt and answer some text")
    if carries_bos(tok, text):
        return list(body)
    return list(prefix_ids(tok)) + list(body)


def encode_texts(tok, texts: list[str]) -> list[list[int]]:
    """Each text's ids under the policy; warns once about a missing BOS (module doc)."""
    _check_bos(tok, texts)
    return [encode_text(tok, t) for t in texts]


def pad_rows(rows: list[list[int]], pad: int, padding_side: str = "right") -> dict[str, torch.Tensor]:
    """``{"input_ids", "attention_mask"}`` ``[batch, pos]`` of ragged id lists, padded on one side."""
    if padding_side not in ("right", "left"):
        raise UnlearnscopeError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    L = max(map(len, rows))
    ids = torch.full((len(rows), L), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, r in enumerate(rows):
        span = slice(0, len(r)) if padding_side == "right" else slice(L - len(r), L)
        ids[i, span] = torch.tensor(r, dtype=torch.long)
        mask[i, span] = 1
    return {"input_ids": ids, "attention_mask": mask}


def pad_id(tok) -> int:
    for t in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id):
        if t is not None:
            return int(t)
    return 0


def encode_batch(tok, texts: list[str], padding_side: str = "right") -> dict[str, torch.Tensor]:
    """``texts`` under the policy as one padded batch (CPU tensors)."""
    if not texts:
        raise UnlearnscopeError("empty prompt set: give at least one text")
    return pad_rows(encode_texts(tok, list(texts)), pad_id(tok), padding_side)
