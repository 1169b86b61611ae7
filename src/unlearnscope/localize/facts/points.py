"""What every fact localizer shares: the component hook points it patches, the last-token logits
it reads, and the hook that restores clean activations into stacked corrupted copies."""

from __future__ import annotations

import torch

from ...errors import UnlearnscopeError

# component kind -> the hook point of what that component adds at layer l
KIND_POINTS = {
    "resid": "blocks.{l}.hook_resid_post",
    "attn": "blocks.{l}.hook_attn_out",
    "mlp": "blocks.{l}.hook_mlp_out",
}


def check_kinds(kinds) -> list[str]:
    kinds = list(kinds)
    bad = [k for k in kinds if k not in KIND_POINTS]
    if bad or not kinds:
        raise UnlearnscopeError(f"unknown component kinds {bad}; choose from {list(KIND_POINTS)}")
    return kinds


def kind_points(kinds, n_layers: int) -> list[str]:
    """Hook points kind-major (``[kind, layer]`` when reshaped)."""
    return [KIND_POINTS[k].format(l=l) for k in kinds for l in range(n_layers)]


def last_logits(out, last: torch.Tensor, reps: int = 1) -> torch.Tensor:
    """``[reps * b, V]`` logits at each row's last prompt token (rows are ``reps`` stacked copies)."""
    logits = out.logits
    return logits[torch.arange(logits.shape[0], device=logits.device), last.repeat(reps)].float()


def replace_where(mask: torch.Tensor, clean: torch.Tensor):
    """Hook fn: rows are copies ``[n_mask, b, pos, d]``; copy ``i`` takes ``clean`` where ``mask[i]``."""

    def fn(act, point):
        a = act.view(mask.shape[0], -1, *act.shape[1:])
        return torch.where(mask[..., None], clean[None].to(act.dtype), a).view_as(act)

    return fn
