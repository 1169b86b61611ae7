"""The fast part of the replication suite: the UOE card on the small MoE organism (seconds, the
organism cache shared with the other tests); the other cards are documented commands
(docs/replications, minutes each)."""

import pytest

from unlearnscope.replicate import replicate


@pytest.mark.slow
def test_uoe_card_compares_at_equal_forgetting(small_organism):
    small_organism("moe")
    card = replicate("uoe", size="small", seeds=3, progress=False)
    methods = card.details["methods"]
    assert set(methods) == {"uoe", "full", "uoe-random"}
    for m in methods.values():  # every arm stopped at the shared refusal rate: the comparison is at equal forgetting
        assert m["stopped"] == ["forget_metric"] * 3 and m["metrics"]["recall"] <= 0.1 + 1e-6
    assert methods["uoe"]["n_params_trained"] == methods["uoe-random"]["n_params_trained"] < methods["full"]["n_params_trained"]
    assert methods["uoe"]["region"] != methods["uoe-random"]["region"]
    for c in card.comparisons:  # the pooled contrast is the equal-weight mean of the per-ability contrasts
        per = [p["value"] for p in card.details["per_ability"] if p["name"].endswith(c["name"].split(": ")[1])]
        assert c["value"] == pytest.approx(sum(per) / len(per))
        assert c["supports_claim"] == (c["ci"][0] > 0)
    assert card.verdict in ("agrees", "partly agrees", "does not agree") and card.seconds > 0
