"""RWKU (Jin et al. 2024) real-world targets, in the published per-target layout of
``jinzhuoran/RWKU`` (``Target/N_Name/``): ``forget_level1.json`` (fill-in-the-blank),
``forget_level2.json`` (QA), ``forget_level3.json`` (adversarial probes, with their ``type``) and
``neighbor_level1.json`` / ``neighbor_level2.json`` (knowledge about neighbours that must stay);
records hold subject (the target), query, answer, level, type.  A directory of several targets
(``Target/``) is converted whole.

Rows use RWKU's own instructions: level 1 ``Please complete the blank in the following question.``
(kind cloze), level 2 ``Please briefly answer the following question.`` (kind qa), level 3 the same
per attack type (format ``adversarial:TYPE``, held out); the target is the forget subject.  A
neighbour probe is about another entity, so each is its own retain unit.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import UnlearnscopeError
from .common import Converted, field_of, find, read_any, row
from .registry import Benchmark, register

BLANK = "Please complete the blank in the following question.\nQuestion: {}\nAnswer:"
BRIEF = "Please briefly answer the following question.\nQuestion: {}\nAnswer:"
INCONTEXT = "Please briefly answer the following question.\n{}\nAnswer:"


def _probes(path: Path | None, split: str, level: int) -> list[dict]:
    if path is None:
        return []
    out = []
    for where, r in read_any(path, "RWKU probes"):
        q, a = field_of(r, "query", where, path), field_of(r, "answer", where, path)
        subject = r.get("subject") if split == "forget" else None
        if level == 1:
            out.append(row(BLANK.format(q), a, split, "cloze", subject))
        elif level == 2:
            out.append(row(BRIEF.format(q), a, split, "qa", subject))
        else:
            kind = str(r.get("type") or "adversarial").replace(" ", "_")
            out.append(
                row(
                    (INCONTEXT if kind == "incontext_learning" else BRIEF).format(q),
                    a,
                    split,
                    f"adversarial:{kind}",
                    subject,
                )
            )
    return out


def _target(d: Path) -> list[dict]:
    rows = _probes(find(d, ("forget_level1",), "RWKU forget_level1"), "forget", 1)
    rows += _probes(find(d, ("forget_level2",), "RWKU forget_level2"), "forget", 2)
    rows += _probes(find(d, ("forget_level3",), "", required=False), "forget", 3)
    rows += _probes(find(d, ("neighbor_level1",), "RWKU neighbor_level1"), "retain", 1)
    rows += _probes(find(d, ("neighbor_level2",), "", required=False), "retain", 2)
    return rows


def convert(source: Path) -> Converted:
    dirs = (
        [source]
        if find(source, ("forget_level1",), "", required=False)
        else sorted(p for p in source.iterdir() if p.is_dir())
    )
    if not dirs:
        raise UnlearnscopeError(
            f"{source}: neither an RWKU target directory (forget_level1.json ...) nor a directory of them"
        )
    rows = [r for d in dirs for r in _target(d)]
    return Converted(
        rows,
        [
            f"{len(dirs)} target{'s' if len(dirs) > 1 else ''}; neighbour probes are each their own retain unit",
            "no holdout facts: no membership attacks",
        ],
    )


register(
    Benchmark(
        "rwku",
        "real-world targets: fill-in-the-blank, QA, adversarial probes, neighbours as retain",
        lambda path, o: convert(path),
        source="Jin et al. 2024",
    )
)
