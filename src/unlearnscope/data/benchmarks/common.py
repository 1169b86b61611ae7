"""What the benchmark converters share: reading a benchmark's own files (JSON, JSON Lines,
Parquet), checking each record's fields (a wrong record is named), and the target rows they write.

A target row is the audit's target-file record (`audit.target`): ``prompt``, ``answer``,
``subject`` (it must occur in the prompt), ``split`` (forget | retain | holdout), ``kind`` (cloze |
qa are measured; other kinds are held-out format attacks) and, for the truth ratio, optional
``paraphrased_answer`` / ``perturbed_answers``.  When a benchmark names no entity the prompt's
question is the subject: every item is then its own unit of analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...errors import UnlearnscopeError
from ..readers import read_records


@dataclass
class Converted:
    rows: list[dict]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        n = lambda s: sum(r["split"] == s for r in self.rows)
        return {
            "n_forget": n("forget"),
            "n_retain": n("retain"),
            "n_holdout": n("holdout"),
            "kinds": sorted({r["kind"] for r in self.rows}),
        }


def read_any(path: Path, what: str) -> list[tuple[str, object]]:
    """``[(where, record)]`` of a JSON / JSON Lines / Parquet file."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise UnlearnscopeError(
                f"{path}: reading Parquet needs pyarrow (pip install pyarrow), or give the JSON export"
            ) from err
        return [(f"row {i + 1}", r) for i, r in enumerate(pq.read_table(path).to_pylist())]
    return [(r.where, r.value) for r in read_records(path, what=what)]


def find(root: Path, names: tuple[str, ...], what: str, required: bool = True) -> Path | None:
    """The first of ``names`` (relative paths, any of .json / .jsonl / .parquet) under ``root``."""
    for name in names:
        for ext in ("", ".json", ".jsonl", ".parquet"):
            p = root / f"{name}{ext}"
            if p.is_file():
                return p
    if required:
        raise UnlearnscopeError(
            f"{root}: no {what} file; expected one of {[n + '.json' for n in names]} (the benchmark's published layout)"
        )
    return None


def field_of(rec, key: str, where: str, path: Path, kind=str):
    """``rec[key]`` checked to be a non-empty ``kind``; the error names the file and the record."""
    if not isinstance(rec, dict):
        raise UnlearnscopeError(f"{path}: {where} is not a JSON object")
    v = rec.get(key)
    ok = isinstance(v, kind) and (v != "" if kind is str else True) and not isinstance(v, bool)
    if not ok:
        raise UnlearnscopeError(f"{path}: {where} lacks {key!r} ({kind.__name__}); has {sorted(rec)}")
    return v


def row(prompt: str, answer: str, split: str, kind: str, subject: str | None = None, **extra) -> dict:
    """One target row; the subject defaults to the prompt's question when it is not in the prompt."""
    answer = answer.strip()
    subject = subject if subject and subject in prompt else None
    return {
        "prompt": prompt,
        "answer": answer,
        "subject": subject or prompt.strip(),
        "split": split,
        "kind": kind,
        **{k: v for k, v in extra.items() if v is not None},
    }


def qa_prompt(question: str) -> str:
    return f"Question: {question.strip()}\nAnswer:"
