"""Checks that a localization means something: agreement between methods, and random controls.

* `agreement`: Spearman ρ between two `FactLocalization`s over every (kind, layer, role) cell they
  share — e.g. attribution patching vs activation patching (stored in both results' ``validation``).
* `validate_facts`: the random-control test at unit level (`units.random_control`) for the top
  ``n_units`` units by attribution patching, stored in the localization's ``validation``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import UnlearnscopeError
from ..ranking import spearman
from .effects import FactLocalization
from .units import RandomControl, random_control, unit_attribution

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


def agreement(x: FactLocalization, y: FactLocalization) -> float:
    kinds = [k for k in x.kinds if k in y.kinds]
    roles = [r for r in x.roles if r in y.roles]
    if not kinds or not roles:
        raise UnlearnscopeError("the two localizations share no (kind, role) cells")
    sel = lambda loc: loc.effects[[loc.kinds.index(k) for k in kinds]][:, :, [loc.roles.index(r) for r in roles]]
    rho = spearman(sel(x), sel(y))
    x.validation[f"spearman_vs_{y.method}"] = rho
    y.validation[f"spearman_vs_{x.method}"] = rho
    return rho


def validate_facts(
    subject: Subject,
    loc: FactLocalization,
    facts: FactsLike,
    unrelated: FactsLike | None = None,
    *,
    n_units: int = 20,
    n_random: int = 100,
    seed: int = 0,
) -> RandomControl:
    """Unit-level random control for ``facts``; returns the `RandomControl` and stores its numbers."""
    scores = unit_attribution(subject, facts, seed=seed)
    top = scores.top(n_units)
    rc = random_control(subject, [(l, k, j) for l, k, j, _ in top], facts, unrelated, n_random=n_random, seed=seed)
    loc.validation["random_control"] = {k: v for k, v in rc.to_dict().items() if not k.startswith("random_")}
    return rc
