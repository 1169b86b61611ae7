"""Anatomy adapter tables, one module per family.  Importing this package registers them all."""

from . import bert, gpt2, llama, moe, neox  # noqa: F401  (registration side effects)
from .base import Family, MoETable, Site, family_for, register_family, supported_model_types

__all__ = ["Family", "MoETable", "Site", "family_for", "register_family", "supported_model_types"]
