"""The report's JSON Schema: generated from the types, shipped in docs/, printed by the CLI."""

import json
from pathlib import Path

from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.report.build import REPORT_VERSION
from unlearnscope.report.schema import report_schema

DOCS = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


def test_the_shipped_schema_is_the_generated_one():
    schema = report_schema()
    assert json.loads(DOCS.read_text()) == schema, (
        "regenerate it: unlearnscope report --schema > docs/report.schema.json"
    )
    assert schema["properties"]["version"] == {"const": REPORT_VERSION}
    verdict = schema["$defs"]["Verdict"]
    assert set(verdict["properties"]["verdict"]["enum"]) >= {"erased", "suppressed", "not unlearned", "damaged"}
    assert "knowledge_verdict" in verdict["required"] and verdict["additionalProperties"] is False


def test_the_cli_prints_it():
    res = CliRunner().invoke(app, ["report", "--schema"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == report_schema()
