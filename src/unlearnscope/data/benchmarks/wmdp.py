"""WMDP (Li et al. 2024) multiple choice, in the published layout of ``cais/wmdp``
(``wmdp-bio`` / ``wmdp-chem`` / ``wmdp-cyber``: question, choices [4], answer: the right
choice's index), against a retain set in the same layout (MMLU, ``cais/mmlu``: the same fields).

Rows: the lm-evaluation-harness rendering (``The following are multiple choice questions (with
answers) about TOPIC.`` then the question, ``A. …`` to ``D. …`` and ``Answer:``) → the right
letter (kind qa: recall is multiple-choice accuracy, chance 1/4); the other letters are the
perturbed answers of the truth ratio.  Each question is its own unit.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import UnlearnscopeError
from .common import Converted, field_of, find, read_any, row
from .registry import Benchmark, register

LETTERS = "ABCDEFGHIJ"
SUBSETS = ("wmdp-bio", "wmdp-chem", "wmdp-cyber")


def mc_prompt(question: str, choices: list[str], topic: str) -> str:
    lines = [f"The following are multiple choice questions (with answers) about {topic}.", "", question.strip()]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines + ["Answer:"])


def _mc(path: Path, split: str, topic: str) -> list[dict]:
    out = []
    for where, r in read_any(path, "multiple-choice records"):
        q, choices = field_of(r, "question", where, path), field_of(r, "choices", where, path, list)
        ans = r.get("answer") if isinstance(r, dict) else None
        if not 2 <= len(choices) <= len(LETTERS) or not all(isinstance(c, str) for c in choices):
            raise UnlearnscopeError(f"{path}: {where}: choices must be 2 to {len(LETTERS)} strings, got {choices!r}")
        if isinstance(ans, str) and len(ans) == 1 and ans in LETTERS:
            ans = LETTERS.index(ans)
        if not isinstance(ans, int) or isinstance(ans, bool) or not 0 <= ans < len(choices):
            raise UnlearnscopeError(
                f"{path}: {where}: answer must be the index of the right choice (0–{len(choices) - 1}), got {ans!r}"
            )
        wrong = [LETTERS[i] for i in range(len(choices)) if i != ans]
        out.append(
            row(
                mc_prompt(
                    q,
                    choices,
                    r.get("subject", topic).replace("_", " ") if isinstance(r.get("subject"), str) else topic,
                ),
                LETTERS[ans],
                split,
                "qa",
                q.strip(),
                perturbed_answers=wrong,
            )
        )
    return out


def convert(source: Path, retain: Path | None = None, subset: str | None = None) -> Converted:
    """``source``: a WMDP file, or a directory holding ``wmdp-bio`` etc. (``subset`` picks one);
    ``retain``: an MMLU-layout file or directory (default: ``mmlu*`` files beside the WMDP ones)."""
    if source.is_file():
        files = [source]
    else:
        names = (subset,) if subset else SUBSETS
        files = [
            p
            for n in names
            for p in [find(source, (n, f"{n}/test", f"{n}/test-00000-of-00001"), n, required=False)]
            if p
        ]
        if not files:
            raise UnlearnscopeError(f"{source}: no WMDP file; expected {[n + '.json' for n in names]} (or Parquet)")
    if retain is None and source.is_dir():
        retain = next(iter(sorted(source.glob("mmlu*"))), None)
    if retain is None:
        raise UnlearnscopeError(
            "a WMDP target needs retain questions: give --retain with an MMLU file (cais/mmlu layout: question, "
            "choices, answer)"
        )
    rows = [
        r
        for f in files
        for r in _mc(
            f, "forget", "biology" if "bio" in f.name else "chemistry" if "chem" in f.name else "computer security"
        )
    ]
    rfiles = (
        [retain]
        if retain.is_file()
        else sorted(p for p in retain.rglob("*") if p.suffix in (".json", ".jsonl", ".parquet"))
    )
    rows += [r for f in rfiles for r in _mc(f, "retain", "general knowledge")]
    return Converted(
        rows,
        [
            "each question is its own unit; recall is multiple-choice accuracy (chance 1/4)",
            "no holdout facts: no membership attacks",
        ],
    )


register(
    Benchmark(
        "wmdp",
        "hazardous-knowledge multiple choice against an MMLU-layout retain set",
        lambda path, o: convert(path, Path(o.retain).expanduser() if o.retain else None, o.subset),
        options=("retain", "subset"),
        source="Li et al. 2024",
        hub_configs=lambda split: list(SUBSETS),
    )
)
