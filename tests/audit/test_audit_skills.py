"""`unlearnscope audit --organism multidomain`: the refusal behaviour of the dense multi-domain
organism (small, seed 0, `--quick`) under the training-free skill methods Key Space Detection and
Neuron Adjust, both inference-time interventions on ORIG's weights."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.report import load_report

RUN = CliRunner()


@pytest.fixture(scope="module")
def skills_report(organism_home, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "skills"
    res = RUN.invoke(
        app,
        [
            "audit",
            "--organism",
            "multidomain",
            "--size",
            "small",
            "--seed",
            "0",
            "--quick",
            "--methods",
            "ksd,na",
            "--attacks",
            "off",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout), load_report(out)


def test_skill_methods_on_the_dense_refusal_target(skills_report):
    summary, report = skills_report
    assert [v["method"] for v in summary["verdicts"]] == ["ksd", "na"]
    beh = report["sections"]["behaviour"]
    assert beh["original"]["refusal_rate"] >= 0.95 and beh["reference"]["refusal_rate"] <= 0.05  # ground truth
    iv = report["sections"]["interventions"]
    rows = {r["method"]: r for r in report["verdict_table"]}
    metric = lambda m, name: next(x for x in report["runs"][m]["metrics"] if x["name"] == name)
    for m in ("ksd", "na"):
        assert rows[m]["intervention"] == "inference-time"
        weights = {x["name"]: x for x in report["runs"][m]["weights_only"]}
        assert (
            weights["recall"]["agg_value"] == 1.0
        )  # both leave ORIG's weights as they are: the refusal is held in the weights
        assert rows[m]["verdict"] != "erased"
    # KSD: layer and λ chosen on the fit items; a detected query is steered to the benign behaviour
    ks = iv["ksd"]["key_space"]
    assert ks["refusal_before"] == 1.0 and ks["calibration_tpr"] >= 0.9 and ks["calibration_fpr_worst_skill"] <= 0.1
    assert metric("ksd", "recall")["agg_value"] == pytest.approx(
        ks["refusal_after"], abs=1e-6
    )  # the verdict reads the steered model
    assert beh["ksd"]["refusal_rate"] < 0.5 and beh["ksd"]["benign_refusal_rate"] <= 0.05
    # NA: the selected share grows until refusal reaches the stopping rule (or the largest share); the curve says so
    na = iv["na"]["neuron_adjust"]
    curve = na["refusal_by_top_p"]
    assert curve[0][0] == 0.03 and na["top_p"] == curve[-1][0] and na["n_neurons"] > 0
    assert (na["stopped"] == "forget_metric") == (curve[-1][1] <= 0.1)
    assert (
        len(rows["na"]["seeds"]) == 2 and len(rows["ksd"]["seeds"]) == 1
    )  # NA's draws are seeded; KSD is deterministic


def test_expert_methods_need_an_moe_model(organism_home, tmp_path):
    res = RUN.invoke(
        app,
        [
            "audit",
            "--organism",
            "multidomain",
            "--size",
            "small",
            "--quick",
            "--methods",
            "uoe",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 2 and "dense" in res.output
    res = RUN.invoke(
        app,
        ["audit", "--organism", "moe", "--size", "small", "--quick", "--methods", "ksd", "--out", str(tmp_path / "m")],
    )
    assert res.exit_code == 2 and "dense FFN neurons" in res.output and not (tmp_path / "m").exists()
