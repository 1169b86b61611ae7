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
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..progress import progress_enabled
from .clock import StageClock
from .config import AuditConfig
from .facts import facts_plan
from .methods.base import runs_summary
from .moe import moe_plan
from .plan import AuditContext, Plan, check_writable, stage

PLANS: dict[str, Callable] = {"facts": facts_plan, "refusal": moe_plan}  # AuditConfig.target_kind -> plan builder


@dataclass
class AuditResult:
    report: dict
    html_path: Path
    json_path: Path

    def summary(self) -> dict:
        """The CLI's JSON contract: report paths and one verdict row per method."""
        pick = lambda r: None if r is None else r.get("value")
        return {
            "report_html": str(self.html_path),
            "report_json": str(self.json_path),
            "name": self.report["name"],
            "verdicts": [
                {
                    "method": r["method"],
                    "verdict": r["verdict"],
                    "knowledge_verdict": r.get("knowledge_verdict"),
                    "behavioural_rki": pick(r["behavioural_rki"]),
                    "intrinsic_rki": pick(r["intrinsic_rki"]),
                    "adversarial_rki": pick(r["adversarial_rki"]),
                    "locality": pick(r["locality"]),
                    **{k: r.get(k) for k in ("seeds", "stability", "missing_readouts", "intervention")},
                    "source": r.get("source", "method"),
                }
                for r in self.report["verdict_table"]
            ],
        }


def versions() -> dict:
    import torch
    import transformers

    from .. import __version__

    return {
        "unlearnscope": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def provenance(cfg: AuditConfig, plan: Plan, extra: dict | None = None) -> dict:
    v, original = cfg.verify, plan.original
    return {
        "model": cfg.model or f"organism:{cfg.organism}",
        "original_fingerprint": original.fingerprint(),
        "reference_fingerprints": [r.fingerprint() for r in plan.models.references],
        "device": str(original.device),
        "dtype": str(next(original.model.parameters()).dtype).replace("torch.", ""),
        "seeds": {
            "audit": cfg.seed,
            "unlearning": list(cfg.unlearning_seeds),
            "probes": list(v.setting("probe").seeds),
            "relearn": list(v.setting("relearn").seeds),
            "bootstrap": v.rules.seed,
        },
        "target": plan.target.manifest(),
        "versions": versions(),
        "command": " ".join(sys.argv) or None,
        **(extra or {}),
    }


def run_audit(
    config: AuditConfig,
    *,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> AuditResult:
    """Run the audit ``config`` describes and write ``out/report.html`` + ``report.json``
    (default ``reports/<name>``)."""
    from transformers.utils import logging as hf_logging

    cfg = config.validate()
    check_writable(
        Path(out) if out is not None else Path("reports") / (cfg.name or "report")
    )  # before any model is built or loaded
    log = StageClock(log or (lambda m: print(m, file=sys.stderr)))
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights" bars for every model copy are noise here
    try:
        with progress_enabled(progress):
            plan = PLANS[cfg.target_kind](cfg, out, log)
            return execute(cfg, plan, progress=progress, log=log)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _run_method(method, ctx: AuditContext, plan: Plan, seeds, log) -> tuple[list, list[dict]]:
    """The method on a fresh copy of ORIG per seed (once if deterministic): ``(models, infos)``."""
    from .methods.base import timed

    subjects, infos = [], []
    for s in seeds[:1] if method.deterministic else seeds:
        stage(log, f"intervene: {method.name}" + ("" if method.deterministic else f", seed {s}"))
        subject = plan.models.fresh()
        infos.append(timed(method, replace(ctx, seed=s), subject))
        subjects.append(subject)
        plan.residency.park(subject)  # the memory plan: trained copies wait on CPU until measured
    return subjects, infos


def _noise(method, ctx: AuditContext, plan: Plan, infos, log):
    """The method's NOISE control on a fresh copy of ORIG: ``(model, info)``."""
    stage(log, f"NOISE for {method.name}: the same change aimed at nothing ({plan.target.noise_source})")
    noise = plan.models.fresh()
    info = method.noise(ctx, noise, infos, plan.target.noise_items)
    plan.residency.park(noise)
    return noise, info


def _seed_mean_behaviour(plan: Plan, subjects, hold) -> dict | None:
    """The behaviour table's row for a method: each behaviour averaged over its seeds' models (the
    verdict pools the same models), measured with the intervention applied (``None``: the target
    has no behaviour table)."""
    rows = []
    for s in subjects:
        with hold(s) if hold else contextlib.nullcontext():
            rows.append(plan.behaviour(s))
    if rows[0] is None:
        return None
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def _verify_checkpoint(ck, cfg: AuditConfig, plan: Plan, cache, log) -> tuple:
    """A checkpoint made elsewhere, verified as it is against ORIG and the never-knew models (no
    NOISE: what made it is unknown): ``(verification, interventions entry, behaviour row or None, the model)``."""
    import time

    from ..model.loading import load
    from .checkpoints import check_parameters

    stage(log, f"checkpoint {ck.name}: load {ck.path}")
    t0 = time.perf_counter()
    subject = load(
        ck.path, device="cpu" if plan.residency.active else cfg.device, dtype=cfg.dtype
    )  # moved in when measured
    if subject.tokenizer is None:
        subject.tokenizer = plan.original.tokenizer  # a weights-only directory (checked: same architecture)
    check_parameters(plan.original, subject, f"checkpoint {ck.name!r}")
    info = {
        "description": "an unlearned checkpoint made elsewhere, audited as it is (no NOISE control: what made it is "
        "unknown)",
        "source": "checkpoint",
        "path": ck.path,
        "fingerprint": subject.fingerprint(),
        "intervention": "weights",
        "region": None,
        "seeds": [],
        "seconds": round(time.perf_counter() - t0, 2),
    }
    stage(log, f"verify: {ck.name} (checkpoint)")
    run = _verify(plan, [subject], cache, extra=plan.verify_extra(ck.name, info))
    return run, info, plan.behaviour(subject), subject


def _self_check(plan: Plan, cfg: AuditConfig) -> dict:
    """The report's metric self-check: the organism's faithfulness table, or why there is none."""
    t = plan.faithfulness
    if t is None:
        if plan.models.organism is None:
            how = (
                "a user's model: meta-evaluation needs a population of models that know and never knew the target; the "
                "facts organism's (`unlearnscope metaeval`) tells how far each readout can be trusted on such models"
            )
        elif cfg.model is None and cfg.organism == "facts":
            how = (
                f"run `unlearnscope metaeval --organism facts --size {plan.models.organism.size}` (or `audit "
                "--metaeval`) to score the readouts"
            )
        else:
            how = f"metaeval covers the facts organism; the {cfg.organism} organism has no population yet"
        return {"status": "not meta-evaluated", "how": how}
    return {
        "status": "meta-evaluated",
        **t.to_dict(),
        "use_unfaithful": plan.verify_config.use_unfaithful,
        "not_used": [] if plan.verify_config.use_unfaithful else sorted(t.unfaithful()),
    }


def _verify(
    plan: Plan, subjects: list, cache, *, noise=None, hold=None, noise_hold=None, seeds=None, extra: dict | None = None
):
    """`verify` of ``subjects`` on the plan's target against ORIG and the never-knew models, with
    the plan's protocol, cache, faithfulness table and memory plan; ``extra``: the plan's data for
    this method (located vectors and region, locality sets)."""
    from ..evaluate import ModelSet, verify

    models = ModelSet.of(
        subjects,
        plan.original,
        plan.models.references or None,
        noise,
        seeds=seeds,
        hold=hold,
        noise_hold=noise_hold,
        residency=plan.residency,
    )
    return verify(
        models,
        plan.target.verify_data(**(extra or {})),
        plan.verify_config,
        cache=cache,
        faithfulness=plan.faithfulness,
    )


def _audit_method(m, ctx: AuditContext, cfg: AuditConfig, plan: Plan, cache, outputs, log) -> dict:
    """One method: its seeds' models, its NOISE, its verification and output metrics, as
    ``{"run", "intervention", "noise", "behaviour"}``."""
    subjects, infos = _run_method(m, ctx, plan, cfg.unlearning_seeds, log)
    noise, noise_info = _noise(m, ctx, plan, infos, log) if cfg.noise and m.noise is not None else (None, None)
    info_of = {id(s): i for s, i in zip(subjects, infos, strict=True)}
    held = m.intervention == "inference-time"
    hold = (lambda s: plan.hold(s, info_of[id(s)]) or contextlib.nullcontext()) if held else None
    noise_hold = (
        (lambda s: plan.hold(s, noise_info) or contextlib.nullcontext()) if held and noise is not None else None
    )
    stage(log, f"verify: {m.name} ({len(subjects)} model{'s' if len(subjects) > 1 else ''})")
    behaviour = _seed_mean_behaviour(plan, subjects, hold)
    run = _verify(
        plan,
        subjects,
        cache,
        noise=noise,
        hold=hold,
        noise_hold=noise_hold,
        seeds=[i["seed"] for i in infos],
        extra=plan.verify_extra(m.name, infos[0]),
    )
    if outputs.active:
        stage(log, f"output metrics: {m.name}")
        outputs.measure(m.name, subjects, hold)
    return {
        "run": run,
        "intervention": {**runs_summary(m, infos), "source": "method"},
        "noise": noise_info,
        "behaviour": behaviour,
    }


def _provenance(cfg: AuditConfig, plan: Plan, interventions: dict, runs: dict, log) -> dict:
    org = plan.models.organism
    prov = provenance(
        cfg,
        plan,
        {
            "organism": org.describe() if org is not None else None,
            "checkpoints": {
                ck.name: {"fingerprint": interventions[ck.name]["fingerprint"], "origin": ck.origin()}
                for ck in plan.models.checkpoints
            },
        },
    )
    if hasattr(log, "stages"):
        log.finish()
        prov["stage_timings"] = {
            "stages": list(log.stages),
            "total_seconds": log.total(),
            "readouts": {m: getattr(v, "seconds", {}) for m, v in runs.items()},
            "note": "seconds and peak memory per stage up to the report (written after); readouts: seconds per "
            "readout family inside each model's verify stage",
        }
    return prov


def execute(cfg: AuditConfig, plan: Plan, *, progress: bool, log) -> AuditResult:
    """Per method: intervene on fresh copies of ORIG (one per seed), build its NOISE, verify against
    ORIG, the never-knew models and NOISE; then the checkpoints as they are; then write the report."""
    from ..evaluate import MeasurementCache
    from ..model.residency import Residency
    from ..report import build_report, write_report
    from .outputs import OutputMeasures

    ctx = AuditContext(cfg, plan.target, plan.original, plan.localization, progress)
    runs, interventions, noises, behaviour = {}, {}, {}, {}
    cache = MeasurementCache()  # ORIG and the never-knew models measured once for all methods
    plan.residency = Residency(plan.original.device)  # on an accelerator: ORIG + the model being measured on the device
    plan.residency.pin(plan.original)
    outputs = OutputMeasures(plan.output_data, plan.original, plan.models.references, plan.residency, plan.output_why)
    for m in plan.methods:
        r = _audit_method(m, ctx, cfg, plan, cache, outputs, log)
        runs[m.name], interventions[m.name], noises[m.name] = r["run"], r["intervention"], r["noise"]
        if r["behaviour"] is not None:
            behaviour[m.name] = r["behaviour"]
    for ck in plan.models.checkpoints:
        runs[ck.name], interventions[ck.name], beh, subject = _verify_checkpoint(ck, cfg, plan, cache, log)
        if beh is not None:
            behaviour[ck.name] = beh
        if outputs.active:
            stage(log, f"output metrics: {ck.name}")
            outputs.measure(ck.name, [subject])
        del subject
    cache.clear()
    sections = dict(plan.sections)
    sections.update(plan.after_interventions(interventions))
    orig_row = plan.behaviour(plan.original)
    if orig_row is not None:
        behaviour = {
            "original": orig_row,
            **{f"reference{'' if i == 0 else i}": plan.behaviour(r) for i, r in enumerate(plan.models.references)},
            **behaviour,
        }
    if outputs.active:
        stage(log, "output metrics: ORIG and REF")
    output_metrics = outputs.result()
    stage(log, f"write {plan.out}")
    prov = _provenance(cfg, plan, interventions, runs, log)
    sections.update(
        interventions=interventions,
        noise=noises,
        **({"behaviour": behaviour} if behaviour else {}),
        metric_self_check=_self_check(plan, cfg),
        output_metrics=outputs.note(),
    )
    report = build_report(
        plan.name,
        runs,
        provenance=prov,
        config={**cfg.to_dict(), "verify": plan.verify_config.to_dict()},
        sections=sections,
        output_metrics=output_metrics,
    )
    html_path, json_path = write_report(report, plan.out)
    return AuditResult(report, html_path, json_path)
