"""The main job (`unlearnscope audit`): localize → intervene → verify → report on one target."""

from .config import AuditConfig, load_config
from .run import AuditResult, run_audit
from .target import Target, load_target, organism_target

__all__ = ["AuditConfig", "AuditResult", "Target", "load_config", "load_target", "organism_target", "run_audit"]
