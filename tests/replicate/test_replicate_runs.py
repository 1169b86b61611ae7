"""The fast part of the replication suite: the UOE card on the small MoE organism and the
ConceptVectors card on the small facts organism (about a minute each, the organism cache shared
with the other tests); the other cards are documented commands (docs/replications, minutes each)."""

import pytest

from unlearnscope.replicate import replicate


@pytest.mark.slow
def test_uoe_card_compares_at_equal_forgetting(small_organism):
    small_organism("moe")
    card = replicate("uoe", size="small", seeds=3, progress=False)
    methods = card.details["methods"]
    assert set(methods) == {"uoe", "ga", "uoe-random"}
    for m in methods.values():  # every arm stopped at the shared refusal rate: the comparison is at equal forgetting
        assert m["stopped"] == ["forget_metric"] * 3 and m["metrics"]["recall"] <= 0.1 + 1e-6
    assert (
        methods["uoe"]["n_params_trained"]
        == methods["uoe-random"]["n_params_trained"]
        < methods["ga"]["n_params_trained"]
    )
    assert methods["uoe"]["region"] != methods["uoe-random"]["region"]
    for c in card.comparisons:  # the pooled contrast is the equal-weight mean of the per-ability contrasts
        per = [p["value"] for p in card.details["per_ability"] if p["name"].endswith(c["name"].split(": ")[1])]
        assert c["value"] == pytest.approx(sum(per) / len(per))
        assert c["supports_claim"] == (c["ci"][0] > 0)
    assert card.status in ("agrees", "partly agrees", "does not agree") and card.seconds > 0


@pytest.mark.slow
def test_conceptvectors_card_measures_the_premise_and_the_parametric_trace(small_organism):
    from unlearnscope.localize.concepts import validate_concept_vector
    from unlearnscope.organisms.truth import organism_items

    org = small_organism("concepts")
    card = replicate("conceptvectors", size="small", seeds=3, progress=False)
    methods, d = card.details["methods"], card.details
    assert set(methods) == {"ga", "npo", "needle"}
    for m in methods.values():  # equal forgetting: every arm reached the audit's stop rule
        assert m["stopped"] == ["forget_metric"] * 3 and m["metrics"]["recall"] <= 0.1 + 1e-6
    # Needle trains the concept vectors only; GA and NPO the whole model
    assert methods["needle"]["n_params_trained"] == d["n_vectors"] * 96 < methods["ga"]["n_params_trained"]
    assert (
        min(methods["ga"]["metrics"]["cos"], methods["npo"]["metrics"]["cos"])
        > 0.99
        > 0.9
        > methods["needle"]["metrics"]["cos"]
    )
    assert d["found_planted"] >= 10  # the scan finds most forget people's planted neuron (ground truth)
    premise, *traces = card.comparisons
    assert premise["name"].startswith("premise") and all(c["supports_claim"] for c in traces)
    assert premise["supports_claim"] == (premise["ci"][0] > 0) and card.agrees == all(
        c["supports_claim"] for c in card.comparisons
    )
    # the premise contrast is the validation on ORIG: one person re-measured by hand gives its value
    name, row = next(iter(d["concept_vectors"].items()))
    desc = organism_items(org, "concepts")
    mine = [i for i in desc if i.subject == name]
    others = [i for i in desc if i.split in ("forget", "retain") and i.subject != name][::7][:50]
    v = validate_concept_vector(
        org.load("orig"), row["vector"], target=mine, unrelated=others, mode="noise", max_new_tokens=2, seed=0
    )
    assert d["premise"]["noise"]["specificity_by_entity"][0] == pytest.approx(v.target_acc_drop - v.unrelated_acc_drop)
    assert any("planted neuron" in n for n in d["notes"]) and "planted neuron" in card.to_markdown()
