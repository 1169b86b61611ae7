"""Weight quantization round trips: round-to-nearest, symmetric, per output channel, done in place
on CPU or GPU (deterministic; no external quantization library).

    q = quantized_copy(subject, bits=4)      # a new Subject; ``subject`` is untouched
    quantize_weights_(model, bits=8)         # in place: every matrix becomes its b-bit round trip

A matrix ``W`` (nn.Linear ``[out, in]``, GPT-2's Conv1D ``[in, out]``, embeddings ``[vocab, d]``)
is split into output channels; each channel ``w`` gets the scale ``s = max|w| / (2^(b−1) − 1)``
and becomes ``s · round(w / s)`` clipped to ``[−(2^(b−1) − 1), 2^(b−1) − 1]``, stored back in the
original dtype.  Biases, norms and other vectors keep full precision (as int8 / NF4 deployments
do).  This is the attack "quantization undoes unlearning" (Zhang et al., ICLR 2025) measures: an
unlearning update smaller than half a rounding step vanishes.
"""

from __future__ import annotations

import copy

import torch

from ..errors import UnlearnscopeError

BITS = (2, 3, 4, 8)


def _channel_dim(module: torch.nn.Module) -> int | None:
    """The dimension of ``module.weight`` that indexes output channels (``None``: not quantized)."""
    name = type(module).__name__
    if isinstance(module, torch.nn.Linear):
        return 0
    if name == "Conv1D":  # GPT-2's transposed linear: weight [in, out]
        return 1
    if isinstance(module, torch.nn.Embedding):
        return 0
    return None


def round_trip(w: torch.Tensor, bits: int, dim: int) -> torch.Tensor:
    """``w`` quantized to ``bits`` per slice along ``dim`` and dequantized (same shape and dtype)."""
    if bits not in BITS:
        raise UnlearnscopeError(f"quantization bits must be one of {BITS}, got {bits}")
    levels = 2 ** (bits - 1) - 1
    x = w.float().movedim(dim, 0)
    scale = x.abs().amax(dim=tuple(range(1, x.dim())), keepdim=True).clamp_min(1e-12) / levels
    q = (x / scale).round().clamp(-levels, levels) * scale
    return q.movedim(0, dim).to(w.dtype)


@torch.no_grad()
def quantize_weights_(model: torch.nn.Module, bits: int) -> dict:
    """Replace every linear / Conv1D / embedding weight of ``model`` by its round trip, in place
    (tied weights once).  Returns ``{"bits", "n_matrices", "n_params"}``."""
    seen, n_mat, n_par = set(), 0, 0
    for module in model.modules():
        dim = _channel_dim(module)
        w = getattr(module, "weight", None)
        if dim is None or not isinstance(w, torch.Tensor) or w.dim() != 2 or id(w) in seen:
            continue
        seen.add(id(w))
        w.copy_(round_trip(w, bits, dim))
        n_mat, n_par = n_mat + 1, n_par + w.numel()
    if n_mat == 0:
        raise UnlearnscopeError(f"{type(model).__name__} has no linear, Conv1D or embedding weights to quantize")
    return {
        "bits": bits,
        "n_matrices": n_mat,
        "n_params": n_par,
        "scheme": "symmetric round-to-nearest, per output channel",
    }


def quantized_copy(subject, bits: int):
    """A new `Subject` whose model is a deep copy of ``subject``'s with every weight matrix quantized
    to ``bits`` and dequantized (`quantize_weights_`); ``subject`` is not modified."""
    from .loading import load

    model = copy.deepcopy(subject.model)
    quantize_weights_(model, bits)
    return load(model, subject.tokenizer)
