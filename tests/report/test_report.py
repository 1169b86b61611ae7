"""The report: JSON holds every number, HTML is self-contained and re-renders from the JSON."""

import json
import re

import pytest

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate import ModelSet, VerdictConfig, VerifyConfig, VerifyData, verify
from unlearnscope.model.loading import load
from unlearnscope.organisms import world_facts
from unlearnscope.report import build_report, load_report, render_html, write_report

CFG = (
    VerifyConfig(bos="<bos>", attacks=("relearn", "format"), rules=VerdictConfig(n_boot=200))
    .configure("probe", seeds=(0,), modes=("transfer",), random_init_control=False)
    .configure("relearn", lrs=(1e-3,), seeds=(0, 1), steps=10)
)


@pytest.fixture(scope="module")
def report(small_organism):
    org = small_organism("facts")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    orig, refs = org.load("orig"), [load(org.variant_path(v)) for v in ("ref", "ref1")]
    fm = {"mc": world_facts(org, "forget", ("mc",))}
    data = VerifyData.of(F, R, formats=fm)
    runs = {
        "ref-as-unlearned": verify(ModelSet.of(load(org.variant_path("ref2")), orig, refs), data, CFG),
        "orig-as-unlearned": verify(ModelSet.of(org.load("orig"), orig, refs), data, CFG),
    }
    return build_report("facts-sanity", runs, provenance={"organism": "facts", "seed": 0}, config={"verify": "light"})


def test_report_files_and_contents(report, tmp_path):
    html_path, json_path = write_report(report, tmp_path / "r")
    data = load_report(json_path)
    rows = {r["method"]: r for r in data["verdict_table"]}
    assert rows["ref-as-unlearned"]["verdict"] == "erased" and rows["orig-as-unlearned"]["verdict"] == "not unlearned"
    assert rows["orig-as-unlearned"]["behavioural_rki"]["value"] == pytest.approx(1.0)
    html = html_path.read_text()
    assert html.index("<h2>Verdicts</h2>") < html.index("<h2>Provenance</h2>")  # verdict table first
    assert not re.search(r"<script[^>]*\bsrc=", html) and not re.search(
        r"<link[^>]*\bhref=", html
    )  # offline: nothing fetched
    n_figs = html.count('class="plotly-graph-div"')
    assert n_figs == 1 + 2 * 4  # the heatmap, and per method: RKI bars, lens, probes (one mode), relearning
    assert render_html(data) == html  # re-renders from the JSON alone
    assert json.loads(json_path.read_text())["runs"]["ref-as-unlearned"]["metrics"][0]["name"] == "recall"


def test_report_bad_input(report, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UnlearnscopeError, match="cannot write the report"):
        write_report(report, blocker / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing half-written
    with pytest.raises(UnlearnscopeError, match="at least one"):
        build_report("x", {})
    with pytest.raises(UnlearnscopeError, match="not an unlearnscope report"):
        (tmp_path / "bad.json").write_text("{}")
        load_report(tmp_path / "bad.json")


def test_report_cli_rerenders_from_json(report, tmp_path):
    from typer.testing import CliRunner

    from unlearnscope.cli import app

    html_path, json_path = write_report(report, tmp_path / "r")
    html_path.unlink()
    res = CliRunner().invoke(app, ["report", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["report_html"] == str(html_path) and html_path.read_text() == render_html(report | {})
    assert {v["method"]: v["verdict"] for v in out["verdicts"]} == {
        "ref-as-unlearned": "erased",
        "orig-as-unlearned": "not unlearned",
    }
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "cannot read a report" in res.output


def test_faithfulness_beside_every_readout_and_the_self_check(small_organism, tmp_path):
    from dataclasses import replace

    from unlearnscope.evaluate.faithfulness import FaithfulnessTable

    org = small_organism("facts")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    table = FaithfulnessTable(
        {"recall": {"auc": 1.0, "ci": [1.0, 1.0]}, "logit_lens": {"auc": 0.6, "ci": [0.3, 0.9]}}, "a hand-made table"
    )
    cfg = replace(CFG, readouts=("logit_lens",), attacks=())
    models = ModelSet.of(org.load("orig"), org.load("orig"), org.load("ref"))
    v = verify(models, VerifyData.of(F, R), cfg, faithfulness=table)
    assert {m["name"]: m["used_in_verdict"] for m in v.metrics} == {
        "recall": True,
        "retain_recall": False,
        "logit_lens": False,
    }
    assert "logit_lens" not in v.verdict["rki"]
    sc = {"status": "meta-evaluated", **table.to_dict(), "use_unfaithful": False, "not_used": ["logit_lens"]}
    html_path, _ = write_report(build_report("faith", {"orig": v}, sections={"metric_self_check": sc}), tmp_path / "r")
    html = html_path.read_text()
    assert "0.60 [0.30, 0.90] below floor — not used in the verdict" in html and "<h2>Metric self-check</h2>" in html
    assert "a hand-made table; floor 0.8" in html
    plain = verify(models, VerifyData.of(F, R), cfg)
    assert (
        plain.metric("logit_lens")["faithfulness"]["status"] == "not meta-evaluated"
        and "logit_lens" in plain.verdict["rki"]
    )


def test_the_report_meets_its_schema_and_the_schema_catches_breaks(report):
    """The JSON Schema generated from the result types accepts a real report and rejects one with a
    missing verdict, an unknown label or a stray key (the tests validate every report they write)."""
    from unlearnscope.report.schema import validate_report
    from unlearnscope.results import to_jsonable

    validate_report(report)
    broken = json.loads(json.dumps(to_jsonable(report)))
    run = next(iter(broken["runs"].values()))
    run["verdict"]["verdict"] = "mostly gone"
    del broken["verdict_table"][0]["behavioural_rki"]
    run["metrics"][0]["surprise"] = 1
    with pytest.raises(UnlearnscopeError, match=r"\(3 errors\)") as err:
        validate_report(broken)
    message = str(err.value)
    assert "'behavioural_rki' is a required property" in message and "'surprise' was unexpected" in message
    assert "'mostly gone' is not one of" in message
