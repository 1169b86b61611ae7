"""``unlearnscope localize experts`` and ``unlearnscope ablate experts`` (MoE routing).

Prompt sets: a ``.txt`` file (one prompt per line), a ``.json`` list of strings or of objects with
``prompt``, or, with ``--model organism:NAME``, an organism domain: ``organism:refusal``,
``organism:benign``, ``organism:arith``, ``organism:code``, ``organism:facts``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .cli_localize import _emit, _write_figure, localize_app

EXPERT_METHODS = ("affinity", "ftri")


def load_prompts(spec: str, model_spec: str, *, full_text: bool = False) -> list[str]:
    """Prompt texts from a file or an organism domain (``full_text``: prompt + answer, for affinity)."""
    from .errors import UnlearnscopeError

    if spec.startswith("organism:"):
        if not model_spec.startswith("organism:"):
            raise UnlearnscopeError(f"{spec} needs --model organism:NAME")
        from .organisms import resolve_spec
        from .organisms.behaviour import organism_items

        items = organism_items(resolve_spec(model_spec, progress=False), spec.split(":", 1)[1], trained=True)
        return [i.text if full_text else i.prompt for i in items]
    path = Path(spec)
    if not path.is_file():
        raise UnlearnscopeError(f"prompt file {spec!r} not found (give a .txt or .json file, or organism:refusal|benign|arith|code|facts)")
    if path.suffix == ".json":
        from .ablate.data import read_json_list

        rows = read_json_list(path, "strings or of {prompt} objects")
        out = []
        for n, r in enumerate(rows):
            if isinstance(r, dict) and "prompt" not in r:
                raise UnlearnscopeError(f"{spec}: entry {n} has no 'prompt' field")
            out.append((r["prompt"] + (" " + str(r.get("answer", "")) if full_text and r.get("answer") else "")) if isinstance(r, dict) else str(r))
    else:
        out = [line for line in path.read_text().splitlines() if line.strip()]
    if not out:
        raise UnlearnscopeError(f"{spec} holds no prompts")
    return out


def parse_experts(text: str) -> list[tuple[int, int]]:
    """``"1:3,0:5"`` or ``"1:[3,4]"`` → ``[(1, 3), (0, 5)]`` / ``[(1, 3), (1, 4)]``."""
    import re

    from .errors import UnlearnscopeError

    out = []
    for part in re.findall(r"\d+:\[[^\]]*\]|[^,\s]+", text):
        l, _, es = part.partition(":")
        if not es or not l.isdigit():
            raise UnlearnscopeError(f"bad expert {part!r}: use LAYER:EXPERT, e.g. 1:3,0:5 or 1:[3,4]")
        vals = es.strip("[]").split(",")
        if not all(v.strip().isdigit() for v in vals):
            raise UnlearnscopeError(f"bad expert {part!r}: use LAYER:EXPERT, e.g. 1:3,0:5 or 1:[3,4]")
        out += [(int(l), int(v)) for v in vals]
    if not out:
        raise UnlearnscopeError("no experts given: use --experts LAYER:EXPERT,...")
    return out


@localize_app.command("experts")
def localize_experts(
    model: str = typer.Option(..., help="MoE model dir, hub id, tiny:<moe type> or organism:moe"),
    prompts: str = typer.Option(..., help="prompts (.txt/.json) or organism:refusal|benign|arith|code|facts"),
    contrast: str = typer.Option(None, help="contrast prompts: affinity → forget − contrast; ftri → classified with the prompts"),
    method: str = typer.Option("affinity", help="affinity (UOE) | ftri (MoTE)"),
    target: str = typer.Option("refused", help="ftri: the behaviour class to contrast against the others"),
    by: str = typer.Option("counts", help="ftri: counts | weights"),
    normalize: bool = typer.Option(False, help="ftri: divide each prompt's map by its token count"),
    positions: str = typer.Option("all", help="all tokens | last (the decision token)"),
    top: int = typer.Option(10, help="how many ranked experts to print"),
    validate: bool = typer.Option(False, help="organisms: switch the top expert of each layer off, against random experts"),
    n_random: int = typer.Option(20, help="random expert draws for --validate"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(None, help="directory for the result JSON and heatmap"),  # noqa: B008
    as_json: bool = typer.Option(False, "--json"),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None),
) -> None:
    """Rank MoE experts for a prompt set: UOE affinity or fTRI differential activation."""
    from .cli import _fail, load_subject

    try:
        from .errors import UnlearnscopeError
        from .localize.experts import uoe_attribution
        from .localize.ftri import ftri
        from .localize.routing_stats import require_moe

        if method not in EXPERT_METHODS:
            raise UnlearnscopeError(f"unknown method {method!r}; choose from {EXPERT_METHODS}")
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
            payload["validation"] = _validate(subject, model, ranking, n_random, seed)
            ranking.validation = payload["validation"]
        if out is not None:
            payload["result_json"] = str(ranking.save(Path(out) / f"experts_{method}.json"))
            payload["figure_html"] = _write_figure(ranking.plot(), Path(out) / f"experts_{method}.html")
    except typer.Exit:
        raise
    except Exception as err:  # noqa: BLE001
        _fail(err)
    _emit(payload, as_json)


def _validate(subject, model: str, ranking, n_random: int, seed: int) -> dict:
    from .errors import UnlearnscopeError
    from .localize.expert_control import expert_control
    from .organisms import resolve_spec
    from .organisms.behaviour import behaviour_evaluator

    if not model.startswith("organism:"):
        raise UnlearnscopeError("--validate needs an organism (its behaviour metrics); for your own model use "
                                "unlearnscope.localize.expert_control.expert_control with your own evaluate()")
    experts = [(l, e) for l, e, _ in ranking.top_per_layer(1)]
    ctl = expert_control(subject, experts, behaviour_evaluator(resolve_spec(model, progress=False)), mode="off", n_random=n_random, seed=seed)
    return {"mode": "off", "experts": [list(e) for e in experts], "n_random": n_random, "metrics": ctl.summary()}


def ablate_experts(model: str, experts: str, mode: str, out: str, gain: float, renormalize: bool, prompts: str | None, as_json: bool) -> None:
    """Body of ``unlearnscope ablate experts`` (the command is declared in `cli.py`)."""
    from .cli import _fail, load_subject
    from .results import write_json_atomic

    try:
        from .model.routing import RoutingOverride

        subject = load_subject(model)
        chosen = parse_experts(experts)
        ov = RoutingOverride.build(mode, chosen, gain=gain, renormalize=renormalize)
        ov.check(subject.anatomy)
        effect = _effect(subject, model, ov, prompts)
        out_dir = Path(out)
        write_json_atomic(out_dir / "routing_override.json", {"model": model, "mode": mode, **ov.to_dict()})
        write_json_atomic(out_dir / "effect.json", effect)
    except typer.Exit:
        raise
    except Exception as err:  # noqa: BLE001
        _fail(err)
    summary = {"mode": mode, "experts": [list(e) for e in chosen], "out": str(out_dir),
               "override_json": str(out_dir / "routing_override.json"), "effect": effect}
    typer.echo(json.dumps(summary) if as_json else f"experts {mode}: {summary['experts']}; wrote {summary['override_json']}\n{json.dumps(effect)}")


def _effect(subject, model: str, ov, prompts: str | None) -> dict:
    """Behaviour before / after: organism metrics, and on ``prompts`` the next-token KL and top-1 agreement."""
    import torch

    from .model.routing import route

    out: dict = {}
    if model.startswith("organism:"):
        from .organisms import resolve_spec
        from .organisms.behaviour import behaviour_evaluator

        ev = behaviour_evaluator(resolve_spec(model, progress=False))
        before = ev(subject)
        with route(subject, ov):
            after = ev(subject)
        out["organism"] = {k: {"before": before[k], "after": after[k], "delta": round(after[k] - before[k], 5)} for k in before}
    if prompts:
        enc = subject.tokenize(load_prompts(prompts, model))
        last = enc["attention_mask"].sum(1) - 1
        rows = torch.arange(len(last), device=last.device)
        with torch.no_grad():
            p0 = subject.model(**enc).logits[rows, last].float().log_softmax(-1)
            with route(subject, ov):
                p1 = subject.model(**enc).logits[rows, last].float().log_softmax(-1)
        out["prompts"] = {"n": len(last), "next_token_kl": round(float((p0.exp() * (p0 - p1)).sum(-1).mean()), 6),
                          "top1_agreement": round(float((p0.argmax(-1) == p1.argmax(-1)).float().mean()), 5)}
    return out
