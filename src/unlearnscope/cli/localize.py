"""``unlearnscope localize facts|concepts``; ``localize experts`` and ``localize skills`` are
registered on the same group by `experts` and `skills`."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import bad_input, emit, handle_errors, load_subject, write_figure
from .experts import localize_experts
from .skills import localize_skills

localize_app = typer.Typer(
    no_args_is_help=True, help="Locate where facts, concepts, experts' behaviours and skills live."
)

FACT_METHODS = ("tracing", "patching", "attribution", "lookup")


def _unrelated(spec: str | None, facts_spec: str, model: str):
    """Facts for the specificity control: ``spec``, or for organisms the other trained split."""
    from ..data import DataSpec
    from ..sources import load_facts

    if spec:
        return load_facts(spec, model)
    ds = DataSpec.parse(facts_spec)
    if ds.is_organism:
        return load_facts(f"organism:{'retain' if ds.name == 'forget' else 'forget'}", model)[:200]
    return None


@localize_app.command("facts")
@handle_errors
def localize_facts(
    model: str = typer.Option(..., help="model dir, hub id, tiny:<type> or organism:NAME[:ref]"),
    facts: str = typer.Option(
        ..., help="JSON/JSONL of {prompt, answer, subject}, or organism:forget|retain|never-seen"
    ),
    method: str = typer.Option("attribution", help="|".join(FACT_METHODS)),
    metric: str = typer.Option("logit_diff", help="patching / attribution: logit_diff | logprob | prob"),
    top: int = typer.Option(10, help="how many top (kind, layer, position) cells to list"),
    unrelated: str = typer.Option(
        None, help="facts for the specificity control (default for organisms: the other split)"
    ),
    validate: bool = typer.Option(True, help="random-control p-value (and attribution-vs-patching agreement)"),
    n_random: int = typer.Option(100, help="random unit sets for the control"),
    n_units: int = typer.Option(20, help="located units (neurons / experts) ablated in the control"),
    max_facts: int = typer.Option(256, help="use at most this many facts (the first ones)"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(None, help="directory for <method>.json and the figure"),  # noqa: B008
    as_json: bool = typer.Option(False, "--json"),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None),
) -> None:
    """Causal tracing, activation / attribution patching, or fact-lookup probes over facts.

    (long because the command's options are its signature)"""
    if method not in FACT_METHODS:
        raise bad_input(f"unknown method {method!r}; choose from {FACT_METHODS}")
    from ..localize.facts import (
        activation_patching,
        agreement,
        attribution_patching,
        causal_trace,
        fact_lookup,
        validate_facts,
    )
    from ..sources import load_facts

    subject = load_subject(model, device, dtype)
    fact_list = load_facts(facts, model)[:max_facts]
    run = {
        "tracing": lambda: causal_trace(subject, fact_list, seed=seed),
        "patching": lambda: activation_patching(subject, fact_list, metric=metric, seed=seed),
        "attribution": lambda: attribution_patching(subject, fact_list, metric=metric, seed=seed),
        "lookup": lambda: fact_lookup(subject, fact_list, seed=seed),
    }
    loc = run[method]()
    if validate:
        if method in ("patching", "attribution"):
            agreement(loc, run["attribution" if method == "patching" else "patching"]())
        validate_facts(
            subject, loc, fact_list, _unrelated(unrelated, facts, model), n_units=n_units, n_random=n_random, seed=seed
        )
    payload = {
        "method": method,
        "n_facts": loc.n_facts,
        "top_components": loc.top_components(top),
        "components": [f"blocks.{l}.{k}" for k, l, _, _ in loc.cell_scores()[:top]],
        "baseline": {k: v for k, v in loc.baseline.items() if not hasattr(v, "shape")},
        "validation": loc.validation,
    }
    if out is not None:
        payload["result_json"] = str(loc.save(Path(out) / f"{method}.json"))
        payload["figure_html"] = write_figure(loc.plot(), Path(out) / f"{method}.html")
    emit(payload, as_json)


@localize_app.command("concepts")
@handle_errors
def localize_concepts(
    model: str = typer.Option(..., help="model dir, hub id, tiny:<type> or organism:NAME[:ref]"),
    concept: str = typer.Option(
        ..., help="text, a text file, a comma list of tokens (tokens:a,b,c), or organism:forget"
    ),
    top: int = typer.Option(10, help="vectors per concept"),
    lens: bool = typer.Option(False, help="score with the logit lens W_U LN(v) instead of raw W_U v"),
    validate: bool = typer.Option(
        False, help="perturb each concept's top vector and measure its entity's facts (organisms)"
    ),
    validate_mode: str = typer.Option("noise", help="noise (ConceptVectors: absolute std --sigma) or zero"),
    sigma: float = typer.Option(0.1, help="std of the validation noise per coordinate (the paper's 0.1)"),
    max_concepts: int = typer.Option(20),
    out: Path = typer.Option(None),  # noqa: B008
    as_json: bool = typer.Option(False, "--json"),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None),
) -> None:
    """Rank MLP value vectors by how strongly they project onto a concept's tokens."""
    from ..localize.concepts import scan_concept, validate_concept_vector

    subject = load_subject(model, device, dtype)
    concepts, facts_by_concept = _concepts(subject, concept, model)
    results = []
    for name, lex in list(concepts.items())[:max_concepts]:
        scan = scan_concept(subject, lex, top=top, lens=lens)
        row = {
            "concept": name,
            "lexicon": scan.lexicon,
            "top_components": [{**r, "kind": "value"} for r in scan.top],
            "null": {"mean": scan.score_mean, "std": scan.score_std},
        }
        if validate and name in facts_by_concept:
            tgt, unr = facts_by_concept[name]
            row["validation"] = validate_concept_vector(
                subject, scan.top[0], target=tgt, unrelated=unr, mode=validate_mode, sigma=sigma
            ).to_dict()
        if out is not None:
            scan.save(Path(out) / f"concept_{len(results)}.json")
        results.append(row)
    payload = {
        "method": "concept_vectors",
        "lens": lens,
        "concepts": results,
        "top_components": results[0]["top_components"],
        "validation": {r["concept"]: r["validation"] for r in results if "validation" in r},
    }
    emit(payload, as_json)


def _concepts(subject, spec: str, model: str):
    """name -> Lexicon, and for organisms name -> (the entity's facts, other facts)."""
    from ..data import DataSpec
    from ..localize.concepts import Lexicon
    from ..sources import load_facts

    ds = DataSpec.parse(spec)
    if ds.is_organism:
        facts = load_facts(spec, model)
        other = load_facts(f"organism:{'retain' if ds.name == 'forget' else 'forget'}", model)
        by_subject: dict[str, list] = {}
        for f in facts:
            by_subject.setdefault(f.subject, []).append(f)
        lex, facts_by = {}, {}
        for s, fs in by_subject.items():
            lex[s] = Lexicon.from_text(subject, s + " " + " ".join(sorted({f.answer for f in fs})), name=s)
            facts_by[s] = (fs, other[:200])
        return lex, facts_by
    if spec.startswith("tokens:"):
        return {spec: Lexicon.from_tokens(subject, [t for t in spec[7:].split(",") if t], name=spec)}, {}
    p = Path(spec)
    if p.is_file():
        return {p.name: Lexicon.from_text(subject, p.read_text(), name=p.name)}, {}
    if spec.endswith((".txt", ".md", ".json")):
        raise bad_input(f"concept file {spec} does not exist")
    return {spec[:40]: Lexicon.from_text(subject, spec)}, {}


localize_app.command("experts")(localize_experts)
localize_app.command("skills")(localize_skills)
