"""Causal validation of a concept vector (Hong et al., ConceptVectors): perturb it and measure
recall and generations of the concept's facts against unrelated facts.

    val = validate_concept_vector(subject, scan.top[0], target=facts_x, unrelated=facts_y)
    val.specific      # target accuracy dropped, unrelated stayed within tolerance

The paper's protocol is the default: i.i.d. noise of absolute std 0.1 added to the vector, greedy
generations of up to 100 new tokens (cut to the model's positions), BLEU (NLTK, method3) and
ROUGE-L F (``rouge-score``) between the generations after and before.  ``mode="zero"`` is the
stronger ablation.  `validate_concept_vectors` runs many concepts; its ``compat=True`` reproduces
the ConceptVectors notebook: each concept's noise stays in the model for the next concepts (the
notebook re-binds its "clean" parameters to the noised ones) and only the last 10 unrelated
answers are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...data import encode_facts
from ...errors import UnlearnscopeError
from ...model.components import ComponentSet
from ...model.edits import Edits
from ...model.generate import greedy
from ...probes.recall import recall
from ...results import Result
from .scan import vector_name
from .text_metrics import bleu, rouge_l

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


@dataclass
class ConceptValidation(Result):
    """Effect of perturbing one value vector on target vs unrelated facts.

    ``*_drop`` are before − after (positive = the perturbation hurt): ``logp`` in nats of the
    answer token, ``acc`` top-1 accuracy in [0, 1].  ``bleu`` / ``rouge_l`` compare greedy
    generations after vs before (1 = unchanged).  ``specific`` is the test ConceptVectors uses
    for a good concept vector: target accuracy drops and unrelated stays within ``tolerance``."""

    kind = "concept_validation"
    vector: str
    mode: str
    sigma: float | None
    n_target: int
    n_unrelated: int
    target_acc_before: float
    target_acc_after: float
    unrelated_acc_before: float
    unrelated_acc_after: float
    target_logp_drop: float
    unrelated_logp_drop: float
    target_bleu: float
    target_rouge_l: float
    unrelated_bleu: float
    unrelated_rouge_l: float
    tolerance: float = 0.05
    examples: list[dict] = field(default_factory=list)

    @property
    def target_acc_drop(self) -> float:
        return self.target_acc_before - self.target_acc_after

    @property
    def unrelated_acc_drop(self) -> float:
        return self.unrelated_acc_before - self.unrelated_acc_after

    @property
    def specific(self) -> bool:
        return self.target_acc_drop > self.tolerance and abs(self.unrelated_acc_drop) <= self.tolerance

    def to_dict(self) -> dict:
        return {
            **super().to_dict(),
            "target_acc_drop": self.target_acc_drop,
            "unrelated_acc_drop": self.unrelated_acc_drop,
            "specific": self.specific,
        }

    def plot(self):
        from ...viz.localize import concept_validation_figure

        return concept_validation_figure(self)


def validate_concept_vector(
    subject: Subject,
    vector: str | dict,
    *,
    target: FactsLike,
    unrelated: FactsLike,
    mode: str = "noise",
    sigma: float = 0.1,
    seed: int = 0,
    max_new_tokens: int = 100,
    tolerance: float = 0.05,
) -> ConceptValidation:
    """Perturb one value vector (``noise`` of absolute std ``sigma``, or ``zero``), measure, undo.

    ``vector`` is a scan row (dict with layer/neuron/expert) or a name like
    ``"blocks.2.mlp.value:17"``; ``target`` / ``unrelated`` are facts (see `unlearnscope.data.as_facts`).
    """
    return _validate(
        subject,
        vector,
        target,
        unrelated,
        mode=mode,
        sigma=sigma,
        seed=seed,
        max_new_tokens=max_new_tokens,
        tolerance=tolerance,
    )[0]


def _ablated_components(subject, vector, mode: str, sigma: float) -> tuple[str, ComponentSet]:
    """The vector's name and the components an ablation by ``mode`` touches; checks the mode."""
    if mode not in ("zero", "noise"):
        raise UnlearnscopeError(f"concept-vector validation ablates by 'zero' or 'noise', got {mode!r}")
    if mode == "noise" and not sigma > 0:
        raise UnlearnscopeError("noise ablation needs sigma > 0 (absolute std of the added noise)")
    if not isinstance(vector, dict):
        return str(vector), ComponentSet.parse(subject, str(vector))
    name = vector_name(vector)
    value = subject.anatomy.value_slice(vector["layer"], vector["neuron"], vector["expert"])
    return name, ComponentSet.from_slices(subject, [value], [name])


def _validate(
    subject,
    vector,
    target,
    unrelated,
    *,
    mode,
    sigma,
    seed,
    max_new_tokens,
    tolerance,
    keep: bool = False,
    unrelated_compared: int | None = None,
) -> tuple[ConceptValidation, Edits | None]:
    """`validate_concept_vector`; ``keep=True`` leaves the perturbation in the model and returns
    its `Edits` (the notebook's accumulation); ``unrelated_compared``: only the last N unrelated
    generations count (the notebook: 10 of 50)."""
    name, comps = _ablated_components(subject, vector, mode, sigma)
    tgt, unr = encode_facts(subject, target), encode_facts(subject, unrelated)
    prompts_t, prompts_u = [f.prompt for f in tgt.facts], [f.prompt for f in unr.facts]
    before = recall(subject, tgt), recall(subject, unr)
    gen_before = greedy(subject, prompts_t, max_new_tokens), greedy(subject, prompts_u, max_new_tokens)
    ed = Edits(subject)
    try:
        for i, sl in enumerate(comps.slices()):
            ed.zero(sl) if mode == "zero" else ed.noise(sl, sigma, seed + i)
        after = recall(subject, tgt), recall(subject, unr)
        gen_after = greedy(subject, prompts_t, max_new_tokens), greedy(subject, prompts_u, max_new_tokens)
    except BaseException:
        ed.undo()
        raise
    if not keep:
        ed.undo()
    cut = -unrelated_compared if unrelated_compared else 0

    def sim(fn, i):
        pairs = list(zip(gen_after[i], gen_before[i], strict=True))[cut if i == 1 else 0 :]
        return sum(fn(a, b) for a, b in pairs) / len(pairs)

    examples = [
        {"prompt": p, "before": b, "after": a}
        for p, b, a in list(zip(prompts_t, gen_before[0], gen_after[0], strict=True))[:5]
    ]
    acc = lambda r: float(r["correct"].mean())
    recalls = (acc(before[0]), acc(after[0]), acc(before[1]), acc(after[1]))
    drop = lambda i: float((before[i]["logp"] - after[i]["logp"]).mean())
    drops = (drop(0), drop(1))
    sims = (sim(bleu, 0), sim(rouge_l, 0), sim(bleu, 1), sim(rouge_l, 1))
    noise_sigma = sigma if mode == "noise" else None
    val = ConceptValidation(name, mode, noise_sigma, len(tgt), len(unr), *recalls, *drops, *sims, tolerance, examples)
    return val, (ed if keep else None)


def validate_concept_vectors(
    subject: Subject, concepts: list[dict], *, compat: bool = False, **kw
) -> list[ConceptValidation]:
    """Validate many concepts: ``concepts`` are ``{"vector", "target", "unrelated"}`` dicts (the
    keyword arguments of `validate_concept_vector`, which ``kw`` adds to).  Each concept is
    measured on the unperturbed model, unless ``compat=True`` (module doc): then the perturbations
    accumulate and only the last 10 unrelated generations count, as in the ConceptVectors notebook;
    the model is restored at the end either way."""
    if not concepts:
        raise UnlearnscopeError("no concepts to validate: give at least one {vector, target, unrelated}")
    kept, out = [], []
    try:
        for i, c in enumerate(concepts):
            args = {"mode": "noise", "sigma": 0.1, "max_new_tokens": 100, "tolerance": 0.05, **kw}
            args["seed"] = kw.get("seed", 0) + 1000 * i
            v, ed = _validate(
                subject,
                c["vector"],
                c["target"],
                c["unrelated"],
                keep=compat,
                unrelated_compared=10 if compat else None,
                **args,
            )
            out.append(v)
            if ed is not None:
                kept.append(ed)
    finally:
        for ed in reversed(kept):
            ed.undo()
    return out
