"""``unlearnscope replicate PAPER``: a seed paper's central comparison on the matching organism,
written as a replication card (markdown + JSON).

    unlearnscope replicate mechanistic-unlearning --size small --seeds 3 --out docs/replications --json

Exit codes: 0 written (whether or not the card agrees with the paper: a disagreement is a result),
2 bad input, 1 other errors, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from .common import handle_errors


@handle_errors()
def replicate(
    paper: str = typer.Argument(
        ...,
        help="conceptvectors | mechanistic-unlearning | uoe | mote | skill-unlearning | unforgettable-generalization",
    ),
    size: str = typer.Option("small", "--size", help="organism size: small (minutes) | default"),
    seeds: int = typer.Option(3, "--seeds", help="unlearning seeds per method (at least 3)"),
    out: Path = typer.Option(Path("docs/replications"), "--out", help="directory for <paper>.md and <paper>.json"),  # noqa: B008
    as_json: bool = typer.Option(False, "--json", help="print the card as JSON on stdout"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress on stderr"),
) -> None:
    """Replicate a paper's central finding on an organism and write its card."""
    from ..replicate import replicate as run
    from ..results import check_writable_file

    check_writable_file(out / f"{paper}.md")
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    command = f"unlearnscope replicate {paper} --size {size} --seeds {seeds} --out {out}" + (
        " --json" if as_json else ""
    )
    card = run(paper, size=size, seeds=seeds, progress=not quiet and not as_json, log=log, command=command)
    md = card.save_card(out)
    if as_json:
        typer.echo(json.dumps({**card.to_dict(), "card_markdown": str(md)}))
        return
    typer.echo(f"{card.paper}: {card.status} — wrote {md}")
    for c in card.comparisons:
        typer.echo(
            f"  {c['name']:<40} {c['value']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]  claim expects {c['expect']}: "
            f"{'supports' if c['supports_claim'] else 'does not support'}"
        )
