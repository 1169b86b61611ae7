"""Key Space Detection (Li, Sun & Weng 2025): the FFN keys of queries that use a skill lie in a
small axis-aligned hypercube; abstain when a query's key falls inside it.

    cube = fit_key_space(subject, forget_prompts, layer=-1)       # μ, s, exact k* from last-token keys
    d = key_space_distance(subject, cube, prompts)                  # [n] normalised distance
    d <= lam                                                        # inside μ ± lam·k*·s on every neuron
    roc = key_space_roc(cube, d_forget, d_retain)                   # TPR / FPR over lam
    with key_space_detector(subject, cube, lam=1.0) as det:         # per-query flags, also in generate()
        subject.model.generate(**left_padded_batch); det.flags

Hypercube: μ is the mean and s the per-neuron sample standard deviation (n − 1) of the probe keys
(the down-projection input at the last prompt token); ``k* = max_{j,i} |a_ji − μ_i| / s_i`` is the
smallest k with every probe inside ``μ ± k·s`` (computed exactly, not by bisection).  A key ``x``
is detected at threshold λ iff ``|x_i − μ_i| ≤ λ·k*·s_i`` for all cube neurons, i.e. iff its
normalised distance ``max_i |x_i − μ_i| / (k*·s_i) ≤ λ``; λ = 1 reproduces the probe hull's box.
Scales are floored at ``1e-6 × mean(s)`` so constant (zero-variance) neurons give finite
distances: a key that matches such a neuron's constant passes it, any real deviation does not.

``low_spread=M`` restricts the cube to the M neurons whose in-skill spread is smallest relative to
their spread over a reference set (the "tight" rule: FPR ≈ 0 on the organisms, where the
top-*varying* neurons gave FPR 0.4–0.8, so those are not offered).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ...errors import UnlearnscopeError
from ...model.forward_hooks import batch_shape_box
from ...results import Result
from .ffn_statistics import ffn_site, ffn_stats, resolve_layers

if TYPE_CHECKING:
    from ...model.subject import Subject


@dataclass
class KeySpaceCube(Result):
    """``mu`` / ``s`` ``[n_features]`` of the layer's keys; the cube uses ``neurons`` (all if None)."""

    kind = "key_space_cube"
    layer: int
    site: str
    positions: str
    mu: torch.Tensor
    s: torch.Tensor
    k_star: float
    n_probe: int
    neurons: torch.Tensor | None = None
    probe_distance: torch.Tensor | None = None  # [n_probe] normalised distances of the probes (max = 1)

    @property
    def scale(self) -> torch.Tensor:
        """``s`` floored so that zero-variance neurons stay finite."""
        return self.s.clamp_min(1e-6 * float(self.s.mean()) + 1e-12)

    def _cube(self, device):
        mu, sc = self.mu.to(device), self.scale.to(device)
        if self.neurons is not None:
            idx = self.neurons.to(device)
            mu, sc = mu[idx], sc[idx]
        return mu, sc

    def deviation(self, keys: torch.Tensor) -> torch.Tensor:
        """``[...]``: ``max_i |x_i − μ_i| / s_i`` over the cube neurons of keys ``[..., n_features]``."""
        mu, sc = self._cube(keys.device)
        x = keys.float()
        if self.neurons is not None:
            x = x[..., self.neurons.to(keys.device)]
        return ((x - mu).abs() / sc).amax(-1)

    def distance(self, keys: torch.Tensor) -> torch.Tensor:
        """Normalised distance ``deviation / k*``: inside the cube at threshold λ iff ``≤ λ``."""
        return self.deviation(keys) / max(self.k_star, 1e-12)

    def contains(self, keys: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
        return self.distance(keys) <= lam

    @property
    def n_neurons(self) -> int:
        return int(self.mu.numel() if self.neurons is None else self.neurons.numel())

    def plot(self, **kwargs):
        from ...viz.skills import cube_figure

        return cube_figure(self, **kwargs)


def _kept_keys(st) -> torch.Tensor:
    """The one layer's keys ``[n, d_mlp]`` of an `ffn_stats(..., keep=True)` result."""
    if st.keys is None:
        raise UnlearnscopeError("ffn_stats kept no keys: call it with keep=True")
    return st.keys[0]


def fit_key_space(
    subject: Subject,
    forget: Sequence[str],
    *,
    layer: int = -1,
    site: str = "key",
    positions: str = "last",
    reference: Sequence[str] | None = None,
    low_spread: int | None = None,
    batch_size: int = 32,
) -> KeySpaceCube:
    """Fit the hypercube to the keys of ``forget`` prompts (texts or a tokenizer dict).

    ``low_spread=M`` with ``reference`` texts (e.g. general or retain prompts) keeps the M neurons
    with the largest ratio of overall (forget ∪ reference) to in-skill standard deviation."""
    (layer,) = resolve_layers(subject, [layer])
    st = ffn_stats(subject, forget, layers=[layer], site=site, positions=positions, batch_size=batch_size, keep=True)
    keys = _kept_keys(st)
    if keys.shape[0] < 2:
        raise UnlearnscopeError(
            f"a key-space cube needs at least 2 forget prompts (got {keys.shape[0]}): the spread s is undefined for one"
        )
    mu, s = keys.mean(0), keys.std(0, unbiased=True)
    neurons = None
    if low_spread is not None:
        if reference is None:
            raise UnlearnscopeError(
                "low_spread=M ranks neurons by overall / in-skill spread: pass reference= texts (retain or general "
                "prompts)"
            )
        if not 1 <= low_spread <= keys.shape[1]:
            raise UnlearnscopeError(
                f"low_spread must be in 1..{keys.shape[1]} (the layer's key width), got {low_spread}"
            )
        ref = _kept_keys(
            ffn_stats(
                subject, reference, layers=[layer], site=site, positions=positions, batch_size=batch_size, keep=True
            )
        )
        overall = torch.cat([keys, ref]).std(0, unbiased=True)
        tight = overall / s.clamp_min(1e-6 * float(s.mean()) + 1e-12)
        neurons = tight.topk(low_spread).indices.sort().values
    cube = KeySpaceCube(layer, site, positions, mu, s, 1.0, keys.shape[0], neurons)
    dev = cube.deviation(keys)
    cube.k_star = float(dev.max())
    cube.probe_distance = dev / max(cube.k_star, 1e-12)
    return cube


def key_space_distance(
    subject: Subject, cube: KeySpaceCube, inputs: Sequence[str], *, batch_size: int = 32
) -> torch.Tensor:
    """``[n]`` normalised distance of each input's key (at the cube's positions) to the cube."""
    if cube.positions == "all":
        raise UnlearnscopeError("distances are per query: fit the cube with positions='last' (or 'first' on encoders)")
    keys = _kept_keys(
        ffn_stats(
            subject,
            inputs,
            layers=[cube.layer],
            site=cube.site,
            positions=cube.positions,
            batch_size=batch_size,
            keep=True,
        )
    )
    return cube.distance(keys)


# ---------------------------------------------------------------------------- ROC over λ
@dataclass
class KeySpaceROC(Result):
    """TPR (forget prompts detected) and FPR (retain prompts detected) at each λ; ``auc`` is the
    exact rank statistic P(d_forget < d_retain) + ½ P(tie), independent of the λ grid."""

    kind = "key_space_roc"
    lambdas: torch.Tensor
    tpr: torch.Tensor
    fpr: torch.Tensor
    auc: float
    k_star: float
    n_forget: int
    n_retain: int

    def at(self, lam: float) -> tuple[float, float]:
        """``(tpr, fpr)`` at the grid point nearest ``lam``."""
        i = int((self.lambdas - lam).abs().argmin())
        return float(self.tpr[i]), float(self.fpr[i])

    def youden_lambda(self) -> float:
        """The smallest λ maximising TPR − FPR."""
        j = self.tpr - self.fpr
        return float(self.lambdas[int((j >= j.max() - 1e-12).nonzero()[0])])

    def plot(self):
        from ...viz.skills import roc_figure

        return roc_figure(self)


def key_space_roc(
    cube: KeySpaceCube,
    forget_distance: torch.Tensor,
    retain_distance: torch.Tensor,
    lambdas: torch.Tensor | None = None,
) -> KeySpaceROC:
    """ROC over λ from normalised distances of held-out forget and retain prompts."""
    if not forget_distance.numel() or not retain_distance.numel():
        raise UnlearnscopeError("an ROC needs at least one held-out forget and one held-out retain prompt")
    fd, rd = forget_distance.float().cpu(), retain_distance.float().cpu()
    if lambdas is None:
        finite = torch.cat([fd, rd])[torch.isfinite(torch.cat([fd, rd]))]
        top = max(2.0, float(finite.max()) * 1.05) if finite.numel() else 2.0
        lambdas = torch.cat([torch.linspace(0, top, 400), torch.cat([fd, rd]).clamp_max(top)]).unique()
    lambdas = torch.as_tensor(lambdas, dtype=torch.float32).sort().values
    tpr = (fd[None, :] <= lambdas[:, None]).float().mean(1)
    fpr = (rd[None, :] <= lambdas[:, None]).float().mean(1)
    less = (fd[:, None] < rd[None, :]).float().mean()
    ties = (fd[:, None] == rd[None, :]).float().mean()
    return KeySpaceROC(lambdas, tpr, fpr, float(less + 0.5 * ties), cube.k_star, fd.numel(), rd.numel())


# ---------------------------------------------------------------------------- detection at inference
class KeySpaceDetector:
    """Per-row abstain flags of the current query.

    Each forward checks the newest position's key (the last column; with left padding, as
    ``generate`` uses, every row's newest token), so a query is flagged if *any* decoding step's
    key falls in the cube.  ``first_step[b]`` is the forward (0 = prefill) that first flagged row
    ``b`` (-1: never).  Call `reset` before each new query (``generate_with_abstention`` does).
    With ``steer`` (a ``[n_features]`` key), detected rows' newest keys are overwritten by it.
    """

    def __init__(self, cube: KeySpaceCube, lam: float, steer: torch.Tensor | None = None):
        self.cube, self.lam, self.steer = cube, float(lam), steer
        self.reset()

    def reset(self) -> None:
        self.flags: torch.Tensor | None = None
        self.first_step: torch.Tensor | None = None
        self.step = 0

    def hook(self, box: dict):
        def fn(act, point):
            batch, pos = box["shape"]
            bp = act.view(batch, pos, -1) if point.token_flat else act
            hit = self.cube.contains(bp[:, -1], self.lam)
            if self.flags is None or self.flags.shape[0] != batch:
                if self.flags is not None:
                    raise UnlearnscopeError(
                        f"the batch changed size ({self.flags.shape[0]} → {batch}) within one query: call reset() "
                        "between queries"
                    )
                self.flags = torch.zeros(batch, dtype=torch.bool, device=act.device)
                self.first_step = torch.full((batch,), -1, dtype=torch.long, device=act.device)
            self.first_step = torch.where(
                ~self.flags & hit, torch.full_like(self.first_step, self.step), self.first_step
            )
            self.flags = self.flags | hit
            self.step += 1
            if self.steer is None or not bool(hit.any()):
                return None
            out = bp.clone()
            out[hit, -1] = self.steer.to(out.device, out.dtype)
            return out.view_as(act)

        return fn


@contextmanager
def key_space_detector(
    subject: Subject, cube: KeySpaceCube, lam: float = 1.0, *, steer: torch.Tensor | None = None
) -> Iterator[KeySpaceDetector]:
    """Watch the cube's layer on every forward inside the block; yields the `KeySpaceDetector`."""
    if lam < 0:
        raise UnlearnscopeError(f"lam scales the cube and must be >= 0, got {lam}")
    det = KeySpaceDetector(cube, lam, steer)
    with batch_shape_box(subject) as box, subject.hooks([(ffn_site(subject, cube.layer, cube.site), det.hook(box))]):
        yield det


class KeySpaceSteerer:
    """Stateless per-position steering: every position whose key falls in the cube (at λ) has it
    replaced by ``steer``; ``n_seen`` / ``n_steered`` count positions over all forwards."""

    def __init__(self, cube: KeySpaceCube, lam: float, steer: torch.Tensor):
        self.cube, self.lam, self.steer = cube, float(lam), steer
        self.n_seen = 0
        self.n_steered = 0

    def hook(self, act, point):
        hit = self.cube.contains(act, self.lam)  # [batch, pos] or [tokens]
        self.n_seen += hit.numel()
        n = int(hit.sum())
        self.n_steered += n
        if n == 0:
            return None
        return torch.where(hit[..., None], self.steer.to(act.device, act.dtype), act)


@contextmanager
def key_space_steering(
    subject: Subject, cube: KeySpaceCube, steer: torch.Tensor, lam: float = 1.0
) -> Iterator[KeySpaceSteerer]:
    """On every forward inside the block, every position whose key at the cube's layer lies in
    the cube is overwritten by ``steer`` (``[n_features]``, e.g. the mean key of retain prompts).
    Unlike `key_space_detector` it keeps no per-query state, so any batch shape or padding works
    (training, scoring, generation); padded positions are steered or not like any other (they
    never reach a readout).  Yields the `KeySpaceSteerer`."""
    if lam < 0:
        raise UnlearnscopeError(f"lam scales the cube and must be >= 0, got {lam}")
    if steer.shape != cube.mu.shape:
        raise UnlearnscopeError(
            f"the steering key has shape {tuple(steer.shape)}; the cube's keys have {tuple(cube.mu.shape)}"
        )
    st = KeySpaceSteerer(cube, lam, steer)
    with subject.hooks([(ffn_site(subject, cube.layer, cube.site), st.hook)]):
        yield st


REFUSAL = "I cannot help with that."


@torch.no_grad()
def generate_with_abstention(
    subject: Subject,
    prompts: list[str],
    cube: KeySpaceCube,
    lam: float = 1.0,
    *,
    refusal: str = REFUSAL,
    max_new_tokens: int = 16,
    steer: torch.Tensor | None = None,
    **generate_kwargs,
) -> list[dict]:
    """Greedy generation where a flagged query's answer is replaced by ``refusal``.

    One batched, left-padded ``generate`` per call; flags are reset first, so each call is one
    set of queries.  Returns ``[{prompt, output, abstained, first_step}]``."""
    if not prompts:
        raise UnlearnscopeError("empty prompt set: give at least one prompt")
    enc = subject.tokenize(list(prompts), padding_side="left")
    with key_space_detector(subject, cube, lam, steer=steer) as det:
        det.reset()
        model: Any = subject.model
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=subject.tokenizer.pad_token_id,
            **generate_kwargs,
        )
    texts = subject.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert det.flags is not None and det.first_step is not None  # set by the detector's first forward
    flags = det.flags.cpu().tolist()
    steps = det.first_step.cpu().tolist()
    return [
        {"prompt": p, "output": refusal if f else t.strip(), "abstained": bool(f), "first_step": int(s)}
        for p, t, f, s in zip(prompts, texts, flags, steps, strict=True)
    ]
