"""`unlearnscope probe` / `attack` on the facts organism: JSON contract and bad input."""

import json

from typer.testing import CliRunner

from unlearnscope.cli import app


def test_probe_and_attack_json_contract(small_organism, tmp_path):
    small_organism("facts")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "probe",
            "--model",
            "organism:facts",
            "--facts",
            "organism:forget",
            "--layers",
            "3,4",
            "--modes",
            "transfer",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    m = out["metrics"]["probe_transfer"]
    assert set(m) >= {"agg_value", "value_by_index", "ci", "rki"} and len(m["value_by_index"]) == 20
    assert m["rki"]["value"] == 1.0  # ORIG audited against itself
    assert (
        m["reference"]["agg_value"] < 0.3 < m["agg_value"] and m["reference"]["n_models"] == 2
    )  # REF and ref1 by default
    assert "verdict" not in out and out["findings"] == {
        "probe_transfer": "decodable"
    }  # a subset of readouts: findings, no verdict
    res = runner.invoke(
        app,
        [
            "attack",
            "relearn",
            "--model",
            "organism:facts:ref",
            "--original",
            "organism:facts",
            "--reference",
            "organism:facts:ref",
            "--facts",
            "organism:forget",
            "--seeds",
            "2",
            "--steps",
            "5",
            "--lrs",
            "1e-4",
            "--margin",
            "0.1",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["metrics"]["relearn"]["rki"]["value"] == 0.0  # REF audited as if unlearned
    assert set(out["curves"]["reference"]) >= {"steps", "mean_curve"}
    assert (
        out["config"]["margin"] == 0.1 and out["findings"]["relearn"] == "does not recover at margin 0.1"
    )  # the pre-registered margin
    facts = tmp_path / "forget.json"
    facts.write_text(
        json.dumps([{"prompt": "<bos> zz lives in", "answer": "paris", "subject": "zz", "relation": "city"}] * 2)
    )
    res = runner.invoke(
        app, ["probe", "--model", "organism:facts", "--facts", str(facts), "--retain-facts", str(facts), "--json"]
    )
    assert res.exit_code == 2 and "single class" in res.output
    res = runner.invoke(
        app, ["probe", "--model", "organism:facts", "--facts", "organism:forget", "--layers", "9", "--json"]
    )
    assert res.exit_code == 2 and "depth 9 does not exist" in res.output


def test_whitebox_attack_commands_json_contract(small_organism):
    small_organism("facts")
    runner = CliRunner()
    res = runner.invoke(
        app, ["attack", "direction", "--model", "organism:facts", "--facts", "organism:forget", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"attack", "recovered", "rki", "ci", "directions", "per_layer"} <= set(out)
    # ORIG against itself: no direction differs, nothing to recover, RKI exactly 1
    assert (
        out["recovered"] == out["before"]
        and out["rki"] == 1.0
        and max(out["directions"]["norm_of_mean_difference"]) == 0
    )
    res = runner.invoke(
        app,
        ["attack", "quantize", "--model", "organism:facts", "--facts", "organism:forget", "--bits", "8,4", "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [b["bits"] for b in out["bits"]] == [8, 4] and out["reference_floor"] < 0.3
    res = runner.invoke(
        app,
        [
            "attack",
            "revert",
            "--model",
            "organism:facts",
            "--facts",
            "organism:forget",
            "--components",
            "blocks.0.mlp",
            "--json",
        ],
    )
    assert res.exit_code == 0 and [a["component"] for a in json.loads(res.stdout)["attribution"]] == ["blocks.0.mlp"]
    res = runner.invoke(
        app, ["attack", "direction", "--model", "organism:facts:ref", "--facts", "organism:forget", "--json"]
    )
    assert res.exit_code == 2 and "give --original" in res.output


def test_sweep_json_contract(small_organism):
    small_organism("facts")
    res = CliRunner().invoke(
        app,
        [
            "attack",
            "sweep",
            "--model",
            "organism:facts",
            "--facts",
            "organism:forget",
            "--lrs",
            "1e-4",
            "--params",
            "full,lora:2",
            "--budget",
            "5",
            "--seeds",
            "1",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["attack"] == "relearn_sweep" and len(out["curves"]) == 2
    assert all({"config", "budget", "recovered", "rki", "ci"} <= set(c) for c in out["curves"])
    assert {"config", "recovered", "rki", "ci", "locality"} <= set(out["worst_case"]) and out["reference_floor"][
        "max_recovered"
    ] < 0.3
    res = CliRunner().invoke(
        app,
        ["attack", "sweep", "--model", "organism:facts", "--facts", "organism:forget", "--params", "qlora", "--json"],
    )
    assert res.exit_code == 2 and "lora:R" in res.output
    res = CliRunner().invoke(
        app,
        ["attack", "sweep", "--model", "organism:facts", "--facts", "organism:forget", "--preset", "huge", "--json"],
    )
    assert res.exit_code == 2 and "--preset must be quick or full" in res.output


def test_router_attack_json_contract(small_organism, tmp_path):
    from unlearnscope.audit.moe import refusal_target

    t = refusal_target(small_organism("moe"))
    facts = tmp_path / "forget.json"
    facts.write_text(json.dumps([{"prompt": f.prompt, "answer": f.answer, "subject": f.subject} for f in t.forget]))
    res = CliRunner().invoke(
        app,
        ["attack", "router", "--model", "organism:moe", "--facts", str(facts), "--retain-facts", str(facts), "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"attack", "recovered", "rki", "ci", "routing_stability", "reading"} <= set(out) and out[
        "attack"
    ] == "router_restore"
    # ORIG against itself: the same routing, nothing to recover
    assert out["recovered"] == out["before"] and out["routing_stability"]["forget"]["top_k_overlap"] == 1.0
    small_organism("facts")
    res = CliRunner().invoke(
        app, ["attack", "router", "--model", "organism:facts", "--facts", "organism:forget", "--json"]
    )
    assert res.exit_code == 2 and "needs an MoE model" in res.output
