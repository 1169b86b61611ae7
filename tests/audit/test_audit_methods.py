"""Every facts method of the audit at its paper's settings, run once on the small facts organism
(one seed, no verification): what each one trains, at which budget, and that it reaches the shared
forget recall.  The full audit of the default methods is in test_audit_facts.py."""

import pytest
import torch

from unlearnscope.audit.config import AuditConfig
from unlearnscope.audit.facts import localize_target
from unlearnscope.audit.methods import AUDIT_METHODS
from unlearnscope.audit.plan import AuditContext
from unlearnscope.audit.target import organism_target
from unlearnscope.model.components import ComponentSet
from unlearnscope.organisms.train import accuracy


@pytest.fixture(scope="module")
def facts_ctx(small_organism):
    torch.manual_seed(0)
    org = small_organism("facts")
    target = organism_target(org)
    orig = org.load("orig")
    loc = localize_target(
        orig, target, top_components=2, top_vectors=10, n_random=5, seed=0, max_vectors=64, budgets=True
    )
    cfg = AuditConfig(organism="facts", size="small", max_steps=150)
    return org, AuditContext(cfg, target, orig, loc, progress=False, seed=0)


def _run(facts_ctx, name):
    org, ctx = facts_ctx
    subject = org.load("orig")
    info = AUDIT_METHODS[name].run(ctx, subject)
    return subject, info, accuracy(subject.model, subject.tokenizer, ctx.target.forget_items)


def test_budget_matched_localizations_in_the_audit(facts_ctx):
    _, ctx = facts_ctx
    m = ctx.localization["matched"]
    assert m["flu_layers"] == [2, 3] and m["flu_role"] == "last"  # the organism's lookup MLPs
    assert m["flu"]["components"] == ["blocks.2.mlp", "blocks.3.mlp"]
    for k in ("ot", "random"):
        assert m[k]["n_params"] >= m["flu"]["n_params"]


@pytest.mark.parametrize("name,forget_weight", [("flu", 5.0), ("ot", 0.1), ("random", 0.1)])
def test_guo_methods_train_their_matched_region_with_log1mp(facts_ctx, name, forget_weight):
    _, ctx = facts_ctx
    subject, info, recall = _run(facts_ctx, name)
    u = info["unlearning"]
    assert (
        u["method"] == "log1mp"
        and u["settings"]["forget_weight"] == forget_weight
        and u["settings"]["schedule"] == "cosine"
    )
    assert info["region"] == ctx.localization["matched"][name]["components"]
    assert u["n_params_trained"] == ctx.localization["matched"][name]["n_params"]
    if u["stopped"] == "forget_metric":
        assert recall <= ctx.config.stop_at + 1e-6
    assert u["forget_recall_curve"][-1][1] < u["forget_recall_curve"][0][1]  # it forgets


@pytest.mark.parametrize("name", ["npo", "simnpo"])
def test_npo_family_reaches_the_shared_forget_recall(facts_ctx, name):
    _, ctx = facts_ctx
    subject, info, recall = _run(facts_ctx, name)
    u = info["unlearning"]
    assert u["settings"]["beta"] == {"npo": 0.1, "simnpo": 2.5}[name] and info["region"] is None
    assert u["stopped"] == "forget_metric" and recall <= ctx.config.stop_at + 1e-6


def test_rmu_trains_wmdps_three_mlps(facts_ctx):
    _, ctx = facts_ctx
    subject, info, recall = _run(facts_ctx, "rmu")
    a = subject.anatomy  # 4 layers: the middle layer is 2, so blocks 0-2's output projections
    assert info["region"] == [f"blocks.{l}.mlp.value:0-{a.d_mlp - 1}" for l in (0, 1, 2)]
    assert info["unlearning"]["n_params_trained"] == 3 * a.d_mlp * a.d_model
    u = info["unlearning"]
    assert u["lr"] == ctx.config.rmu_lr and u["settings"]["rmu_scale"] == 5.0
    assert (
        u["forget_recall_curve"][-1][1] < u["forget_recall_curve"][0][1] - 0.2
    )  # it forgets (slowly: see the audit docs)


def test_needle_changes_only_the_located_vectors(facts_ctx):
    org, ctx = facts_ctx
    subject, info, recall = _run(facts_ctx, "needle")
    orig = ctx.original
    vec = ComponentSet.parse(subject, info["region"])
    assert info["needle_noise"]["n_vectors"] == len(ctx.localization["vectors"]) == len(info["region"])
    masks = vec.masks(subject)
    for (n, p), (_, p0) in zip(subject.model.named_parameters(), orig.model.named_parameters(), strict=True):
        if n in masks:
            assert torch.equal(p[~masks[n]], p0[~masks[n]]) and not torch.equal(p[masks[n]], p0[masks[n]])
        else:
            assert torch.equal(p, p0)
    # its NOISE: the same noise on the same vectors, then the same training on held-out data
    noise = org.load("orig")
    n = AUDIT_METHODS["needle"].noise(ctx, noise, [info], ctx.target.noise_items)
    assert n["n_vectors"] == len(info["region"]) and n["then"]["n_params_trained"] == vec.n_params
    for (name, p), (_, p0) in zip(noise.model.named_parameters(), orig.model.named_parameters(), strict=True):
        assert torch.equal(p, p0) if name not in masks else torch.equal(p[~masks[name]], p0[~masks[name]])
    u = info["unlearning"]
    assert (
        u["lr"] == 0.2
        and u["settings"]["warmup_steps"] == len(ctx.target.forget_items) // 32
        and u["settings"]["loss_on"] == "text"
    )


def test_random_label_forgetting_relabels_within_the_relation_and_forgets_the_true_answers(facts_ctx):
    from unlearnscope.audit.methods.random_labels import random_labels

    _, ctx = facts_ctx
    t = ctx.target
    relabelled = random_labels(t.forget_items, list(t.forget) + list(t.retain), seed=0)
    answers = {}
    for f in list(t.forget) + list(t.retain):
        answers.setdefault(f.relation, set()).add(f.answer)
    assert all(
        r.answer != i.answer and r.answer in answers[i.relation] and r.prompt == i.prompt
        for r, i in zip(relabelled, t.forget_items, strict=True)
    )
    pool = list(t.forget) + list(t.retain)
    assert (
        random_labels(t.forget_items, pool, seed=0) == relabelled != random_labels(t.forget_items, pool, seed=1)
    )  # seeded
    subject, info, recall = _run(facts_ctx, "random-labels")
    u = info["unlearning"]
    assert u["method"] == "relabel" and info["region"] is None
    assert (
        u["stopped"] == "forget_metric" and recall <= ctx.config.stop_at + 1e-6
    )  # the true answers are gone from behaviour
