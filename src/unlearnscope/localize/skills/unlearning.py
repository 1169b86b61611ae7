"""Skill unlearning by Key Space Detection or Neuron Adjust, evaluated as relative drops.

    skills = organism_skills(org)                     # {"arith": Skill(fit, eval), "code": ..., ...}
    r = ksd_skill_unlearning(subject, skills, "arith")  # cube + λ chosen without the eval items
    r.row("arith")["relative_drop"], r.tpr, r.fpr, r.meets(0.8, 0.1)
    r = na_skill_unlearning(subject, skills, "arith", top_p=0.03)

A `Skill` has *fit* items (probe prompts for the cube / texts for NA statistics) and held-out
*eval* items with one-token answers.  Accuracy is top-1 of the answer's first token at the
prompt's last position; under KSD an abstained query counts wrong (the fixed refusal).  The
metric is the relative drop ``(acc_orig − acc_new) / acc_orig`` per skill: high on the forget
skill, low on the others (paper headline: ≥ 0.8 and ≤ 0.1).

KSD chooses its layer and λ on the fit items only: the forget fit prompts are split in two, a cube
fitted on one half is scored on the other half (positives) and on the retain skills' fit prompts
(negatives), and the (layer, λ) with the largest TPR − FPR of the worst retain skill wins (ties: higher AUC, then the
later
layer); λ is the geometric middle of the first interval of λ values reaching that maximum (a margin
on both sides).  The cube is then refitted on all forget fit prompts.  TPR / FPR / ROC are measured on
the eval items only (skills without eval items are fitted but not evaluated).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...data import Item
from ...errors import UnlearnscopeError
from ...organisms.truth import ground_truth, organism_items
from ...results import Result
from .ffn_statistics import ffn_stats, resolve_layers
from .key_space import KeySpaceCube, KeySpaceROC, fit_key_space, key_space_distance, key_space_roc
from .neuron_adjustment import neuron_adjust, select_neurons

if TYPE_CHECKING:
    from ...model.subject import Subject
    from ...organisms.builder import Organism


@dataclass
class Skill:
    name: str
    fit: list[Item]
    eval: list[Item]

    @property
    def fit_prompts(self) -> list[str]:
        return [i.prompt for i in self.fit]

    @property
    def fit_texts(self) -> list[str]:
        """Full texts (prompt + answer + continuation); a prompt alone when it has no answer."""
        return [i.text if i.answer else i.prompt for i in self.fit]


def split_items(items: list[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """A seeded shuffle split: ``(first fraction, rest)``, each non-empty when there are ≥ 2 items."""
    items = list(items)
    random.Random(seed).shuffle(items)
    k = min(max(1, round(fraction * len(items))), len(items) - 1)
    return items[:k], items[k:]


def organism_skills(
    org: Organism, *, domains: Sequence[str] | None = None, fit_fraction: float = 0.5, seed: int = 0
) -> dict[str, Skill]:
    """The organism's domains as skills (its ``benign`` chat included as a retain skill)."""
    domains = list(domains or ground_truth(org).get("domains") or [])
    if not domains:
        raise UnlearnscopeError("this organism has no skill domains (use the moe or multidomain organism)")
    out = {}
    for d in domains:
        fit, ev = split_items(organism_items(org, d), fit_fraction, seed)
        out[d] = Skill(d, fit, ev)
    return out


def check_skills(skills: dict[str, Skill], forget: str) -> tuple[Skill, list[Skill]]:
    if forget not in skills:
        raise UnlearnscopeError(f"unknown forget skill {forget!r}; skills: {sorted(skills)}")
    f = skills[forget]
    retain = [s for n, s in skills.items() if n != forget]
    if len(f.fit) < 2:
        raise UnlearnscopeError(
            f"skill {forget!r} has {len(f.fit)} fit item(s); give at least 2 (4 or more for a calibrated λ)"
        )
    if not retain or not any(s.fit for s in retain):
        raise UnlearnscopeError("no retain skill with fit items: give retain prompts from other skills")
    if {i.prompt for i in f.fit} == {i.prompt for r in retain for i in r.fit}:
        raise UnlearnscopeError(
            "the forget set equals the retain set: nothing distinguishes the skill; give retain prompts from other "
            "skills"
        )
    return f, retain


# ---------------------------------------------------------------------------- accuracy
@torch.no_grad()
def answer_correct(subject, items: list[Item], *, batch_size: int = 128) -> torch.Tensor:
    """``[n]`` bool: the top-1 next token at each prompt's end is the answer's first token."""
    if not items:
        return torch.zeros(0, dtype=torch.bool)
    tok = subject.tokenizer
    gold_ids = [
        tok(" " + i.answer if not i.answer.startswith(" ") else i.answer, add_special_tokens=False)["input_ids"]
        for i in items
    ]
    if any(not g for g in gold_ids):
        raise UnlearnscopeError("an answer tokenises to nothing: every eval item needs a non-empty answer")
    gold = torch.tensor([g[0] for g in gold_ids])
    hits = []
    for s in range(0, len(items), batch_size):
        enc = subject.tokenize([i.prompt for i in items[s : s + batch_size]])
        logits = subject.model(**enc).logits
        last = enc["attention_mask"].sum(1) - 1
        hits.append(
            logits[torch.arange(len(last), device=logits.device), last].argmax(-1).cpu() == gold[s : s + batch_size]
        )
    return torch.cat(hits)


def relative_drop(acc_orig: float, acc_new: float) -> float | None:
    """``(acc_orig − acc_new) / acc_orig`` (None when the original accuracy is 0)."""
    return None if acc_orig <= 0 else (acc_orig - acc_new) / acc_orig


def skill_row(
    name: str, role: str, correct: torch.Tensor, correct_new: torch.Tensor, detected: torch.Tensor | None = None
) -> dict:
    n = int(correct.numel())
    a0, a1 = float(correct.float().mean()), float(correct_new.float().mean())
    row = {
        "skill": name,
        "role": role,
        "n": n,
        "acc_orig": round(a0, 4),
        "acc_new": round(a1, 4),
        "relative_drop": None if (drop := relative_drop(a0, a1)) is None else round(drop, 4),
    }
    if detected is not None:
        row["detection_rate"] = round(float(detected.float().mean()), 4)
    return row


# ---------------------------------------------------------------------------- result
@dataclass
class SkillUnlearningResult(Result):
    """One forget skill under one method; ``skills`` rows hold accuracies and relative drops."""

    kind = "skill_unlearning"
    method: str
    forget_skill: str
    skills: list[dict]
    layer: int | list[int] | None = None
    k_star: float | None = None
    lam: float | None = None
    tpr: float | None = None
    fpr: float | None = None
    n_neurons: int | None = None
    config: dict = field(default_factory=dict)
    calibration: list[dict] = field(default_factory=list)
    roc: KeySpaceROC | None = None
    cube: KeySpaceCube | None = None

    @classmethod
    def load(cls, path):
        r = super().load(path)
        for name, kind in (("cube", KeySpaceCube), ("roc", KeySpaceROC)):
            value = getattr(r, name)
            if isinstance(value, dict):
                setattr(r, name, kind(**value))
        return r

    def row(self, skill: str) -> dict:
        for r in self.skills:
            if r["skill"] == skill:
                return r
        raise UnlearnscopeError(f"no skill {skill!r} here; skills: {[r['skill'] for r in self.skills]}")

    @property
    def forget_drop(self) -> float | None:
        return self.row(self.forget_skill)["relative_drop"]

    @property
    def max_retain_drop(self) -> float:
        drops = [r["relative_drop"] for r in self.skills if r["role"] == "retain" and r["relative_drop"] is not None]
        return max(drops, default=0.0)

    def meets(self, forget_min: float = 0.8, retain_max: float = 0.1) -> bool:
        return (self.forget_drop or 0.0) >= forget_min and self.max_retain_drop <= retain_max

    def summary(self) -> dict:
        """The CLI's per-skill JSON: the method's numbers repeated on each skill row."""
        common = {"layer": self.layer, "k_star": self.k_star, "lam": self.lam, "tpr": self.tpr, "fpr": self.fpr}
        return {
            "method": self.method,
            "forget_skill": self.forget_skill,
            **common,
            "n_neurons": self.n_neurons,
            "meets_80_10": self.meets(),
            "skills": [{**r, **common} for r in self.skills],
        }

    def plot(self):
        from ...viz.skills import drops_figure

        return drops_figure(self)


# ---------------------------------------------------------------------------- KSD
def plateau_lambda(lambdas: torch.Tensor, j: torch.Tensor) -> float:
    """The geometric middle of the first interval of λ where ``j`` is maximal (a max-margin λ:
    λ is a scale, so the margin is a ratio on both sides)."""
    best = (j >= j.max() - 1e-12).int()
    first = int(best.argmax())
    last = first + int(best[first:].cumprod(0).sum()) - 1
    lo, hi = float(lambdas[first]), float(lambdas[last])
    return (lo * hi) ** 0.5 if lo > 0 else hi / 2


def _calibrate(
    subject, forget_fit: list[str], retain_fit: dict[str, list[str]], layers: list[int], low_spread, seed: int
) -> list[dict]:
    """Per layer: the λ maximising TPR − (worst retain skill's FPR) of a cube fitted on half the
    forget fit prompts (the other half are the positives)."""
    rows = []
    half_a, half_b = split_items([Item(p, "") for p in forget_fit], 0.5, seed + 1)
    a, b = [i.prompt for i in half_a], [i.prompt for i in half_b]
    pooled = [p for ps in retain_fit.values() for p in ps]
    for layer in layers:
        cube = fit_key_space(subject, a, layer=layer, reference=pooled if low_spread else None, low_spread=low_spread)
        db = key_space_distance(subject, cube, b)
        dr = {n: key_space_distance(subject, cube, ps) for n, ps in retain_fit.items() if ps}
        roc = key_space_roc(cube, db, torch.cat(list(dr.values())))
        worst = torch.stack([(d[None, :] <= roc.lambdas[:, None]).float().mean(1) for d in dr.values()]).amax(0)
        j = roc.tpr - worst
        lam = plateau_lambda(roc.lambdas, j)
        i = int((roc.lambdas <= lam).nonzero()[-1])
        rows.append(
            {
                "layer": layer,
                "lam": round(lam, 4),
                "tpr": round(float(roc.tpr[i]), 4),
                "fpr_worst_skill": round(float(worst[i]), 4),
                "fpr": round(float(roc.fpr[i]), 4),
                "youden": round(float(j[i]), 4),
                "auc": round(roc.auc, 4),
            }
        )
    return rows


def _abstention_rows(subject, cube, lam: float, forget: Skill, retain: list[Skill]):
    """Per-skill rows (answered before, answered after abstention, abstained) and each eval
    prompt's key-space distance ``{skill: [n]}``; a prompt abstains when its distance ≤ λ."""
    rows, dist = [], {}
    for s in [forget, *retain]:
        if not s.eval:
            continue
        dist[s.name] = key_space_distance(subject, cube, [i.prompt for i in s.eval])
        detected = dist[s.name] <= lam
        correct = answer_correct(subject, s.eval)
        rows.append(skill_row(s.name, "forget" if s is forget else "retain", correct, correct & ~detected, detected))
    return rows, dist


def ksd_skill_unlearning(
    subject: Subject,
    skills: dict[str, Skill],
    forget: str,
    *,
    layers: int | Sequence[int] | None = None,
    lam: float | None = None,
    low_spread: int | None = None,
    seed: int = 0,
) -> SkillUnlearningResult:
    """Fit, calibrate and evaluate key-space abstention for ``forget`` (see module docstring).

    ``layers``: candidate layers (default: all; one layer skips the layer choice); ``lam``: fix λ
    instead of calibrating it."""
    f, retain = check_skills(skills, forget)
    retain_fit = [p for s in retain for p in s.fit_prompts]
    cand = resolve_layers(subject, layers)
    calibration = []
    if lam is None or len(cand) > 1:
        if len(f.fit) < 4:
            raise UnlearnscopeError(
                f"calibrating λ splits the forget fit prompts in two; skill {forget!r} has {len(f.fit)} (need ≥ "
                "4) — or pass lam= and one layer"
            )
        calibration = _calibrate(
            subject, f.fit_prompts, {s.name: s.fit_prompts for s in retain}, cand, low_spread, seed
        )
        best = max(calibration, key=lambda r: (r["youden"], r["auc"], r["layer"]))
        layer, lam = best["layer"], (best["lam"] if lam is None else lam)
    else:
        layer = cand[0]
    cube = fit_key_space(
        subject, f.fit_prompts, layer=layer, reference=retain_fit if low_spread else None, low_spread=low_spread
    )
    rows, dist = _abstention_rows(subject, cube, lam, f, retain)
    fd = dist.get(forget)
    rd = torch.cat([d for n, d in dist.items() if n != forget]) if len(dist) > (fd is not None) else None
    return SkillUnlearningResult(
        "ksd",
        forget,
        rows,
        layer=layer,
        k_star=round(cube.k_star, 4),
        lam=round(float(lam), 4),
        tpr=None if fd is None else round(float((fd <= lam).float().mean()), 4),
        fpr=None if rd is None else round(float((rd <= lam).float().mean()), 4),
        n_neurons=cube.n_neurons,
        config={"low_spread": low_spread, "seed": seed, "candidate_layers": cand},
        calibration=calibration,
        roc=key_space_roc(cube, fd, rd) if fd is not None and rd is not None else None,
        cube=cube,
    )


# ---------------------------------------------------------------------------- NA
def na_skill_unlearning(
    subject: Subject,
    skills: dict[str, Skill],
    forget: str,
    *,
    top_p: float = 0.03,
    compat: bool = False,
    layers: int | Sequence[int] | None = None,
    seed: int = 0,
) -> SkillUnlearningResult:
    """Neuron Adjust fitted on the fit items' full texts (all tokens), evaluated on eval items."""
    f, retain = check_skills(skills, forget)
    fs = ffn_stats(subject, f.fit_texts, layers=layers, site="pre")
    rs = ffn_stats(subject, [t for s in retain for t in s.fit_texts], layers=layers, site="pre")
    sel = select_neurons(fs, rs, top_p=top_p)
    rows = []
    for s in [f, *retain]:
        if not s.eval:
            continue
        correct = answer_correct(subject, s.eval)
        with neuron_adjust(subject, sel, compat=compat, seed=seed):
            correct_new = answer_correct(subject, s.eval)
        rows.append(skill_row(s.name, "forget" if s is f else "retain", correct, correct_new))
    return SkillUnlearningResult(
        "na",
        forget,
        rows,
        layer=sel.layers,
        n_neurons=sel.n_selected,
        config={
            "top_p": top_p,
            "compat": compat,
            "seed": seed,
            "tau": sel.tau,
            "per_layer": {str(k): v for k, v in sel.per_layer_counts().items()},
        },
    )
