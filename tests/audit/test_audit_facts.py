"""The main job end to end on the facts organism (small, seed 0; `--quick` protocol): the CLI's
JSON contract, the report's sections and numbers against ground truth and controls, re-rendering,
and the report in a real browser (headless Chromium)."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.report import load_report, render_html

RUN = CliRunner()


@pytest.fixture(scope="module")
def audited(small_organism, tmp_path_factory):
    org = small_organism("facts")
    out = tmp_path_factory.mktemp("audit") / "facts"
    res = RUN.invoke(app, ["audit", "--quick", "--size", "small", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return org, json.loads(res.stdout), load_report(out)


def test_cli_json_contract(audited):
    _, summary, _ = audited
    assert set(summary) >= {"report_html", "report_json", "verdicts"}
    assert [v["method"] for v in summary["verdicts"]] == ["ga", "localized", "ablate"]
    for v in summary["verdicts"]:
        assert set(v) >= {
            "method",
            "verdict",
            "behavioural_rki",
            "intrinsic_rki",
            "seeds",
            "stability",
            "missing_readouts",
            "intervention",
        }
    rows = {v["method"]: v for v in summary["verdicts"]}
    assert [s["seed"] for s in rows["ga"]["seeds"]] == [0, 1] and rows["ablate"][
        "stability"
    ] == "single seed"  # --quick: 2 seeds; ablate is deterministic
    assert all(v["intervention"] == "weights" for v in summary["verdicts"])


def test_verdicts_against_ground_truth_and_controls(audited):
    org, summary, report = audited
    rows = {r["method"]: r for r in report["verdict_table"]}
    iv = report["sections"]["interventions"]
    # the unlearning runs stopped at the shared forget-recall level: behaviour at REF level
    for m in ("ga", "localized"):
        assert iv[m]["unlearning"]["stopped"] == "forget_metric"
        assert abs(rows[m]["behavioural_rki"]["value"]) < 0.2
    # full-model GA is suppressed, not erased: relearning brings the facts back (the field's finding)
    assert rows["ga"]["knowledge_verdict"] == "suppressed"
    # the ablation curve and the report's recall are the same measurement
    ab = iv["ablate"]["ablation"]
    recall = next(m for m in report["runs"]["ablate"]["metrics"] if m["name"] == "recall")
    assert abs(ab["forget_recall_by_n"][-1][1] - recall["agg_value"]) < 0.02
    assert ab["n_vectors"] == ab["forget_recall_by_n"][-1][0]
    # each method's NOISE: the same training on held-out data (the never-seen entities' facts), the longest seed's
    # steps,
    # the method's LR and components; it drifts, but keeps far more of the forget facts than unlearning does
    noise, never_seen = (
        report["sections"]["noise"],
        [i for i in org.ground_truth["items"] if i["split"] == "never-seen" and i["kind"] in ("cloze", "qa")],
    )
    assert noise["ga"]["steps"] == max(s["steps"] for s in iv["ga"]["seeds"]) and noise["ga"]["n_texts"] == len(
        never_seen
    )
    assert (
        noise["localized"]["components"] == iv["localized"]["region"]
        and noise["localized"]["lr"] == iv["localized"]["unlearning"]["lr"]
    )
    assert noise["ablate"]["n_vectors"] == iv["ablate"]["ablation"]["n_vectors"]
    ga_recall = next(m for m in report["runs"]["ga"]["metrics"] if m["name"] == "recall")
    assert ga_recall["noise"]["agg_value"] > 0.5 > 0.2 > ga_recall["agg_value"]
    # "damaged" is a drop beyond NOISE's own: ga loses retain recall far beyond its NOISE
    loc = next(m for m in report["runs"]["ga"]["metrics"] if m["name"] == "retain_recall")["locality"]["beyond_noise"]
    assert rows["ga"]["verdict"] == "damaged" and loc["ci"][1] < -0.1
    # the quick attack budget: white-box attacks and a relearning sweep, whose worst case is at least the plain
    # relearning attack's
    ga = {m["name"]: m for m in report["runs"]["ga"]["metrics"]}
    assert {"direction_ablation", "quant8", "quant4", "relearn:sweep"} <= set(ga) and "component_revert" in report[
        "runs"
    ]["ga"]["attacks"]
    assert (
        ga["relearn:sweep"]["rki"]["value"] > ga["relearn"]["rki"]["value"] - 0.1
        and ga["relearn:sweep"]["reference"]["agg_value"] < 0.2
    )
    assert rows["ga"]["adversarial_rki"]["value"] == max(
        m["rki"]["value"] for m in ga.values() if m["kind"] == "adversarial" and m["rki"]["defined"]
    )
    # localization validity: the located vectors beat layer-matched random sets
    rc = report["sections"]["localization"]["random_control"]
    assert rc["n_random"] == 100 and rc["p_value"] <= 0.05
    # provenance names the exact models
    prov = report["provenance"]
    assert prov["original_fingerprint"] == org.load("orig").fingerprint() and prov["reference_fingerprints"] == [
        org.load(v).fingerprint() for v in ("ref", "ref1")
    ]
    assert prov["target"]["entity_disjoint"] and prov["versions"]["torch"] and prov["seeds"]["audit"] == 0


def test_report_sections_and_rerender(audited, tmp_path):
    _, summary, report = audited
    html = open(summary["report_html"], encoding="utf-8").read()
    order = [
        html.index(h)
        for h in (
            "<h2>Verdicts",
            "<h2>Residual knowledge by method",
            "<h2>Localization validity",
            "<h2>Worst-case attacks",
            "<h2>Specificity",
            "<h2>Provenance",
            "<h3>Parametric traces",
            "<h3>Logit lens",
            "<h3>Linear probes",
            "<h3>Relearning",
        )
    ]
    assert order[0] == min(order)  # the verdict table first
    assert "<th>NOISE</th>" in html and "Not covered by this report" in html
    # no metaeval table was published for this organism: every readout says so, and how to get one
    sc = report["sections"]["metric_self_check"]
    assert sc["status"] == "not meta-evaluated" and "unlearnscope metaeval --organism facts --size small" in sc["how"]
    assert all(m["faithfulness"]["status"] == "not meta-evaluated" for m in report["runs"]["ga"]["metrics"])
    assert render_html(report) == html  # the HTML is a function of report.json
    res = RUN.invoke(app, ["report", summary["report_json"], "--out", str(tmp_path / "copy"), "--json"])
    assert res.exit_code == 0 and (tmp_path / "copy" / "report.html").read_text(encoding="utf-8") == html


def chromium(test):
    """A test that drives Debian's chromium: marked ``browser``, skipped (saying why) without it."""
    skip = pytest.mark.skipif(
        shutil.which("chromium") is None, reason="Debian chromium is not installed (.ci/run installs it)"
    )
    return pytest.mark.browser(skip(test))


@chromium
def test_report_renders_in_headless_chromium(audited):
    from unlearnscope.report.browser import check_in_browser

    _, summary, _ = audited
    html = open(summary["report_html"], encoding="utf-8").read()
    check = check_in_browser(summary["report_html"])
    assert check["errors"] == [] and check["n_figures"] == html.count('class="plotly-graph-div"') >= 12
    assert all(f["svg"] > 0 and f["traces"] > 0 for f in check["figures"])
    png = open(check["screenshot"], "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


@chromium
def test_browser_check_fails_on_javascript_errors_and_blank_figures(audited, tmp_path):
    from unlearnscope.report.browser import BrowserCheckError, check_in_browser

    _, summary, _ = audited
    html = open(summary["report_html"], encoding="utf-8").read()
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("</body>", "<script>undefinedFunction()</script></body>"), encoding="utf-8")
    with pytest.raises(BrowserCheckError, match="JavaScript errors"):
        check_in_browser(broken, screenshot=False)
    blank = tmp_path / "blank.html"
    blank.write_text(
        html.replace("</body>", '<div class="plotly-graph-div" id="empty"></div></body>'), encoding="utf-8"
    )
    with pytest.raises(BrowserCheckError, match="did not render: \\['empty'\\]"):
        check_in_browser(blank, screenshot=False)


def test_a_users_model_and_target_file_work_the_same_way(audited, tmp_path):
    """ORIG / REF as plain model directories and the organism's target as a JSONL file: the same
    pipeline, the same target (hashes), the same stopping rule and verdict machinery."""
    from unlearnscope.audit import organism_target

    org, _, report = audited
    target = tmp_path / "facts.jsonl"
    target.write_text("\n".join(json.dumps(r) for r in organism_target(org).to_records()))
    res = RUN.invoke(
        app,
        [
            "audit",
            "--model",
            str(org.variant_path("orig")),
            "--reference",
            str(org.variant_path("ref")),
            "--target",
            str(target),
            "--methods",
            "ga",
            "--quick",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "mine"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    mine = load_report(tmp_path / "mine")
    assert mine["name"] == "facts" and [r["method"] for r in mine["verdict_table"]] == ["ga"]
    for key in ("forget_sha256", "retain_sha256", "n_forget_entities"):
        assert mine["provenance"]["target"][key] == report["provenance"]["target"][key]
    assert mine["provenance"]["original_fingerprint"] == report["provenance"]["original_fingerprint"]
    assert mine["sections"]["interventions"]["ga"]["unlearning"]["stopped"] == "forget_metric"
    assert mine["sections"]["metric_self_check"]["how"].startswith("a user's model")
    assert abs(mine["verdict_table"][0]["behavioural_rki"]["value"]) < 0.2
    assert mine["verdict_table"][0]["verdict"] not in ("no reference", "inconclusive")
    # --seeds 1: one unlearning run; NOISE trains on the file's noise records (the never-seen entities' facts)
    assert [s["seed"] for s in mine["verdict_table"][0]["seeds"]] == [0] and mine["verdict_table"][0][
        "stability"
    ] == "single seed"
    noise_rows = sum(r["split"] == "noise" for r in organism_target(org).to_records())
    assert mine["sections"]["noise"]["ga"]["n_texts"] == noise_rows == report["sections"]["noise"]["ga"]["n_texts"]
    assert mine["provenance"]["target"]["noise_source"] == "the target's noise records"
