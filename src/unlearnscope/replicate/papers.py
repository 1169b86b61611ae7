"""Each paper's central comparison on the matching organism, as an audit, read into a card.

    card = replicate("mechanistic-unlearning", size="small", seeds=3)
    card.status, card.comparisons

A card's contrasts are paired over entities (the same forget entities under two methods; the
per-entity values are the seed means the audit reports) with a 95 % bootstrap CI
(`evaluate.stats.mean_ci`).  The audits run their methods' paper settings (`audit.facts`,
`audit.moe`) at the audit's budget; the readouts a card does not need are switched off.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ..audit.config import QUICK_VERIFY, AuditConfig
from ..errors import UnlearnscopeError
from ..evaluate.stats import bootstrap_indices, mean_ci, percentile_ci
from .card import ReplicationCard
from .concept_vectors import run_conceptvectors


@dataclass(frozen=True)
class Paper:
    name: str
    citation: str
    claim: str
    paper_number: str
    differences: tuple[str, ...]
    run: Callable  # (size, seeds, progress, log) -> (comparisons, details)


def _metric(report: dict, run: str, name: str) -> dict:
    for m in report["runs"][run]["metrics"]:
        if m["name"] == name:
            return m
    raise UnlearnscopeError(
        f"the audit of {run!r} has no {name!r} readout (its report lists "
        f"{[m['name'] for m in report['runs'][run]['metrics']]})"
    )


def paired(report: dict, metric: str, a: str, b: str, *, expect: str, what: str, seed: int = 0) -> dict:
    """``metric(a) − metric(b)`` over the entities both runs measured, with its bootstrap CI."""
    va, vb = _metric(report, a, metric)["value_by_index"], _metric(report, b, metric)["value_by_index"]
    common = sorted(set(va) & set(vb))
    if not common:
        raise UnlearnscopeError(f"{metric}: runs {a!r} and {b!r} share no entity")
    d = torch.tensor([va[k] - vb[k] for k in common], dtype=torch.float64)
    mean, lo, hi = mean_ci(d, seed=seed)
    return {
        "name": f"{metric}: {a} − {b}",
        "what": what,
        "value": mean,
        "ci": [lo, hi],
        "n": len(common),
        "expect": expect,
        "a": _metric(report, a, metric)["agg_value"],
        "b": _metric(report, b, metric)["agg_value"],
    }


def _audit(organism: str, methods: tuple[str, ...], size: str, seeds: int, progress: bool, log, **verify) -> dict:
    """The organism's audit of ``methods`` on ``seeds`` unlearning seeds, the readouts in ``verify`` only."""
    from ..audit.run import run_audit

    v = replace(QUICK_VERIFY, **verify)
    cfg = AuditConfig(
        organism=organism,
        size=size,
        methods=methods,
        seeds=tuple(range(seeds)),
        quick=True,
        attacks="off",
        output_metrics=False,
        noise=False,
        verify=v,
        name=f"replicate-{organism}",
    )
    with tempfile.TemporaryDirectory(prefix="unlearnscope-replicate-") as d:
        return run_audit(cfg, out=d, progress=progress, log=log).report


def _summary(report: dict, methods, metrics) -> dict:
    """Per method: the aggregate of each metric and how its unlearning runs ended (equal forgetting)."""
    iv = report["sections"]["interventions"]
    return {
        m: {
            "metrics": {k: _metric(report, m, k)["agg_value"] for k in metrics},
            "stopped": [s.get("stopped") for s in iv[m].get("seeds", [])],
            "n_params_trained": (iv[m].get("unlearning") or {}).get("n_params_trained"),
            "region": iv[m].get("region"),
        }
        for m in methods
    }


# ------------------------------------------------------------------------------------------ papers
def _mechanistic(size, seeds, progress, log):
    methods = ("flu", "ot", "random")
    r = _audit("facts", methods, size, seeds, progress, log, readouts=("logit_lens",), attacks=("relearn", "format"))
    comps = [
        paired(
            r,
            metric,
            "flu",
            other,
            expect="< 0",
            what=f"{label}: FLU minus {other.upper() if other == 'ot' else other}",
        )
        for metric, label in (
            ("relearn", "recall after relearning on the other half"),
            ("format:mc", "multiple-choice recall"),
        )
        for other in ("ot", "random")
    ]
    details = {
        "methods": _summary(r, methods, ("recall", "retain_recall", "relearn", "format:mc")),
        "matched": {
            k: v
            for k, v in r["sections"]["localization"]["matched"].items()
            if k in ("flu_layers", "flu_role", "flu", "ot", "random")
        },
    }
    return comps, details


def pooled_paired(
    report: dict, metrics: list[str], a: str, b: str, *, expect: str, what: str, n_boot: int = 2000, seed: int = 0
) -> dict:
    """The mean over ``metrics`` (each weighted equally, as a benchmark average) of ``metric(a) −
    metric(b)`` on their shared items, with a bootstrap CI that resamples each metric's items."""
    means, draws, n = [], [], 0
    for k, metric in enumerate(metrics):
        va, vb = _metric(report, a, metric)["value_by_index"], _metric(report, b, metric)["value_by_index"]
        common = sorted(set(va) & set(vb))
        if not common:
            continue
        d = torch.tensor([va[i] - vb[i] for i in common], dtype=torch.float64)
        means.append(float(d.mean()))
        draws.append(d[bootstrap_indices(len(d), n_boot, seed + k)].mean(1))  # [n_boot]
        n += len(common)
    if not means:
        raise UnlearnscopeError(f"{metrics}: runs {a!r} and {b!r} share no item")
    lo, hi = percentile_ci(torch.stack(draws).mean(0))
    return {
        "name": f"mean of {len(means)} abilities: {a} − {b}",
        "what": what,
        "value": sum(means) / len(means),
        "ci": [lo, hi],
        "n": n,
        "expect": expect,
        "metrics": list(metrics),
    }


def _uoe(size, seeds, progress, log):
    methods = ("uoe", "ga", "uoe-random")
    r = _audit("moe", methods, size, seeds, progress, log, readouts=("logit_lens",), attacks=())
    loc = [m["name"] for m in r["runs"]["uoe"]["metrics"] if m["kind"] == "locality"]
    comps = [
        pooled_paired(
            r,
            loc,
            "uoe",
            other,
            expect="> 0",
            what=f"abilities kept (benign chat, facts, arithmetic, code): UOE minus {other}",
        )
        for other in ("ga", "uoe-random")
    ]
    return comps, {
        "methods": _summary(r, methods, ("recall", *loc)),
        "per_ability": [paired(r, m, "uoe", o, expect="> 0", what=m) for m in loc for o in ("ga", "uoe-random")],
    }


def _mote(size, seeds, progress, log):
    """MoTE's comparison at a fixed number of experts per layer (1 and 2 of each layer's routed
    experts), each against ``100 × seeds`` random sets of as many experts per layer."""
    from ..audit.moe import refusal_target
    from ..localize.experts import expert_control, ftri
    from ..organisms import behaviour_evaluator, build

    org = build("moe", size, 0, progress=progress, log=log)
    original, target, evaluate = org.load("orig"), refusal_target(org), behaviour_evaluator(org)
    prompts = [i.prompt for i in target.forget_items] + [i.prompt for i in target.retain_items if i.domain == "benign"]
    ranking = ftri(original, prompts, target="refused").ranking()
    comps, details = [], {}
    for k in (1, 2):
        located = [(l, e) for l, e, _ in ranking.top_per_layer(k)]
        ec = expert_control(original, located, evaluate, mode="off", n_random=100 * seeds, seed=0)
        rd = torch.tensor(ec.random_deltas("refusal_rate"), dtype=torch.float64)
        d = ec.delta("refusal_rate")
        lo, hi = torch.quantile(rd, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
        comps.append(
            {
                "name": f"refusal change, {k} expert(s) per layer off: located − random",
                "what": "the top fTRI experts vs random sets "
                "of as many experts per layer (the CI: the located change against the random sets' 2.5–97.5 % range)",
                "value": d - float(rd.mean()),
                "ci": [d - hi, d - lo],
                "n": len(rd),
                "expect": "< 0",
                "p_value": ec.p_value("refusal_rate"),
                "located_delta": d,
                "random_mean_delta": float(rd.mean()),
            }
        )
        details[f"k={k}"] = {"experts": [list(e) for e in located], "summary": ec.summary()}
    return comps, details


def _item_drops(subject, result, skills) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per skill: ``(correct before, correct after)`` per eval item, for the paired bootstrap of
    relative drops (KSD: an abstained query counts wrong)."""
    from ..localize.skills import key_space_distance
    from ..localize.skills.unlearning import answer_correct

    out = {}
    for name, sk in skills.items():
        if not sk.eval:
            continue
        before = answer_correct(subject, sk.eval)
        detected = key_space_distance(subject, result.cube, [i.prompt for i in sk.eval]) <= result.lam
        out[name] = (before, before & ~detected)
    return out


def relative_drop_draws(
    pairs: list[tuple[torch.Tensor, torch.Tensor]], n_boot: int = 2000, seed: int = 0
) -> torch.Tensor:
    """``[n_boot]`` resampled relative drops ``1 − acc_after / acc_before`` over the pooled items of every seed."""
    b = torch.cat([p[0] for p in pairs]).double()
    a = torch.cat([p[1] for p in pairs]).double()
    idx = bootstrap_indices(len(b), n_boot, seed)
    return 1 - a[idx].mean(1) / b[idx].mean(1).clamp_min(1e-9)


def _skills(size, seeds, progress, log):
    """KSD on every skill of the dense multidomain organism, each seed a new fit / eval split and
    calibration; Neuron Adjust (top 3 %) beside it, reported as measured."""
    from ..localize.skills import ksd_skill_unlearning, na_skill_unlearning, organism_skills
    from ..organisms import build

    org = build("multidomain", size, 0, progress=progress, log=log)
    subject = org.load("orig")
    names = [k for k in organism_skills(org, seed=0) if k != "benign"]  # benign chat is a retain skill only
    per = {f: {"forget": [], "retain": {}} for f in names}
    methods = {}
    for seed in range(seeds):
        skills = organism_skills(org, seed=seed)
        for f in names:
            r = ksd_skill_unlearning(subject, skills, f, seed=seed)
            drops = _item_drops(subject, r, skills)  # every skill, benign chat included
            per[f]["forget"].append(drops[f])
            for k, v in drops.items():
                if k != f:
                    per[f]["retain"].setdefault(k, []).append(v)
            na = na_skill_unlearning(subject, skills, f, top_p=0.03, seed=seed)
            for tag, res in (("ksd", r), ("na", na)):
                m = methods.setdefault(
                    f"{tag}: forget {f}",
                    {"metrics": {"forget_drop": 0.0, "max_retain_drop": 0.0}, "stopped": [], "n_params_trained": None},
                )
                m["metrics"]["forget_drop"] += (res.forget_drop or 0.0) / seeds
                m["metrics"]["max_retain_drop"] += res.max_retain_drop / seeds
    comps = []
    for f in names:
        fd = relative_drop_draws(per[f]["forget"])
        rd = (
            torch.stack([relative_drop_draws(v, seed=1 + i) for i, v in enumerate(per[f]["retain"].values())])
            .max(0)
            .values
        )
        for name, draws, what in (
            (f"KSD forget {f}: relative drop − 0.8", fd - 0.8, f"relative drop on {f} above the paper's 0.8"),
            (f"KSD forget {f}: 0.1 − worst other drop", 0.1 - rd, "the worst other skill's relative drop below 0.1"),
        ):
            lo, hi = percentile_ci(draws)
            comps.append(
                {
                    "name": name,
                    "what": what,
                    "value": float(draws.mean()),
                    "ci": [lo, hi],
                    "n": int(sum(len(p[0]) for p in per[f]["forget"])),
                    "expect": "> 0",
                }
            )
    return comps, {"methods": methods}


def rki_contrast(report: dict, run: str, metric: str, what: str) -> dict:
    """A readout's Residual Knowledge Index on ``run`` (0: the never-knew level, 1: ORIG's) with its CI."""
    m = _metric(report, run, metric)
    rki = m.get("rki") or {}
    if not rki.get("defined"):
        raise UnlearnscopeError(f"{metric} on {run!r} has no defined RKI: {rki.get('why')}")
    return {
        "name": f"{metric} RKI: {run}",
        "what": what,
        "value": rki["value"],
        "ci": list(rki["ci"]),
        "n": m["n_entities"],
        "expect": "> 0",
        "value_unlearned": m["agg_value"],
        "original": m["original"]["agg_value"],
        "reference": m["reference"]["agg_value"],
    }


def _unforgettable(size, seeds, progress, log):
    r = _audit("facts", ("random-labels",), size, seeds, progress, log, readouts=("probe",), attacks=())
    comps = [
        rki_contrast(r, "random-labels", metric, what)
        for metric, what in (
            (
                "probe_refit",
                "probes refit on the forgotten model's states decode the original answers (entity-disjoint)",
            ),
            ("probe_transfer", "ORIG's probes applied to the forgotten model's states"),
        )
    ]
    return comps, {
        "methods": _summary(r, ("random-labels",), ("recall", "retain_recall", "probe_refit", "probe_transfer")),
        "recall_rki": (_metric(r, "random-labels", "recall").get("rki") or {}).get("value"),
    }


PAPERS = {
    p.name: p
    for p in (
        Paper(
            "conceptvectors",
            "Hong, Yu, Yang, Ravfogel, Geva. Intrinsic Evaluation of Unlearning Using Parametric Knowledge Traces "
            "(arXiv 2406.11614; EMNLP 2025).",
            "At equal forgetting, fine-tuning unlearning (GA, NPO) leaves the target concept vector nearly unchanged "
            "(cosine to ORIG's ≈ 1, small change of its norm and top tokens) while Needle, which edits the vector "
            "itself, changes it.",
            "LLaMA-2-7B-chat / OLMo-7B, 285 concepts: fine-tuning methods keep cos(v, v') ≈ 1 and a high top-200 "
            "Jaccard, Needle does not (qualitative; the paper's table could not be retrieved). Causal validation with "
            "σ 0.1 noise: target QA ROUGE-L 0.676 vs unrelated 0.958 (LLaMA).",
            (
                "the concepts organism: 20 forget people whose concept (4 made-up words asked through 4 cues) is "
                "planted in one last-block neuron each, instead of Wikipedia concepts found in LLaMA; the forget data "
                "are their descriptions, not an article",
                "concept vectors: the top value vector of the vocabulary-projection scan of the person's words, "
                "without the paper's LLM judge; its causal premise is the card's first contrast (on the facts "
                "organism, where facts are stored redundantly, that premise fails: see docs/localize.md)",
                "GA and NPO run at the audit's learning rate to its stop rule (equal forget recall) instead of fixed "
                "epochs; Needle is the audit's (σ 0.1 noise, then gradient ascent on the vectors only at lr 0.2)",
                "top-20 of the organism's vocabulary for the Jaccard overlap instead of top-200 of 32k",
            ),
            run_conceptvectors,
        ),
        Paper(
            "mechanistic-unlearning",
            "Guo, Syed, Sheshadri, Ewart, Dziugaite. Robust Knowledge Unlearning and Editing via Mechanistic "
            "Localization (ICML 2025).",
            "At matched parameter budgets, unlearning on the fact-lookup (FLU) MLPs is more robust to relearning and "
            "to format attacks than unlearning on output-tracing (OT) localizations, and than on random components.",
            "Gemma-7B, 16 athletes: multiple-choice forget accuracy 0.110 (FLU) vs 0.767 (attribution patching), "
            "0.849 (causal tracing), 0.822 (random); lower recovered accuracy after relearning for FLU.",
            (
                "a 4-layer facts organism (random names, 4 relations) instead of Gemma-7B on sports facts",
                "FLU from entity-disjoint ridge probes; the organism looks facts up at the last token (blocks 2-3), "
                "not at the subject",
                "relearning: full-parameter fine-tuning on half of the forget entities (the audit's readout), not "
                "LoRA rank 512",
                "multiple choice: the organism's 4-option rendering, scored by top-1 recall of the answer, not the "
                "letter probability",
                "the audit's learning rate and stop rule (equal forget recall) instead of 50 steps at lr 1e-5; no "
                "Pile loss",
            ),
            _mechanistic,
        ),
        Paper(
            "uoe",
            "Zhuang, Zhang, Guo, Jia, Liu, Liu, Zhang. UOE / SEUF: Is Unlearning One Expert Enough for "
            "Mixture-of-Experts LLMs? (ACL 2025).",
            "At equal forgetting, unlearning only the top-affinity expert (with its router and the anchor loss) keeps "
            "the model's other abilities better than unlearning the whole model, and better than unlearning a random "
            "single expert.",
            "DeepSeek-V2-Lite / Qwen1.5-MoE on WMDP-cyber and RWKU: utility (MMLU) 0.51 vs 0.31 (GA, whole model) at "
            "forget efficacy ≈ 0.25; RMU+random expert forgets less (0.35 vs 0.25 on Qwen WMDP).",
            (
                "the MoE organism's refusal behaviour as the forget target, its facts / arithmetic / code and benign "
                "chat as utility, not WMDP / RWKU and MMLU",
                "gradient ascent as the base method for every arm; the audit's stop rule (equal refusal rate) instead "
                "of a checkpoint chosen for 'best balance'",
                "attribution on the organism's refusal prompts (a few thousand tokens, below the paper's 100k)",
            ),
            _uoe,
        ),
        Paper(
            "mote",
            "Dahlke, Klagges, Zecha, Merkel, Rohr, Klemm. Mixture of Tunable Experts: Behavior Modification of "
            "DeepSeek-R1 at Inference Time (2025).",
            "Switching off the experts that fTRI ranks highest for a behaviour removes the behaviour; switching off "
            "as many random experts does not.",
            "DeepSeek-R1: switching off the top-10 refusal experts cut refusals by 52 % on sensitive prompts; random "
            "deactivation had a smaller, noisier effect.",
            (
                "the MoE organism's trained refusal instead of R1's politically sensitive refusals",
                "fTRI differential token counts per layer, experts switched off by pre-selection mask (the next "
                "expert fills the slot)",
                "1 and 2 experts per layer (2 and 4 of the organism's 16 routed experts) instead of R1's 10 of "
                "14,848; the random sets are matched in layer and count, drawn from the other experts",
                "the located set is deterministic: its CI is its change against the random sets' 2.5–97.5 % range; "
                "seeds multiply the number of random sets (100 per seed) and the organism is built once (seed 0)",
            ),
            _mote,
        ),
        Paper(
            "skill-unlearning",
            "Li, Sun, Weng. Effective Skill Unlearning through Intervention and Abstention (NAACL 2025).",
            "Key Space Detection (abstaining when a query's FFN key falls in the forget skill's hypercube) drops the "
            "forgotten skill by at least 80 % (relative) while every other skill drops by at most 10 %.",
            "Llama-3-8B / gemma-2B on GSM8K, MBPP, MLQA languages and MMLU: KSD > 80 % relative drop on the forget "
            "skill, < 10 % on the others for most tasks (k* ≈ 17 for GSM8K).",
            (
                "the dense multidomain organism's skills (facts, arithmetic, code, refusal; benign chat as another "
                "skill) instead of GSM8K / MBPP / MLQA / MMLU, scored by top-1 of the answer's first token",
                "the cube's layer and λ chosen on the fit half of each skill's items (the paper fixes the last layer "
                "and a λ per task)",
                "seeds: new fit / eval splits and calibrations; CIs from a paired bootstrap over the pooled eval items",
                "Neuron Adjust (top 3 % of gate pre-activations, paper-faithful statistics) is run beside KSD and "
                "reported in the runs table without a claim",
            ),
            _skills,
        ),
        Paper(
            "unforgettable-generalization",
            "Zhang, Choshen, Andreas. Unforgettable Generalization in Language Models (COLM 2024).",
            "After forgetting by fine-tuning on random labels, behaviour falls to chance but linear probes on the "
            "hidden states still recover the original labels well above chance: the forgetting is shallow.",
            "Llama-2-7B, 21 binarised multiple-choice tasks: a probe at the question's last token (5th-to-last layer) "
            "is about as accurate after forgetting as before, while accuracy on, e.g., RTE falls to 0.50.",
            (
                "the facts organism's cloze facts (20 or more answers per relation) instead of binary multiple-choice "
                "tasks",
                "recall falls to the audit's stop rule (forget recall 0.1), not to a fixed number of random-label "
                "steps",
                "probes: closed-form ridge per layer with entity-disjoint folds at the last token, all layers, scored "
                "against the never-knew models (RKI 0) and ORIG (RKI 1) rather than against chance alone",
            ),
            _unforgettable,
        ),
    )
}

NOT_YET: dict[str, str] = {}  # paper -> why its replication is not available yet


def replicate(
    paper: str,
    *,
    size: str = "small",
    seeds: int = 3,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    command: str | None = None,
) -> ReplicationCard:
    """Run ``paper``'s central comparison (module doc) and return its card."""
    if paper in NOT_YET:
        raise UnlearnscopeError(
            f"the {paper} replication is not available yet: it {NOT_YET[paper]}; available: {sorted(PAPERS)}"
        )
    if paper not in PAPERS:
        raise UnlearnscopeError(f"unknown paper {paper!r}; choose from {sorted(PAPERS)}")
    if seeds < 3:
        raise UnlearnscopeError(f"a replication needs at least 3 unlearning seeds, got {seeds}")
    p = PAPERS[paper]
    t0 = time.perf_counter()
    comparisons, details = p.run(size, seeds, progress, log or (lambda m: None))
    return ReplicationCard.of(
        p.name,
        p.citation,
        p.claim,
        p.paper_number,
        comparisons,
        differences=list(p.differences),
        command=command or f"unlearnscope replicate {paper} --size {size} --seeds {seeds} --json",
        seeds=list(range(seeds)),
        size=size,
        seconds=round(time.perf_counter() - t0, 1),
        details=details,
    )
