"""The report's output-metrics section: the field's metrics (open-unlearning's names) for ORIG, REF
and every audited model, beside the intrinsic verdicts, so the numbers compare with TOFU / MUSE."""

from __future__ import annotations

from .fmt import esc as _e
from .fmt import num as _n

COLUMNS = (
    ("forget_quality", "forget quality (KS p vs REF)", 3),
    ("forget_truth_ratio", "forget truth ratio", 2),
    ("model_utility", "model utility", 2),
    ("forget_Q_A_Prob", "forget Prob", 2),
    ("forget_Q_A_ROUGE", "forget ROUGE", 2),
    ("extraction_strength", "extraction strength", 2),
    ("exact_memorization", "exact memorization", 2),
    ("mia_min_k", "MIA Min-K% AUC", 2),
    ("mia_min_k_plus_plus", "MIA Min-K%++ AUC", 2),
    ("privleak", "privleak (%)", 1),
)

NOTE = (
    "Output metrics measure behaviour only: a model can score like REF here and still hold the facts (see the "
    "verdicts). forget quality: KS-test p-value of truth ratios against REF (1 = indistinguishable; it shrinks with "
    "the number of items, the KS statistic is in report.json); MIA AUC (open-unlearning's orientation): ≈ 0 the forget "
    "items look trained on, 0.5 like never-trained holdout facts, above 0.5 over-unlearned; privleak = (AUC − "
    "AUC_REF)/AUC_REF × 100."
)


def output_metrics_section(metrics: dict, note: dict | None) -> list[str]:
    if not metrics:
        why = (note or {}).get("why")
        return (
            ["<h2>Output metrics</h2>", f"<p class=note>Not computed{': ' + _e(why) if why else ''}.</p>"]
            if why
            else []
        )
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in COLUMNS)
    rows = "".join(
        f"<tr><td class=l>{_e(model)}</td>"
        + "".join(f"<td>{_n((ms.get(k) or {}).get('agg_value'), nd)}</td>" for k, _, nd in COLUMNS)
        + "</tr>"
        for model, ms in metrics.items()
    )
    extra = "; ".join((note or {}).get("notes") or [])
    return [
        "<h2>Output metrics</h2>",
        f"<table><tr><th class=l>model</th>{head}</tr>{rows}</table>",
        f"<p class=note>{_e(NOTE)}{' ' + _e(extra) if extra else ''}</p>",
    ]
