"""Fact-recall localization on the small facts organism, checked against its known ground truth
(MLP0 at the subject tokens, then last-token processing in the top layers),
against each other and against random controls; and the MoE organism."""

import pytest
import torch

from unlearnscope.data import Fact
from unlearnscope.errors import OutOfRangeError, UnlearnscopeError
from unlearnscope.localize.concepts import scan_concept, validate_concept_vector, validate_concept_vectors
from unlearnscope.localize.facts import (
    FactLocalization,
    activation_patching,
    agreement,
    attribution_patching,
    causal_trace,
    fact_lookup,
    random_control,
    subject_swap,
    unit_attribution,
)
from unlearnscope.model.components import ComponentSet
from unlearnscope.organisms import world_facts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def facts_org(small_organism):
    org = small_organism("facts")
    return org, org.load("orig"), world_facts(org, "forget", ("cloze",)), world_facts(org, "retain", ("cloze",))


def test_causal_tracing_recovers_the_organism_ground_truth(facts_org):
    org, s, forget, _ = facts_org
    tr = causal_trace(s, forget, samples=2)
    assert tr.baseline["p_clean"] - tr.baseline["p_corrupted"] > 0.4
    e = {k: tr.effects[i] for i, k in enumerate(tr.kinds)}
    r = {k: i for i, k in enumerate(tr.roles)}
    L = s.anatomy.n_layers
    # the final residual at the last token carries (almost) everything that is recoverable
    assert tr.top_components(1)[0] == {**tr.top_components(1)[0], "kind": "resid", "layer": L - 1, "position": "last"}
    # nothing flows through the tokens before the subject
    assert e["resid"][:, r["before"]].abs().max() < 0.02
    # MLP0 at the subject is the organism's "extended embedding": it beats every later MLP there
    subj = [r["subj_first"], r["subj_last"]]
    assert e["mlp"][0, subj].max() > 0.05
    assert e["mlp"][0, subj].max() > e["mlp"][1:, subj].max()
    # the last-position residual effect grows with depth (processing happens at the last token)
    assert torch.all(e["resid"][1:, r["last"]] >= e["resid"][:-1, r["last"]] - 0.02)
    window = causal_trace(s, forget[:24], kinds=("mlp",), samples=1, window=3)
    assert window.effects.shape == (1, L, len(window.roles))


def test_attribution_agrees_with_activation_patching_and_beats_random_units(facts_org):
    org, s, forget, retain = facts_org
    ap = activation_patching(s, forget)
    at = attribution_patching(s, forget)
    assert ap.baseline == pytest.approx(at.baseline)
    rho = agreement(at, ap)
    assert rho >= 0.8, rho
    assert at.validation["spearman_vs_activation_patching"] == rho
    # denoising the final residual at the last token restores the clean answer exactly
    assert ap.effects[ap.kinds.index("resid"), -1, ap.roles.index("last")] == pytest.approx(1.0, abs=1e-4)
    comps = at.components(top_k=3, subject=s)
    assert len(comps.names) == 3 and all(n.startswith("blocks.") for n in comps.names)

    units = unit_attribution(s, forget)
    top = [(l, k, j) for l, k, j, _ in units.top(20)]
    rc = random_control(s, top, forget, retain[:96], n_random=100, seed=1)
    assert rc.n_random == 100 and len(rc.random_target_drops) == 100
    assert rc.p_value < 0.05, (rc.target_drop, max(rc.random_target_drops))
    assert rc.target_drop > rc.unrelated_drop  # the located units matter more for the target facts
    assert rc.plot().data


def test_fact_lookup_probes_match_the_organism(facts_org):
    org, s, forget, retain = facts_org
    lk = fact_lookup(s, forget + retain)
    acc = lk.baseline["accuracy"]  # [depth, role]
    sub, last = lk.roles.index("subj_last"), lk.roles.index("last")
    chance = lk.baseline["majority"]
    # entity-disjoint probes: the subject token holds no shared code for random facts (chance) ...
    assert acc[:, sub].max() < chance + 0.15
    # ... the last token does once the top blocks have run
    assert acc[-1, last] > chance + 0.3
    assert int(lk.effects[0, :, last].argmax()) >= 1
    best = int(lk.effects[0].max(-1).values.argmax())  # the block whose gain is largest at any role
    assert lk.components(top_k=1, subject=s, kinds=("mlp",)).names == [f"blocks.{best}.mlp"]


def test_no_single_value_vector_carries_an_entity_of_the_facts_organism(facts_org):
    """Ground truth of the facts organism (a control for the concepts organism, where concept
    vectors exist): zeroing the scan's top vector for an entity leaves its recall where it was,
    because each fact is stored redundantly across many neurons."""
    org, s, forget, retain = facts_org
    name = forget[0].subject
    mine = [f for f in forget if f.subject == name]
    others = [f for f in forget + retain if f.subject != name][:200]
    scan = scan_concept(s, name + " " + " ".join({f.answer for f in mine}), top=1)
    v = validate_concept_vector(s, scan.top[0], target=mine, unrelated=others, mode="zero", max_new_tokens=2)
    assert v.target_acc_before == 1.0 and abs(v.target_acc_drop) <= 0.05 and abs(v.unrelated_acc_drop) <= 0.05


def test_concept_validation_measures_and_restores(facts_org):
    org, s, forget, retain = facts_org
    before = s.fingerprint()
    # a negligible perturbation leaves every generation and score exactly as it was
    same = validate_concept_vector(
        s, "blocks.3.mlp.value:7", target=forget[:12], unrelated=retain[:24], mode="noise", sigma=1e-9
    )
    assert (same.target_bleu, same.target_rouge_l, same.unrelated_bleu, same.unrelated_rouge_l) == (1.0, 1.0, 1.0, 1.0)
    assert same.target_acc_drop == 0 and abs(same.target_logp_drop) < 1e-4 and same.n_target == 12
    v = validate_concept_vector(
        s, "blocks.3.mlp.value:7", target=forget[:12], unrelated=retain[:24], mode="noise", sigma=5.0
    )
    assert s.fingerprint() == before  # undone
    assert v.target_logp_drop > 0.01  # noise of std 5 on a value vector costs the answers log-probability
    assert v.to_dict()["target_acc_drop"] == pytest.approx(v.target_acc_before - v.target_acc_after)


def test_concept_validation_compat_accumulates_noise_like_the_notebook(facts_org):
    org, s, forget, retain = facts_org
    before = s.fingerprint()
    c = {"vector": "blocks.3.mlp.value:7", "target": forget[:12], "unrelated": retain[:24]}
    clean = validate_concept_vectors(s, [c, c], sigma=20.0, max_new_tokens=3)
    assert clean[1].target_acc_before == clean[0].target_acc_before  # each concept measured on the clean model
    compat = validate_concept_vectors(s, [c, c], sigma=20.0, max_new_tokens=3, compat=True)
    assert s.fingerprint() == before  # restored at the end
    # the notebook's bug: the second concept's "clean" model already carries the first one's noise
    assert compat[1].target_acc_before == pytest.approx(compat[0].target_acc_after)
    assert compat[1].target_acc_before < clean[1].target_acc_before
    assert compat[0].target_acc_before == clean[0].target_acc_before
    with pytest.raises(UnlearnscopeError, match="no concepts"):
        validate_concept_vectors(s, [])


def test_flu_finds_the_organisms_lookup_mlps_and_budgets_match_by_parameters(facts_org):
    """Ground truth (the facts organism): attention in block 1 reads the name, the MLPs of blocks 2-3 at
    the last token add the attribute; nothing is decodable at the subject across entities."""
    from unlearnscope.localize.facts import budget_match, flu_components, flu_layers, flu_role, random_components

    org, s, forget, retain = facts_org
    lookup = fact_lookup(s, forget + retain)
    assert flu_role(lookup) == "last" and flu_layers(lookup) == [2, 3]
    with pytest.raises(UnlearnscopeError, match="never becomes decodable"):
        flu_layers(lookup, role="subj_last")
    flu = flu_components(s, lookup)
    assert flu.names == ["blocks.2.mlp", "blocks.3.mlp"]
    ap = attribution_patching(s, forget[:64])
    ot = budget_match(s, ap, flu.n_params)
    ranked = [f"blocks.{l}.{k}" for k, l, _, _ in ap.cell_scores()]
    assert ot.names == ranked[: len(ot.names)]  # by |effect|, in order
    assert ot.n_params >= flu.n_params > ComponentSet.parse(s, ot.names[:-1]).n_params  # just reaches the budget
    rnd = random_components(s, flu.n_params, seed=3)
    assert rnd.n_params >= flu.n_params and rnd.names == random_components(s, flu.n_params, seed=3).names
    assert budget_match(s, ap, flu.n_params, kinds=("mlp",)).names[0].endswith(".mlp")
    with pytest.raises(UnlearnscopeError, match="below the budget"):
        random_components(s, 10**9)
    with pytest.raises(UnlearnscopeError, match="fact_lookup"):
        flu_layers(ap)


def test_top_components_rank_by_magnitude():
    effects = torch.tensor([[[0.1, -0.9]], [[0.5, 0.2]]]).permute(0, 1, 2)  # [kind, layer=1, role=2]
    loc = FactLocalization("attribution_patching", ["mlp", "attn"], ["subj_last", "last"], effects, 4)
    assert loc.cell_scores()[0] == ("mlp", 0, pytest.approx(-0.9), "last")
    assert loc.top_components(1)[0]["score"] == pytest.approx(-0.9)


def test_results_round_trip(facts_org, tmp_path):
    org, s, forget, _ = facts_org
    at = attribution_patching(s, forget[:16])
    path = at.save(tmp_path)
    back = FactLocalization.load(path)
    assert torch.equal(back.effects, at.effects) and back.roles == at.roles and back.method == at.method
    assert len(at.plot().data) == len(at.kinds)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UnlearnscopeError, match="cannot read"):
        FactLocalization.load(tmp_path / "bad.json")


def test_bad_input(facts_org):
    org, s, forget, _ = facts_org
    with pytest.raises(UnlearnscopeError, match="not found in the prompt"):
        causal_trace(s, [Fact("<bos> zork lives in", "paris", "nobody here")])
    few = forget[::6][:8]
    swapped = subject_swap(s, few)
    assert all(a.subject != b.subject and a.prompt != b.prompt for a, b in zip(few, swapped, strict=True))
    longer = [Fact(f.prompt + " in", f.answer, f.subject) for f in swapped]
    with pytest.raises(UnlearnscopeError, match="same token length"):
        activation_patching(s, few, longer)
    with pytest.raises(UnlearnscopeError, match="one corrupted prompt per fact"):
        attribution_patching(s, few, swapped[:4])
    with pytest.raises(UnlearnscopeError, match="at least two subjects"):
        subject_swap(s, forget[:3])
    with pytest.raises(OutOfRangeError):
        random_control(s, [(99, "neuron", 0)], forget[:4])
    with pytest.raises(OutOfRangeError):
        random_control(s, [(0, "neuron", 10**6)], forget[:4])
    with pytest.raises(UnlearnscopeError, match="empty fact set"):
        causal_trace(s, [])
    with pytest.raises(UnlearnscopeError, match="unknown component kinds"):
        causal_trace(s, forget[:2], kinds=("ffn",))


def test_moe_organism_tracing_and_expert_controls(small_organism):
    org = small_organism("moe")
    s = org.load("orig")
    items = [i for i in org.ground_truth["items"] if i["domain"] == "facts" and i["kind"] == "cloze"]
    facts = [Fact(i["prompt"], i["answer"], i["subject"], i["relation"]) for i in items]
    target, other = facts[: len(facts) // 2], facts[len(facts) // 2 :]
    at = attribution_patching(s, target)
    ap = activation_patching(s, target)
    # the discrete top-k routing makes the first-order estimate rougher than on the dense organism
    # (measured rho = 0.79 here vs 0.88-0.95 dense); the 0.8 bar is asserted on the dense organism
    assert agreement(at, ap) >= 0.6
    # restoring the final residual stream at the last token recovers the clean run exactly
    assert ap.effects[ap.kinds.index("resid"), s.anatomy.n_layers - 1, ap.roles.index("last")] == pytest.approx(
        1.0, abs=1e-4
    )
    units = unit_attribution(s, target)
    assert set(units.unit_kinds) == {"expert"} and all(len(sc) == s.anatomy.n_experts for sc in units.scores)
    top = [(l, k, j) for l, k, j, _ in units.top(1, layers=[1])]
    rc = random_control(s, top, target, other, n_random=20, seed=0)
    assert len(rc.random_target_drops) == 20
    assert (
        rc.p_value == (1 + sum(d >= rc.target_drop for d in rc.random_target_drops)) / 21
    )  # the empirical p-value, by hand
    with pytest.raises(UnlearnscopeError, match="has expert units"):
        random_control(s, [(0, "neuron", 0)], target)
