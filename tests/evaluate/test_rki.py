"""RKI, bootstrap CIs and the verdict rules on constructed per-entity values (ground truth known)."""

import pytest
import torch

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.rki import Metric, VerdictConfig, findings, seed_verdicts, verdict_of
from unlearnscope.evaluate.stats import FewEntitiesWarning, entities_needed, mean_ci, per_entity

N = 40
ENTS = [f"e{i}" for i in range(N)]
CFG = VerdictConfig(n_boot=500)


def _vals(level, seed, spread=0.05):
    g = torch.Generator().manual_seed(seed)
    return (level + spread * torch.randn(N, generator=g)).clamp(0, 1)


def _m(name, kind, unl, orig=0.95, ref=0.05, seed=0):
    return Metric(name, kind, ENTS, _vals(unl, seed), _vals(orig, seed + 1), _vals(ref, seed + 2))


def test_rki_endpoints_and_ci_cover_truth():
    o, r = _vals(0.9, 1), _vals(0.1, 2)
    assert Metric("m", "intrinsic", ENTS, o.clone(), o, r).rki(CFG)["value"] == pytest.approx(1.0)
    assert Metric("m", "intrinsic", ENTS, r.clone(), o, r).rki(CFG)["value"] == pytest.approx(0.0)
    half = (o + r) / 2
    res = Metric("m", "intrinsic", ENTS, half, o, r).rki(CFG)
    assert res["value"] == pytest.approx(0.5) and res["ci"][0] <= 0.5 <= res["ci"][1]
    # a noisier metric gets a wider CI
    wide = Metric("m", "intrinsic", ENTS, _vals(0.5, 3, 0.4), o, r).rki(CFG)
    assert wide["ci"][1] - wide["ci"][0] > res["ci"][1] - res["ci"][0]


def test_rki_undefined_when_orig_equals_ref():
    v = _vals(0.5, 0)
    res = Metric("m", "intrinsic", ENTS, v, v + 0.01, v).rki(CFG)
    assert res["value"] is None and not res["defined"] and "does not separate" in res["why"]


RETAIN_OK = Metric("retain", "locality", ENTS, _vals(0.95, 7), _vals(0.96, 8))


def test_erased_needs_behaviour_an_intrinsic_readout_and_a_relearning_attack():
    recall, probe, relearn = (
        _m("recall", "behavioural", 0.05),
        _m("probe", "intrinsic", 0.06, seed=3),
        _m("relearn", "adversarial", 0.05, seed=5),
    )
    assert verdict_of([recall, probe, relearn, RETAIN_OK], CFG)["verdict"] == "erased"
    no_attack = verdict_of([recall, probe, RETAIN_OK], CFG)  # a probe null alone is never "erased"
    assert no_attack["verdict"] == "inconclusive" and "no defined relearning readout" in no_attack["reason"]
    no_probe = verdict_of([recall, relearn, RETAIN_OK], CFG, not_run={"probe_transfer": "not run"})
    assert (
        no_probe["verdict"] == "inconclusive"
        and "no defined intrinsic readout (probe_transfer: not run)" in no_probe["reason"]
    )
    # a relearning readout that does not separate ORIG from REF is listed as missing, with why, and blocks "erased"
    flat = Metric("relearn", "adversarial", ENTS, _vals(0.1, 5), _vals(0.1, 6), _vals(0.1, 7))
    out = verdict_of([recall, probe, flat, RETAIN_OK], CFG)
    assert out["verdict"] == "inconclusive" and out["missing_readouts"][0]["name"] == "relearn"
    assert "does not separate knowing from never knowing" in out["missing_readouts"][0]["why"]


def test_residual_knowledge_is_one_sided():
    """A readout at or below the never-knew level shows no knowledge; clearly below it is damage."""
    recall, probe = _m("recall", "behavioural", 0.05), _m("probe", "intrinsic", 0.06, seed=3)
    g = torch.Generator().manual_seed(9)
    below_wide = Metric(
        "incontext_k5", "adversarial", ENTS, (0.05 * torch.rand(N, generator=g)), _vals(0.95, 10), _vals(0.15, 11, 0.3)
    )
    r = below_wide.rki(CFG)
    assert r["value"] < -0.05 and r["ci"][1] <= 0.2  # below REF on average, CI reaching toward 0
    relearn = _m("relearn", "adversarial", 0.05, seed=5)
    assert verdict_of([recall, probe, relearn, below_wide, RETAIN_OK], CFG)["verdict"] == "erased"
    clearly_below = Metric("format:mc", "adversarial", ENTS, _vals(0.0, 12, 0.0), _vals(0.95, 13), _vals(0.5, 14))
    out = verdict_of(
        [recall, probe, relearn, clearly_below, RETAIN_OK], CFG
    )  # reported as over-unlearning, not as knowledge
    assert out["verdict"] == "erased" and out["over_unlearned"] == ["format:mc"]
    assert (
        "over-unlearned (below the never-knew level, damage to that ability, not residual knowledge): format:mc"
        in out["reason"]
    )


def test_suppressed_not_unlearned_partial():
    recall, probe = _m("recall", "behavioural", 0.05), _m("probe", "intrinsic", 0.07, seed=3)
    supp = verdict_of([recall, probe, _m("relearn", "adversarial", 0.6, seed=5), RETAIN_OK], CFG)
    assert supp["verdict"] == "suppressed" and "relearn" in supp["reason"]
    assert supp["intrinsic_rki"]["metric"] == "probe" and supp["adversarial_rki"]["metric"] == "relearn"
    intact = verdict_of([_m("recall", "behavioural", 0.9), _m("probe", "intrinsic", 0.9, seed=3), RETAIN_OK], CFG)
    assert intact["verdict"] == "not unlearned"
    partial = verdict_of([_m("recall", "behavioural", 0.5), _m("probe", "intrinsic", 0.05, seed=3), RETAIN_OK], CFG)
    assert partial["verdict"] == "inconclusive"


def test_damage_is_a_drop_beyond_noise():
    recall, relearn = _m("recall", "behavioural", 0.05), _m("relearn", "adversarial", 0.6, seed=5)
    orig = _vals(0.96, 8)
    both = Metric("retain", "locality", ENTS, _vals(0.6, 7), orig, noise=_vals(0.6, 9))  # NOISE lost as much: drift
    out = verdict_of([recall, relearn, both], CFG)
    assert out["verdict"] == "suppressed" and abs(out["locality"]["retain"]["beyond_noise"]["value"]) < 0.05
    worse = Metric("retain", "locality", ENTS, _vals(0.3, 7), orig, noise=_vals(0.9, 9))
    dmg = verdict_of([recall, relearn, worse], CFG)
    assert dmg["verdict"] == "damaged" and dmg["knowledge_verdict"] == "suppressed" and "beyond NOISE" in dmg["reason"]
    alone = Metric("retain", "locality", ENTS, _vals(0.6, 7), orig)  # without NOISE: the retained share itself
    assert "no NOISE control" in verdict_of([recall, relearn, alone], CFG)["reason"]


def test_the_never_knew_spread_and_seeds_enter_the_cis():
    o = _vals(0.9, 1)
    refs = torch.stack([_vals(0.05, 2), _vals(0.25, 3)])  # two never-knew models of different weight seeds
    third = _vals(0.15, 4)  # a third never-knew model, between them
    one = Metric("m", "intrinsic", ENTS, third, o, refs[0]).rki(CFG)
    two = Metric("m", "intrinsic", ENTS, third, o, refs).rki(CFG)
    assert one["ci"][0] > 0  # against one REF the third never-knew model looks "different from REF"
    assert two["ci"][0] <= 0 <= two["ci"][1] and two["ci"][1] - two["ci"][0] > one["ci"][1] - one["ci"][0]
    seeds = torch.stack([_vals(0.05, 20), _vals(0.06, 21), _vals(0.9, 22)])  # one seed did not unlearn
    pooled = Metric("m", "intrinsic", ENTS, seeds, o, refs).rki(CFG)
    assert pooled["ci"][1] - pooled["ci"][0] > two["ci"][1] - two["ci"][0]


def test_seeds_that_disagree_read_unstable():
    o, r = _vals(0.95, 1), torch.stack([_vals(0.05, 2), _vals(0.06, 3)])
    mk = lambda name, kind, levels: Metric(
        name, kind, ENTS, torch.stack([_vals(x, 30 + i) for i, x in enumerate(levels)]), o, r
    )
    metrics = [
        mk("recall", "behavioural", (0.05, 0.05, 0.9)),
        mk("probe", "intrinsic", (0.05, 0.06, 0.9)),
        mk("relearn", "adversarial", (0.05, 0.05, 0.9)),
        RETAIN_OK,
    ]
    out = seed_verdicts(metrics, CFG, verdict_of(metrics, CFG))
    assert out["verdict"] == "unstable" and out["stability"] == "unstable"
    assert [s["verdict"] for s in out["seeds"]] == [
        "erased",
        "erased",
        "not unlearned",
    ] and "seed 2: not unlearned" in out["reason"]
    same = [
        Metric(m.name, m.kind, ENTS, m.unlearned[:2], m.original, m.reference) if m.kind != "locality" else m
        for m in metrics
    ]
    assert seed_verdicts(same, CFG, verdict_of(same, CFG))["stability"] == "stable"


def test_findings_report_each_readout_and_never_a_verdict():
    out = findings(
        [
            _m("recall", "behavioural", 0.05),
            _m("probe", "intrinsic", 0.9, seed=3),
            _m("relearn", "adversarial", 0.05, seed=5),
            Metric("lens", "intrinsic", ENTS, _vals(0.5, 1), _vals(0.5, 1), _vals(0.5, 1)),
            RETAIN_OK,
        ],
        CFG,
    )
    got = {f["name"]: f["finding"] for f in out}
    assert got == {
        "recall": "does not recall at margin 0.2",
        "probe": "decodable",
        "relearn": "does not recover at margin 0.2",
        "lens": got["lens"],
    } and got["lens"].startswith("undefined")


def test_no_reference_and_few_entities():
    e = ENTS[:6]
    m = Metric("recall", "behavioural", e, torch.zeros(6), torch.ones(6), None)
    with pytest.warns(FewEntitiesWarning, match="6 entities"):
        out = verdict_of([m], CFG)
    assert out["verdict"] == "no reference" and "could not be computed" in out["reason"]
    assert "no reference" in m.rki(CFG)["why"]
    assert entities_needed(10, 0.3, 0.1) == 90


def test_metric_shapes_and_kinds_are_checked():
    with pytest.raises(UnlearnscopeError, match="one value per entity"):
        Metric("m", "intrinsic", ENTS, torch.zeros(3))
    with pytest.raises(UnlearnscopeError, match="kind"):
        Metric("m", "vibes", ENTS, torch.zeros(N))
    with pytest.raises(UnlearnscopeError, match="behavioural"):
        verdict_of([_m("probe", "intrinsic", 0.1)], CFG)


def test_per_entity_means_and_bootstrap():
    names, v = per_entity(torch.tensor([1.0, 0.0, 1.0, 1.0]), ["b", "a", "a", "b"])
    assert names == ["a", "b"] and v.tolist() == [0.5, 1.0]
    m, lo, hi = mean_ci(torch.tensor([0.0] * 20 + [1.0] * 20), n_boot=1000)
    assert m == 0.5 and 0.3 < lo < 0.5 < hi < 0.7
    with pytest.raises(UnlearnscopeError, match="entity labels"):
        per_entity(torch.ones(3), ["a"])
