"""`unlearnscope audit --organism moe`: the refusal behaviour audited like a fact (MoE organism,
small, seed 0, `--quick`): experts switched off vs UOE vs full-model gradient ascent."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.report import load_report

RUN = CliRunner()


@pytest.fixture(scope="module")
def moe_report(organism_home, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "moe"
    res = RUN.invoke(
        app, ["audit", "--organism", "moe", "--size", "small", "--seed", "0", "--quick", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), load_report(out)


def iv_region(report, method):
    return report["sections"]["interventions"][method]["region"]


def test_moe_refusal_audit(moe_report):
    summary, report = moe_report
    assert [v["method"] for v in summary["verdicts"]] == ["experts-off", "uoe", "ga"]
    beh = report["sections"]["behaviour"]
    assert (
        beh["original"]["refusal_rate"] == 1.0
        and beh["reference"]["refusal_rate"] == beh["reference1"]["refusal_rate"] == 0.0
    )  # ground truth
    noise = report["sections"]["noise"]
    assert (
        noise["ga"]["kind"] == noise["uoe"]["kind"] == "fine-tune"
        and noise["experts-off"]["kind"] == "random experts off"
    )
    assert (
        noise["uoe"]["components"] == iv_region(report, "uoe") and noise["ga"]["components"] is None
    )  # each method's own component set
    rows = {r["method"]: r for r in report["verdict_table"]}
    iv = report["sections"]["interventions"]
    metric = lambda m, name: next(x for x in report["runs"][m]["metrics"] if x["name"] == name)
    for m in ("uoe", "ga"):
        assert iv[m]["unlearning"]["stopped"] == "forget_metric"
        assert abs(rows[m]["behavioural_rki"]["value"]) < 0.2
        # refusal rate two ways: 36 trained + 12 held-out prompts (one per noun) in the behaviour table
        both = (36 * metric(m, "recall")["agg_value"] + 12 * metric(m, "format:heldout_templates")["agg_value"]) / 48
        assert both == pytest.approx(beh[m]["refusal_rate"], abs=1e-3)
    # UOE trains one expert (and its router): only its parameters moved
    assert report["runs"]["uoe"]["parametric"]["summary"]["region_share"] == pytest.approx(1.0, abs=1e-6)
    # relearning refusal on half of the harmful nouns brings it back on the other half: suppressed, not erased
    assert rows["uoe"]["knowledge_verdict"] == "suppressed" and metric("uoe", "relearn")["rki"]["ci"][0] > 0.2
    # the verdict rests on the worst case over every attack, never below the relearning attack's
    assert rows["uoe"]["adversarial_rki"]["value"] >= metric("uoe", "relearn")["rki"]["value"]
    # ORIG's routing replayed undoes switching experts off (the experts' weights are ORIG's); the router
    # restoration says so
    assert metric("experts-off", "router_restore")["agg_value"] == 1.0
    assert {"router_restore", "relearn:sweep", "direction_ablation"} <= set(report["runs"]["ga"]["attacks"])
    # fine-tuning on held-out data with the same budget does not remove refusal: NOISE is a drift floor
    for m in ("uoe", "ga"):
        assert metric(m, "recall")["noise"]["agg_value"] > 0.9 > 0.2 > metric(m, "recall")["agg_value"]
        assert (
            rows[m]["intervention"] == "weights"
            and rows[m]["stability"] in ("stable", "unstable")
            and len(rows[m]["seeds"]) == 2
        )
    # switching experts off is an inference-time intervention: attacked without it, the refusal is back (held in
    # the weights)
    off = rows["experts-off"]
    assert (
        off["intervention"] == "inference-time"
        and {"recall", "relearn"} <= set(off["held_in_weights"])
        and off["verdict"] != "erased"
    )
    weights = {x["name"]: x for x in report["runs"]["experts-off"]["weights_only"]}
    assert weights["recall"]["agg_value"] == 1.0  # the weights are ORIG's
    # experts off: as many fTRI-ranked experts per layer as needed (or half of them); the report says which
    rt = iv["experts-off"]["routing"]
    assert len(rt["experts"]) == 2 * rt["per_layer"] and rt["refusal_by_k"][-1][0] == rt["per_layer"]
    assert metric("experts-off", "recall")["agg_value"] == pytest.approx(rt["refusal_by_k"][-1][1], abs=1e-6)
    assert report["sections"]["localization"]["expert_control"]["refusal_rate"]["baseline"] == 1.0
    # locality covers the organism's other abilities, so breaking arithmetic shows as damage
    names = {x["name"] for x in report["runs"]["experts-off"]["metrics"] if x["kind"] == "locality"}
    assert names == {"retain_recall", "locality:facts", "locality:arith", "locality:code"}
    html = open(summary["report_html"], encoding="utf-8").read()
    assert "experts off (" in html and "<h2>Localization validity</h2>" in html and "Linear probes (" not in html
