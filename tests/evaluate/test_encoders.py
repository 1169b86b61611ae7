"""BERT-family encoders through the probes, `verify_facts` and `unlearnscope probe`: the
readouts that apply are measured (probes with their controls), those that need an LM head are
listed as not run with why, and there is no verdict."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app

NAMES = ["alice", "bob", "marie", "tokyo", "paris", "berlin", "doctor", "tennis", "blue", "green", "sky", "grass"]
CITIES = ["Paris", "Berlin", "Tokyo", "Japan"]


def _facts(names, offset):
    return [
        {
            "prompt": f"The home of {n} is",
            "answer": CITIES[(i + offset) % len(CITIES)],
            "subject": n,
            "relation": "home",
        }
        for i, n in enumerate(names)
    ]


@pytest.fixture(scope="module")
def bert(tiny_dirs, tmp_path_factory):
    from unlearnscope.model.tiny import save_tiny

    root = tmp_path_factory.mktemp("bert")
    forget, retain = root / "forget.json", root / "retain.json"
    forget.write_text(json.dumps(_facts(NAMES[:6], 0)))
    retain.write_text(json.dumps(_facts(NAMES[6:], 1) + _facts(NAMES[6:], 2)))
    return {
        "orig": tiny_dirs("bert"),
        "ref": save_tiny("bert", root / "ref", seed=1),
        "forget": forget,
        "retain": retain,
    }


def test_probe_command_on_an_encoder(bert):
    res = CliRunner().invoke(
        app,
        [
            "probe",
            "--model",
            str(bert["orig"]),
            "--original",
            str(bert["orig"]),
            "--reference",
            str(bert["ref"]),
            "--facts",
            str(bert["forget"]),
            "--retain-facts",
            str(bert["retain"]),
            "--modes",
            "transfer",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    m = out["metrics"]["probe_transfer"]
    assert (
        m["agg_value"] == m["original"]["agg_value"]
    )  # ORIG audited against itself: the same probe, the same accuracy
    assert len(m["value_by_index"]) == 6 and m["reference"]["n_models"] == 1
    assert "recall" not in out["metrics"] and "no LM head" in out["not_run"]["recall"]


def test_verify_facts_on_an_encoder_measures_probes_and_gives_no_verdict(bert):
    from unlearnscope.data import read_facts
    from unlearnscope.evaluate import VerifyConfig, verify_facts
    from unlearnscope.model import load

    orig, ref = load(str(bert["orig"])), load(str(bert["ref"]))
    forget, retain = read_facts(bert["forget"]), read_facts(bert["retain"])
    v = verify_facts(
        orig, forget, retain, original=orig, reference=ref, config=VerifyConfig().configure("probe", seeds=(0, 1))
    )
    names = [m["name"] for m in v.metrics]
    assert names == ["probe_transfer", "probe_refit"]
    assert v.verdict["verdict"] == "no verdict" and "encoder" in v.verdict["reason"]
    missing = {r["name"]: r["why"] for r in v.verdict["missing_readouts"]}
    assert {"recall", "retain_recall", "logit_lens", "causal_depth", "relearn", "incontext"} <= set(missing)
    assert all("no LM head" in w for k, w in missing.items() if k != "reintroduce" and k != "format")
    # a random encoder knows none of these facts: the probes read at chance beside their controls
    table = v.probes["refit"]["by_model"]["unlearned"]
    assert max(t[0] for t in table["task"]) <= max(table["majority"]) + 0.35


def test_audit_of_encoder_checkpoints(bert, tmp_path):
    from unlearnscope.model.tiny import save_tiny

    rows = [{**f, "split": "forget"} for f in json.loads(bert["forget"].read_text())]
    rows += [{**f, "split": "retain"} for f in json.loads(bert["retain"].read_text())]
    target = tmp_path / "t.jsonl"
    target.write_text("\n".join(json.dumps(r) for r in rows))
    unl = save_tiny("bert", tmp_path / "unl", seed=2)
    base = [
        "audit",
        "--original",
        str(bert["orig"]),
        "--reference",
        str(bert["ref"]),
        "--target",
        str(target),
        "--quick",
    ]
    res = CliRunner().invoke(app, base + ["--unlearned", f"mine={unl}", "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)["verdicts"][0]
    assert row["method"] == "mine" and row["source"] == "checkpoint" and row["verdict"] == "no verdict"
    missing = {m["name"] for m in row["missing_readouts"]}
    assert (
        missing >= {"recall", "relearn", "relearn:sweep"}
        and "router_restore" not in missing
        and "component_revert" not in missing
    )
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [m["name"] for m in report["runs"]["mine"]["metrics"]] == ["probe_transfer", "probe_refit"]
    assert "encoder" in report["sections"]["localization"]["skipped"]
    res = CliRunner().invoke(app, base + ["--methods", "ga", "--out", str(tmp_path / "r2")])
    assert res.exit_code == 2 and "encoder" in res.output and not (tmp_path / "r2").exists()
