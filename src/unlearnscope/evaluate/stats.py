"""Entity-level statistics: per-entity means, cluster bootstrap CIs, paired resampling.

The unit of analysis is the entity (``docs/verify.md``): item-level values are first averaged
per entity, then entities are resampled with replacement (``n_boot`` ≥ 2,000 by default).  The
same resampled entity indices are used for every model, so differences and ratios are paired.
Where a role has several models — unlearning seeds, never-knew references of several weight
seeds, NOISE models — the models are resampled too (`Resamples`), so the CIs hold the
seed-to-seed spread as well as the entities'.  CIs are percentile intervals.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from ..errors import UnlearnscopeError


class FewEntitiesWarning(UserWarning):
    """Too few entities for a meaningful confidence interval."""


def per_entity(
    values: torch.Tensor, entities: list[str], order: list[str] | None = None
) -> tuple[list[str], torch.Tensor]:
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
        raise UnlearnscopeError(
            f"entities without values: {[n for n, c in zip(names, counts.tolist(), strict=True) if c == 0][:5]}"
        )
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


def mean_ci(
    values: torch.Tensor, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float | None, float | None]:
    """``(mean, lo, hi)`` of per-entity ``values [n]`` by cluster bootstrap."""
    v = values.double().cpu()
    idx = bootstrap_indices(len(v), n_boot, seed)
    lo, hi = percentile_ci(v[idx].mean(1), level)
    return float(v.mean()), lo, hi


@dataclass(frozen=True)
class Resamples:
    """Paired bootstrap draws: ``entities [n_boot, n_entities]`` shared by every model and role,
    and per role ``models[role] [n_boot, n_models]`` (that role's models drawn with replacement).
    The entity draws are those of `bootstrap_indices` with the same seed, so one model per role
    gives the plain entity bootstrap."""

    entities: torch.Tensor
    models: dict

    @classmethod
    def draw(cls, n_entities: int, n_models: dict[str, int], n_boot: int = 2000, seed: int = 0) -> Resamples:
        ents = bootstrap_indices(n_entities, n_boot, seed)
        models = {}
        for i, (role, n) in enumerate(sorted(n_models.items())):
            g = torch.Generator().manual_seed(seed + 1 + i)
            models[role] = (
                torch.zeros(n_boot, 1, dtype=torch.long) if n == 1 else torch.randint(n, (n_boot, n), generator=g)
            )
        return cls(ents, models)

    def means(self, role: str, values: torch.Tensor) -> torch.Tensor:
        """``[n_boot]``: each resample's mean of ``values [n_models, n_entities]`` over its drawn
        models and entities."""
        per_model = values.double().cpu()[:, self.entities].mean(-1)  # [n_models, n_boot]
        return per_model.T.gather(1, self.models[role]).mean(1)


def entities_needed(n: int, halfwidth: float, target: float) -> int:
    """Entities needed for a CI half-width of ``target`` when ``n`` entities gave ``halfwidth``
    (CI width shrinks as 1/√n)."""
    if halfwidth <= 0 or target <= 0:
        return n
    return int(math.ceil(n * (halfwidth / target) ** 2))


def warn_few_entities(
    what: str, n: int, minimum: int, halfwidth: float | None = None, target: float = 0.1
) -> str | None:
    """Warn (and return the message) when ``n < minimum`` entities back a CI."""
    if n >= minimum:
        return None
    extra = ""
    if halfwidth is not None and halfwidth > 0:
        extra = (
            f"; the CI half-width is {halfwidth:.2f}, and about "
            f"{max(minimum, entities_needed(n, halfwidth, target))} entities are needed for ±{target}"
        )
    msg = f"{what}: only {n} entities, too few for a meaningful confidence interval (use at least {minimum}){extra}"
    warnings.warn(msg, FewEntitiesWarning, stacklevel=3)
    return msg
