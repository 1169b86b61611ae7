"""The registries organisms are built from: world kinds (`WORLDS`) and organisms (`ORGANISMS`).

A `WorldKind` generates a synthetic world with known ground truth and says how its models are
trained and judged; its module registers it (`facts`, `multidomain`, `concepts`).  An
`OrganismSpec` is a named world at each size (its `Recipe`\\ s), what it is, and which audit target
its ground truth serves (``facts`` or ``refusal``; ``None``: not audited) with that audit's default
methods and learning rates; `recipes` registers the built-in ones.  A new organism is one module
that registers a spec (and, for a new kind of world, its `WorldKind`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..registry import Registry

AuditTarget = Literal["facts", "refusal"]
VARIANTS = ("orig", "ref")  # the two models every organism trains: ORIG and the never-knew REF


@dataclass(frozen=True)
class WorldKind:
    """``generate(world config, seed) -> World``; ``ref_filter(item)``: whether REF trains on it;
    ``quality(model, tokenizer, world)``: per-model quality; ``summary(world, quality, models=,
    tok=, recipe=, seed=, device=)``: organism-level summary and bars; ``train(model, tok, world,
    items, recipe, seed, progress=, desc=)``: the training (default: `train.train_lm` on ``items``)."""

    name: str
    generate: Callable
    ref_filter: Callable
    quality: Callable
    summary: Callable
    train: Callable | None = None


@dataclass(frozen=True)
class OrganismSpec:
    name: str
    description: str
    recipes: dict = field(default_factory=dict)  # size -> Recipe
    audit: AuditTarget | None = None
    audit_methods: tuple[str, ...] = ()  # the audit's default methods on this organism
    audit_lrs: tuple[float, float] = (3e-5, 1e-4)  # (full-model, localized) learning rates that reach the stopping rule


WORLDS: Registry[WorldKind] = Registry("world kind")
ORGANISMS: Registry[OrganismSpec] = Registry("organism")


def register_world(kind: WorldKind) -> WorldKind:
    return WORLDS.register(kind, origin=sys._getframe(1).f_globals.get("__name__"))


def register_organism(spec: OrganismSpec, *, replace: bool = False) -> OrganismSpec:
    return ORGANISMS.register(spec, replace=replace, origin=sys._getframe(1).f_globals.get("__name__"))
