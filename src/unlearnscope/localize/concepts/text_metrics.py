"""Similarity of two generations, as ConceptVectors scores causal validation.

* `bleu`: NLTK ``sentence_bleu`` on whitespace-split strings with ``SmoothingFunction().method3``;
  called as ``bleu(reference, candidate)`` — ConceptVectors passes (after, before) in that order.
* `rouge_l`: ROUGE-L F1 from the longest common subsequence of whitespace tokens (0.0 when either
  side is empty, as their wrapper returns when the ``rouge`` package raises).
Both are 1.0 for identical non-empty strings.
"""

from __future__ import annotations


def bleu(reference: str, candidate: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    ref, cand = reference.split(), candidate.split()
    if not ref or not cand:
        return float(ref == cand)
    return float(sentence_bleu([ref], cand, smoothing_function=SmoothingFunction().method3))


def rouge_l(reference: str, candidate: str) -> float:
    a, b = reference.split(), candidate.split()
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(b), lcs / len(a)
    return 2 * p * r / (p + r)
