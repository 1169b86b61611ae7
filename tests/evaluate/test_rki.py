"""RKI, bootstrap CIs and the verdict rules on constructed per-entity values (ground truth known)."""

import pytest
import torch

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.rki import Metric, VerdictConfig, verdict
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


def test_verdict_rules():
    retain_ok = Metric("retain", "locality", ENTS, _vals(0.95, 7), _vals(0.96, 8))
    erased = verdict([_m("recall", "behavioural", 0.05), _m("probe", "intrinsic", 0.06, seed=3), retain_ok], CFG)
    assert erased["verdict"] == "erased"
    supp = verdict([_m("recall", "behavioural", 0.05), _m("probe", "intrinsic", 0.07, seed=3),
                    _m("relearn", "adversarial", 0.6, seed=5), retain_ok], CFG)
    assert supp["verdict"] == "suppressed" and "relearn" in supp["reason"]
    assert supp["intrinsic_rki"]["metric"] == "relearn" and supp["adversarial_rki"]["metric"] == "relearn"
    intact = verdict([_m("recall", "behavioural", 0.9), _m("probe", "intrinsic", 0.9, seed=3), retain_ok], CFG)
    assert intact["verdict"] == "not unlearned"
    broken = Metric("retain", "locality", ENTS, _vals(0.3, 7), _vals(0.96, 8))
    dmg = verdict([_m("recall", "behavioural", 0.05), _m("relearn", "adversarial", 0.6, seed=5), broken], CFG)
    assert dmg["verdict"] == "damaged" and dmg["knowledge_verdict"] == "suppressed"
    partial = verdict([_m("recall", "behavioural", 0.5), _m("probe", "intrinsic", 0.05, seed=3), retain_ok], CFG)
    assert partial["verdict"] == "inconclusive"


def test_no_reference_and_few_entities():
    e = ENTS[:6]
    m = Metric("recall", "behavioural", e, torch.zeros(6), torch.ones(6), None)
    with pytest.warns(FewEntitiesWarning, match="6 entities"):
        out = verdict([m], CFG)
    assert out["verdict"] == "no reference" and "could not be computed" in out["reason"]
    assert "no reference" in m.rki(CFG)["why"]
    assert entities_needed(10, 0.3, 0.1) == 90


def test_metric_shapes_and_kinds_are_checked():
    with pytest.raises(UnlearnscopeError, match="one value per entity"):
        Metric("m", "intrinsic", ENTS, torch.zeros(3))
    with pytest.raises(UnlearnscopeError, match="kind"):
        Metric("m", "vibes", ENTS, torch.zeros(N))
    with pytest.raises(UnlearnscopeError, match="behavioural"):
        verdict([_m("probe", "intrinsic", 0.1)], CFG)


def test_per_entity_means_and_bootstrap():
    names, v = per_entity(torch.tensor([1.0, 0.0, 1.0, 1.0]), ["b", "a", "a", "b"])
    assert names == ["a", "b"] and v.tolist() == [0.5, 1.0]
    m, lo, hi = mean_ci(torch.tensor([0.0] * 20 + [1.0] * 20), n_boot=1000)
    assert m == 0.5 and 0.3 < lo < 0.5 < hi < 0.7
    with pytest.raises(UnlearnscopeError, match="entity labels"):
        per_entity(torch.ones(3), ["a"])
