"""Patching metrics: what a patched run is scored by, per fact.

A metric is any callable ``metric(logits, answer, corrupt_answer) -> [batch]`` on the logits at each
fact's last prompt token ``[batch, d_vocab]`` (float32), the clean answer token ``[batch]`` and the
corrupt answer token ``[batch]`` (the corrupted run's top-1, or its second choice when that is the
clean answer).  Patching scores are fractions of ``mean M_clean − mean M_corrupt`` recovered, so
any metric that is higher when the clean answer wins works; for attribution patching it must be
differentiable.  Built in (pass the name or the function):

* ``logit_diff`` (default): ``logit(answer) − logit(corrupt answer)``;
* ``logprob``: ``log p(answer)``;
* ``prob``: ``p(answer)``.

TransformerLens' ``generic_activation_patch`` takes a metric of the whole logits tensor; ours is
per fact so batches of facts of different lengths are scored at their own last token.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...errors import UnlearnscopeError

PatchingMetric = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def logit_diff(logits: torch.Tensor, answer: torch.Tensor, corrupt_answer: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, answer[:, None])[:, 0] - logits.gather(1, corrupt_answer[:, None])[:, 0]


def logprob(logits: torch.Tensor, answer: torch.Tensor, corrupt_answer: torch.Tensor) -> torch.Tensor:
    return logits.log_softmax(-1).gather(1, answer[:, None])[:, 0]


def prob(logits: torch.Tensor, answer: torch.Tensor, corrupt_answer: torch.Tensor) -> torch.Tensor:
    return logits.softmax(-1).gather(1, answer[:, None])[:, 0]


METRICS: dict[str, PatchingMetric] = {"logit_diff": logit_diff, "logprob": logprob, "prob": prob}


def resolve_metric(metric: str | PatchingMetric) -> tuple[str, PatchingMetric]:
    """``(name, fn)`` for a built-in name or a callable (named by its ``__name__``)."""
    if isinstance(metric, str):
        if metric not in METRICS:
            raise UnlearnscopeError(
                f"unknown patching metric {metric!r}; choose from {sorted(METRICS)} or pass a function "
                "(logits [batch, d_vocab], answer [batch], corrupt_answer [batch]) -> [batch]"
            )
        return metric, METRICS[metric]
    if not callable(metric):
        raise UnlearnscopeError(f"a patching metric must be a name or a function, got {type(metric).__name__}")
    return getattr(metric, "__name__", "custom"), metric


def score(fn: PatchingMetric, logits: torch.Tensor, answer: torch.Tensor, corrupt_answer: torch.Tensor) -> torch.Tensor:
    """``fn``'s per-fact values, checked to be one finite-shaped value per fact."""
    out = fn(logits, answer, corrupt_answer)
    if not isinstance(out, torch.Tensor) or out.shape != answer.shape:
        raise UnlearnscopeError(
            f"a patching metric must return one value per fact ([{answer.shape[0]}]), got "
            f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
        )
    return out
