"""Neuron Adjust (Li, Sun & Weng 2025): map forget-like FFN pre-activations into the retain
distribution at inference, training-free.

    f = ffn_stats(subject, forget_texts, site="pre"); r = ffn_stats(subject, retain_texts, site="pre")
    sel = select_neurons(f, r, top_p=0.03)            # global top-p% of δ = μ_f − μ_r (one-sided)
    with neuron_adjust(subject, sel, seed=0) as na:   # every forward, every token
        subject.model(...)
    na.n_adjusted, na.n_seen

For a selected neuron value ``x``: ``p_r = N(x; μ_r, σ_r)``, ``p_f = N(x; μ_f, σ_f)``; if
``p_r ≤ p_f`` then, with probability ``p_f / (p_r + p_f)``, ``x ← μ_r − (σ_r/σ_f)(x − μ_f)`` (the
forget z-score mapped into the retain distribution, reflected about μ_r).  Densities are compared
in log space and scales floored at 1e-6, so zero-variance neurons never give NaN.

Paper intent (default): σ are true standard deviations and every value gets its own Bernoulli
draw.  ``compat=True`` reproduces the upstream code for number matching: σ_r is the *variance*
(the probe's field named ``std``), σ_f is μ_f (a copy bug; a non-positive μ_f is floored like any
scale), and one uniform draw per batch row is broadcast over its tokens and neurons.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.forward_hooks import batch_shape_box
from ...results import Result
from .ffn_statistics import FFNStats, ffn_site

if TYPE_CHECKING:
    from ...model.subject import Subject

SCALE_FLOOR = 1e-6


@dataclass
class NeuronSelection(Result):
    """Selected neurons per layer with their forget / retain statistics.

    ``delta[i]`` is δ = μ_f − μ_r for every neuron of ``stats_layers[i]`` (for plots); the
    selection is ``δ ≥ tau``, the global top-``top_p`` value.  ``neurons[j]`` / ``mu_f[j]`` ...
    belong to ``layers[j]`` (only layers with at least one selected neuron).  ``sd_*`` are true
    standard deviations, ``var_*`` population variances.
    """

    kind = "neuron_selection"
    site: str
    top_p: float
    tau: float
    n_selected: int
    n_total: int
    layers: list[int]
    neurons: list[torch.Tensor]
    mu_f: list[torch.Tensor]
    sd_f: list[torch.Tensor]
    var_f: list[torch.Tensor]
    mu_r: list[torch.Tensor]
    sd_r: list[torch.Tensor]
    var_r: list[torch.Tensor]
    stats_layers: list[int]
    delta: list[torch.Tensor]

    def per_layer_counts(self) -> dict[int, int]:
        return {l: int(n.numel()) for l, n in zip(self.layers, self.neurons, strict=True)}

    def plot(self):
        from ...viz.skills import delta_figure

        return delta_figure(self)


def _check_pair(forget: FFNStats, retain: FFNStats) -> None:
    if forget.site != retain.site or forget.layers != retain.layers:
        raise UnlearnscopeError(
            f"forget and retain statistics must cover the same site and layers (got {forget.site}@{forget.layers} vs "
            f"{retain.site}@{retain.layers})"
        )


def select_neurons(forget: FFNStats, retain: FFNStats, *, top_p: float = 0.03) -> NeuronSelection:
    """Global top-``top_p`` (a fraction, e.g. 0.03 = 3%) of δ = μ_f − μ_r over all layers."""
    _check_pair(forget, retain)
    if not 0 < top_p <= 1:
        raise UnlearnscopeError(f"top_p is a fraction in (0, 1] (0.03 = 3%), got {top_p}")
    deltas = [mf - mr for mf, mr in zip(forget.mean, retain.mean, strict=True)]
    flat = torch.cat(deltas)
    scale = torch.cat(forget.mean + retain.mean).abs().max().clamp_min(1e-12)
    if flat.abs().max() <= 1e-6 * scale:
        raise UnlearnscopeError(
            "forget and retain activations have the same means everywhere (δ = 0): the forget set equals the retain "
            "set, so nothing distinguishes the skill. Give retain texts from other skills."
        )
    k = max(1, round(top_p * flat.numel()))
    tau = float(flat.topk(k).values[-1])
    out = {f: [] for f in ("layers", "neurons", "mu_f", "sd_f", "var_f", "mu_r", "sd_r", "var_r")}
    for i, layer in enumerate(forget.layers):
        idx = (deltas[i] >= tau).nonzero().squeeze(-1)
        if not idx.numel():
            continue
        out["layers"].append(layer)
        out["neurons"].append(idx)
        for name, st in (("f", forget), ("r", retain)):
            var = st.var[i][idx]
            out[f"mu_{name}"].append(st.mean[i][idx])
            out[f"var_{name}"].append(var)
            out[f"sd_{name}"].append(var.sqrt())
    return NeuronSelection(
        forget.site,
        top_p,
        tau,
        int((flat >= tau).sum()),
        flat.numel(),
        **out,
        stats_layers=list(forget.layers),
        delta=deltas,
    )


def _log_normal(x, mu, sd):
    sd = sd.clamp_min(SCALE_FLOOR)
    return -0.5 * ((x - mu) / sd).square() - sd.log() - 0.5 * math.log(2 * math.pi)


def adjust_values(
    x: torch.Tensor, mu_f: torch.Tensor, sd_f: torch.Tensor, mu_r: torch.Tensor, sd_r: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """NA on values ``x[..., n]`` with uniforms ``u`` (broadcastable to ``x``): ``(new, replaced)``."""
    lp_f, lp_r = _log_normal(x, mu_f, sd_f), _log_normal(x, mu_r, sd_r)
    p_replace = torch.sigmoid(lp_f - lp_r)  # p_f / (p_r + p_f)
    replaced = (lp_r <= lp_f) & (u < p_replace)
    mapped = mu_r - (sd_r / sd_f.clamp_min(SCALE_FLOOR)) * (x - mu_f)
    return torch.where(replaced, mapped, x), replaced


class NeuronAdjuster:
    """The running hook state: counts of seen / adjusted values (all layers)."""

    def __init__(self, selection: NeuronSelection, compat: bool, generator: torch.Generator | None):
        self.selection, self.compat, self.generator = selection, compat, generator
        self.n_seen = 0
        self.n_adjusted = 0
        self._params: dict[int, tuple[torch.Tensor, ...]] = {}

    def params(self, j: int, device) -> tuple[torch.Tensor, ...]:
        if j not in self._params:
            s = self.selection
            sd_f, sd_r = (s.mu_f[j], s.var_r[j]) if self.compat else (s.sd_f[j], s.sd_r[j])
            self._params[j] = (
                s.neurons[j].to(device).long(),
                *(t.to(device, torch.float32) for t in (s.mu_f[j], sd_f, s.mu_r[j], sd_r)),
            )
        return self._params[j]

    def hook(self, j: int, batch_box: dict):
        def fn(act, point):
            idx, mu_f, sd_f, mu_r, sd_r = self.params(j, act.device)
            x = act[..., idx].float()
            if self.compat:  # one draw per batch row, broadcast over tokens and neurons
                batch = batch_box["shape"][0]
                u = torch.rand(batch, device=act.device, generator=self.generator)
                u = u.repeat_interleave(x.shape[0] // batch)[:, None] if point.token_flat else u[:, None, None]
            else:
                u = torch.rand(x.shape, device=act.device, generator=self.generator)
            new, replaced = adjust_values(x, mu_f, sd_f, mu_r, sd_r, u)
            self.n_seen += x.numel()
            self.n_adjusted += int(replaced.sum())
            out = act.clone()
            out[..., idx] = new.to(act.dtype)
            return out

        return fn


@contextmanager
def neuron_adjust(
    subject: Subject, selection: NeuronSelection, *, compat: bool = False, seed: int | None = 0
) -> Iterator[NeuronAdjuster]:
    """Apply Neuron Adjust on every forward inside the block (also every ``generate`` step)."""
    if not selection.layers:
        raise UnlearnscopeError("this selection has no neurons; raise top_p")
    gen = None
    if seed is not None:
        gen = torch.Generator(device=subject.device)
        gen.manual_seed(seed)
    adj = NeuronAdjuster(selection, compat, gen)
    with batch_shape_box(subject) as box:
        names = [ffn_site(subject, l, selection.site) for l in selection.layers]
        with subject.hooks([(n, adj.hook(j, box)) for j, n in enumerate(names)]):
            yield adj
