"""The non-attack readouts, one module each, registered in the verification's order:
behaviour (`recall`), locality (`locality`), then the intrinsic readouts (`probes`, `logit_lens`,
`causal_depth`).  Attacks are in `evaluate.attacks`."""

import importlib

MODULES = ("recall", "locality", "probes", "logit_lens", "causal_depth")  # registration order: the verification's order
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")  # each module registers its readouts
