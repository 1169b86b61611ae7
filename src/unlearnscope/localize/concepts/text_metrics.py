"""Similarity of two generations, as ConceptVectors scores causal validation, and the ROUGE-L the
field reports (the ``rouge-score`` package, Lin 2004).

* `bleu`: NLTK ``sentence_bleu`` on whitespace-split strings with ``SmoothingFunction().method3``;
  called as ``bleu(reference, candidate)`` — ConceptVectors passes (after, before) in that order.
* `rouge_l`: ROUGE-L of ``candidate`` against ``reference`` from ``rouge-score`` (lower-cased
  alphanumeric words; ``stem=True`` Porter-stems words longer than 3 letters, as open-unlearning
  and TOFU score answers).  ``part`` picks ``"fmeasure"`` (ConceptVectors), ``"recall"`` (TOFU's
  Q_A_ROUGE) or ``"precision"``.  0.0 when either side has no words (ConceptVectors' wrapper
  returns 0.0 when its scorer raises on an empty string).
Both are 1.0 for identical strings that have words.
"""

from __future__ import annotations

from functools import lru_cache

from ...errors import UnlearnscopeError

PARTS = ("fmeasure", "recall", "precision")


def bleu(reference: str, candidate: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    ref, cand = reference.split(), candidate.split()
    if not ref or not cand:
        return float(ref == cand)
    return float(sentence_bleu([ref], cand, smoothing_function=SmoothingFunction().method3))


@lru_cache(maxsize=2)
def _scorer(stem: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem)


def rouge_l(reference: str, candidate: str, *, part: str = "fmeasure", stem: bool = False) -> float:
    if part not in PARTS:
        raise UnlearnscopeError(f"ROUGE-L part {part!r}: choose from {PARTS}")
    return float(getattr(_scorer(stem).score(reference, candidate)["rougeL"], part))
