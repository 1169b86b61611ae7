"""Verify residual knowledge of facts: every readout on the unlearned model *and* its references.

    v = verify_facts(unlearned, forget, retain, original=orig, reference=ref,
                     formats={"paraphrase": para, "mc": mc}, config=VerifyConfig())
    v.verdict["verdict"], v.metric("relearn")["rki"], v.save("runs/verify")

Metrics (per forget entity; higher = knows more), each measured on the unlearned model, ORIG and
REF with the same protocol, then turned into an RKI with a paired entity bootstrap CI:

* behavioural ``recall`` (the forget facts as given) and locality ``retain_recall``;
* intrinsic ``probe_transfer`` / ``probe_refit`` (`probes.linear`, at the (depth, role) with
  the largest ORIG − REF gap — chosen on the references only) and ``logit_lens`` (best
  reciprocal rank of the gold answer over depths);
* adversarial ``relearn`` (disjoint-entity relearning, area under the recall curve, at the
  learning rate where the unlearned model's excess over REF is largest — the worst case),
  ``incontext_k{k}``, ``reintroduce`` and ``format:{name}``.
Probe controls (control task, shuffled labels, majority class, random-init model) are reported
per depth.  The verdict follows `rki.verdict` with the pre-registered `VerdictConfig`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch

from ..data import as_facts
from ..errors import UnlearnscopeError
from ..results import Result
from .prompt_attacks import incontext_facts
from .recall import entity_recall
from .relearn import RelearnConfig, relearn_curves
from .rki import Metric, VerdictConfig, verdict
from .stats import mean_ci, per_entity

ROLES = ("unlearned", "original", "reference", "noise")
ATTACKS = ("relearn", "incontext", "reintroduce", "format")
READOUTS = ("probes", "lens")


@dataclass(frozen=True)
class VerifyConfig:
    probe_layers: tuple[int, ...] | None = None
    probe_roles: tuple[str, ...] = ("last",)
    probe_method: str = "ridge"
    probe_modes: tuple[str, ...] = ("transfer", "refit")
    probe_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    random_init_control: bool = True
    lens_budgets: tuple[int, ...] = (1, 5, 20)
    readouts: tuple[str, ...] = READOUTS
    attacks: tuple[str, ...] = ATTACKS
    relearn: RelearnConfig = field(default_factory=RelearnConfig)
    incontext_k: tuple[int, ...] = (0, 1, 5)
    bos: str | None = None  # BOS text the prompts start with (in-context prompts keep one)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)

    def validate(self):
        bad = [a for a in self.attacks if a not in ATTACKS] + [r for r in self.readouts if r not in READOUTS]
        if bad:
            raise UnlearnscopeError(f"unknown attacks / readouts {bad}; attacks: {ATTACKS}, readouts: {READOUTS}")
        self.relearn.validate()
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

    def metric(self, name: str) -> dict:
        for m in self.metrics:
            if m["name"] == name:
                return m
        raise UnlearnscopeError(f"no metric {name!r}; have {[m['name'] for m in self.metrics]}")

    def plot(self):
        from ..viz.verify import rki_bars

        return rki_bars(self.to_dict())


def _models(unlearned, original, reference, noise=None) -> dict:
    return {r: s for r, s in zip(ROLES, (unlearned, original, reference, noise), strict=True) if s is not None}


def _measurer(cache):
    """``measure(role, subject, name, fn, *args)`` = ``fn(subject, *args)``, memoised in ``cache``
    for every role but the unlearned model."""
    def measure(role, subject, name, fn, *args):
        if cache is None or role == "unlearned":
            return fn(subject, *args)
        return cache.measure(subject, name, fn, *args)
    return measure


def _metric(name, kind, per_role: dict, detail=None) -> Metric:
    """``per_role[role] = (entities, values)`` → `Metric` on the entities every role has."""
    ents = per_role["unlearned"][0]
    for r, (e, _) in per_role.items():
        if e != ents:
            raise UnlearnscopeError(f"metric {name}: {r} was measured on other entities than the unlearned model")
    get = lambda r: per_role[r][1] if r in per_role else None  # noqa: E731
    return Metric(name, kind, ents, get("unlearned"), get("original"), get("reference"), detail or {}, noise=get("noise"))


def _probe(subject, forget, retain, mode, config):
    from ..probes.linear import probe_model

    return probe_model(subject, forget, retain, mode=mode, config=config)


def _random_init(models, cache):
    from ..model.subject import config_json
    from ..probes.linear import random_init_like

    u = models["unlearned"]
    if cache is None:
        return random_init_like(u)
    arch = (config_json(u.model), type(u.model).__name__, str(u.device), str(next(u.model.parameters()).dtype))
    return cache.memo("random_init", arch, lambda: random_init_like(u))


def _probe_metrics(models, forget, retain, cfg: VerifyConfig, out: dict, measure, cache) -> list[Metric]:
    from ..probes.linear import ProbeConfig

    pc = ProbeConfig(layers=cfg.probe_layers, roles=cfg.probe_roles, method=cfg.probe_method, seeds=cfg.probe_seeds)
    extra = {"random_init": _random_init(models, cache)} if cfg.random_init_control else {}
    metrics = []
    for mode in cfg.probe_modes:
        runs = {r: measure(r, s, f"probe_{mode}", _probe, forget, retain, mode, pc) for r, s in {**models, **extra}.items()}
        groups = runs["unlearned"].groups
        acc = {r: run.accuracy().tolist() for r, run in runs.items()}
        if "original" in runs and "reference" in runs:
            gap = [o - f for o, f in zip(acc["original"], acc["reference"], strict=True)]
            rule = "largest ORIG − REF gap"
        elif "original" in runs:
            gap, rule = acc["original"], "highest ORIG accuracy (no REF)"
        else:
            gap, rule = acc["unlearned"], "highest accuracy of the unlearned model (no references: optimistic)"
        best = max(range(len(groups)), key=lambda g: gap[g])
        by_entity = {r: per_entity(run.correct["task"], run.entities) for r, run in runs.items()}  # (names, [group, entity])
        per_role = {r: (names, vals[best]) for r, (names, vals) in by_entity.items()}
        table = {}
        for r, run in runs.items():
            table[r] = {"task": [mean_ci(v, n_boot=cfg.verdict.n_boot, seed=cfg.verdict.seed) for v in by_entity[r][1]],
                        **{c: run.accuracy(c).tolist() for c in ("control", "shuffled", "majority")}}
            table[r]["selectivity"] = [t[0] - c for t, c in zip(table[r]["task"], table[r]["control"], strict=True)]
        out[mode] = {"groups": [list(g) for g in groups], "chosen_group": list(groups[best]), "rule": rule, "by_model": table}
        roles = {k: v for k, v in per_role.items() if k in ROLES}
        metrics.append(_metric(f"probe_{mode}", "intrinsic", roles,
                               {"group": list(groups[best]), "random_init_accuracy": float(per_role["random_init"][1].mean()) if "random_init" in per_role else None}))
    return metrics


def _lens_metric(models, forget, cfg, out, measure) -> Metric:
    from ..probes.logit_lens import gold_ranks

    per_role = {}
    for r, s in models.items():
        ranks = measure(r, s, "logit_lens", gold_ranks, forget)
        per_role[r] = per_entity(ranks.best_reciprocal_rank(), ranks.entities)
        out[r] = {"depths": ranks.depths, "median_rank_per_depth": ranks.ranks.float().median(1).values.tolist(),
                  "top1_per_depth": (ranks.ranks < 1).float().mean(1).tolist(),
                  **{f"success@{b}": float(ranks.success(b).mean()) for b in cfg.lens_budgets}}
    return _metric("logit_lens", "intrinsic", per_role, {"score": "max over depths of 1/(1+rank) of the gold answer"})


def _relearn(subject, forget, config):
    return relearn_curves(subject, forget, config=config)


def _relearn_metric(models, forget, cfg, out, measure) -> Metric:
    curves = {r: measure(r, s, "relearn", _relearn, forget, cfg.relearn) for r, s in models.items()}
    lrs = list(cfg.relearn.lrs)
    def excess(lr):
        u = curves["unlearned"].entity_auc(lr).nanmean()
        return float(u - curves["reference"].entity_auc(lr).nanmean()) if "reference" in curves else float(u)
    worst = max(lrs, key=excess)
    for r, c in curves.items():
        out[r] = {"steps": c.steps, "mean_curve": {str(lr): c.mean_curve(lr) for lr in lrs},
                  "seed_sd_auc": {str(lr): float(torch.nanmean(c.curves[lr].mean(1), 1).std()) for lr in lrs}}
    out["worst_case_lr"] = worst
    orig_level = float(torch.nanmean(curves["original"].curves[worst][:, 0])) if "original" in curves else None
    if orig_level:
        for r, c in curves.items():
            out[r]["steps_to_50%"] = c.steps_to(worst, 0.5 * orig_level)
            out[r]["steps_to_90%"] = c.steps_to(worst, 0.9 * orig_level)
    auc = {r: float(c.entity_auc(worst).nanmean()) for r, c in curves.items()}
    out["area_under_curve"] = auc  # mean recall over the curve at the worst-case LR
    if "reference" in auc:
        out["area_between_unlearned_and_reference"] = auc["unlearned"] - auc["reference"]
    if "original" in auc:
        out["area_between_original_and_unlearned"] = auc["original"] - auc["unlearned"]
    seen = torch.isfinite(curves["unlearned"].entity_auc(worst))  # entities held out in at least one seed
    ents = [e for e, k in zip(curves["unlearned"].entities, seen.tolist(), strict=True) if k]
    per_role = {r: (ents, c.entity_auc(worst)[seen]) for r, c in curves.items()}
    return _metric("relearn", "adversarial", per_role, {"lr": worst, "split": cfg.relearn.split, "seeds": list(cfg.relearn.seeds),
                                                        "score": "mean recall of held-out forget entities over the relearning curve"})


def verify_facts(unlearned, forget, retain, *, original=None, reference=None, noise=None, formats: dict | None = None,
                 incontext_pool=None, restatements=None, vectors=(), region=None, locality: dict | None = None,
                 config: VerifyConfig = VerifyConfig(), cache=None) -> Verification:
    """Run every readout and attack (see module doc).  ``forget`` / ``retain``: facts with subjects;
    ``formats``: ``{name: forget facts in that rendering}``; ``incontext_pool``: facts to use as
    in-context demos (default ``retain``); ``restatements``: other renderings of the forget facts
    (for ``reintroduce``); ``vectors`` / ``region``: located value vectors and components whose
    parametric traces (vs ``original``) are reported (`parametric.parametric_traces`).  ``locality``:
    ``{name: facts}`` of other retained abilities, each a locality metric ``locality:{name}``
    beside ``retain_recall`` (items without a subject count as their own entity).  ``noise``:
    the NOISE drift-floor model (ORIG fine-tuned on unrelated data with the same steps and LR);
    every metric except relearning is measured on it too and reported beside ORIG / REF, and its
    parametric traces are reported as the drift floor of the unlearned model's.  ``cache``: a
    `MeasurementCache` shared by calls that verify several models against the same references;
    ORIG / REF / NOISE measurements are then made once (results identical to no cache)."""
    import warnings

    cfg = config
    cfg.validate()
    forget, retain = as_facts(forget), as_facts(retain)
    models = _models(unlearned, original, reference, noise)
    order = sorted({f.subject for f in forget})
    if cache is not None:
        cache.reset_digests()
    measure = _measurer(cache)
    recall_of = lambda facts, order=None: {r: measure(r, s, "recall", entity_recall, facts, order) for r, s in models.items()}  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = [_metric("recall", "behavioural", recall_of(forget, order)),
                   _metric("retain_recall", "locality", recall_of(retain))]
        for name, facts_l in (locality or {}).items():
            facts_l = [f if f.subject else replace(f, subject=f.prompt) for f in as_facts(facts_l)]
            metrics.append(_metric(f"locality:{name}", "locality", recall_of(facts_l)))
        probes, lens, relearn = {}, {}, {}
        if "probes" in cfg.readouts:
            metrics += _probe_metrics(models, forget, retain, cfg, probes, measure, cache)
        if "lens" in cfg.readouts:
            metrics.append(_lens_metric(models, forget, cfg, lens, measure))
        if "relearn" in cfg.attacks:
            metrics.append(_relearn_metric({r: s for r, s in models.items() if r != "noise"}, forget, cfg, relearn, measure))
        pool = incontext_pool if incontext_pool is not None else retain
        metrics += _prompt_attack_metrics(forget, pool, restatements, formats, cfg, lambda facts: recall_of(facts, order), recall_of)
        v = verdict(metrics, cfg.verdict)
    msgs = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning) and "entities" in str(w.message)})
    traces = _traces(original, unlearned, noise, vectors, region) if original is not None else {}
    if cache is not None:
        cache.reset_digests()
    return Verification([m.summary(cfg.verdict) for m in metrics], v, probes, lens, relearn, asdict(cfg), msgs, traces)


def _prompt_attack_metrics(forget, pool, restatements, formats, cfg: VerifyConfig, recall_forget, recall_of) -> list[Metric]:
    """In-context demos (``incontext_k{k}``), reintroduction and held-out formats: recall of
    rewritten prompts (``recall_forget`` keeps the forget entities' order; formats may hold other
    items)."""
    metrics = []
    if "incontext" in cfg.attacks:
        for k in cfg.incontext_k:
            facts_k = incontext_facts(forget, pool, k, bos=cfg.bos)
            metrics.append(_metric(f"incontext_k{k}", "adversarial", recall_forget(facts_k),
                                   {"k": k, "demos": "other entities' facts of the same relation"}))
    if "reintroduce" in cfg.attacks and restatements is not None:
        facts_r = incontext_facts(forget, pool, 1, mode="reintroduce", restatements=restatements, bos=cfg.bos)
        metrics.append(_metric("reintroduce", "adversarial", recall_forget(facts_r),
                               {"k": 1, "stated": "the queried fact in another rendering"}))
    if "format" in cfg.attacks:
        for name, facts_f in (formats or {}).items():
            facts_f = as_facts(facts_f)
            metrics.append(_metric(f"format:{name}", "adversarial", recall_of(facts_f), {"n_items": len(facts_f)}))
    return metrics


def _traces(original, unlearned, noise, vectors, region) -> dict:
    """Parametric traces of the unlearned model against ORIG, and of NOISE as the drift floor."""
    from .parametric import parametric_traces

    t = parametric_traces(original, unlearned, vectors, region)
    traces = {"summary": t.summary(), "vectors": t.vectors, "modules": t.modules}
    if noise is not None:
        tn = parametric_traces(original, noise, vectors, region)
        traces["noise"] = {"summary": tn.summary(), "vectors": tn.vectors}
    return traces
