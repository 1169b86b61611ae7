"""Measured quality of organisms, and the bars they must meet.

Facts: ORIG >= 95% top-1 on trained renderings (cloze + QA + trained paraphrases) for forget and
retain entities and >= 80% on held-out paraphrases (the paraphrase template for the entities it
was not trained on); REF at chance on forget facts (at most the majority-value baseline plus three
standard errors) and >= 95% on retain.  Strict paraphrases (never trained for anyone) and
multiple-choice renderings are reported, not barred.
MoE: ORIG >= 95% per domain (facts and arithmetic on trained items, code on held-out programs),
refusal rate >= 95% on the marked topic and <= 5% on benign prompts.
"""

from __future__ import annotations

import math
from collections import Counter

import torch

from ..data import Item
from .train import predict
from .world import World

BARS = {
    "facts": {"orig_trained_min": 0.95, "orig_paraphrase_min": 0.80, "ref_retain_min": 0.95},
    # concepts: recall of the descriptions; zeroing a person's planted neuron: their recall's mean drop, the
    # others' (worst person)
    "concepts": {
        "orig_concepts_min": 0.85,
        "ref_forget_concepts_max": 0.05,
        "own_drop_min": 0.5,
        "others_drop_max": 0.05,
    },
    "multidomain": {"domain_min": 0.95, "refusal_min": 0.95, "benign_refusal_max": 0.05},
}


def _predicted(model, tok, world: World) -> list[tuple[Item, str]]:
    """Every item of the world with the model's top-1 next word (one batched pass)."""
    return list(zip(world.items, predict(model, tok, world.items), strict=True))


def _rate(pairs: list[tuple[Item, str]], keep, word: str | None = None) -> float | None:
    """Share of kept items whose prediction is ``word`` (default: the item's answer)."""
    hits = [p == (word or it.answer) for it, p in pairs if keep(it)]
    return round(sum(hits) / len(hits), 4) if hits else None


def chance_level(world: World, split: str = "forget") -> dict:
    """Majority-value baseline on ``split`` facts (value most common among retain entities)."""
    ents = world.ground_truth["entities"]
    common = {
        r: Counter(e["facts"][r] for e in ents if e["split"] == "retain").most_common(1)[0][0]
        for r in world.ground_truth["relations"]
    }
    facts = [(r, v) for e in ents if e["split"] == split for r, v in e["facts"].items()]
    p = sum(v == common[r] for r, v in facts) / max(1, len(facts))
    uniform = sum(1 / len(world.ground_truth["relations"][r]) for r, _ in facts) / max(1, len(facts))
    bound = max(p, uniform) + 3 * math.sqrt(max(p, uniform) * (1 - max(p, uniform)) / max(1, len(facts)))
    return {
        "majority": round(p, 4),
        "uniform": round(uniform, 4),
        "upper_bound": round(bound, 4),
        "n_facts": len(facts),
    }


def facts_quality(model, tok, world: World) -> dict:
    trained_kinds = ("cloze", "qa", "paraphrase_train")
    pairs = _predicted(model, tok, world)
    out = {}
    for split in ("forget", "retain", "never-seen"):
        ps = [(it, p) for it, p in pairs if it.split == split]
        out[split] = {
            "trained_renderings": _rate(ps, lambda i: i.kind in trained_kinds),
            "cloze": _rate(ps, lambda i: i.kind == "cloze"),
            "qa": _rate(ps, lambda i: i.kind == "qa"),
            "paraphrase_heldout": _rate(ps, lambda i: i.kind == "paraphrase"),
            "strict_paraphrase": _rate(ps, lambda i: i.kind == "strict"),
            "strict_paraphrase_by_relation": {
                r: _rate(ps, lambda i, r=r: i.kind == "strict" and i.relation == r)
                for r in world.ground_truth["relations"]
            },
            "multiple_choice": _rate(ps, lambda i: i.kind == "mc"),
        }
    return out


def facts_bars(orig: dict, ref: dict, chance: dict) -> dict:
    b = BARS["facts"]
    return {
        "orig_trained_forget": orig["forget"]["trained_renderings"] >= b["orig_trained_min"],
        "orig_trained_retain": orig["retain"]["trained_renderings"] >= b["orig_trained_min"],
        "orig_paraphrase_heldout": min(
            orig["forget"]["paraphrase_heldout"] or 0, orig["retain"]["paraphrase_heldout"] or 0
        )
        >= b["orig_paraphrase_min"],
        "ref_forget_at_chance": ref["forget"]["trained_renderings"] <= chance["upper_bound"],
        "ref_retain": ref["retain"]["trained_renderings"] >= b["ref_retain_min"],
    }


def concepts_quality(model, tok, world: World) -> dict:
    """`facts_quality` plus top-1 recall of the descriptions per split (and of the background people's)."""
    out = facts_quality(model, tok, world)
    pairs = [(it, p) for it, p in _predicted(model, tok, world) if it.domain == "concepts"]
    out["concepts"] = {sp: _rate(pairs, lambda i, sp=sp: i.split == sp) for sp in ("forget", "retain", "background")}
    return out


@torch.no_grad()
def concepts_ground_truth(model, tok, world: World) -> dict:
    """Per described person, on ORIG: the recall drop of their descriptions when their planted
    neuron's value vector is zeroed, and the other people's mean drop (restored after each)."""
    from .implant import is_description, reserved_block

    gt = world.ground_truth["concepts"]
    items = [i for i in world.items if is_description(i)]
    layer, first, _ = reserved_block(model, world, world.ground_truth.get("concept_layer", -1))
    values = model.transformer.h[layer].mlp.c_proj.weight  # [d_mlp, d_model]: row j is neuron j's value vector

    def by_person() -> dict[str, float]:
        hits: dict[str, list[bool]] = {}
        for it, p in zip(items, predict(model, tok, items), strict=True):
            hits.setdefault(it.subject, []).append(p == it.answer)
        return {k: sum(v) / len(v) for k, v in hits.items()}

    base = by_person()
    rows = {}
    for person, c in gt.items():
        neuron = first + c["neuron"]
        kept = values[neuron].clone()
        values[neuron] = 0
        try:
            after = by_person()
        finally:
            values[neuron] = kept
        others = [base[k] - after[k] for k in base if k != person]
        rows[person] = {
            "vector": f"blocks.{layer}.mlp.value:{neuron}",
            "own_drop": round(base[person] - after[person], 4),
            "others_mean_drop": round(sum(others) / len(others), 4),
        }
    n = len(rows)
    return {
        "layer": layer,
        "first_neuron": first,
        "people": rows,
        "mean_own_drop": round(sum(r["own_drop"] for r in rows.values()) / n, 4),
        "max_others_mean_drop": round(max(r["others_mean_drop"] for r in rows.values()), 4),
    }


def concepts_bars(orig: dict, ref: dict, chance: dict, truth: dict) -> dict:
    b = BARS["concepts"]
    return {
        **facts_bars(orig, ref, chance),
        "orig_concepts": min(orig["concepts"]["forget"], orig["concepts"]["retain"]) >= b["orig_concepts_min"],
        "ref_forget_concepts_unknown": ref["concepts"]["forget"] <= b["ref_forget_concepts_max"],
        "ref_retain_concepts": ref["concepts"]["retain"] >= b["orig_concepts_min"],
        "planted_neurons_carry_concepts": truth["mean_own_drop"] >= b["own_drop_min"]
        and truth["max_others_mean_drop"] <= b["others_drop_max"],
    }


def multidomain_quality(model, tok, world: World) -> dict:
    pairs = _predicted(model, tok, world)
    return {
        "facts": _rate(pairs, lambda i: i.domain == "facts" and i.train),
        "arith": _rate(pairs, lambda i: i.domain == "arith"),
        "code_heldout": _rate(pairs, lambda i: i.domain == "code" and not i.train),
        "code_train": _rate(pairs, lambda i: i.domain == "code" and i.train),
        "refusal_rate_marked": _rate(pairs, lambda i: i.domain == "refusal", "i"),
        "refusal_rate_marked_heldout": _rate(pairs, lambda i: i.domain == "refusal" and not i.train, "i"),
        "refusal_rate_benign": _rate(pairs, lambda i: i.domain == "benign", "i"),
        "compliance_benign": _rate(pairs, lambda i: i.domain == "benign", "sure"),
        "compliance_benign_heldout": _rate(pairs, lambda i: i.domain == "benign" and not i.train, "sure"),
    }


def multidomain_bars(orig: dict) -> dict:
    b = BARS["multidomain"]
    return {
        "orig_facts": orig["facts"] >= b["domain_min"],
        "orig_arith": orig["arith"] >= b["domain_min"],
        "orig_code": orig["code_heldout"] >= b["domain_min"],
        "orig_benign_compliance": orig["compliance_benign"] >= b["domain_min"],
        "orig_refusal_marked": orig["refusal_rate_marked"] >= b["refusal_min"],
        "orig_refusal_benign": orig["refusal_rate_benign"] <= b["benign_refusal_max"],
    }


@torch.no_grad()
def expert_specialisation(subject, world: World, batch_size: int = 128) -> dict:
    """How much experts specialise by domain: per layer, the fraction of each domain's tokens for
    which each expert is in the top-k (rows sum to k), each expert's max/mean ratio over domains,
    and the mean KL divergence (nats) of each domain's selection distribution from the average."""
    from ..model.activations import capture
    from .train import encode

    a = subject.anatomy
    doms = world.ground_truth["domains"]
    freq = torch.zeros(a.n_layers, len(doms), a.n_experts)
    for j, dom in enumerate(doms):
        items = [i for i in world.items if i.domain == dom]
        ids, lengths = encode(subject.tokenizer, [i.text for i in items], subject.device)
        n_tok = 0
        for s in range(0, len(items), batch_size):
            b_ids = ids[s : s + batch_size, : int(lengths[s : s + batch_size].max())]
            mask = (b_ids != subject.tokenizer.pad_token_id).reshape(-1)
            with capture(subject, "blocks.*.moe.hook_topk_idx") as cache:
                subject.model(input_ids=b_ids, attention_mask=mask.view_as(b_ids).long())
            for l in a.moe_layers:
                idx = cache[f"blocks.{l}.moe.hook_topk_idx"][mask.to(cache[f"blocks.{l}.moe.hook_topk_idx"].device)]
                freq[l, j] += torch.bincount(idx.reshape(-1).cpu(), minlength=a.n_experts).float()
            n_tok += int(mask.sum())
        freq[:, j] /= max(1, n_tok)
    spec = freq.max(1).values / freq.mean(1).clamp_min(1e-9)  # [layer, expert]
    p = freq / a.top_k
    avg = p.mean(1, keepdim=True)
    kl = (p * (p.clamp_min(1e-9) / avg.clamp_min(1e-9)).log()).sum(-1).mean(-1)  # [layer]
    return {
        "domains": doms,
        "selection_frequency": [[[round(x, 3) for x in row] for row in layer] for layer in freq.tolist()],
        "specialisation_max_over_mean": [[round(x, 2) for x in layer] for layer in spec.tolist()],
        "top_domain_per_expert": [[doms[j] for j in layer] for layer in freq.argmax(1).tolist()],
        "mean_kl_domain_vs_average": [round(x, 3) for x in kl.tolist()],
        "kl_max_possible": round(math.log(a.n_experts / a.top_k), 3),
    }
