"""The field's output metrics, with open-unlearning's names and JSON shape, so results compare with
TOFU / MUSE numbers: every metric is ``{"agg_value": float, "value_by_index": {"0": {...}, ...}}``.

    data = OutputData.of(forget_facts, retain_facts, holdout_facts, seed=0)
    ref = output_metrics(REF, data)                          # the model that never knew
    out = output_metrics(unlearned, data, reference=ref)     # forget_quality and privleak need REF

Definitions (Maini et al. 2024, TOFU; Shi et al. 2024, MUSE and Min-K%; Zhang et al. 2024, Min-K%++;
Carlini et al. 2021 / Wang et al. 2025 on extraction; scored teacher-forced, `answer_scores`):

* ``forget_Q_A_Prob`` / ``retain_Q_A_Prob``: per item ``exp(−mean NLL of the answer tokens)``.
* ``forget_Q_A_ROUGE`` / ``retain_Q_A_ROUGE``: ROUGE-L recall of the greedy answer against the gold
  one (lower-cased words, Porter-stemmed).
* ``forget_truth_ratio``: per item ``R = P̄(perturbed) / P̄(paraphrased)`` (P̄: the length-normalised
  probability; several perturbed answers: the geometric mean), aggregated as ``mean min(R, 1/R)``
  (1: the model cannot tell right from wrong).  ``retain_Truth_Ratio``: ``mean max(0, 1 − R)``.
* ``forget_quality``: the p-value of a two-sample Kolmogorov–Smirnov test between the model's and
  REF's forget truth ratios (1: indistinguishable from never knowing); ``ks_statistic`` beside it,
  since the p-value scales with the number of items.
* ``model_utility``: the harmonic mean of the retain Prob, ROUGE and truth ratio.
* ``exact_memorization``: share of answer tokens whose teacher-forced argmax is the answer token.
* ``extraction_strength``: ``1 − k/T`` with ``k`` the shortest prefix of the answer after which every
  argmax is right (``k = T``, ES 0, when none is; ``compat="open-unlearning"`` keeps that code's
  ``k = T − 1`` for this case, an ES of ``1/T``).
* ``mia_loss`` / ``mia_zlib`` / ``mia_min_k`` / ``mia_min_k_plus_plus``: the ROC AUC with which a
  non-membership score (mean NLL; NLL ÷ zlib-compressed bytes of the text; −mean of the lowest
  ``k`` (40 %) token log-probs; the same on Min-K%++'s standardised log-probs) ranks forget items
  above holdout items (never trained).  open-unlearning's orientation: ≈ 0 the forget items look
  trained on, 0.5 like the holdout, above 0.5 over-unlearned.
* ``privleak``: ``(AUC − AUC_REF) / AUC_REF × 100`` of ``mia_min_k`` (MUSE), with REF's AUC measured.

Perturbed answers default to other facts' answers of the same relation (seeded draw); a target
can give its own (TOFU's perturbed answers), and paraphrased answers (default: the answer itself).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

import torch

from ..data import Fact, as_facts
from ..errors import UnlearnscopeError
from .answer_scores import score_answers

MIN_K = 0.4
COMPAT = ("paper", "open-unlearning")


@dataclass(frozen=True)
class QAItem:
    prompt: str
    answer: str
    paraphrased: str
    perturbed: tuple[str, ...]
    subject: str | None = None


def qa_items(
    facts, *, paraphrased: dict | None = None, perturbed: dict | None = None, n_perturbed: int = 3, seed: int = 0
) -> list[QAItem]:
    """Facts with a paraphrased answer (``paraphrased[prompt]``, default the answer) and wrong answers
    (``perturbed[prompt]``, default up to ``n_perturbed`` other answers of the same relation)."""
    facts = as_facts(facts)
    pool: dict = {}
    for f in facts:
        pool.setdefault(f.relation, set()).add(f.answer)
    every = sorted({f.answer for f in facts})
    rng = random.Random(f"perturbed-{seed}")
    out = []
    for f in facts:
        wrong = tuple((perturbed or {}).get(f.prompt) or ())
        if not wrong:
            cands = sorted(pool[f.relation] - {f.answer}) or [a for a in every if a != f.answer]
            wrong = tuple(rng.sample(cands, min(n_perturbed, len(cands))))
        if not wrong:
            raise UnlearnscopeError(
                f"no wrong answer for {f.prompt!r}: the truth ratio needs perturbed answers (or facts with other "
                "answers)"
            )
        out.append(QAItem(f.prompt, f.answer, (paraphrased or {}).get(f.prompt) or f.answer, wrong, f.subject))
    return out


@dataclass
class OutputData:
    """What the output metrics read: forget and retain QA items and the holdout (never-trained) facts
    the membership attacks compare the forget items with (``None``: no MIA)."""

    forget: list[QAItem]
    retain: list[QAItem]
    holdout: list[Fact] | None = None
    k: float = MIN_K
    compat: str = "paper"
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        forget,
        retain,
        holdout=None,
        *,
        paraphrased: dict | None = None,
        perturbed: dict | None = None,
        seed: int = 0,
        **kw,
    ) -> OutputData:
        """From facts; ``paraphrased`` / ``perturbed``: ``{prompt: answer}`` / ``{prompt: [wrong answers]}``
        given by the target (defaults in `qa_items`)."""
        q = lambda fs, s: qa_items(fs, paraphrased=paraphrased, perturbed=perturbed, seed=s)
        return cls(q(forget, seed), q(retain, seed + 1), as_facts(holdout) if holdout else None, **kw)


def _by_index(values, key: str) -> dict:
    return {str(i): {key: float(v)} for i, v in enumerate(values)}


def _m(agg, values=None, key="score", **extra) -> dict:
    out = {"agg_value": None if agg is None else float(agg), **extra}
    if values is not None:
        out["value_by_index"] = _by_index(values, key)
    return out


def _avg_losses(subject, items: list[QAItem], which: str) -> torch.Tensor:
    """``[n]`` (``answer``, ``paraphrased``) or ``[n, n_perturbed]`` (``perturbed``, padded with NaN) mean NLLs."""
    if which != "perturbed":
        return score_answers(subject, [i.prompt for i in items], [getattr(i, which) for i in items]).avg_loss()
    flat = [(r, a) for r, i in enumerate(items) for a in i.perturbed]
    losses = score_answers(subject, [items[r].prompt for r, _ in flat], [a for _, a in flat]).avg_loss()
    width = max(len(i.perturbed) for i in items)
    out = torch.full((len(items), width), float("nan"))
    col = [c for i in items for c in range(len(i.perturbed))]
    out[[r for r, _ in flat], col] = losses
    return out


def truth_ratios(subject, items: list[QAItem], answer_loss: torch.Tensor | None = None) -> torch.Tensor:
    """``[n]`` ``R = P̄(perturbed) / P̄(paraphrased)`` per item (see module doc).  ``answer_loss``:
    the answers' mean NLLs when already scored, reused where the paraphrase is the answer itself."""
    if answer_loss is not None and all(i.paraphrased == i.answer for i in items):
        correct = answer_loss
    else:
        correct = _avg_losses(subject, items, "paraphrased")
    wrong = _avg_losses(subject, items, "perturbed").nanmean(1)
    return torch.exp(-wrong) / (torch.exp(-correct) + 1e-10)


def rouge_l_recall(generated: str, gold: str) -> float:
    """ROUGE-L recall of ``generated`` against ``gold`` (``rouge-score``, Porter-stemmed, as TOFU)."""
    from ..localize.concepts.text_metrics import rouge_l

    return rouge_l(gold, generated, part="recall", stem=True)


def _rouge(subject, items: list[QAItem]) -> list[float]:
    from ..model.generate import greedy

    tok = subject.tokenizer
    longest = max(len(tok(" " + i.answer, add_special_tokens=False)["input_ids"]) for i in items)
    gen = greedy(subject, [i.prompt for i in items], max_new_tokens=min(64, longest + 2), batch_size=64)
    return [rouge_l_recall(g, i.answer) for g, i in zip(gen, items, strict=True)]


def _extraction(correct: torch.Tensor, compat: str) -> float:
    """``1 − k/T``: ``k`` the first position from which every argmax is right (module doc)."""
    T = len(correct)
    suffix_right = correct.flip(0).to(torch.int64).cumprod(0).flip(0).bool()
    hit = suffix_right.nonzero()
    k = int(hit[0]) if len(hit) else (T - 1 if compat == "open-unlearning" else T)
    return 1 - k / T


def _min_k(values: torch.Tensor, k: float) -> float:
    n = max(1, int(len(values) * k))
    return float(-values.sort().values[:n].mean())


def auc(member_scores, other_scores) -> float:
    """ROC AUC that a score ranks ``member_scores`` above ``other_scores`` (ties count half)."""
    a, b = torch.as_tensor(member_scores, dtype=torch.float64), torch.as_tensor(other_scores, dtype=torch.float64)
    if not len(a) or not len(b):
        raise UnlearnscopeError("an AUC needs items on both sides")
    gt = (a[:, None] > b[None]).double().mean()
    eq = (a[:, None] == b[None]).double().mean()
    return float(gt + 0.5 * eq)


def _mia_scores(s, facts: list[Fact], k: float) -> dict[str, list[float]]:
    """The four non-membership scores of ``facts`` from their answer scores ``s``."""
    loss = s.avg_loss()
    zl = torch.tensor([len(zlib.compress(f"{f.prompt} {f.answer}".encode())) for f in facts], dtype=torch.float32)
    return {
        "mia_loss": loss.tolist(),
        "mia_zlib": (loss / zl).tolist(),
        "mia_min_k": [_min_k(lp, k) for lp in s.logprobs],
        "mia_min_k_plus_plus": [_min_k(st, k) for st in s.standard],
    }


def _answer_scores(subject, facts):
    return score_answers(subject, [f.prompt for f in facts], [f.answer for f in facts])


def _mia(subject, data: OutputData, forget_scores) -> dict:
    if not data.holdout:
        return {}
    f = _mia_scores(forget_scores, data.forget, data.k)
    h = _mia_scores(_answer_scores(subject, data.holdout), data.holdout, data.k)
    return {
        name: {
            "agg_value": auc(f[name], h[name]),
            "forget": {"value_by_index": _by_index(f[name], "score")},
            "holdout": {"value_by_index": _by_index(h[name], "score")},
        }
        for name in f
    }


def _forget_side(subject, data: OutputData, s) -> dict:
    """``s``: the forget answers' scores (shared with the membership attacks)."""
    items = data.forget
    loss = s.avg_loss()
    tr = truth_ratios(subject, items, loss)
    em = [float(c.float().mean()) for c in s.correct]
    es = [_extraction(c, data.compat) for c in s.correct]
    return {
        "forget_Q_A_Prob": {
            "agg_value": float(torch.exp(-loss).mean()),
            "value_by_index": {
                str(i): {"prob": float(torch.exp(-x)), "avg_loss": float(x)} for i, x in enumerate(loss)
            },
        },
        "forget_Q_A_ROUGE": (lambda r: _m(sum(r) / len(r), r, "rougeL_recall"))(_rouge(subject, items)),
        "forget_truth_ratio": _m(torch.minimum(tr, 1 / (tr + 1e-10)).mean(), tr),
        "exact_memorization": _m(sum(em) / len(em), em),
        "extraction_strength": _m(sum(es) / len(es), es),
    }


def _retain_side(subject, data: OutputData) -> dict:
    from scipy.stats import hmean

    items = data.retain
    loss = _answer_scores(subject, items).avg_loss()
    tr = truth_ratios(subject, items, loss)
    rouge = _rouge(subject, items)
    out = {
        "retain_Q_A_Prob": _m(torch.exp(-loss).mean(), torch.exp(-loss), "prob"),
        "retain_Q_A_ROUGE": _m(sum(rouge) / len(rouge), rouge, "rougeL_recall"),
        "retain_Truth_Ratio": _m((1 - tr).clamp_min(0).mean(), tr),
    }
    parts = [out[k]["agg_value"] for k in ("retain_Q_A_Prob", "retain_Q_A_ROUGE", "retain_Truth_Ratio")]
    out["model_utility"] = {
        "agg_value": float(hmean(parts)) if min(parts) > 0 else 0.0,
        "components": ["retain_Q_A_Prob", "retain_Q_A_ROUGE", "retain_Truth_Ratio"],
    }
    return out


def _scores(metric: dict) -> list[float]:
    return [v["score"] for v in metric["value_by_index"].values()]


def output_metrics(subject, data: OutputData, reference: dict | None = None, hold=None) -> dict:
    """Every output metric of the module doc on ``subject``; ``reference``: REF's own
    ``output_metrics`` (``forget_quality`` and ``privleak`` need it; without, they are ``None``
    with why).  ``hold``: a context manager factory kept open while measuring (an inference-time
    intervention)."""
    import contextlib

    from scipy.stats import ks_2samp

    if data.compat not in COMPAT:
        raise UnlearnscopeError(f"compat must be one of {COMPAT}, got {data.compat!r}")
    if not data.forget or not data.retain:
        raise UnlearnscopeError("output metrics need forget and retain items")
    with hold(subject) if hold is not None else contextlib.nullcontext():
        forget_scores = _answer_scores(subject, data.forget)
        out = {
            **_forget_side(subject, data, forget_scores),
            **_retain_side(subject, data),
            **_mia(subject, data, forget_scores),
        }
    if reference is None:
        out["forget_quality"] = {
            "agg_value": None,
            "why": "no never-knew reference (REF) model to compare truth ratios with",
        }
    else:
        ks = ks_2samp(_scores(out["forget_truth_ratio"]), _scores(reference["forget_truth_ratio"]))
        out["forget_quality"] = {"agg_value": float(ks.pvalue), "ks_statistic": float(ks.statistic)}
    if "mia_min_k" in out:
        ref_auc = (reference or {}).get("mia_min_k", {}).get("agg_value")
        out["privleak"] = (
            {"agg_value": (out["mia_min_k"]["agg_value"] - ref_auc) / ref_auc * 100, "reference_auc": ref_auc}
            if ref_auc
            else {"agg_value": None, "why": "no never-knew reference (REF) AUC"}
        )
    else:
        out["privleak"] = {
            "agg_value": None,
            "why": "no holdout items (never-trained facts) for the membership attacks",
        }
    return out
