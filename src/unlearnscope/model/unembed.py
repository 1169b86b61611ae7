"""Vocabulary projection of weight or activation vectors.

* raw: ``z = W_U v`` — no final norm, no bias (ConceptVectors' projection of value vectors);
* lens: ``z = W_U LN_f(v)`` — the logit lens (the final norm applied as if ``v`` were a
  residual-stream state).

``v`` is ``[..., d_model]``; ``z`` is ``[..., d_vocab]``.
"""

from __future__ import annotations

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
