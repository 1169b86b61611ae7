"""``unlearnscope localize experts`` and ``unlearnscope ablate experts`` (MoE routing).

Prompt sets: a ``.txt`` file (one prompt per line), a JSON list / JSON Lines of strings or of
objects with ``prompt``, or, with ``--model organism:NAME``, an organism domain:
``organism:refusal``, ``organism:benign``, ``organism:arith``, ``organism:code``, ``organism:facts``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from .common import bad_input, emit, handle_errors, load_subject, write_figure

EXPERT_METHODS = ("affinity", "ftri")


def parse_experts(text: str) -> list[tuple[int, int]]:
    """``"1:3,0:5"`` or ``"1:[3,4]"`` → ``[(1, 3), (0, 5)]`` / ``[(1, 3), (1, 4)]``."""
    out = []
    for part in re.findall(r"\d+:\[[^\]]*\]|[^,\s]+", text):
        l, _, es = part.partition(":")
        vals = es.strip("[]").split(",")
        if not es or not l.isdigit() or not all(v.strip().isdigit() for v in vals):
            raise bad_input(f"bad expert {part!r}: use LAYER:EXPERT, e.g. 1:3,0:5 or 1:[3,4]")
        out += [(int(l), int(v)) for v in vals]
    if not out:
        raise bad_input("no experts given: use --experts LAYER:EXPERT,...")
    return out


@handle_errors
def localize_experts(
    model: str = typer.Option(..., help="MoE model dir, hub id, tiny:<moe type> or organism:moe"),
    prompts: str = typer.Option(..., help="prompts (.txt/.json/.jsonl) or organism:refusal|benign|arith|code|facts"),
    contrast: str = typer.Option(
        None, help="contrast prompts: affinity → forget − contrast; ftri → classified with the prompts"
    ),
    method: str = typer.Option("affinity", help="affinity (UOE) | ftri (MoTE)"),
    target: str = typer.Option("refused", help="ftri: the behaviour class to contrast against the others"),
    by: str = typer.Option("counts", help="ftri: counts | weights"),
    normalize: bool = typer.Option(False, help="ftri: divide each prompt's map by its token count"),
    positions: str = typer.Option("all", help="all tokens | last (the decision token)"),
    top: int = typer.Option(10, help="how many ranked experts to print"),
    validate: bool = typer.Option(
        False, help="organisms: switch the top expert of each layer off, against random experts"
    ),
    n_random: int = typer.Option(20, help="random expert draws for --validate"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(None, help="directory for the result JSON and heatmap"),  # noqa: B008
    as_json: bool = typer.Option(False, "--json"),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None),
) -> None:
    """Rank MoE experts for a prompt set: UOE affinity or fTRI differential activation."""
    from ..localize.experts import ftri, require_moe, uoe_attribution
    from ..sources import load_prompts

    if method not in EXPERT_METHODS:
        raise bad_input(f"unknown method {method!r}; choose from {EXPERT_METHODS}")
    subject = load_subject(model, device, dtype)
    require_moe(subject, f"localize experts --method {method}")
    payload: dict = {"method": method}
    if method == "affinity":
        data = load_prompts(prompts, model, full_text=True)
        ctr = load_prompts(contrast, model, full_text=True) if contrast else None
        ranking = uoe_attribution(subject, data, contrast=ctr, positions=positions)
        payload["n_prompts"] = len(data)
    else:
        data = load_prompts(prompts, model) + (load_prompts(contrast, model) if contrast else [])
        fmap = ftri(subject, data, target=target, by=by, normalize=normalize, positions=positions)
        ranking = fmap.ranking()
        payload |= {"n_prompts": len(data), "classes": fmap.class_counts}
    payload["ranked_experts"] = ranking.ranked_experts(top)
    if validate:
        payload["validation"] = ranking.validation = _validate(subject, model, ranking, n_random, seed)
    if out is not None:
        payload["result_json"] = str(ranking.save(Path(out) / f"experts_{method}.json"))
        payload["figure_html"] = write_figure(ranking.plot(), Path(out) / f"experts_{method}.html")
    emit(payload, as_json)


def _organism(model: str, what: str):
    from ..data import ModelSpec
    from ..organisms import sized

    spec = ModelSpec.parse(model)
    if not spec.is_organism:
        raise bad_input(what)
    return sized(spec.name)


def _validate(subject, model: str, ranking, n_random: int, seed: int) -> dict:
    from ..localize.experts import expert_control
    from ..organisms import behaviour_evaluator

    org = _organism(
        model,
        "--validate needs an organism (its behaviour metrics); for your own model use "
        "unlearnscope.localize.experts.expert_control with your own evaluate()",
    )
    experts = [(l, e) for l, e, _ in ranking.top_per_layer(1)]
    ctl = expert_control(subject, experts, behaviour_evaluator(org), mode="off", n_random=n_random, seed=seed)
    return {"mode": "off", "experts": [list(e) for e in experts], "n_random": n_random, "metrics": ctl.summary()}


@handle_errors
def ablate_experts(
    model: str = typer.Option(..., "--model", help="MoE model directory, hub id, organism:moe or tiny:<moe type>"),
    experts: str = typer.Option(..., "--experts", help="LAYER:EXPERT,... e.g. 1:3,0:5 or 1:[3,4]"),
    mode: str = typer.Option("off", "--mode", help="off (pre-selection mask) | force | drop (post-selection) | gain"),
    out: str = typer.Option(..., "--out", help="directory for routing_override.json and effect.json"),
    gain: float = typer.Option(0.0, help="--mode gain: output factor of the experts"),
    renormalize: bool = typer.Option(True, help="--mode drop: rescale the remaining weights to the original sum"),
    prompts: str = typer.Option(
        None, "--prompts", help="prompts to measure the next-token change on (.txt/.json or organism:DOMAIN)"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Switch MoE experts off / force them on / drop / scale them at inference (every token, also in
    generate()); writes the override (re-applicable with RoutingOverride.from_dict) and its measured effect."""
    from ..model.routing import RoutingOverride
    from ..results import write_json_atomic

    subject = load_subject(model)
    chosen = parse_experts(experts)
    ov = RoutingOverride.build(mode, chosen, gain=gain, renormalize=renormalize)
    ov.check(subject.anatomy)
    effect = _effect(subject, model, ov, prompts)
    out_dir = Path(out)
    write_json_atomic(out_dir / "routing_override.json", {"model": model, "mode": mode, **ov.to_dict()})
    write_json_atomic(out_dir / "effect.json", effect)
    summary = {
        "mode": mode,
        "experts": [list(e) for e in chosen],
        "out": str(out_dir),
        "override_json": str(out_dir / "routing_override.json"),
        "effect": effect,
    }
    typer.echo(
        json.dumps(summary)
        if as_json
        else f"experts {mode}: {summary['experts']}; wrote {summary['override_json']}\n{json.dumps(effect)}"
    )


def _effect(subject, model: str, ov, prompts: str | None) -> dict:
    """Behaviour before / after: organism metrics, and on ``prompts`` the next-token KL and top-1 agreement."""
    import torch

    from ..data import ModelSpec
    from ..model.routing import route
    from ..organisms import behaviour_evaluator
    from ..sources import load_prompts

    out: dict = {}
    if ModelSpec.parse(model).is_organism:
        ev = behaviour_evaluator(_organism(model, ""))
        before = ev(subject)
        with route(subject, ov):
            after = ev(subject)
        out["organism"] = {
            k: {"before": before[k], "after": after[k], "delta": round(after[k] - before[k], 5)} for k in before
        }
    if prompts:
        enc = subject.tokenize(load_prompts(prompts, model))
        last = enc["attention_mask"].sum(1) - 1
        rows = torch.arange(len(last), device=last.device)
        with torch.no_grad():
            p0 = subject.model(**enc).logits[rows, last].float().log_softmax(-1)
            with route(subject, ov):
                p1 = subject.model(**enc).logits[rows, last].float().log_softmax(-1)
        out["prompts"] = {
            "n": len(last),
            "next_token_kl": round(float((p0.exp() * (p0 - p1)).sum(-1).mean()), 6),
            "top1_agreement": round(float((p0.argmax(-1) == p1.argmax(-1)).float().mean()), 5),
        }
    return out
