"""Ablate: component sets and static ablations (zero / noise / mean / project out), as reversible edits."""

from .components import ComponentSet, resolve_name
from .static import MODES, ablate

__all__ = ["MODES", "ComponentSet", "ablate", "resolve_name"]
