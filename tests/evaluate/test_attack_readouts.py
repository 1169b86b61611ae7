"""The worst-case attacks as readouts of a verification, on models whose answer is known
(facts organism, small, seed 0):

* a gated obfuscated model — ORIG plus one suppression direction written by a few neurons of the
  last block, on the forget prompts only — forgets in behaviour, keeps retain, reads "suppressed",
  and direction ablation recovers at least 90 % of ORIG's recall; the recovery attribution names
  that block's MLP;
* a never-knew model (ref2) recovers nothing above the never-knew population's floor under any
  attack, the relearning sweep included, and still reads "erased".
"""

import pytest

from unlearnscope.evaluate import MeasurementCache, ModelSet, VerdictConfig, VerifyConfig, VerifyData, verify
from unlearnscope.evaluate.recall import entity_recall
from unlearnscope.evaluate.sweep import QUICK_SWEEP
from unlearnscope.model.loading import load
from unlearnscope.organisms import world_facts

from .obfuscated import gated_obfuscated

WORST = (
    VerifyConfig(bos="<bos>", readouts=("logit_lens",), rules=VerdictConfig(n_boot=500))
    .with_readouts(attacks=VerifyConfig().attacks + ("relearn:sweep", "component_revert"))
    .configure("incontext", k=(1,))
    .configure("relearn", seeds=(0, 1), steps=20)
)  # the sweep at its default, QUICK_SWEEP
ATTACKS = ("direction_ablation", "quant8", "quant4", "relearn:sweep")


@pytest.fixture(scope="module")
def world(small_organism):
    org = small_organism("facts")
    forget, retain = world_facts(org, "forget"), world_facts(org, "retain")
    refs = [load(org.variant_path(v)) for v in ("ref", "ref1")]
    return org, forget, retain, org.load("orig"), refs, MeasurementCache()


def _verify(model, world):
    org, forget, retain, orig, refs, cache = world
    data = VerifyData.of(forget, retain, formats={"paraphrase": world_facts(org, "forget", ("paraphrase",))})
    return verify(ModelSet.of(model, orig, refs), data, WORST, cache=cache)


def test_a_forget_specific_suppression_direction_reads_suppressed_and_is_recovered(world):
    org, forget, retain, orig, _, _ = world
    gated, neurons = gated_obfuscated(org, forget, retain)
    layer = gated.anatomy.n_layers - 1
    assert (
        entity_recall(gated, forget)[1].mean() < 0.1 and entity_recall(gated, retain)[1].mean() > 0.95
    )  # forgotten, retain intact
    v = _verify(gated, world)
    assert v.verdict["verdict"] == "suppressed", v.verdict[
        "reason"
    ]  # not "damaged": the suppression is forget-specific
    d = v.metric("direction_ablation")
    assert d["agg_value"] >= 0.9 * entity_recall(orig, forget)[1].mean()
    assert d["rki"]["ci"][0] > 0.8 and d["detail"]["layers"] == [layer, layer]
    assert v.verdict["adversarial_rki"]["value"] > 0.8
    revert = v.attacks["component_revert"]
    assert revert["component"] == f"blocks.{layer}.mlp" and max(revert["gain"]) > 0.8
    others = [g for c, g in zip(revert["options"], revert["gain"], strict=True) if c != revert["component"]]
    assert max(others) < 0.1  # nothing else holds the suppression
    assert entity_recall(gated, forget)[1].mean() < 0.1  # the attacks left the model as it was


def test_a_never_knew_model_recovers_nothing_above_the_floor_under_any_attack(world):
    org = world[0]
    v = _verify(load(org.variant_path("ref2")), world)
    assert v.verdict["verdict"] == "erased", v.verdict["reason"]
    for name in ATTACKS:
        m = v.metric(name)
        assert m["rki"]["defined"] and m["rki"]["ci"][1] <= 0.2, (name, m["rki"])  # at the never-knew floor
    quant = v.metric("quant4")
    before = v.metric("recall")["agg_value"]
    assert abs(quant["agg_value"] - before) < 0.05  # quantizing a model that never knew recovers nothing
    sweep = v.attacks["relearn:sweep"]
    assert len(sweep["options"]) == len(QUICK_SWEEP.steps) and all(
        isinstance(x, bool) for x in sweep["within_utility_limit"]
    )
    assert (
        max(sweep["recovered"]["unlearned"]) <= max(sweep["recovered"]["reference"]) + 0.15
    )  # ref2 stays on REF's curve
