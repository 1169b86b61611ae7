"""Entity-level statistics: per-entity means, cluster bootstrap CIs, paired RKI resampling.

The unit of analysis is the entity (``docs/verify.md``): item-level values are first averaged
per entity, then entities are resampled with replacement (``n_boot`` ≥ 2,000 by default).  The
same resampled entity indices are used for every model, so differences and ratios are paired.
CIs are percentile intervals.
"""

from __future__ import annotations

import math
import warnings

import torch

from ..errors import UnlearnscopeError


class FewEntitiesWarning(UserWarning):
    """Too few entities for a meaningful confidence interval."""


def per_entity(values: torch.Tensor, entities: list[str], order: list[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """Mean of ``values [..., rows]`` per entity → ``(names, [..., n_entities])`` (names sorted,
    or in ``order``)."""
    if values.shape[-1] != len(entities):
        raise UnlearnscopeError(f"{values.shape[-1]} values but {len(entities)} entity labels")
    names = list(order) if order is not None else sorted(set(entities))
    index = {e: i for i, e in enumerate(names)}
    missing = sorted(set(entities) - set(index))
    if missing:
        raise UnlearnscopeError(f"entities {missing[:5]} are not in the requested order")
    idx = torch.tensor([index[e] for e in entities], device=values.device)
    sums = torch.zeros(*values.shape[:-1], len(names), device=values.device, dtype=torch.float64)
    sums.index_add_(-1, idx, values.double())
    counts = torch.bincount(idx, minlength=len(names)).to(sums)
    if (counts == 0).any():
        raise UnlearnscopeError(f"entities without values: {[n for n, c in zip(names, counts.tolist(), strict=True) if c == 0][:5]}")
    return names, (sums / counts).float()


def bootstrap_indices(n: int, n_boot: int = 2000, seed: int = 0) -> torch.Tensor:
    """``[n_boot, n]`` entity indices drawn with replacement (seeded)."""
    if n < 1:
        raise UnlearnscopeError("bootstrap needs at least one entity")
    g = torch.Generator().manual_seed(seed)
    return torch.randint(n, (n_boot, n), generator=g)


def percentile_ci(samples: torch.Tensor, level: float = 0.95) -> tuple[float | None, float | None]:
    s = samples[torch.isfinite(samples)]
    if s.numel() == 0:
        return None, None
    a = (1 - level) / 2
    q = torch.quantile(s.double(), torch.tensor([a, 1 - a], dtype=torch.float64))
    return float(q[0]), float(q[1])


def mean_ci(values: torch.Tensor, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """``(mean, lo, hi)`` of per-entity ``values [n]`` by cluster bootstrap."""
    v = values.double().cpu()
    idx = bootstrap_indices(len(v), n_boot, seed)
    lo, hi = percentile_ci(v[idx].mean(1), level)
    return float(v.mean()), lo, hi


def rki_samples(orig: torch.Tensor, unl: torch.Tensor, ref: torch.Tensor, idx: torch.Tensor, min_gap: float) -> torch.Tensor:
    """RKI of each bootstrap resample ``[n_boot]`` (NaN where ``|ORIG − REF| < min_gap``)."""
    o, u, r = (x.double().cpu()[idx].mean(1) for x in (orig, unl, ref))
    den = o - r
    out = (u - r) / den
    return torch.where(den.abs() >= min_gap, out, torch.full_like(out, float("nan")))


def entities_needed(n: int, halfwidth: float, target: float) -> int:
    """Entities needed for a CI half-width of ``target`` when ``n`` entities gave ``halfwidth``
    (CI width shrinks as 1/√n)."""
    if halfwidth <= 0 or target <= 0:
        return n
    return int(math.ceil(n * (halfwidth / target) ** 2))


def warn_few_entities(what: str, n: int, minimum: int, halfwidth: float | None = None, target: float = 0.1) -> str | None:
    """Warn (and return the message) when ``n < minimum`` entities back a CI."""
    if n >= minimum:
        return None
    extra = ""
    if halfwidth is not None and halfwidth > 0:
        extra = f"; the CI half-width is {halfwidth:.2f}, and about {max(minimum, entities_needed(n, halfwidth, target))} entities are needed for ±{target}"
    msg = f"{what}: only {n} entities, too few for a meaningful confidence interval (use at least {minimum}){extra}"
    warnings.warn(msg, FewEntitiesWarning, stacklevel=3)
    return msg
