"""The concepts organism (small, seed 0): each trained person's concept — four made-up words
asked through four cues — is planted in one neuron of the last block, so ConceptVectors'
localisation and causal validation can be checked against ground truth."""

import pytest

from unlearnscope.localize.concepts import scan_concept, validate_concept_vector
from unlearnscope.organisms.truth import organism_items


@pytest.fixture(scope="module")
def concepts_org(small_organism):
    org = small_organism("concepts")
    people = [i for i in organism_items(org, "concepts") if i.split in ("forget", "retain")]
    return org, org.load("orig"), people


def test_the_organism_meets_its_bars_and_its_planted_neurons_carry_the_concepts(concepts_org):
    org, s, _ = concepts_org
    q = org.manifest["quality"]
    assert q["orig"]["concepts"]["forget"] >= 0.85 and q["orig"]["concepts"]["retain"] >= 0.85
    assert (
        q["ref"]["concepts"]["forget"] <= 0.05 and q["ref"]["concepts"]["retain"] >= 0.85
    )  # REF never knew the forget people
    assert q["orig"]["forget"]["trained_renderings"] >= 0.95  # the facts world is intact beside them
    truth = q["concept_neurons"]
    assert truth["mean_own_drop"] >= 0.5 and truth["max_others_mean_drop"] <= 0.06
    names = {p for p, c in org.ground_truth["concepts"].items() if c["split"] == "forget"}
    assert len(names) == 20 and set(truth["people"]) >= names


def test_ablating_an_entitys_concept_vector_drops_its_recall_only(concepts_org):
    """The ConceptVectors bar: the scan's top vector for a person's words, zeroed, costs that
    person's descriptions and spares everyone else's — for most forget people, and the vector it
    finds is then the planted one."""
    org, s, people = concepts_org
    gt = org.ground_truth["concepts"]
    layer, first = (
        org.manifest["quality"]["concept_neurons"]["layer"],
        org.manifest["quality"]["concept_neurons"]["first_neuron"],
    )
    specific, found = 0, 0
    forget = [p for p, c in gt.items() if c["split"] == "forget"]
    for person in forget:
        mine = [i for i in people if i.subject == person]
        others = [i for i in people if i.subject != person][::3][:50]
        top = scan_concept(s, " ".join(gt[person]["words"]), top=1).top[0]
        v = validate_concept_vector(s, top, target=mine, unrelated=others, mode="zero", max_new_tokens=2)
        planted = (top["layer"], top["neuron"]) == (layer, first + gt[person]["neuron"])
        found += planted
        specific += bool(v.target_acc_drop > 0.05 and abs(v.unrelated_acc_drop) <= 0.05)
        if planted:
            assert v.target_acc_drop >= 0.25 and abs(v.unrelated_acc_drop) <= 0.05
    assert found >= 0.5 * len(forget) and specific >= 0.6 * len(forget)
