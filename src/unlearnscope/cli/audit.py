"""``unlearnscope audit``: the main job (localize → intervene → verify → report) on one target.

    unlearnscope audit                                  # the facts organism's forget split, 3 methods
    unlearnscope audit --organism moe                   # refusal: experts off vs UOE vs full unlearning
    unlearnscope audit --organism multidomain           # refusal on the dense model: KSD vs Neuron Adjust vs GA
    unlearnscope audit --model ./my-model --reference ./never-knew --target facts.jsonl --out reports/mine
    unlearnscope audit --config audit.toml --methods ga,localized --quick --json
    unlearnscope audit --original ./orig --unlearned npo=./npo,rmu=./rmu --reference ./retain-model --target facts.jsonl

Exit codes: 0 written, 2 bad input (target file, config, model, output directory), 1 other
errors, 130 interrupted (nothing half-written: the report directory appears only when complete).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import typer

from .common import DEFAULTS, handle_errors


def methods_help() -> str:
    """The registered audit methods by target (`audit.methods`) and the audited organisms' defaults."""
    from ..audit.config import audited_organisms, organism_spec
    from ..audit.methods import methods_for

    per_target = "; ".join(f"{t}: {', '.join(methods_for(t))}" for t in ("facts", "refusal"))
    defaults = "; ".join(f"{o} {','.join(organism_spec(o).audit_methods)}" for o in audited_organisms())
    return f"comma-separated; {per_target} (defaults: {defaults})"


def organism_help() -> str:
    from ..audit.config import audited_organisms, organism_spec

    return (
        " | ".join(f"{o} ({organism_spec(o).audit})" for o in audited_organisms())
        + " (default facts), when no --model is given"
    )


def _ensure_metaeval(cfg, progress: bool, log) -> None:
    """Run the organism's meta-evaluation when its faithfulness table is missing (facts only)."""
    from ..errors import UnlearnscopeError
    from ..evaluate.faithfulness import table_path
    from ..organisms import build, organism_size
    from .metaeval import run_from_cli

    if cfg.model is not None or cfg.organism != "facts":
        raise UnlearnscopeError(
            "--metaeval needs the facts organism (a user's model has no population of knowing and never-knew models)"
        )
    org = build(cfg.organism, cfg.size or organism_size(), cfg.seed, progress=False, log=log)
    if not table_path(org).is_file():
        run_from_cli(cfg.organism, org.size, 2 if cfg.quick else 4, None, None, progress, log, seed=org.seed)


@handle_errors(interrupted="interrupted: no report was written (reports appear only when complete)")
def audit(
    model: str = typer.Option(
        None, "--model", "--original", help="your original model, ORIG (directory or hub id); default: the organism"
    ),
    unlearned: str = typer.Option(
        None,
        "--unlearned",
        help="unlearned checkpoints made elsewhere, NAME=PATH[,NAME=PATH…]: verified as they are (alone, or beside "
        "--methods)",
    ),
    target: str = typer.Option(
        None, "--target", help="facts file (JSON Lines: prompt, answer, subject, split forget|retain[, kind])"
    ),
    reference: str = typer.Option(
        None,
        "--reference",
        help="model(s) that never knew the target (REF), comma-separated: two or more put the never-knew spread in the "
        "CIs; without one there is no verdict",
    ),
    organism: str = typer.Option(None, "--organism", help=organism_help()),
    size: str = typer.Option(
        None, "--size", help="organism size: default | small (default: $UNLEARNSCOPE_ORGANISM_SIZE or default)"
    ),
    methods: str = typer.Option(None, "--methods", help=methods_help()),
    config: str = typer.Option(None, "--config", help="TOML or JSON audit config (flags override it)"),
    out: str = typer.Option(None, "--out", help="report directory (default: reports/<name>)"),
    name: str = typer.Option(None, "--name", help="report name"),
    seed: int = typer.Option(None, "--seed", help="seed of the organism, the localization and the NOISE controls"),
    seeds: int = typer.Option(None, "--seeds", help="unlearning seeds per training method (default 3; --quick 2)"),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option(None, "--dtype", help="float32, bfloat16, float16"),
    quick: bool = typer.Option(
        None, "--quick/--full", help="a light protocol (2 probe seeds, 2 relearning seeds × 15 steps, 500 resamples)"
    ),
    attacks: str = typer.Option(
        None,
        "--attacks",
        help="worst-case attacks: quick (default: white-box attacks + a small relearning sweep) | full (the complete "
        "sweep) | off",
    ),
    stop_at: float = typer.Option(None, "--stop-at", help="unlearning stops at forget recall <= this (default 0.1)"),
    metaeval: bool = typer.Option(
        False, "--metaeval", help="facts organism: run `unlearnscope metaeval` first when its table is missing"
    ),
    use_unfaithful: bool = typer.Option(
        False, "--use-unfaithful", help="use readouts below the metaeval faithfulness floor in verdicts too"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary (report paths and verdicts) on stdout"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress on stderr"),
) -> None:
    """Localize → intervene with each method → verify against ORIG / REF / NOISE → write report.html + report.json.

    (long because the command's twenty options are its signature)"""
    from ..audit import load_config, run_audit

    device, dtype = device or DEFAULTS["device"], dtype or DEFAULTS["dtype"]
    log = (lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    cfg = load_config(
        config,
        model=model,
        unlearned=unlearned,
        target=target,
        reference=reference,
        organism=organism,
        size=size,
        name=name,
        seed=seed,
        device=device,
        dtype=dtype,
        quick=quick,
        attacks=attacks,
        stop_at=stop_at,
        seeds=tuple(range(seeds)) if seeds is not None else None,
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()) if methods else None,
    )
    if use_unfaithful:
        cfg = replace(cfg, verify=replace(cfg.verify, use_unfaithful=True))
    if metaeval:
        from ..audit.plan import check_writable

        check_writable(
            Path(out) if out is not None else Path("reports") / (cfg.name or "report")
        )  # before the population is trained
        _ensure_metaeval(cfg, not quiet and not as_json, log)
    summary = run_audit(cfg, out=out, progress=not quiet and not as_json, log=log).summary()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"wrote {summary['report_html']}")
    for r in summary["verdicts"]:
        f = lambda x: "–" if x is None else f"{x:.2f}"
        typer.echo(
            f"  {r['method']:<18} {r['verdict']:<14} behavioural RKI {f(r['behavioural_rki'])}  intrinsic "
            f"{f(r['intrinsic_rki'])}  "
            f"adversarial {f(r['adversarial_rki'])}  locality {f(r['locality'])}  seeds {r['stability']}  "
            f"{'checkpoint' if r['source'] == 'checkpoint' else r['intervention']}"
        )
