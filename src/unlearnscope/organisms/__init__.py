"""Model organisms: synthetic worlds with known ground truth and small models trained on them.

    from unlearnscope.organisms import build
    org = build("facts")                     # GPT-2-style; also "facts-llama", "moe"
    orig, ref = org.load("orig"), org.load("ref")
    unlearnscope.load("organism:facts")      # the same ORIG; "organism:facts:ref" for REF

``$UNLEARNSCOPE_ORGANISM_SIZE`` (default ``default``) picks the size ``organism:NAME`` strings use.
"""

from __future__ import annotations

import os

from ..errors import UnlearnscopeError
from .builder import Organism, build, find, list_organisms
from .recipes import RECIPES, get_recipe

__all__ = ["Organism", "RECIPES", "build", "find", "get_recipe", "list_organisms", "resolve_spec", "sized"]


def sized(name: str):
    """The organism ``name`` at ``$UNLEARNSCOPE_ORGANISM_SIZE`` (built quietly on first use)."""
    return build(name, os.environ.get("UNLEARNSCOPE_ORGANISM_SIZE", "default"), progress=False, log=lambda m: None)


def resolve_spec(spec: str, *, progress: bool = True):
    """``organism:NAME[:ref|:orig]`` → the variant's model directory (building it on first use)."""
    parts = spec.split(":")
    if parts[0] != "organism" or len(parts) not in (2, 3) or not parts[1]:
        raise UnlearnscopeError(f"bad organism spec {spec!r}: use organism:NAME or organism:NAME:ref (names: {sorted(RECIPES)})")
    variant = parts[2] if len(parts) == 3 else "orig"
    size = os.environ.get("UNLEARNSCOPE_ORGANISM_SIZE", "default")
    return build(parts[1], size, progress=progress).variant_path(variant)
