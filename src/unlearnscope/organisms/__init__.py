"""Model organisms: synthetic worlds with known ground truth and small models trained on them.

    from unlearnscope.organisms import build
    org = build("facts")                     # GPT-2-style; also "facts-llama", "moe", "multidomain"
    orig, ref = org.load("orig"), org.load("ref")
    unlearnscope.load("organism:facts")      # the same ORIG; "organism:facts:ref" for REF

``$UNLEARNSCOPE_ORGANISM_SIZE`` (default ``default``) picks the size ``organism:NAME`` specs use.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..data import ModelSpec
from ..errors import UnlearnscopeError
from .behaviour import behaviour_evaluator
from .builder import Organism, build, find, list_organisms
from .recipes import get_recipe
from .registry import ORGANISMS, WORLDS, OrganismSpec, WorldKind, register_organism, register_world
from .truth import ground_truth, organism_items, unlearning_items, world_facts

__all__ = [
    "Organism",
    "ORGANISMS",
    "OrganismSpec",
    "WORLDS",
    "WorldKind",
    "behaviour_evaluator",
    "build",
    "find",
    "get_recipe",
    "ground_truth",
    "list_organisms",
    "model_path",
    "organism_items",
    "organism_size",
    "sized",
    "unlearning_items",
    "register_organism",
    "register_world",
    "world_facts",
]


def organism_size() -> str:
    """The size ``organism:NAME`` specs build: ``$UNLEARNSCOPE_ORGANISM_SIZE`` or ``default``."""
    return os.environ.get("UNLEARNSCOPE_ORGANISM_SIZE", "default")


def sized(name: str, *, progress: bool = False) -> Organism:
    """The organism ``name`` at `organism_size` (built quietly on first use)."""
    return build(name, organism_size(), progress=progress, log=lambda m: None)


def model_path(spec: str | ModelSpec, *, progress: bool = True) -> Path:
    """``organism:NAME[:orig|:ref|:origN|:refN]`` → that variant's model directory (building it on first use)."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    if not spec.is_organism:
        raise UnlearnscopeError(
            f"{spec} does not name an organism: use organism:NAME or organism:NAME:ref (names: "
            f"{', '.join(ORGANISMS.names())})"
        )
    get_recipe(spec.name, organism_size())
    return build(spec.name, organism_size(), progress=progress).variant_path(spec.variant or "orig", progress=progress)
