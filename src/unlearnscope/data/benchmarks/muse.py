"""MUSE (Shi et al. 2024) knowledge memorisation, in the published layout of ``muse-bench/MUSE-News``
/ ``MUSE-Books``: ``knowmem/forget_qa.json`` and ``knowmem/retain_qa.json`` (question, answer);
``verbmem/forget.json`` (prompt, gt), when present, becomes a held-out ``verbmem`` format of the
forget set (its first word after the prompt).

Rows: ``Question: …\\nAnswer:`` → the answer (kind qa).  MUSE names no entity: each question is its
own unit.  MUSE's privacy split is raw text, not facts, so there is no holdout (no membership
attacks); its verbatim-memorisation ROUGE is not a readout here.
"""

from __future__ import annotations

from pathlib import Path

from .common import Converted, field_of, find, qa_prompt, read_any, row
from .registry import Benchmark, register


def _qa(path: Path, split: str) -> list[dict]:
    out = []
    for where, r in read_any(path, "MUSE QA records"):
        out.append(
            row(qa_prompt(field_of(r, "question", where, path)), field_of(r, "answer", where, path), split, "qa")
        )
    return out


def convert(source: Path) -> Converted:
    root = source / "knowmem" if (source / "knowmem").is_dir() else source
    rows = _qa(find(root, ("forget_qa",), "MUSE knowmem forget_qa"), "forget")
    rows += _qa(find(root, ("retain_qa",), "MUSE knowmem retain_qa"), "retain")
    notes = [
        "MUSE names no entity: each question is its own unit",
        "no holdout facts (MUSE's privacy split is raw text): no membership attacks",
    ]
    verb = find(source / "verbmem", ("forget",), "", required=False) if (source / "verbmem").is_dir() else None
    if verb is not None:
        for where, r in read_any(verb, "MUSE verbmem records"):
            prompt, gt = field_of(r, "prompt", where, verb), field_of(r, "gt", where, verb)
            first = gt.split()[0] if gt.split() else ""
            if first:
                rows.append(row(prompt, first, "forget", "verbmem"))
    return Converted(rows, notes)


register(
    Benchmark(
        "muse",
        "knowledge memorisation QA (knowmem), verbatim memorisation as a format",
        lambda path, o: convert(path),
        source="Shi et al. 2024",
        hub_configs=lambda split: ["knowmem"],
    )
)
