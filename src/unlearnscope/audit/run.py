"""The main job: localize → intervene with each method → verify → report, on one target.

    from unlearnscope.audit import load_config, run_audit
    result = run_audit(load_config(quick=True), out="reports/facts-forget")
    result.report["verdict_table"], result.html_path

Every method starts from a fresh copy of ORIG; every verification measures ORIG, REF and the NOISE
drift floor with the same protocol; the report is written atomically (both files or neither).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .config import AuditConfig
from .facts import facts_plan
from .moe import moe_plan
from .plan import AuditContext, Plan, stage

PLANS: dict[str, Callable] = {"facts": facts_plan, "moe": moe_plan}  # AuditConfig.kind -> plan builder


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
        plan = PLANS[cfg.kind](cfg, out, log)
        return execute(cfg, plan, progress=progress, log=log)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def execute(cfg: AuditConfig, plan: Plan, *, progress: bool, log) -> AuditResult:
    """Intervene with every method on a fresh copy of ORIG, build NOISE, verify, write the report."""
    from ..evaluate import MeasurementCache, verify_facts
    from ..report import build_report, write_report
    from .methods import timed
    from .noise import drift_floor

    out = plan.out
    target = plan.target
    ctx = AuditContext(cfg, target, plan.original, plan.localization, progress)
    edited, interventions = {}, {}
    for m in plan.methods:
        stage(log, f"intervene: {m.name}")
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
        stage(log, f"NOISE drift floor: ORIG fine-tuned on {plan.noise_data}, {n_steps} steps at lr {cfg.full_lr}")
        noise = plan.fresh()
        noise_info = drift_floor(noise, target.retain_items, steps=n_steps, lr=cfg.full_lr, batch_size=cfg.batch_size, seed=cfg.seed)
    behaviour = None
    if plan.evaluate is not None:
        behaviour = {"original": plan.evaluate(plan.original), **({"reference": plan.evaluate(plan.reference)} if plan.reference else {}),
                     **({"noise": plan.evaluate(noise)} if noise is not None else {})}
    runs, cache = {}, MeasurementCache()  # ORIG / REF / NOISE measured once for all methods
    for name, subject in edited.items():
        stage(log, f"verify: {name}")
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
    stage(log, f"write {out}")
    html_path, json_path = write_report(report, out)
    return AuditResult(report, html_path, json_path)
