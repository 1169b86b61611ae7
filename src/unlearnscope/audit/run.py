"""The main job: localize → intervene with each method → verify → report, on one target.

    from unlearnscope.audit import load_config, run_audit
    result = run_audit(load_config(quick=True), out="reports/facts-forget")
    result.report["verdict_table"], result.html_path

Every method starts from a fresh copy of ORIG; every verification measures ORIG, REF and the NOISE
drift floor with the same protocol; the report is written atomically (both files or neither).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..errors import UnlearnscopeError
from .config import AuditConfig


@dataclass
class AuditContext:
    config: AuditConfig
    target: object
    original: object
    localization: dict
    progress: bool = True


@dataclass
class AuditResult:
    report: dict
    html_path: Path
    json_path: Path

    def summary(self) -> dict:
        """The CLI's JSON contract: report paths and one verdict row per method."""
        pick = lambda r: None if r is None else r.get("value")  # noqa: E731
        return {"report_html": str(self.html_path), "report_json": str(self.json_path), "name": self.report["name"],
                "verdicts": [{"method": r["method"], "verdict": r["verdict"], "knowledge_verdict": r.get("knowledge_verdict"),
                              "behavioural_rki": pick(r["behavioural_rki"]), "intrinsic_rki": pick(r["intrinsic_rki"]),
                              "adversarial_rki": pick(r["adversarial_rki"]), "locality": pick(r["locality"])}
                             for r in self.report["verdict_table"]]}


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


def versions() -> dict:
    import torch
    import transformers

    from .. import __version__

    return {"unlearnscope": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine()}


def provenance(cfg: AuditConfig, original, reference, noise, target, extra: dict | None = None) -> dict:
    v = cfg.verify
    return {"model": cfg.model or f"organism:{cfg.organism}", "original_fingerprint": original.fingerprint(),
            "reference_fingerprint": reference.fingerprint() if reference is not None else None,
            "noise_fingerprint": noise.fingerprint() if noise is not None else None,
            "device": str(original.device), "dtype": str(next(original.model.parameters()).dtype).replace("torch.", ""),
            "seeds": {"audit": cfg.seed, "probes": list(v.probe_seeds), "relearn": list(v.relearn.seeds), "bootstrap": v.verdict.seed},
            "target": target.manifest(), "versions": versions(), "command": " ".join(sys.argv) or None, **(extra or {})}


def _stage(log, name: str):
    log(f"[audit] {time.strftime('%H:%M:%S')} {name}")


def run_audit(config: AuditConfig, *, out: str | os.PathLike | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> AuditResult:
    """Run the audit ``config`` describes and write ``out/report.html`` + ``report.json``
    (default ``reports/<name>``)."""
    from transformers.utils import logging as hf_logging

    cfg = config.validate()
    log = log or (lambda m: print(m, file=sys.stderr))
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights" bars for every model copy are noise here
    try:
        if cfg.kind == "moe":
            from .moe import moe_plan

            plan = moe_plan(cfg, out, log)
        else:
            plan = facts_plan(cfg, out, log)
        return execute(cfg, plan, progress=progress, log=log)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def organism_sources(cfg: AuditConfig, name: str, log):
    """``(organism, fresh ORIG loader, REF)`` for the organism ``name`` at the config's size and seed."""
    from ..organisms import build

    size = cfg.size or os.environ.get("UNLEARNSCOPE_ORGANISM_SIZE", "default")
    _stage(log, f"organism {name} (size {size}, seed {cfg.seed}): build or load")
    org = build(name, size, cfg.seed, progress=False, log=lambda m: log(f"  {m}"))
    kw = {"device": cfg.device, "dtype": cfg.dtype}
    return org, (lambda: org.load("orig", **kw)), org.load("ref", **kw)


def _sources(cfg: AuditConfig, log):
    """``(fresh ORIG loader, ORIG, REF or None, target, organism or None)``."""
    if cfg.model is None:
        from .target import organism_target

        org, fresh, reference = organism_sources(cfg, cfg.organism, log)
        return fresh, fresh(), reference, organism_target(org), org
    from ..model.load import load
    from .target import load_target

    kw = {"device": cfg.device, "dtype": cfg.dtype}
    fresh = lambda: load(cfg.model, **kw)  # noqa: E731
    original = fresh()
    reference = load(cfg.reference, **kw) if cfg.reference else None
    return fresh, original, reference, load_target(cfg.target, original), None


@dataclass
class Plan:
    """What differs between targets; `execute` runs the shared loop over it."""

    name: str
    out: Path  # checked writable before any expensive step
    target: object
    fresh: Callable[[], object]  # a fresh copy of ORIG
    original: object
    reference: object | None
    methods: list
    localization: dict  # handed to the methods (AuditContext.localization)
    verify_config: object
    verify_kwargs: Callable[[str, dict], dict]  # (method, its info) -> extra verify_facts kwargs
    sections: dict  # extra report sections (R1 localization, ...)
    noise_data: str = "retain facts"
    hold: Callable[[object, dict], object] | None = None  # (subject, info) -> context kept open while verifying
    evaluate: Callable[[object], dict] | None = None  # behaviour table (organisms)
    organism: object | None = None
    after_interventions: Callable[[dict], dict] | None = None  # interventions -> more report sections


def report_dir(out, name: str) -> Path:
    """``out`` (default ``reports/<name>``), checked writable now — before hours of work."""
    path = Path(out) if out is not None else Path("reports") / name
    check_writable(path)
    return path


def execute(cfg: AuditConfig, plan: Plan, *, progress: bool, log) -> AuditResult:
    """Intervene with every method on a fresh copy of ORIG, build NOISE, verify, write the report."""
    import contextlib
    from dataclasses import asdict

    from ..evaluate import MeasurementCache, verify_facts
    from ..report import build_report, write_report
    from .methods import timed
    from .noise import drift_floor

    out = plan.out
    target = plan.target
    ctx = AuditContext(cfg, target, plan.original, plan.localization, progress)
    edited, interventions = {}, {}
    for m in plan.methods:
        _stage(log, f"intervene: {m.name}")
        subject = plan.fresh()
        interventions[m.name] = timed(m, ctx, subject)
        edited[m.name] = subject
    sections = dict(plan.sections)
    if plan.after_interventions is not None:
        sections.update(plan.after_interventions(interventions))
    noise, noise_info = None, None
    if cfg.noise:
        steps = [i["unlearning"]["steps"] for i in interventions.values() if "unlearning" in i]
        n_steps = max(steps) if steps else max(1, cfg.max_steps // 4)
        _stage(log, f"NOISE drift floor: ORIG fine-tuned on {plan.noise_data}, {n_steps} steps at lr {cfg.full_lr}")
        noise = plan.fresh()
        noise_info = drift_floor(noise, target.retain_items, steps=n_steps, lr=cfg.full_lr, batch_size=cfg.batch_size, seed=cfg.seed)
    behaviour = None
    if plan.evaluate is not None:
        behaviour = {"original": plan.evaluate(plan.original), **({"reference": plan.evaluate(plan.reference)} if plan.reference else {}),
                     **({"noise": plan.evaluate(noise)} if noise is not None else {})}
    runs, cache = {}, MeasurementCache()  # ORIG / REF / NOISE measured once for all methods
    for name, subject in edited.items():
        _stage(log, f"verify: {name}")
        info = interventions[name]
        with plan.hold(subject, info) if plan.hold else contextlib.nullcontext():
            if behaviour is not None:
                behaviour[name] = plan.evaluate(subject)
            runs[name] = verify_facts(subject, target.forget, target.retain, original=plan.original, reference=plan.reference, noise=noise,
                                      formats=target.formats, incontext_pool=target.incontext_pool, restatements=target.restatements,
                                      config=plan.verify_config, cache=cache, **plan.verify_kwargs(name, info))
        edited[name] = None  # free the copy
    cache.clear()
    org = plan.organism
    prov = provenance(cfg, plan.original, plan.reference, noise, target, {"organism": org.describe() if org is not None else None})
    sections.update(interventions=interventions, noise=noise_info, **({"behaviour": behaviour} if behaviour else {}))
    report = build_report(plan.name, runs, provenance=prov, config={**cfg.to_dict(), "verify": asdict(plan.verify_config)}, sections=sections)
    _stage(log, f"write {out}")
    html_path, json_path = write_report(report, out)
    return AuditResult(report, html_path, json_path)


def facts_plan(cfg: AuditConfig, out, log) -> Plan:
    """Facts (organism or a user's target file): located components and value vectors."""
    from ..ablate import ComponentSet
    from .localize import localize_target
    from .methods import FACT_METHODS, check_methods

    methods = check_methods(cfg.method_names, FACT_METHODS)
    fresh, original, reference, target, org = _sources(cfg, log)
    name = cfg.name or target.name
    out = report_dir(out, name)
    vcfg = cfg.verify if cfg.verify.bos is not None or target.bos is None else replace(cfg.verify, bos=target.bos)
    _stage(log, f"localize on ORIG ({len(target.forget)} forget facts, {len(target.retain)} retain)")
    a = original.anatomy
    max_vectors = max(cfg.top_vectors, int(cfg.max_vectors_share * a.n_layers * a.d_mlp))
    loc = localize_target(original, target, top_components=cfg.top_components, top_vectors=cfg.top_vectors, n_random=cfg.n_random,
                          seed=cfg.seed, max_vectors=max_vectors)
    vectors = [(v["layer"], v["neuron"]) for v in loc["vectors"]]

    def verify_kwargs(name, info):
        region = info.get("region")
        return {"vectors": vectors, "region": ComponentSet.parse(original, region) if region else None}

    return Plan(name, out, target, fresh, original, reference, methods, loc, vcfg, verify_kwargs,
                {"target": "facts", "localization": loc}, organism=org)
