"""The model layer: load, anatomy adapters, canonical hooks, capture, interventions and edits."""

from .activations import ActivationCache, capture, run_with_cache
from .anatomy import Anatomy, ParamSlice
from .edits import EditPatch, Edits, export_model
from .forward_hooks import hooks
from .interventions import add, intervene, mean_of, replace, scale, zero
from .loading import load
from .subject import Subject

__all__ = [
    "ActivationCache",
    "Anatomy",
    "EditPatch",
    "Edits",
    "ParamSlice",
    "Subject",
    "add",
    "capture",
    "export_model",
    "hooks",
    "intervene",
    "load",
    "mean_of",
    "replace",
    "run_with_cache",
    "scale",
    "zero",
]
