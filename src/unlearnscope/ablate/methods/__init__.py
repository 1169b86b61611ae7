"""Unlearning objectives, one module each, registered in `UNLEARNING_METHODS`.

    from unlearnscope.ablate.methods import UNLEARNING_METHODS
    UNLEARNING_METHODS.names()            # ga, graddiff, npo, simnpo, rmu, log1mp, relabel
    UNLEARNING_METHODS["npo"].paper       # the paper's settings (`UnlearnConfig.paper("npo")`)

A new objective is one module that registers an `UnlearningMethod` (see ``docs/extending.md``);
`UnlearnConfig(method=NAME)` and ``unlearnscope unlearn --method NAME`` then train with it.
"""

import importlib

from .base import UNLEARNING_METHODS, UnlearningMethod, register

MODULES = ("ga", "graddiff", "npo", "simnpo", "rmu", "log1mp", "relabel")  # registration order
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")  # each module registers its objective

__all__ = ["UNLEARNING_METHODS", "UnlearningMethod", "register"]
