"""Token-position roles of a fact prompt, so effects align across prompts of different lengths.

``before`` (tokens before the subject), ``subj_first``, ``subj_mid``, ``subj_last``, ``after``
(between the subject and the last token) and ``last`` (the token that predicts the answer).
A one-token subject is both ``subj_first`` and ``subj_last``.  Roles that no prompt has are
dropped.  `role_masks` returns ``[role, batch, pos]`` booleans.
"""

from __future__ import annotations

import torch

ROLES = ("before", "subj_first", "subj_mid", "subj_last", "after", "last")


def role_masks(
    subject_mask: torch.Tensor, last: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[list[str], torch.Tensor]:
    b, L = subject_mask.shape
    pos = torch.arange(L, device=subject_mask.device)[None].expand(b, L)
    start = subject_mask.float().argmax(1)[:, None]
    end = (L - 1 - subject_mask.flip(1).float().argmax(1))[:, None]
    valid = attention_mask.bool()
    last = last[:, None]
    masks = {
        "before": (pos < start) & valid,
        "subj_first": pos == start,
        "subj_mid": (pos > start) & (pos < end),
        "subj_last": pos == end,
        "after": (pos > end) & (pos < last),
        "last": pos == last,
    }
    present = torch.stack([masks[r].any() for r in ROLES]).tolist()  # one host read
    names = [r for r, p in zip(ROLES, present, strict=True) if p]
    return names, torch.stack([masks[r] for r in names])


def last_token_mask(enc) -> torch.Tensor:
    """``[1, batch, pos]``: the ``last`` role alone, without needing subject spans."""
    return (torch.arange(enc.input_ids.shape[1], device=enc.last.device)[None] == enc.last[:, None])[None]
