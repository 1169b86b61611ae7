"""Replication cards: paired contrasts over entities, the agree / disagree rule, the card files,
and the command's errors.  The papers' runs themselves are documented commands (minutes each);
`test_replicate_runs.py` runs the fast part of one."""

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.replicate import NOT_YET, PAPERS, ReplicationCard, paired, replicate, supports

RUN = CliRunner()


def report_with(values: dict[str, dict[str, float]], metric="relearn") -> dict:
    return {
        "runs": {
            m: {"metrics": [{"name": metric, "agg_value": sum(v.values()) / len(v), "value_by_index": v}]}
            for m, v in values.items()
        }
    }


def test_paired_contrast_uses_the_shared_entities_and_a_bootstrap_ci():
    r = report_with(
        {
            "flu": {"a": 0.1, "b": 0.2, "c": 0.0, "d": 0.1, "only_flu": 9.0},
            "ot": {"a": 0.6, "b": 0.7, "c": 0.5, "d": 0.8, "only_ot": -9.0},
        }
    )
    c = paired(r, "relearn", "flu", "ot", expect="< 0", what="x")
    assert c["n"] == 4 and c["value"] == pytest.approx(-0.55)
    assert c["ci"][0] <= -0.55 <= c["ci"][1] < 0 and supports(c)
    assert not supports({**c, "expect": "> 0"})
    with pytest.raises(UnlearnscopeError, match="no 'format:mc' readout"):
        paired(r, "format:mc", "flu", "ot", expect="< 0", what="x")
    with pytest.raises(UnlearnscopeError, match="share no entity"):
        paired(report_with({"a": {"x": 1.0}, "b": {"y": 1.0}}), "relearn", "a", "b", expect="< 0", what="x")


def _card(cis):
    comps = [
        {"name": f"c{i}", "what": "w", "value": (lo + hi) / 2, "ci": [lo, hi], "n": 10, "expect": "< 0"}
        for i, (lo, hi) in enumerate(cis)
    ]
    return ReplicationCard.of(
        "p",
        "cite",
        "claim",
        "number",
        comps,
        differences=["organism"],
        command="unlearnscope replicate p",
        seeds=[0, 1, 2],
        size="small",
        seconds=1.0,
    )


def test_status_is_measured_from_every_contrast(tmp_path):
    assert _card([(-0.5, -0.1), (-0.3, -0.2)]).status == "agrees"
    assert _card([(-0.5, -0.1), (-0.3, 0.2)]).status == "partly agrees"
    card = _card([(-0.1, 0.3), (0.1, 0.2)])
    assert card.status == "does not agree" and not card.agrees
    md = card.save_card(tmp_path)
    text = md.read_text()
    assert "does not agree" in text and "unlearnscope replicate p" in text and "| c1 |" in text
    back = ReplicationCard.load(tmp_path / "p.json")
    assert back.comparisons == card.comparisons and back.status == card.status
    assert len(card.plot().data) == 1
    card.details = {
        "methods": {
            "a": {"metrics": {"recall": 0.1}, "stopped": ["forget_metric"] * 3, "n_params_trained": 5},
            "b": {"metrics": {"recall": 0.3}, "stopped": ["steps", "forget_metric", "steps"], "n_params_trained": 5},
        }
    }
    assert card.caveats() == [
        "b: 2 of 3 seeds ended by 'steps', not at the shared forget level (forget recall 0.300): its contrasts are not "
        "at equal forgetting"
    ]
    assert "| b | 0.300 | 5 | forget_metric, steps |" in card.to_markdown()


def test_every_paper_of_the_issue_is_either_runnable_or_says_what_it_needs(monkeypatch):
    assert set(PAPERS) | set(NOT_YET) == {
        "conceptvectors",
        "mechanistic-unlearning",
        "uoe",
        "mote",
        "skill-unlearning",
        "unforgettable-generalization",
    }
    for p in PAPERS.values():
        assert p.claim and p.paper_number and p.differences and p.citation
    monkeypatch.setitem(NOT_YET, "conceptvectors", "needs what this test says")
    with pytest.raises(UnlearnscopeError, match="not available yet: it needs what this test says"):
        replicate("conceptvectors")
    with pytest.raises(UnlearnscopeError, match="at least 3"):
        replicate("uoe", seeds=2)
    with pytest.raises(UnlearnscopeError, match="unknown paper"):
        replicate("rome")
    res = RUN.invoke(app, ["replicate", "nope", "--out", "/tmp/x-replicate-test"])
    assert res.exit_code == 2 and "unknown paper" in res.output
    res = RUN.invoke(app, ["replicate", "uoe", "--out", "/proc/nope"])
    assert res.exit_code == 2 and "/proc/nope" in res.output  # the output location is checked before any model is built


def test_pooled_contrast_weighs_each_ability_equally():
    from unlearnscope.replicate.papers import pooled_paired

    r = {
        "runs": {
            m: {
                "metrics": [
                    {"name": "a", "agg_value": 0, "value_by_index": {str(i): v for i in range(100)}},
                    {"name": "b", "agg_value": 0, "value_by_index": {"x": w, "y": w}},
                ]
            }
            for m, v, w in (("uoe", 1.0, 0.5), ("full", 0.8, 0.5))
        }
    }
    c = pooled_paired(r, ["a", "b"], "uoe", "full", expect="> 0", what="w")
    assert c["value"] == pytest.approx(0.1) and c["n"] == 102  # (0.2 + 0.0) / 2, not the item-weighted 0.196
    assert c["ci"] == [pytest.approx(0.1), pytest.approx(0.1)]  # no spread within either ability


def test_relative_drop_bootstrap_pools_the_seeds_items():
    import torch

    from unlearnscope.replicate.papers import relative_drop_draws

    before = torch.ones(50, dtype=torch.bool)
    after = torch.zeros(50, dtype=torch.bool)
    after[:10] = True  # 10 of 50 still right: relative drop 0.8
    draws = relative_drop_draws([(before[:25], after[:25]), (before[25:], after[25:])])
    lo, hi = torch.quantile(draws, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    assert float(draws.mean()) == pytest.approx(0.8, abs=0.02) and 0.65 < lo < 0.8 < hi < 0.95
