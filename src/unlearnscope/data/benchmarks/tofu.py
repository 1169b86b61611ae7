"""TOFU (Maini et al. 2024): fictitious authors, 20 QA pairs each, in the published files of
``locuslab/TOFU``: ``forget{01,05,10}.json`` / ``retain{99,95,90}.json`` (question, answer), their
``*_perturbed.json`` twins (plus ``paraphrased_answer``, ``perturbed_answer``: a list, and, in the
forget ones, ``paraphrased_question``) and ``holdout{01,05,10}.json``.

Rows: ``Question: …\\nAnswer:`` → the answer (kind qa); the paraphrased and perturbed answers feed
the truth ratio; a paraphrased question is a held-out ``paraphrase`` format.  The author is the
subject: each run of 20 items is one author, and their name is the capitalised phrase most of the
run's questions share (an item whose question does not name them is its own unit).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ...errors import UnlearnscopeError
from .common import Converted, field_of, find, qa_prompt, read_any, row
from .registry import Benchmark, register

PER_AUTHOR = 20
SIZES = {"01": "99", "05": "95", "10": "90"}
NAME = re.compile(r"\b[A-Z][a-zA-Z'\-]+(?:\s+(?:[a-z]{1,3}\s+)?[A-Z][a-zA-Z'\-]+)+")


def author_names(questions: list[str]) -> list[str | None]:
    """Per item, its author's name: the capitalised phrase (two or more words) most questions of
    its run of 20 contain."""
    out: list[str | None] = []
    for s in range(0, len(questions), PER_AUTHOR):
        run = questions[s : s + PER_AUTHOR]
        counts = Counter(n for q in run for n in set(NAME.findall(q)))
        name = counts.most_common(1)[0][0] if counts else None
        out += [name if name and name in q else None for q in run]
    return out


def _records(path: Path, need=("question", "answer")) -> list[dict]:
    recs = []
    for where, r in read_any(path, "TOFU records"):
        recs.append({k: field_of(r, k, where, path) for k in need})
    return recs


def _perturbed(path: Path | None) -> dict:
    """question → (paraphrased answer, perturbed answers, paraphrased question) of a *_perturbed file."""
    if path is None:
        return {}
    out = {}
    for where, r in read_any(path, "TOFU perturbed records"):
        q = field_of(r, "question", where, path)
        pert = field_of(r, "perturbed_answer", where, path, list)
        if not pert or not all(isinstance(a, str) and a for a in pert):
            raise UnlearnscopeError(f"{path}: {where}: perturbed_answer must be a non-empty list of answers")
        out[q] = (field_of(r, "paraphrased_answer", where, path), pert, r.get("paraphrased_question"))
    return out


def convert(source: Path, split: str = "10") -> Converted:
    """``forget{split}`` against ``retain{100 − split}`` (``split``: 01, 05 or 10)."""
    if split not in SIZES:
        raise UnlearnscopeError(f"TOFU forget split must be one of {sorted(SIZES)}, got {split!r}")
    forget = _records(find(source, (f"forget{split}",), f"TOFU forget{split}"))
    retain = _records(find(source, (f"retain{SIZES[split]}",), f"TOFU retain{SIZES[split]}"))
    pert = {
        "forget": _perturbed(find(source, (f"forget{split}_perturbed",), "", required=False)),
        "retain": _perturbed(find(source, ("retain_perturbed",), "", required=False)),
    }
    holdout_path = find(source, (f"holdout{split}",), "", required=False)
    rows, notes = [], []
    for split_name, recs in (("forget", forget), ("retain", retain)):
        names = author_names([r["question"] for r in recs])
        for r, name in zip(recs, names, strict=True):
            prompt = qa_prompt(r["question"])
            para, wrong, para_q = pert[split_name].get(r["question"], (None, None, None))
            rows.append(
                row(prompt, r["answer"], split_name, "qa", name, paraphrased_answer=para, perturbed_answers=wrong)
            )
            if split_name == "forget" and para_q:
                rows.append(row(qa_prompt(para_q), r["answer"], "forget", "paraphrase", name))
        unnamed = sum(n is None for n in names)
        if unnamed:
            notes.append(
                f"{split_name}: {unnamed} of {len(recs)} questions do not name their author; each is its own unit"
            )
    if holdout_path is not None:
        rows += [row(qa_prompt(r["question"]), r["answer"], "holdout", "qa") for r in _records(holdout_path)]
    else:
        notes.append(f"no holdout{split} file: no membership attacks")
    if not any(pert.values()):
        notes.append("no *_perturbed files: the truth ratio uses other facts' answers as the wrong ones")
    return Converted(rows, notes)


register(
    Benchmark(
        "tofu",
        "fictitious authors' QA pairs (forget / retain / perturbed / holdout files)",
        lambda path, o: convert(path, o.split or "10"),
        options=("split",),
        source="Maini et al. 2024",
        hub_configs=lambda split: [
            f"forget{split or '10'}",
            f"retain{SIZES[split or '10']}",
            f"forget{split or '10'}_perturbed",
            "retain_perturbed",
            f"holdout{split or '10'}",
        ],
    )
)
