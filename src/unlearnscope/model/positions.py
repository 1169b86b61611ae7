"""Position selection shared by capture and interventions.

``positions`` may be an ``int`` (one position, the pos dim is dropped), a ``slice`` or a list of
ints (pos dim kept), or a LongTensor ``[batch]`` giving one position per row (e.g. each row's
last non-padding token; pos dim dropped).  Token-flattened MoE points ``[tok, ...]`` are viewed
as ``[batch, pos, ...]`` for selection using the current forward's batch shape.
"""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError

Positions = int | slice | list | torch.Tensor | None


def index_of(positions: Positions, batch: int, device) -> tuple:
    """An indexer over ``[batch, pos, ...]`` selecting ``positions``."""
    if isinstance(positions, torch.Tensor):
        if positions.ndim != 1 or positions.shape[0] != batch:
            raise UnlearnscopeError(
                f"per-row positions must be a 1-D tensor of length batch={batch}, got shape {tuple(positions.shape)}"
            )
        return (torch.arange(batch, device=device), positions.to(device))
    if isinstance(positions, (list, tuple)):
        return (slice(None), torch.as_tensor(positions, device=device))
    return (slice(None), positions)


def as_batch_pos(act: torch.Tensor, shape: str, batch_shape: tuple[int, int] | None) -> torch.Tensor:
    """View ``act`` as ``[batch, pos, ...]``."""
    if not shape.startswith("tok"):
        return act
    if batch_shape is None or act.shape[0] != batch_shape[0] * batch_shape[1]:
        raise UnlearnscopeError(
            "cannot select positions on a token-flattened MoE point: the batch shape of this forward is unknown"
        )
    return act.view(*batch_shape, *act.shape[1:])


def select(act: torch.Tensor, shape: str, positions: Positions, batch_shape=None) -> torch.Tensor:
    """Read ``positions`` out of a canonical activation (token-flat points stay token-flat)."""
    if positions is None:
        return act
    bp = as_batch_pos(act, shape, batch_shape)
    out = bp[index_of(positions, bp.shape[0], act.device)]
    if shape.startswith("tok") and out.ndim == bp.ndim:
        out = out.flatten(0, 1)
    return out


def assign(act: torch.Tensor, shape: str, positions: Positions, value_fn, batch_shape=None) -> torch.Tensor:
    """Out-of-place: a copy of ``act`` whose selected positions are ``value_fn(selected)``."""
    if positions is None:
        return value_fn(act)
    new = act.clone()
    bp_new = as_batch_pos(new, shape, batch_shape)
    bp_old = as_batch_pos(act, shape, batch_shape)
    ix = index_of(positions, bp_old.shape[0], act.device)
    bp_new[ix] = value_fn(bp_old[ix]).to(new.dtype)
    return new
