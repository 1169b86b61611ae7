"""Verify residual knowledge: RKI with entity-bootstrap CIs, verdicts, attacks, parametric traces.

    from unlearnscope.evaluate import verify_facts, VerifyConfig, Metric, VerdictConfig, verdict
"""

from .cache import MeasurementCache, weights_digest
from .parametric import ParametricTraces, parametric_traces
from .prompt_attacks import incontext_facts
from .relearn import RelearnConfig, relearn_curves
from .rki import Metric, VerdictConfig, verdict
from .verify import Verification, VerifyConfig, verify_facts

__all__ = ["MeasurementCache", "Metric", "ParametricTraces", "RelearnConfig", "VerdictConfig", "Verification", "VerifyConfig",
           "incontext_facts", "parametric_traces", "relearn_curves", "verdict", "verify_facts", "weights_digest"]
