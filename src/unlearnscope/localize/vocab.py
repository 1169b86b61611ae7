"""Vocabulary projection of weight or activation vectors.

* raw: ``z = W_U v`` — no final norm, no bias (ConceptVectors' projection of value vectors);
* lens: ``z = W_U LN_f(v)`` — the logit lens (the final norm applied as if ``v`` were a
  residual-stream state).

``v`` is ``[..., d_model]``; ``z`` is ``[..., d_vocab]``.  `iter_value_vectors` streams every
MLP value vector (every expert's, the shared expert's) in chunks so a whole-model scan holds the
weights plus one ``[chunk, d_vocab]`` block at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..errors import UnlearnscopeError


def project(subject, vectors: torch.Tensor, lens: bool = False) -> torch.Tensor:
    """``[..., d_model] -> [..., d_vocab]`` logits (see module doc)."""
    a = subject.anatomy
    if a.unembed is None:
        raise UnlearnscopeError("this model has no unembedding (LM head): vocabulary projection needs a causal-LM head")
    if vectors.shape[-1] != a.d_model:
        raise UnlearnscopeError(f"vectors must end in d_model={a.d_model}, got shape {tuple(vectors.shape)}")
    W_U = a.unembed
    v = vectors.to(device=W_U.device, dtype=W_U.dtype)
    with torch.no_grad():
        if lens:
            if a.final_norm is None:
                raise UnlearnscopeError("logit lens needs a final norm; this model has none (use lens=False)")
            v = a.final_norm(v)
        return v @ W_U.T


def token_strings(subject, ids: torch.Tensor) -> list:
    """Token ids (any shape) → nested lists of token strings (sub-word pieces kept as is)."""
    tok = subject.tokenizer
    if ids.ndim == 1:
        return tok.convert_ids_to_tokens(ids.tolist()) if tok is not None else [str(i) for i in ids.tolist()]
    return [token_strings(subject, row) for row in ids]


def top_tokens(subject, vectors: torch.Tensor, k: int = 20, lens: bool = False) -> tuple[torch.Tensor, torch.Tensor, list]:
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


def value_groups(subject, layers=None) -> list[tuple[int, int | str | None]]:
    """Every (layer, expert) that owns value vectors: dense layers once, MoE layers per expert
    (and ``"shared"`` where the family has a shared expert)."""
    a = subject.anatomy
    layers = range(a.n_layers) if layers is None else [a.check_layer(l) for l in layers]
    groups = []
    for l in layers:
        if l in a.moe_layers:
            groups += [(l, e) for e in range(a.n_experts)]
            if a.family.moe.shared:
                groups.append((l, "shared"))
        else:
            groups.append((l, None))
    return groups


def iter_value_vectors(subject, layers=None, chunk: int = 4096) -> Iterator[VectorChunk]:
    """Stream value vectors in chunks of at most ``chunk`` rows (views; no copies)."""
    if chunk < 1:
        raise UnlearnscopeError(f"chunk must be >= 1, got {chunk}")
    for layer, expert in value_groups(subject, layers):
        V = subject.anatomy.values(layer, expert)
        for s in range(0, V.shape[0], chunk):
            yield VectorChunk(layer, expert, s, V[s : s + chunk])


def chunk_rows(subject, max_bytes: int = 64 << 20) -> int:
    """Rows per chunk so one ``[chunk, d_vocab]`` fp32 logit block stays under ``max_bytes``."""
    return max(1, int(max_bytes // (4 * max(1, subject.anatomy.d_vocab))))
