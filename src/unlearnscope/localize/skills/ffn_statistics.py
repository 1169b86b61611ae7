"""Streaming statistics of FFN pre-activations and keys (Welford / Chan merge, fp32, on device).

    pre = ffn_stats(subject, forget_texts, site="pre")                # all tokens, every layer
    keys = ffn_stats(subject, prompts, site="key", positions="last", layers=[-1], keep=True)
    pre.mean[i], pre.std[i]        # [n_features] of layer pre.layers[i]

Sites (`ffn_site`): ``"pre"`` is the gate / first-matrix output before the nonlinearity
(``blocks.{l}.mlp.hook_pre``), ``"key"`` the second-matrix input (``blocks.{l}.mlp.hook_post``:
``act(gate) * up`` or ``act(W_in x)``).  On MoE layers both are computed densely for every expert
(``blocks.{l}.moe.hook_pre|hook_post``, feature ``e * d_expert + i``).  Padding never counts;
``positions="last"`` keeps each sequence's last non-padding token (the query's decision point).

Each batch's count, mean and sum of squared deviations are computed in one vectorised pass and
merged into the running totals with Chan et al.'s parallel update, so the result equals the
two-pass statistics of all counted tokens up to fp32 rounding, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ...errors import OutOfRangeError, UnlearnscopeError
from ...model.batching import iter_batches, token_mask
from ...results import Result

if TYPE_CHECKING:
    from ...model.subject import Subject

SITES = ("pre", "key")


def ffn_site(subject: Subject, layer: int, site: str) -> str:
    """The canonical hook name of ``site`` (``"pre"`` | ``"key"``) at ``layer``."""
    if site not in SITES:
        raise UnlearnscopeError(f"FFN site must be one of {SITES}, got {site!r}")
    block = "moe" if layer in subject.anatomy.moe_layers else "mlp"
    return f"blocks.{layer}.{block}.hook_{'pre' if site == 'pre' else 'post'}"


def resolve_layers(subject: Subject, layers: int | Sequence[int] | None) -> list[int]:
    """Layer indices (negative counts from the end); every layer when ``None``."""
    n = subject.anatomy.n_layers
    if layers is None:
        return list(range(n))
    layers = [layers] if isinstance(layers, int) else list(layers)
    if not layers:
        raise UnlearnscopeError("no layers given: pass at least one layer index (or None for every layer)")
    bad = [l for l in layers if not -n <= int(l) < n]
    if bad:
        raise OutOfRangeError(
            f"layer(s) {bad} out of range: this model has {n} layers (0..{n - 1}, or negative from the end)"
        )
    return sorted({int(l) % n for l in layers})


@dataclass
class FFNStats(Result):
    """Per-feature running statistics of one FFN site over the counted tokens.

    ``mean[i]`` / ``m2[i]`` (sum of squared deviations) are ``[n_features]`` tensors of layer
    ``layers[i]``; ``var`` is the population variance ``m2 / count`` (what upstream calls "std"),
    ``sample_var`` uses ``count - 1``.  ``keys[i]`` (``keep=True``) holds the counted vectors
    ``[count, n_features]`` themselves.
    """

    kind = "ffn_stats"
    site: str
    positions: str
    layers: list[int]
    mean: list[torch.Tensor]
    m2: list[torch.Tensor]
    count: int
    n_sequences: int
    keys: list[torch.Tensor] | None = None

    def row(self, layer: int) -> int:
        if layer not in self.layers:
            raise OutOfRangeError(f"layer {layer} has no statistics here; these cover layers {self.layers}")
        return self.layers.index(layer)

    @property
    def var(self) -> list[torch.Tensor]:
        return [m / max(self.count, 1) for m in self.m2]

    @property
    def sample_var(self) -> list[torch.Tensor]:
        return [m / max(self.count - 1, 1) for m in self.m2]

    @property
    def std(self) -> list[torch.Tensor]:
        return [v.sqrt() for v in self.var]

    def plot(self, layer: int | None = None):
        from ...viz.skills import stats_figure

        return stats_figure(self, layer)


class WelfordAccumulator:
    """Running (count, mean, M2) per layer, merged batch by batch on the device."""

    def __init__(self, n_layers: int, keep: bool = False):
        self.count = 0
        self.mean: list[torch.Tensor | None] = [None] * n_layers
        self.m2: list[torch.Tensor | None] = [None] * n_layers
        self.kept: list[list[torch.Tensor]] | None = [[] for _ in range(n_layers)] if keep else None

    def add(self, row: int, x: torch.Tensor) -> None:
        """Merge the counted vectors ``x[n, n_features]`` (fp32) into layer ``row``'s totals."""
        n_b = x.shape[0]
        if self.kept is not None:
            self.kept[row].append(x.detach().cpu())
        if n_b == 0:
            return
        mean_b = x.mean(0)
        m2_b = (x - mean_b).square().sum(0)
        if self.mean[row] is None:
            self.mean[row], self.m2[row] = mean_b, m2_b
            return
        n_a = self.count
        n = n_a + n_b
        delta = mean_b - self.mean[row]
        self.mean[row] = self.mean[row] + delta * (n_b / n)
        self.m2[row] = self.m2[row] + m2_b + delta.square() * (n_a * n_b / n)

    def end_batch(self, n_tokens: int) -> None:
        self.count += n_tokens


def ffn_stats(
    subject: Subject,
    inputs: Sequence[str],
    *,
    layers: int | Sequence[int] | None = None,
    site: str = "pre",
    positions: str = "all",
    batch_size: int = 32,
    keep: bool = False,
) -> FFNStats:
    """Streamed statistics of ``site`` at ``layers`` over ``inputs`` (texts or a tokenizer dict).

    Works on decoders and encoders alike (one forward per batch, no generation)."""
    layers = resolve_layers(subject, layers)
    names = [ffn_site(subject, l, site) for l in layers]
    acc = WelfordAccumulator(len(layers), keep)
    box: dict[str, torch.Tensor] = {}

    def hook(row: int):
        def fn(act, point):
            mask = box["mask"]
            x = act.reshape(mask.numel(), -1) if point.token_flat else act.reshape(-1, act.shape[-1])
            acc.add(row, x[mask.reshape(-1).to(x.device)].float())

        return fn

    n_seq = 0
    with torch.no_grad(), subject.hooks([(name, hook(r)) for r, name in enumerate(names)]):
        for _, batch in iter_batches(subject, inputs, batch_size):
            box["mask"] = token_mask(batch["attention_mask"], positions)
            subject.model(**batch)
            acc.end_batch(int(box["mask"].sum()))
            n_seq += batch["input_ids"].shape[0]
    if acc.count == 0:
        raise UnlearnscopeError(
            "no tokens were counted (every sequence is empty after padding): give non-empty prompts"
        )
    kept = [torch.cat(k) for k in acc.kept] if acc.kept is not None else None
    return FFNStats(
        site, positions, layers, [m.cpu() for m in acc.mean], [m.cpu() for m in acc.m2], acc.count, n_seq, kept
    )
