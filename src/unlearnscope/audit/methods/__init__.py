"""The audit's methods, one module each, registered in `AUDIT_METHODS` (see `base`).

    from unlearnscope.audit.methods import AUDIT_METHODS, methods_for
    methods_for("facts")        # ga, graddiff, npo, simnpo, rmu, random-labels, localized, flu, ot, random, ablate, ...
    AUDIT_METHODS["full"].name   # "ga": old names are aliases

A new method is one module that registers an `AuditMethod` (``@audit_method``); ``unlearnscope
audit --methods NAME`` then runs it beside the others (``docs/extending.md``).
"""

import importlib

from .base import AUDIT_METHODS, AuditMethod, audit_method, check_methods, methods_for, register

# registration order: whole-model methods, localized ones, vector edits, then the refusal target's
MODULES = (
    "ga",
    "graddiff",
    "npo",
    "simnpo",
    "rmu",
    "random_labels",
    "localized",
    "budget_matched",
    "ablate_vectors",
    "ablate_localized",
    "needle",
    "experts_off",
    "uoe",
    "uoe_random",
    "na",
    "ksd",
)
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")  # each module registers its methods

__all__ = ["AUDIT_METHODS", "AuditMethod", "audit_method", "check_methods", "methods_for", "register"]
