"""Verify residual knowledge of facts: every readout on the unlearned models *and* their references.

    v = verify_facts([unl_seed0, unl_seed1, unl_seed2], forget, retain, original=orig,
                     reference=[ref, ref_seed1], noise=noise, formats={"paraphrase": para, "mc": mc})
    v.verdict["verdict"], v.verdict["seeds"], v.metric("relearn")["rki"], v.save("runs/verify")

Metrics (per forget entity; higher = knows more), each measured on every unlearned model (one per
unlearning seed), ORIG, every never-knew reference (REF and REFs of other weight seeds) and NOISE
with the same protocol, then turned into an RKI with a paired bootstrap CI over entities and
models (`readouts`, `rki`):

* behavioural ``recall`` and locality ``retain_recall`` / ``locality:{name}``;
* intrinsic ``probe_transfer`` / ``probe_refit``, ``logit_lens`` and ``causal_depth`` (UDS; needs ORIG and REF);
* adversarial ``relearn``, ``incontext_k{k}`` (k ≥ 1), ``reintroduce`` and ``format:{name}``, and the
  worst-case attacks (`attack_readouts`): ``direction_ablation``, ``quant8`` / ``quant4``,
  ``router_restore`` (MoE) and, when asked for (``"sweep"`` in
  ``attacks``), ``relearn:sweep`` — relearning over an attacker's budget within a utility limit.
Probe groups and relearning learning rates are cross-fitted over entity halves (`crossfit`).  The
verdict follows `rki.verdict` with the pre-registered `VerdictConfig`, per seed and pooled
(``unstable`` when the seeds disagree).  With an inference-time intervention (``hold``) the
behavioural and adversarial readouts are measured again on the weights alone, and knowledge that
comes back without the intervention is "held in the weights".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from ..data import as_facts
from ..errors import UnlearnscopeError
from ..progress import bar
from ..results import Result
from .attack_readouts import WHITEBOX, sweep_metric, whitebox_metrics
from .models import ModelSet
from .readouts import depth_metric, lens_metric, probe_metrics, prompt_attack_metrics, recall_metric, relearn_metric
from .relearn import RelearnConfig
from .rki import Metric, VerdictConfig, findings, seed_verdicts, shows_knowledge, verdict
from .sweep import QUICK_SWEEP, SweepConfig

ATTACKS = ("relearn", "incontext", "reintroduce", "format", "sweep") + WHITEBOX
# asked for explicitly (the audit does): the sweep (the expensive one) and component revert (recovery attribution, not a readout)
DEFAULT_ATTACKS = tuple(a for a in ATTACKS if a not in ("sweep", "revert"))
READOUTS = ("probes", "lens", "depth")


@dataclass(frozen=True)
class VerifyConfig:
    probe_layers: tuple[int, ...] | None = None
    probe_roles: tuple[str, ...] = ("last",)
    probe_method: str = "ridge"
    probe_modes: tuple[str, ...] = ("transfer", "refit")
    probe_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    random_init_control: bool = True
    lens_budgets: tuple[int, ...] = (1, 5, 20)
    use_unfaithful: bool = False  # use readouts below the metaeval faithfulness floor in verdicts too
    depth_scope: str = "last"  # causal depth patches the answer-predicting position ("subject": the subject's tokens)
    readouts: tuple[str, ...] = READOUTS
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    relearn: RelearnConfig = field(default_factory=RelearnConfig)
    sweep: SweepConfig = QUICK_SWEEP  # the relearning sweep's budget (attack "sweep"); FULL_SWEEP: the complete search
    direction_k: int = 1  # directions projected out per layer (direction ablation)
    quant_bits: tuple[int, ...] = (8, 4)  # weight round trips (quantization attack)
    revert_components: tuple[str, ...] | None = None  # components reverted one at a time (default: every attn, mlp / router and expert)
    incontext_k: tuple[int, ...] = (1, 5)  # k = 0 is the recall metric again, not an attack
    incontext_draws: int = 3  # independent draws of demos per forget fact (narrower CIs on a low-recall readout)
    bos: str | None = None  # BOS text the prompts start with (in-context prompts keep one)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)

    def validate(self):
        bad = [a for a in self.attacks if a not in ATTACKS] + [r for r in self.readouts if r not in READOUTS]
        if bad:
            raise UnlearnscopeError(f"unknown attacks / readouts {bad}; attacks: {ATTACKS}, readouts: {READOUTS}")
        if self.depth_scope not in ("last", "subject"):
            raise UnlearnscopeError(f"depth_scope must be 'last' or 'subject', got {self.depth_scope!r}")
        if self.incontext_draws < 1:
            raise UnlearnscopeError(f"incontext_draws must be >= 1, got {self.incontext_draws}")
        if any(k < 1 for k in self.incontext_k):
            raise UnlearnscopeError(f"in-context attacks need k >= 1 stated facts (k = 0 is the recall metric again), got {self.incontext_k}")
        if self.direction_k < 1 or any(b not in (2, 3, 4, 8) for b in self.quant_bits):
            raise UnlearnscopeError(f"direction_k must be >= 1 and quant_bits among 2, 3, 4, 8; got {self.direction_k}, {self.quant_bits}")
        self.relearn.validate()
        self.sweep.validate()
        self.verdict.validate()


@dataclass
class Verification(Result):
    kind = "verification"
    metrics: list[dict]
    verdict: dict
    probes: dict
    lens: dict
    relearn: dict
    config: dict
    warnings: list[str] = field(default_factory=list)
    parametric: dict = field(default_factory=dict)
    findings: list[dict] = field(default_factory=list)  # per readout: what it shows (see rki.findings)
    weights_only: list[dict] = field(default_factory=list)  # inference-time interventions: metrics without them
    depth: dict = field(default_factory=dict)  # causal depth: the patching baseline per layer (see evaluate.depth)
    attacks: dict = field(default_factory=dict)  # worst-case attacks: each option's recovered recall per role (see evaluate.attack_readouts)
    seconds: dict = field(default_factory=dict)  # wall time of each readout family (recall, probes, relearning, white-box attacks ...)

    def metric(self, name: str) -> dict:
        for m in self.metrics:
            if m["name"] == name:
                return m
        raise UnlearnscopeError(f"no metric {name!r}; have {[m['name'] for m in self.metrics]}")

    def plot(self):
        from ..viz.verify import rki_bars

        return rki_bars(self.to_dict())


def _random_init(ms: ModelSet, cache):
    from ..model.subject import config_json
    from ..probes.linear import random_init_like

    u = ms.roles["unlearned"][0]
    if cache is None:
        return random_init_like(u)
    arch = (config_json(u.model), type(u.model).__name__, str(u.device), str(next(u.model.parameters()).dtype))
    return cache.memo("random_init", arch, lambda: random_init_like(u))


def _not_run(cfg: VerifyConfig, formats, restatements, ms: ModelSet) -> dict:
    """Attacks asked for that had no data to run on."""
    out = {}
    if "reintroduce" in cfg.attacks and restatements is None:
        out["reintroduce"] = "not run: no other renderings of the forget facts (restatements) were given"
    if "depth" in cfg.readouts and not (ms.has("original") and ms.has("reference")):
        out["causal_depth"] = "not run: causal depth patches a never-knew model's (REF) hidden states into ORIG; give both"
    if "format" in cfg.attacks and not formats:
        out["format"] = "not run: no held-out renderings of the forget facts (formats) were given"
    if not ms.has("original") and "direction" in cfg.attacks:  # component revert is attribution, not a readout: never "missing"
        out["direction_ablation"] = "not run: the attack undoes the difference from ORIG; give the original model"
    return out


NEEDS_LM_HEAD = "not run: the model has no LM head (an encoder); this readout scores next-token predictions"


def has_lm_head(subject) -> bool:
    """Whether the model predicts tokens (an unembedding); encoders (BERT-family) do not."""
    return subject.anatomy.unembed is not None


def _encoder_readouts(ms: ModelSet, forget, retain, cfg: VerifyConfig, details: dict) -> list[Metric]:
    """An encoder: the probes (transfer / refit, with their controls); every readout that needs
    next-token predictions is listed in ``details["not_run"]`` with why."""
    moe = ms.roles["unlearned"][0].anatomy.is_moe
    skipped = (["recall", "retain_recall"] + [r for r in ("lens", "depth") if r in cfg.readouts]
               + [a for a in cfg.attacks if a != "revert" and (a != "router" or moe)])
    details["not_run"].update({("logit_lens" if n == "lens" else "causal_depth" if n == "depth" else n): NEEDS_LM_HEAD for n in skipped})
    return probe_metrics(ms, forget, retain, cfg, details["probes"]) if "probes" in cfg.readouts else []


def _encoder_verdict(not_run: dict, cfg: VerdictConfig) -> dict:
    return {"config": asdict(cfg), "verdict": "no verdict", "knowledge_verdict": "no verdict", "seeds": [], "stability": None,
            "reason": "an encoder without an LM head: behaviour, relearning and the prompt attacks need next-token predictions, so only "
                      "the intrinsic readouts (probes) are measured and there is no verdict",
            "missing_readouts": [{"name": k, "why": w} for k, w in not_run.items()], "behavioural_rki": None, "intrinsic_rki": None,
            "adversarial_rki": None, "locality": {}}


def _readouts(ms: ModelSet, forget, retain, order, cfg: VerifyConfig, formats, pool, restatements, locality, *, weights_only=False):
    """Every metric asked for (``weights_only``: behaviour and attacks only) and the details the
    report plots (probe tables, lens ranks, relearning curves)."""
    details = {"probes": {}, "lens": {}, "relearn": {}, "depth": {}, "attacks": {}, "not_run": {}}
    if not has_lm_head(ms.roles["unlearned"][0]):
        return _encoder_readouts(ms, forget, retain, cfg, details), details
    full = not weights_only
    steps = [("recall", True, lambda: [recall_metric(ms, "recall", "behavioural", forget, order)]),
             ("locality", full, lambda: _locality_metrics(ms, retain, locality)),
             ("probes", full and "probes" in cfg.readouts, lambda: probe_metrics(ms, forget, retain, cfg, details["probes"])),
             ("logit lens", full and "lens" in cfg.readouts, lambda: [lens_metric(ms, forget, cfg, details["lens"])]),
             ("causal depth", full and "depth" in cfg.readouts and ms.has("original") and ms.has("reference"),
              lambda: [depth_metric(ms, forget, cfg, details["depth"])]),
             ("relearning", "relearn" in cfg.attacks, lambda: [relearn_metric(ms.without("noise"), forget, cfg, details["relearn"])]),
             ("prompt attacks", True, lambda: prompt_attack_metrics(ms, forget, pool if pool is not None else retain, restatements, formats,
                                                                    cfg, order, details["not_run"])),
             ("white-box attacks", full and ms.has("original"),
              lambda: whitebox_metrics(ms.without("noise"), forget, retain, order, cfg, details["attacks"])),
             ("relearning sweep", full and "sweep" in cfg.attacks,
              lambda: [sweep_metric(ms.without("noise"), forget, retain, cfg, details["attacks"])])]
    todo = [(name, run) for name, on, run in steps if on]
    metrics, details["seconds"] = [], {}
    with bar(total=len(todo), desc="verify (weights only)" if weights_only else "verify") as b:
        for name, run in todo:
            b.set_postfix_str(name)
            t0 = time.perf_counter()
            metrics += run()
            details["seconds"][name] = round(time.perf_counter() - t0, 3)
            b.update()
    return metrics, details


def _locality_metrics(ms: ModelSet, retain, locality) -> list[Metric]:
    out = [recall_metric(ms, "retain_recall", "locality", retain)]
    for name, facts_l in (locality or {}).items():
        facts_l = [f if f.subject else replace(f, subject=f.prompt) for f in as_facts(facts_l)]
        out.append(recall_metric(ms, f"locality:{name}", "locality", facts_l))
    return out


def _held_in_weights(v: dict, weights: list[Metric], cfg: VerdictConfig) -> dict:
    """An inference-time intervention's verdict, told apart from its weights: knowledge that the
    behavioural or adversarial readouts find without the intervention is held in the weights, so
    the verdict cannot be "erased"."""
    held = [m.name for m in weights if m.kind != "locality" and shows_knowledge(m.rki(cfg), cfg.margin)]
    v = {**v, "intervention": "inference-time", "held_in_weights": held,
         "weights_only_rki": {m.name: m.rki(cfg) for m in weights if m.kind != "locality"}}
    if held:
        note = f"held in the weights: {', '.join(held)} show residual knowledge with the intervention removed"
        if v.get("knowledge_verdict") == "erased":
            v["knowledge_verdict"] = "suppressed"
            if v["verdict"] == "erased":
                v["verdict"] = "suppressed"
        v["reason"] = f"{v['reason']}; {note}"
    return v


def _gate(metrics: list[Metric], not_run: dict, table, cfg: VerifyConfig) -> tuple[list[Metric], dict]:
    """The metrics the verdict uses: readouts whose faithfulness AUC is below the table's floor are
    left out (listed with why among the missing readouts) unless ``use_unfaithful``; behaviour
    always counts (a verdict needs it)."""
    if table is None or cfg.use_unfaithful:
        return metrics, not_run
    low = {k: w for k, w in table.unfaithful().items() if any(m.name == k and m.kind != "behavioural" for m in metrics)}
    return [m for m in metrics if m.name not in low], {**not_run, **{k: f"not used: {w}" for k, w in low.items()}}


def _annotated(m: Metric, cfg: VerifyConfig, table, used: list[Metric]) -> dict:
    faith = table.annotate(m.name) if table is not None else {"status": "not meta-evaluated", "auc": None, "ci": None}
    return {**m.summary(cfg.verdict), "faithfulness": faith, "used_in_verdict": m.kind != "locality" and any(u is m for u in used)}


def measure_readouts(models, forget, retain, *, original, reference, config: VerifyConfig = VerifyConfig(), formats=None,
                     incontext_pool=None, restatements=None, cache=None) -> list[Metric]:
    """Every readout of `verify_facts` on ``models`` (stacked as the unlearned role, one row per
    model) against ``original`` and ``reference`` — the per-model values a meta-evaluation scores."""
    cfg = config
    cfg.validate()
    forget, retain = as_facts(forget), as_facts(retain)
    ms = ModelSet.of(models, original, reference, cache=cache)
    if cache is not None:
        cache.reset_digests()
    try:
        return _readouts(ms, forget, retain, sorted({f.subject for f in forget}), cfg, formats, incontext_pool, restatements, None)[0]
    finally:
        if cache is not None:
            cache.reset_digests()


def _mean_summary(rows: list[dict]) -> dict:
    """Numbers averaged over ``rows`` (summaries of several seeds); anything else from the first row."""
    out = {}
    for k, first in rows[0].items():
        vals = [r.get(k) for r in rows]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals)
        out[k] = sum(vals) / len(vals) if numeric else first
    return out


def _traces(ms: ModelSet, vectors, region) -> dict:
    """Parametric traces of every unlearned model against ORIG (summaries averaged over seeds),
    NOISE's as the drift floor, and the unlearned models' drift relative to NOISE's."""
    from .parametric import parametric_traces

    orig = ms.roles["original"][0]
    def trace(u):
        with ms.resident(u):
            return parametric_traces(orig, u, vectors, region)

    ts = [trace(u) for u in ms.roles["unlearned"]]
    summary = _mean_summary([t.summary() for t in ts])
    traces = {"summary": summary, "by_seed": [t.summary() for t in ts], "vectors": ts[0].vectors, "modules": ts[0].modules}
    if ms.has("noise"):
        tn = [trace(n) for n in ms.roles["noise"]]
        noise = _mean_summary([t.summary() for t in tn])
        traces["noise"] = {"summary": noise, "vectors": tn[0].vectors}
        traces["relative_to_noise"] = {k: summary[k] / noise[k] for k in ("total_delta_norm", "mean_relative_change")
                                       if isinstance(summary.get(k), float) and isinstance(noise.get(k), float) and noise[k] > 0}
    return traces


def verify_facts(unlearned, forget, retain, *, original=None, reference=None, noise=None, formats: dict | None = None,
                 incontext_pool=None, restatements=None, vectors=(), region=None, locality: dict | None = None, hold=None,
                 noise_hold=None, seeds=None, config: VerifyConfig = VerifyConfig(), cache=None, faithfulness=None,
                 residency=None) -> Verification:
    """Run every readout and attack (see module doc).  ``unlearned``: a model, or one per unlearning
    seed; ``reference``: a never-knew model, or several (REF of other weight seeds: their spread
    enters the CIs); ``noise``: the NOISE drift floor(s) — every metric but relearning is measured
    on it and "damaged" means a locality drop beyond NOISE's own.  ``forget`` / ``retain``: facts
    with subjects; ``formats``: ``{name: forget facts in that rendering}``; ``incontext_pool``:
    in-context demos (default ``retain``); ``restatements``: other renderings of the forget facts
    (``reintroduce``); ``vectors`` / ``region``: located value vectors and components whose
    parametric traces are reported; ``locality``: ``{name: facts}`` of other retained abilities;
    ``hold``: ``subject -> context manager`` of an inference-time intervention on the unlearned
    models (held while measuring; behaviour and attacks are measured again without it);
    ``noise_hold`` the same for the NOISE models (an inference-time method's NOISE); ``seeds``:
    the unlearning seed of each unlearned model, as named in the verdict's per-seed rows.
    ``cache``: a `MeasurementCache` shared by calls that verify several models against the same
    references (results identical to no cache).  ``faithfulness``: a `FaithfulnessTable` (from
    `unlearnscope metaeval`): readouts below its floor are listed but not used in the verdict
    (unless ``config.use_unfaithful``), and every metric shows its faithfulness.  ``residency``: a
    `model.residency.Residency` (the memory plan for large models: ORIG and the model being
    measured on the device, every other model parked on CPU)."""
    import warnings

    from .cache import MeasurementCache

    cfg = config
    cfg.validate()
    forget, retain = as_facts(forget), as_facts(retain)
    cache = cache if cache is not None or hold is None else MeasurementCache()  # references are measured twice with `hold`
    ms = ModelSet.of(unlearned, original, reference, noise, hold=hold, noise_hold=noise_hold, cache=cache, residency=residency)
    if cfg.random_init_control and "probes" in cfg.readouts:
        ms.extra = {"random_init": [_random_init(ms, cache)]}
    order = sorted({f.subject for f in forget})
    if cache is not None:
        cache.reset_digests()
    args = (formats, incontext_pool, restatements, locality)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics, details = _readouts(ms, forget, retain, order, cfg, *args)
        used, not_run = _gate(metrics, {**_not_run(cfg, formats, restatements, ms), **details["not_run"]}, faithfulness, cfg)
        if not has_lm_head(ms.roles["unlearned"][0]):
            weights, v = [], _encoder_verdict(not_run, cfg.verdict)
        else:
            weights = _readouts(ms.weights(), forget, retain, order, cfg, *args, weights_only=True)[0] if hold is not None else []
            adjust = (lambda v: _held_in_weights(v, weights, cfg.verdict)) if hold is not None else (lambda v: v)
            v = seed_verdicts(used, cfg.verdict, adjust(verdict(used, cfg.verdict, not_run=not_run)), not_run=not_run, adjust=adjust,
                              labels=seeds)
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning) and "entities" in str(w.message)})
    traces = _traces(ms, vectors, region) if ms.has("original") else {}
    if cache is not None:
        cache.reset_digests()
    return Verification([_annotated(m, cfg, faithfulness, used) for m in metrics], v, details["probes"], details["lens"], details["relearn"], asdict(cfg),
                        msgs, traces, findings(metrics, cfg.verdict), [m.summary(cfg.verdict) for m in weights],
                        details["depth"], details["attacks"], details.get("seconds", {}))
