"""Probes: batched linear probes with controls, and the logit lens.

from unlearnscope.probes import probe_model, ProbeConfig, fit_probes, logit_lens
"""

from .linear import MODES, ProbeConfig, ProbeRun, probe_model, random_init_like, run_probes
from .solvers import LinearProbes, fit_probes

__all__ = [
    "MODES",
    "LinearProbes",
    "ProbeConfig",
    "ProbeRun",
    "fit_probes",
    "probe_model",
    "random_init_like",
    "run_probes",
]
