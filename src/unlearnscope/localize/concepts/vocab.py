"""Value vectors and their vocabulary projections.

`iter_value_vectors` streams every MLP value vector (every expert's, the shared expert's) in
chunks, as views of the weights; `top_tokens` projects vectors onto the vocabulary (raw
``W_U v`` or the logit lens ``W_U LN_f(v)``, `unlearnscope.model.unembed.project`) and names their
top tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.unembed import project

if TYPE_CHECKING:
    from ...model.subject import Subject


def token_strings(subject, ids: torch.Tensor) -> list:
    """Token ids (any shape) → nested lists of token strings (sub-word pieces kept as is)."""
    tok = subject.tokenizer
    if ids.ndim == 1:
        return tok.convert_ids_to_tokens(ids.tolist()) if tok is not None else [str(i) for i in ids.tolist()]
    return [token_strings(subject, row) for row in ids]


def top_tokens(
    subject: Subject, vectors: torch.Tensor, k: int = 20, lens: bool = False
) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Top-``k`` tokens of each vector: ``(ids [..., k], logits [..., k], strings)``."""
    z = project(subject, vectors, lens)
    vals, ids = z.topk(min(k, z.shape[-1]), dim=-1)
    return ids, vals, token_strings(subject, ids)


@dataclass(frozen=True)
class VectorChunk:
    """Value vectors ``[n, d_model]`` of ``layer`` (``expert`` for MoE layers), neurons
    ``start .. start + n - 1``."""

    layer: int
    expert: int | str | None
    start: int
    vectors: torch.Tensor


def value_groups(subject: Subject, layers: Sequence[int] | None = None) -> list[tuple[int, int | str | None]]:
    """Every (layer, expert) that owns value vectors: dense layers once, MoE layers per expert
    (and ``"shared"`` where the family has a shared expert)."""
    a = subject.anatomy
    layers = range(a.n_layers) if layers is None else [a.check_layer(l) for l in layers]
    groups: list[tuple[int, int | str | None]] = []
    for l in layers:
        if l in a.moe_layers:
            groups += [(l, e) for e in range(a.n_experts)]
            if a.family.moe.shared:
                groups.append((l, "shared"))
        else:
            groups.append((l, None))
    return groups


def iter_value_vectors(
    subject: Subject, layers: Sequence[int] | None = None, chunk: int = 4096
) -> Iterator[VectorChunk]:
    """Stream value vectors in chunks of at most ``chunk`` rows (views; no copies)."""
    if chunk < 1:
        raise UnlearnscopeError(f"chunk must be >= 1, got {chunk}")
    for layer, expert in value_groups(subject, layers):
        V = subject.anatomy.values(layer, expert)
        for s in range(0, V.shape[0], chunk):
            yield VectorChunk(layer, expert, s, V[s : s + chunk])
