"""`unlearnscope metaeval`: the JSON contract, publishing the table audits read, and bad input."""

import json

from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.evaluate.faithfulness import FaithfulnessTable, table_path


def test_metaeval_json_contract_and_published_table(small_organism, tmp_path):
    org = small_organism("facts")
    res = CliRunner().invoke(
        app, ["metaeval", "--size", "small", "--seeds", "2", "--methods", "ga", "--out", str(tmp_path / "m"), "--json"]
    )
    try:
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert set(out) == {"report_html", "report_json", "readouts", "population"}
        assert out["population"] == {
            "knows": ["orig1", "orig2", "orig+ft"],
            "never_knew": ["ref1", "ref2", "ref+ft"],
            "unlearned": ["ga"],
        }
        for r in out["readouts"]:
            assert set(r) == {"name", "faithfulness_auc", "ci", "robustness", "used_in_verdicts"}
            assert set(r["robustness"]) == {"quant8", "quant4", "relearn"}
        rec = next(r for r in out["readouts"] if r["name"] == "recall")
        assert rec["faithfulness_auc"] == 1.0 and rec["used_in_verdicts"]
        table = FaithfulnessTable.load(table_path(org))  # published where audits of this organism look
        assert table.auc("recall") == 1.0 and set(table.readouts) == {r["name"] for r in out["readouts"]}
        assert (
            json.loads((tmp_path / "m" / "metaeval.json").read_text())["rows"][0]["name"] == out["readouts"][0]["name"]
        )
    finally:
        table_path(org).unlink(missing_ok=True)  # later tests audit this organism without a table


def test_metaeval_bad_input(small_organism, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["metaeval", "--organism", "moe", "--json"])
    assert res.exit_code == 2 and "metaeval runs on the organisms" in res.output
    res = runner.invoke(app, ["metaeval", "--size", "small", "--seeds", "1"])
    assert res.exit_code == 2 and "--seeds must be >= 2" in res.output
    (tmp_path / "file").write_text("")
    res = runner.invoke(app, ["metaeval", "--size", "small", "--seeds", "2", "--out", str(tmp_path / "file")])
    assert res.exit_code == 2 and "choose another --out" in res.output
    res = runner.invoke(app, ["audit", "--model", "x", "--target", "y", "--metaeval"])
    assert res.exit_code == 2 and "--metaeval needs the facts organism" in res.output
