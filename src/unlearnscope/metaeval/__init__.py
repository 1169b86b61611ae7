"""Meta-evaluation: how faithful and robust each readout is, on a population of models that know
and never knew (see ``docs/metaeval.md``)."""

from .population import Member
from .run import METAEVAL_VERIFY, MetaEval, MetaEvalConfig, run_metaeval

__all__ = ["METAEVAL_VERIFY", "Member", "MetaEval", "MetaEvalConfig", "run_metaeval"]
