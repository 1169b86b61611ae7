"""``unlearnscope metaeval``: how faithful and robust each readout is, on a population of one
organism world (models that know, models that never knew, unlearned models).

    unlearnscope metaeval --organism facts --size small --seeds 2 --out reports/metaeval --json

Exit codes: 0 written, 2 bad input, 1 other errors, 130 interrupted (the population is cached
member by member: a second run resumes).
"""

from __future__ import annotations

import json
import sys

import typer

from .common import handle_errors


def summary(m) -> dict:
    """The JSON contract of ``metaeval --json``."""
    return {
        "report_html": m.report.get("html"),
        "report_json": m.report.get("json"),
        "readouts": [
            {
                "name": r["name"],
                "faithfulness_auc": r["faithfulness_auc"],
                "ci": r["ci"],
                "robustness": {k: r["robustness"].get(k) for k in ("quant8", "quant4", "relearn")},
                "used_in_verdicts": r["used_in_verdicts"],
            }
            for r in m.rows
        ],
        "population": {
            g: [p["name"] for p in m.population if p["group"] == g] for g in ("knows", "never_knew", "unlearned")
        },
    }


def run_from_cli(
    organism: str,
    size: str | None,
    seeds: int,
    methods: str | None,
    out: str | None,
    progress: bool,
    log,
    seed: int = 0,
):
    from ..metaeval import MetaEvalConfig, run_metaeval
    from ..metaeval.run import UNLEARNED_MEMBERS

    names = tuple(x.strip() for x in methods.split(",") if x.strip()) if methods is not None else UNLEARNED_MEMBERS
    cfg = MetaEvalConfig(organism=organism, size=size, seed=seed, seeds=seeds, methods=names)
    return run_metaeval(cfg, out=out, progress=progress, log=log)


@handle_errors(interrupted="interrupted: the members built so far are cached; run again to resume")
def metaeval(
    organism: str = typer.Option(
        "facts", "--organism", help="the organism whose world the population comes from (facts)"
    ),
    size: str = typer.Option(
        None, "--size", help="organism size: default | small (default: $UNLEARNSCOPE_ORGANISM_SIZE or default)"
    ),
    seeds: int = typer.Option(
        4, "--seeds", help="weight-seed models per side (knows and never knew), plus one fine-tuned model each"
    ),
    methods: str = typer.Option(
        None,
        "--methods",
        help="audit methods whose unlearned models join for robustness (default ga,localized,ablate; '' for none)",
    ),
    out: str = typer.Option("reports/metaeval", "--out", help="report directory (metaeval.html + metaeval.json)"),
    as_json: bool = typer.Option(False, "--json", help="print the JSON summary on stdout"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress on stderr"),
) -> None:
    """Score every readout's faithfulness (AUC, knows vs never-knew models) and robustness (quantization, relearning).

    The population is cached, so a second run reads it back."""
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    m = run_from_cli(organism, size, seeds, methods, out, not quiet and not as_json, log)
    if as_json:
        typer.echo(json.dumps(summary(m)))
        return
    typer.echo(f"wrote {m.report['html']}")
    for r in m.rows:
        rob = "  ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in r["robustness"].items())
        typer.echo(
            f"  {r['name']:<18} AUC {r['faithfulness_auc']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]  {rob}  "
            f"{'used' if r['used_in_verdicts'] else 'NOT used (below the floor)'}"
        )
