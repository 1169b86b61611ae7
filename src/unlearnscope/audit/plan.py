"""What every audit plan shares: the `Plan` `run.execute` loops over (its `Models`), the context
handed to each method, the report directory check, the organism sources and the stage log."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UnlearnscopeError
from .config import AuditConfig

if TYPE_CHECKING:
    from ..evaluate.config import VerifyConfig
    from ..evaluate.faithfulness import FaithfulnessTable
    from ..evaluate.output_metrics import OutputData
    from ..model.residency import Residency
    from ..model.subject import Subject
    from ..organisms import Organism
    from .checkpoints import Checkpoint
    from .methods.base import AuditMethod
    from .target import Target


@dataclass
class AuditContext:
    """What a method sees: the config, the target, ORIG, the localization made on it and the
    unlearning seed of this run."""

    config: AuditConfig
    target: Target
    original: Subject
    localization: dict
    progress: bool = True
    seed: int = 0


@dataclass
class Models:
    """The models an audit measures against: ORIG (and how to get a fresh copy of it to edit), the
    never-knew references (REF first, then REFs of other weight seeds; none: no verdict), the
    checkpoints made elsewhere (checked against ORIG) and the organism they come from, if any."""

    original: Subject
    fresh: Callable[[], Subject]
    references: list[Subject] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    organism: Organism | None = None


@dataclass
class Plan:
    """What differs between targets; `run.execute` runs the shared loop over it.  A target's plan
    (`facts.FactsPlan`, `moe.RefusalPlan`) says, by overriding the methods below, what a method's
    verification reads beside the target, how an inference-time method is held while measured,
    what behaviour table the organism has and which sections the report gets after the runs."""

    name: str
    out: Path  # checked writable before any expensive step
    target: Target
    models: Models
    methods: list[AuditMethod]
    localization: dict  # handed to the methods (AuditContext.localization)
    verify_config: VerifyConfig
    sections: dict  # extra report sections (localization validity, ...)
    faithfulness: FaithfulnessTable | None = None  # the organism's metaeval table (None: not meta-evaluated)
    output_data: OutputData | None = None  # what the output metrics read; None: not computed
    output_why: str = "this target has no question/answer facts for the field's output metrics"
    residency: Residency | None = None  # the memory plan (set by run.execute; it moves nothing on CPU)

    @property
    def original(self) -> Subject:
        return self.models.original

    def verify_extra(self, method: str, info: dict) -> dict:
        """What ``method``'s verification reads beside the target (`Target.verify_data` keywords)."""
        return {}

    def hold(self, subject: Subject, info: dict) -> contextlib.AbstractContextManager | None:
        """The context an inference-time method's model is measured in (``None``: the plan holds none)."""
        return None

    def behaviour(self, subject: Subject) -> dict | None:
        """The organism's behaviour table row for ``subject`` (``None``: this target has none)."""
        return None

    def after_interventions(self, interventions: dict) -> dict:
        """More report sections once every method has run (e.g. localization validity)."""
        return {}


def stage(log, name: str) -> None:
    """One progress line: ``[audit] HH:MM:SS name``; on a `clock.StageClock`, also the start of a timed stage."""
    if hasattr(log, "begin"):
        log.begin(name)
    log(f"[audit] {time.strftime('%H:%M:%S')} {name}")


def check_writable(out: Path) -> None:
    """Fail before hours of work if ``out`` cannot be written (the report itself is atomic)."""
    parent = out.parent
    probe = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".unlearnscope-write-test-{os.getpid()}"
        probe.write_text("")
    except OSError as err:
        raise UnlearnscopeError(
            f"cannot write the report into {out}: {err.strerror or err} — choose another --out"
        ) from err
    finally:
        if probe is not None and probe.exists():
            probe.unlink()
    if out.exists() and not out.is_dir():
        raise UnlearnscopeError(
            f"cannot write the report into {out}: it is a file, not a directory — choose another --out"
        )


def report_dir(out, name: str) -> Path:
    """``out`` (default ``reports/<name>``), checked writable now — before hours of work."""
    path = Path(out) if out is not None else Path("reports") / name
    check_writable(path)
    return path


def reference_placement(kw: dict) -> dict:
    """Load keywords for models that wait off the device (the memory plan): on CPU when the audit
    runs on an accelerator; they are moved in while measured."""
    dev = kw.get("device")
    return {**kw, "device": "cpu"} if dev is not None and str(dev) != "cpu" else kw


def organism_sources(cfg: AuditConfig, name: str, log):
    """``(organism, fresh ORIG loader, never-knew models)`` for the organism ``name`` at the
    config's size and seed: REF and ``n_references − 1`` REFs of other weight seeds."""
    from ..model.loading import load
    from ..organisms import build, organism_size

    size = cfg.size or organism_size()
    stage(log, f"organism {name} (size {size}, seed {cfg.seed}): build or load, {cfg.n_references} never-knew models")
    org = build(name, size, cfg.seed, progress=False, log=lambda m: log(f"  {m}"))
    kw = {"device": cfg.device, "dtype": cfg.dtype}
    refs = [
        load(org.variant_path(v, log=lambda m: log(f"  {m}")), **reference_placement(kw))
        for v in org.references(cfg.n_references)
    ]
    return org, (lambda: org.load("orig", **kw)), refs
