"""``unlearnscope localize skills``: Key Space Detection or Neuron Adjust for one forget skill.

    unlearnscope localize skills --model organism:moe --forget organism:arith --method ksd --json
    unlearnscope localize skills --model M --forget math.txt --retain code.txt --retain chat.txt \\
        --eval-forget math_eval.json --eval-retain other_eval.json --method ksd --json

With organism specs the organism's items of each domain are split (seeded) into fit and eval
halves, and the retain skills default to every other domain.  Files: ``--forget`` / ``--retain``
are prompt files (.txt, or JSON / JSON Lines, see ``localize experts``); ``--eval-forget`` /
``--eval-retain`` hold ``{"prompt", "answer"}`` objects for accuracies and relative drops.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .common import bad_input, emit, handle_errors, load_subject, write_figure

SKILL_METHODS = ("ksd", "na")


def build_skills(
    model: str, forget: str, retain: list[str], eval_forget: str | None, eval_retain: str | None, seed: int
):
    """``(skills, forget name)`` from organism specs or files."""
    from ..data import DataSpec, Item, read_eval_items
    from ..localize.skills import Skill, organism_skills
    from ..sources import load_prompts, organism_for

    specs = [DataSpec.parse(s) for s in (forget, *retain)]
    if specs[0].is_organism:
        if not all(s.is_organism for s in specs):
            raise bad_input("mix of organism: and file skills: give all as organism:DOMAIN or all as files")
        names = [s.name for s in specs]
        all_skills = organism_skills(organism_for(specs[0], model), seed=seed)
        unknown = [n for n in names if n not in all_skills]
        if unknown:
            raise bad_input(f"unknown organism skill(s) {unknown}; this organism has {sorted(all_skills)}")
        keep = names if retain else list(all_skills)
        return {n: all_skills[n] for n in dict.fromkeys([names[0], *keep])}, names[0]
    if not retain:
        raise bad_input("give at least one --retain prompt file (texts of the skills to keep)")
    skills = {}
    for n, spec in enumerate((forget, *retain)):
        name = Path(spec).stem if Path(spec).stem not in skills else f"{Path(spec).stem}_{n}"
        skills[name] = Skill(name, [Item(p, "") for p in load_prompts(spec, model)], [])
    first = next(iter(skills))
    skills[first].eval = read_eval_items(eval_forget) if eval_forget else []
    if eval_retain:
        skills["retain_eval"] = Skill("retain_eval", [], read_eval_items(eval_retain))
    return skills, first


@handle_errors
def localize_skills(
    model: str = typer.Option(..., help="model dir, hub id, tiny:<type> or organism:moe|multidomain"),
    forget: str = typer.Option(
        ..., help="forget-skill prompts (.txt/.json/.jsonl) or organism:arith|code|facts|refusal|benign"
    ),
    retain: list[str] = typer.Option(
        [], help="retain-skill prompts or organism:DOMAIN (repeat; organisms default to all other domains)"
    ),  # noqa: B008
    method: str = typer.Option("ksd", help="ksd (Key Space Detection) | na (Neuron Adjust)"),
    layer: list[int] = typer.Option(
        [], help="KSD: candidate layer(s) (repeat; default all, chosen on fit data); NA: layers to select from"
    ),  # noqa: B008
    lam: float = typer.Option(None, help="KSD: fix λ (default: calibrated on the fit prompts)"),
    low_spread: int = typer.Option(None, help="KSD: restrict the cube to the M lowest-spread neurons"),
    top_p: float = typer.Option(0.03, help="NA: global fraction of neurons selected (0.03 = 3%)"),
    compat: bool = typer.Option(False, help="NA: reproduce the upstream code's variance/μ_f/shared-draw behaviour"),
    eval_forget: str = typer.Option(None, help="JSON / JSON Lines of {prompt, answer}: held-out forget-skill items"),
    eval_retain: str = typer.Option(None, help="JSON / JSON Lines of {prompt, answer}: held-out retain items"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(None, help="directory for the result JSON and figures"),  # noqa: B008
    as_json: bool = typer.Option(False, "--json"),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None),
) -> None:
    """Locate a skill's FFN key-space (KSD) or its forget-active neurons (NA) and measure relative drops."""
    from ..localize.skills import ksd_skill_unlearning, na_skill_unlearning

    if method not in SKILL_METHODS:
        raise bad_input(f"unknown method {method!r}; choose from {SKILL_METHODS}")
    skills, name = build_skills(model, forget, list(retain), eval_forget, eval_retain, seed)
    subject = load_subject(model, device, dtype)
    layers = list(layer) or None
    if method == "ksd":
        result = ksd_skill_unlearning(subject, skills, name, layers=layers, lam=lam, low_spread=low_spread, seed=seed)
    else:
        result = na_skill_unlearning(subject, skills, name, top_p=top_p, compat=compat, layers=layers, seed=seed)
    payload = result.summary()
    if out is not None:
        payload["result_json"] = str(result.save(Path(out) / f"skills_{method}_{name}.json"))
        if result.skills:
            payload["figure_html"] = write_figure(result.plot(), Path(out) / f"skills_{method}_{name}.html")
        if result.roc is not None:
            payload["roc_html"] = write_figure(result.roc.plot(), Path(out) / f"skills_{method}_{name}_roc.html")
    emit(payload, as_json)
