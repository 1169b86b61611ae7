"""What every audit plan shares: the `Plan` record `run.execute` loops over, the context handed
to each method, the report directory check, the organism sources and the stage log."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import UnlearnscopeError
from .config import AuditConfig


@dataclass
class AuditContext:
    """What a method sees: the config, the target, ORIG, the localization made on it and the
    unlearning seed of this run."""

    config: AuditConfig
    target: object
    original: object
    localization: dict
    progress: bool = True
    seed: int = 0


@dataclass
class Plan:
    """What differs between targets; `run.execute` runs the shared loop over it."""

    name: str
    out: Path  # checked writable before any expensive step
    target: object
    fresh: Callable[[], object]  # a fresh copy of ORIG
    original: object
    references: list  # never-knew models (REF first, then REFs of other weight seeds); empty: no verdict
    methods: list
    localization: dict  # handed to the methods (AuditContext.localization)
    verify_config: object
    verify_kwargs: Callable[[str, dict], dict]  # (method, its info) -> extra verify_facts kwargs
    sections: dict  # extra report sections (localization validity, ...)
    noise_items: list = field(default_factory=list)  # NOISE training data, disjoint from every evaluated set
    noise_data: str = "held-out data"  # what noise_items are, in words
    hold: Callable[[object, dict], object] | None = None  # (subject, info) -> context kept open while verifying (inference-time)
    evaluate: Callable[[object], dict] | None = None  # behaviour table (organisms)
    organism: object | None = None
    after_interventions: Callable[[dict], dict] | None = None  # interventions -> more report sections
    faithfulness: object | None = None  # FaithfulnessTable of the organism's metaeval (None: not meta-evaluated)
    output_data: object | None = None  # what the output metrics read (evaluate.output_metrics.OutputData); None: not computed
    output_why: str = "this target has no question/answer facts for the field's output metrics"
    checkpoints: list = field(default_factory=list)  # unlearned checkpoints made elsewhere (checkpoints.Checkpoint), checked against ORIG
    residency: object | None = None  # model.residency.Residency (set by run.execute; it moves nothing on CPU)


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
        raise UnlearnscopeError(f"cannot write the report into {out}: {err.strerror or err} — choose another --out") from err
    finally:
        if probe is not None and probe.exists():
            probe.unlink()
    if out.exists() and not out.is_dir():
        raise UnlearnscopeError(f"cannot write the report into {out}: it is a file, not a directory — choose another --out")


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
    from ..model.load import load
    from ..organisms import build, organism_size

    size = cfg.size or organism_size()
    stage(log, f"organism {name} (size {size}, seed {cfg.seed}): build or load, {cfg.n_references} never-knew models")
    org = build(name, size, cfg.seed, progress=False, log=lambda m: log(f"  {m}"))
    kw = {"device": cfg.device, "dtype": cfg.dtype}
    refs = [load(org.variant_path(v, log=lambda m: log(f"  {m}")), **reference_placement(kw)) for v in org.references(cfg.n_references)]
    return org, (lambda: org.load("orig", **kw)), refs
