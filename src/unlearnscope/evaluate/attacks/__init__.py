"""The attacks (adversarial readouts) and attributions, one module each, registered in the
verification's order: relearning, the prompt attacks (in-context demos, reintroduction, held-out
formats), the white-box attacks (direction ablation, quantization, component revert, router
restoration) and the relearning sweep over an attacker's budget."""

import importlib

from .. import readouts  # noqa: F401  (the readouts register first, whichever package is imported first)

MODULES = (
    "relearn",
    "incontext",
    "reintroduce",
    "formats",
    "direction_ablation",
    "quant",
    "component_revert",
    "router_restore",
    "sweep",
)  # registration order: the verification's order
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")  # each module registers its attack
