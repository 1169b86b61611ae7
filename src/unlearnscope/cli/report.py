"""``unlearnscope report``: re-render a report's HTML from its ``report.json``.

unlearnscope report reports/facts/report.json               # rewrites reports/facts/report.html
unlearnscope report reports/facts --out /tmp/copy --json     # renders into another directory
unlearnscope report --schema                                 # the JSON Schema every report.json satisfies
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import handle_errors


@handle_errors
def report(
    source: str = typer.Argument(None, help="report.json, or the directory holding it"),
    out: str = typer.Option(None, "--out", help="output directory (default: the report's own)"),
    schema: bool = typer.Option(
        False, "--schema", help="print the JSON Schema of report.json (generated from its types) and exit"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Re-render report.html from report.json (atomically, both files together)."""
    from ..report import load_report, write_report

    if schema:
        from ..report.schema import report_schema

        typer.echo(json.dumps(report_schema(), indent=1))
        return
    if source is None:
        from ..errors import UnlearnscopeError

        raise UnlearnscopeError("give the report.json (or its directory) to re-render, or --schema")
    data = load_report(source)
    src = Path(source)
    target = Path(out) if out else (src if src.is_dir() else src.parent)
    html_path, json_path = write_report(data, target)
    payload = {
        "report_html": str(html_path),
        "report_json": str(json_path),
        "verdicts": [{k: r[k] for k in ("method", "verdict")} for r in data["verdict_table"]],
    }
    typer.echo(json.dumps(payload) if as_json else f"wrote {html_path}")
