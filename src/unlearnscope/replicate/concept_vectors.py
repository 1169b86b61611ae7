"""The ConceptVectors comparison (Hong et al.) on the concepts organism: at equal forgetting, do
gradient ascent and NPO leave each forget person's concept vector nearly as it was, while Needle
changes it?

* The forget data: the forget people's descriptions (four cues, one concept word each); the
  retain data: the retain people's.
* Concept vector of a person: the top value vector of `scan_concept` for the person's four concept
  words (the paper's vocabulary-projection localisation, without its LLM judge); the organism's
  planted neuron is the ground truth it is checked against (``details["found_planted"]``).
* Its causal premise is measured on ORIG first, as the paper validates: N(0, 0.1²) noise and
  zeroing on the vector, each entity's recall against the other entities' (`validate_concept_vectors`).
* The methods are the facts audit's own (the audit methods ``ga``, ``npo``, ``needle`` of `audit.methods`: paper
  settings, the audit's budget and stop rule) on fresh copies of ORIG, each seed a new batch
  order (Needle: new noise); Needle's vectors are the forget people's concept vectors.
* Per entity and seed: ``cos(v, v')``, the relative change ``‖v' − v‖ / ‖v‖`` and the Jaccard
  overlap of the top-20 tokens of the raw projections ``W_U v`` (the paper uses 200 of 32k tokens;
  20 of the organism's ~500).  Contrasts pair the entities' seed means.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..evaluate.stats import mean_ci

ARMS = ("ga", "npo", "needle")  # the audit methods the card compares
TOP_TOKENS = 20


def _entity_facts(target) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in target.forget:
        out.setdefault(f.subject, []).append(f)
    return out


def concepts_target(org):
    """The concepts organism's forget people's descriptions against the retain people's, as an audit `Target`."""
    from ..audit.target import Target
    from ..data import Fact
    from ..organisms.truth import organism_items

    items = organism_items(org, "concepts")
    forget, retain = [i for i in items if i.split == "forget"], [i for i in items if i.split == "retain"]
    fact = lambda i: Fact(i.prompt, i.answer, i.subject, i.relation)
    return Target(
        name=f"{org.name}-forget",
        source=f"organism:{org.name} (size {org.size}, seed {org.seed})",
        forget=[fact(i) for i in forget],
        retain=[fact(i) for i in retain],
        formats={},
        restatements=None,
        incontext_pool=None,
        forget_items=forget,
        retain_items=retain,
        bos=org.ground_truth.get("bos"),
    )


def concept_vector_rows(subject, words: dict[str, list[str]]) -> dict[str, dict]:
    """Per person: the scan's top row (layer, neuron, score, top tokens) for their concept words."""
    from ..localize.concepts import scan_concept

    return {name: scan_concept(subject, " ".join(ws), top=1).top[0] for name, ws in words.items()}


def premise(subject, rows: dict[str, dict], by_entity: dict[str, list], target) -> dict:
    """Each concept vector perturbed on ORIG (noise σ 0.1, then zeroing): mean recall drops of its
    person's descriptions and of 50 other descriptions (the paper's 50 unrelated questions)."""
    from ..localize.concepts import validate_concept_vectors

    others = lambda name: [f for f in list(target.forget) + list(target.retain) if f.subject != name][::7][:50]
    concepts = [{"vector": rows[n], "target": by_entity[n], "unrelated": others(n)} for n in rows]
    out = {}
    for mode in ("noise", "zero"):
        vals = validate_concept_vectors(subject, concepts, mode=mode, max_new_tokens=2)
        out[mode] = {
            "target_acc_drop": sum(v.target_acc_drop for v in vals) / len(vals),
            "unrelated_acc_drop": sum(v.unrelated_acc_drop for v in vals) / len(vals),
            "specific": sum(bool(v.specific) for v in vals),
            "n": len(vals),
            "specificity_by_entity": [v.target_acc_drop - v.unrelated_acc_drop for v in vals],
        }
    return out


def premise_contrast(checked: dict) -> dict:
    """The paper keeps only vectors whose perturbation (σ 0.1 noise) hurts their concept more than
    others: per entity, its recall drop minus the unrelated facts' drop."""
    d = torch.tensor(checked["noise"]["specificity_by_entity"], dtype=torch.float64)
    value, lo, hi = mean_ci(d)
    return {
        "name": "premise: target − unrelated recall drop (noise σ 0.1)",
        "value": value,
        "ci": [lo, hi],
        "n": len(d),
        "expect": "> 0",
        "what": "on ORIG, noise on a person's concept vector costs that person's descriptions more than the others' "
        "(the paper's causal validation)",
    }


def notes(methods: dict, checked: dict, found: int, n: int) -> list[str]:
    """What the run's own numbers qualify."""
    z, nz = checked["zero"], checked["noise"]
    out = [
        f"the scan's top vector is the person's planted neuron for {found} of {n} forget people; on ORIG, σ 0.1 noise "
        "on it drops "
        f"the person's recall by {nz['target_acc_drop']:.3f} (others {nz['unrelated_acc_drop']:.3f}; {nz['specific']} "
        f"of {n} specific), "
        f"zeroing it by {z['target_acc_drop']:.3f} (others {z['unrelated_acc_drop']:.3f}; {z['specific']} of {n} "
        "specific)",
        "retain recall at the forget level (the retain people's descriptions): "
        + ", ".join(f"{m} {v['metrics']['retain_recall']:.3f}" for m, v in methods.items()),
    ]
    return out


def vector_change(
    subject, original_vectors: dict[str, torch.Tensor], rows: dict[str, dict], original_top: dict[str, set]
) -> dict[str, dict]:
    """Per entity: cos(v, v'), ‖v' − v‖ / ‖v‖ and the top-token Jaccard of the edited model's vector."""
    from ..localize.concepts.vocab import top_tokens

    out = {}
    for name, r in rows.items():
        v0 = original_vectors[name]
        v1 = subject.anatomy.values(r["layer"], r["expert"])[r["neuron"]].detach().float().cpu()
        ids = set(top_tokens(subject, v1.to(subject.device), k=TOP_TOKENS)[0].tolist())
        out[name] = {
            "cos": float(torch.nn.functional.cosine_similarity(v0, v1, dim=0)),
            "rel_change": float((v1 - v0).norm() / v0.norm()),
            "jaccard": len(ids & original_top[name]) / len(ids | original_top[name]),
        }
    return out


def _contrast(per: dict, metric: str, a: str, b: str, expect: str, what: str) -> dict:
    names = sorted(per[a])
    mean = lambda m, n: sum(x[metric] for x in per[m][n]) / len(per[m][n])  # the seed mean
    d = torch.tensor([mean(a, n) - mean(b, n) for n in names], dtype=torch.float64)
    value, lo, hi = mean_ci(d)
    return {
        "name": f"{metric}: {a} − {b}",
        "what": what,
        "value": value,
        "ci": [lo, hi],
        "n": len(names),
        "expect": expect,
        "a": sum(mean(a, n) for n in names) / len(names),
        "b": sum(mean(b, n) for n in names) / len(names),
    }


def _run_arms(org, ctx, rows: dict, v0: dict, top0: dict, target, seeds: int, log) -> tuple[dict, dict]:
    """Each arm (GA, NPO, Needle: the audit's methods) on a fresh ORIG per seed: per concept
    vector its change from ORIG, per arm the seed-mean recall, retain recall and vector changes."""
    from ..audit.methods import AUDIT_METHODS
    from ..organisms.train import accuracy

    runs = {m: AUDIT_METHODS[m].run for m in ARMS}
    per = {m: {n: [] for n in rows} for m in ARMS}
    methods = {}
    for seed in range(seeds):
        for m in ARMS:
            log(f"concept vectors: {m}, seed {seed}")
            subject = org.load("orig")
            info = runs[m](replace(ctx, seed=seed), subject)
            for n, ch in vector_change(subject, v0, rows, top0).items():
                per[m][n].append(ch)
            u = info["unlearning"]
            entry = methods.setdefault(
                m,
                {
                    "metrics": {"recall": 0.0, "retain_recall": 0.0, "cos": 0.0, "rel_change": 0.0, "jaccard": 0.0},
                    "stopped": [],
                    "n_params_trained": u["n_params_trained"],
                },
            )
            entry["stopped"].append(u["stopped"])
            entry["metrics"]["recall"] += accuracy(subject.model, subject.tokenizer, target.forget_items) / seeds
            entry["metrics"]["retain_recall"] += accuracy(subject.model, subject.tokenizer, target.retain_items) / seeds
            for k in ("cos", "rel_change", "jaccard"):
                entry["metrics"][k] += sum(per[m][n][-1][k] for n in rows) / len(rows) / seeds
            del subject
    return per, methods


def run_conceptvectors(size: str, seeds: int, progress: bool, log):
    from ..audit.config import AuditConfig
    from ..audit.plan import AuditContext
    from ..localize.concepts.vocab import top_tokens
    from ..organisms import build

    org = build("concepts", size, 0, progress=progress, log=log)
    original = org.load("orig")
    target = concepts_target(org)
    by_entity = _entity_facts(target)
    gt = org.ground_truth["concepts"]
    rows = concept_vector_rows(original, {p: gt[p]["words"] for p in by_entity})
    layer, first = (
        org.manifest["quality"]["concept_neurons"]["layer"],
        org.manifest["quality"]["concept_neurons"]["first_neuron"],
    )
    found = sum((r["layer"], r["neuron"]) == (layer, first + gt[p]["neuron"]) for p, r in rows.items())
    v0 = {
        n: original.anatomy.values(r["layer"], r["expert"])[r["neuron"]].detach().float().cpu().clone()
        for n, r in rows.items()
    }
    top0 = {n: set(top_tokens(original, v.to(original.device), k=TOP_TOKENS)[0].tolist()) for n, v in v0.items()}
    log("concept vectors: validating on ORIG")
    checked = premise(original, rows, by_entity, target)
    unique = sorted({(r["layer"], r["neuron"]) for r in rows.values()})
    ctx = AuditContext(
        AuditConfig(organism="facts", size=size, quick=True),
        target,
        original,
        {"vectors": [{"layer": l, "neuron": j} for l, j in unique]},
        progress=False,
    )
    per, methods = _run_arms(org, ctx, rows, v0, top0, target, seeds, log)
    comps = [premise_contrast(checked)]
    comps += [
        _contrast(per, "cos", m, "needle", "> 0", f"cosine of each concept vector to ORIG's: {m.upper()} minus Needle")
        for m in ("ga", "npo")
    ]
    comps += [
        _contrast(
            per, "rel_change", "needle", m, "> 0", f"relative change of each concept vector: Needle minus {m.upper()}"
        )
        for m in ("ga", "npo")
    ]
    details = {
        "methods": methods,
        "premise": checked,
        "n_vectors": len(unique),
        "found_planted": found,
        "notes": notes(methods, checked, found, len(rows)),
        "concept_vectors": {
            n: {
                "vector": f"blocks.{r['layer']}.mlp.value:{r['neuron']}",
                "score": round(r["score"], 3),
                "top_tokens": r["top_tokens"][:8],
            }
            for n, r in rows.items()
        },
    }
    return comps, details
