"""Verify residual knowledge: readouts and attacks on the unlearned models and their references,
RKI with entity-bootstrap CIs, verdicts, parametric traces.

    from unlearnscope.evaluate import ModelSet, VerifyData, VerifyConfig, verify, READOUTS
    v = verify(ModelSet.of(unlearned, original=orig, reference=ref), VerifyData.of(forget, retain))
    READOUTS.names()        # every registered readout and attack, in the verification's order

Names are imported lazily (importing this package does not import torch).
"""

from __future__ import annotations

_LAZY = {
    "READOUTS": "registry",
    "Measurement": "registry",
    "Readout": "registry",
    "readout": "registry",
    "VerifyConfig": "config",
    "VerifyData": "data",
    "ModelSet": "models",
    "MeasurementCache": "cache",
    "weights_digest": "cache",
    "ParametricTraces": "parametric",
    "parametric_traces": "parametric",
    "incontext_facts": "prompt_attacks",
    "RelearnConfig": "relearn",
    "relearn_curves": "relearn",
    "SweepConfig": "sweep",
    "QUICK_SWEEP": "sweep",
    "FULL_SWEEP": "sweep",
    "Metric": "rki",
    "VerdictConfig": "rki",
    "verdict_of": "rki",
    "Verdict": "verdicts",
    "RKI": "verdicts",
    "MetricSummary": "verdicts",
    "Finding": "verdicts",
    "Verification": "verification",
    "verify": "verification",
    "verify_facts": "verification",
    "measure_readouts": "verification",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        if name == "READOUTS":
            module.builtin()
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
