"""The model layer: load, anatomy adapters, canonical hooks, capture, interventions and edits."""

from .anatomy import Anatomy, ParamSlice
from .capture import ActivationCache, capture, run_with_cache
from .edits import EditPatch, Edits, export_model
from .hooks import hooks
from .interventions import add, intervene, mean_of, replace, scale, zero
from .load import load
from .subject import Subject

__all__ = [
    "ActivationCache", "Anatomy", "EditPatch", "Edits", "ParamSlice", "Subject", "add", "capture",
    "export_model", "hooks", "intervene", "load", "mean_of", "replace", "run_with_cache", "scale", "zero",
]
