"""``unlearnscope localize skills``: Key Space Detection or Neuron Adjust for one forget skill.

    unlearnscope localize skills --model organism:moe --forget organism:arith --method ksd --json
    unlearnscope localize skills --model M --forget math.txt --retain code.txt --retain chat.txt \\
        --eval-forget math_eval.json --eval-retain other_eval.json --method ksd --json

With organism specs the organism's items of each domain are split (seeded) into fit and eval
halves, and the retain skills default to every other domain.  Files: ``--forget`` / ``--retain``
are prompt files (.txt or .json, see ``localize experts``); ``--eval-forget`` / ``--eval-retain``
are JSON lists of ``{"prompt", "answer"}`` for accuracies and relative drops.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .cli_experts import load_prompts
from .cli_localize import _emit, _write_figure, localize_app

SKILL_METHODS = ("ksd", "na")


def _eval_items(path: str | None):
    from .ablate.data import read_json_list
    from .errors import UnlearnscopeError
    from .organisms.world import Item

    if path is None:
        return []
    if not Path(path).is_file():
        raise UnlearnscopeError(f"evaluation file {path!r} not found (a JSON list of {{prompt, answer}} objects)")
    rows = read_json_list(Path(path), "{prompt, answer} objects")
    bad = [n for n, r in enumerate(rows) if not (isinstance(r, dict) and r.get("prompt") and r.get("answer"))]
    if bad:
        raise UnlearnscopeError(f"{path}: entries {bad[:5]} need non-empty 'prompt' and 'answer' fields")
    return [Item(r["prompt"], str(r["answer"])) for r in rows]


def build_skills(model: str, forget: str, retain: list[str], eval_forget: str | None, eval_retain: str | None, seed: int):
    """``(skills, forget name)`` from organism specs or files."""
    from .errors import UnlearnscopeError
    from .localize.skills import Skill, organism_skills
    from .organisms.world import Item

    specs = [forget, *retain]
    if forget.startswith("organism:"):
        if not all(s.startswith("organism:") for s in specs):
            raise UnlearnscopeError("mix of organism: and file skills: give all as organism:DOMAIN or all as files")
        if not model.startswith("organism:"):
            raise UnlearnscopeError(f"{forget} needs --model organism:NAME")
        from .organisms import resolve_spec

        names = [s.split(":", 1)[1] for s in specs]
        all_skills = organism_skills(resolve_spec(model, progress=False), seed=seed)
        unknown = [n for n in names if n not in all_skills]
        if unknown:
            raise UnlearnscopeError(f"unknown organism skill(s) {unknown}; this organism has {sorted(all_skills)}")
        keep = names if retain else list(all_skills)
        return {n: all_skills[n] for n in dict.fromkeys([names[0], *keep])}, names[0]
    if not retain:
        raise UnlearnscopeError("give at least one --retain prompt file (texts of the skills to keep)")
    skills = {}
    for n, spec in enumerate(specs):
        name = Path(spec).stem if Path(spec).stem not in skills else f"{Path(spec).stem}_{n}"
        fit = [Item(p, "") for p in load_prompts(spec, model)]
        skills[name] = Skill(name, fit, [])
    first = next(iter(skills))
    skills[first].eval = _eval_items(eval_forget)
    if eval_retain:
        skills["retain_eval"] = Skill("retain_eval", [], _eval_items(eval_retain))
    return skills, first


@localize_app.command("skills")
def localize_skills(
    model: str = typer.Option(..., help="model dir, hub id, tiny:<type> or organism:moe|multidomain"),
    forget: str = typer.Option(..., help="forget-skill prompts (.txt/.json) or organism:arith|code|facts|refusal|benign"),
    retain: list[str] = typer.Option([], help="retain-skill prompts or organism:DOMAIN (repeat; organisms default to all other domains)"),  # noqa: B008
    method: str = typer.Option("ksd", help="ksd (Key Space Detection) | na (Neuron Adjust)"),
    layer: list[int] = typer.Option([], help="KSD: candidate layer(s) (repeat; default all, chosen on fit data); NA: layers to select from"),  # noqa: B008
    lam: float = typer.Option(None, help="KSD: fix λ (default: calibrated on the fit prompts)"),
    low_spread: int = typer.Option(None, help="KSD: restrict the cube to the M lowest-spread neurons"),
    top_p: float = typer.Option(0.03, help="NA: global fraction of neurons selected (0.03 = 3%)"),
    compat: bool = typer.Option(False, help="NA: reproduce the upstream code's variance/μ_f/shared-draw behaviour"),
    eval_forget: str = typer.Option(None, help="JSON list of {prompt, answer}: held-out forget-skill items"),
    eval_retain: str = typer.Option(None, help="JSON list of {prompt, answer}: held-out retain items"),
    seed: int = typer.Option(0),
    out: Path = typer.Option(None, help="directory for the result JSON and figures"),  # noqa: B008
    as_json: bool = typer.Option(False, "--json"),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None),
) -> None:
    """Locate a skill's FFN key-space (KSD) or its forget-active neurons (NA) and measure relative drops."""
    from .cli import _fail, load_subject

    try:
        from .errors import UnlearnscopeError
        from .localize.skills import ksd_skill_unlearning, na_skill_unlearning

        if method not in SKILL_METHODS:
            raise UnlearnscopeError(f"unknown method {method!r}; choose from {SKILL_METHODS}")
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
                payload["figure_html"] = _write_figure(result.plot(), Path(out) / f"skills_{method}_{name}.html")
            if result.roc is not None:
                payload["roc_html"] = _write_figure(result.roc.plot(), Path(out) / f"skills_{method}_{name}_roc.html")
    except typer.Exit:
        raise
    except Exception as err:  # noqa: BLE001
        _fail(err)
    _emit(payload, as_json)
