"""One reader for every file a user hands us: facts, prompts, training texts, evaluation items.

File formats (chosen by the file's name, so a text prompt may start with ``[`` or ``{``):

* ``*.txt``: one record per non-blank line, each a string;
* anything else: a JSON list, or JSON Lines (one JSON value per non-blank line).

`read_records` returns `Record`\\ s that remember where they came from (``line N``: the line a
JSON Lines record or a JSON list entry starts on), so every error names the file and the line.
The typed readers on top of it check what each use needs:

* `read_facts`: objects with ``prompt`` and ``answer`` (``subject``, ``relation``, ``kind`` ...);
* `read_prompts`: strings, or objects with ``prompt`` (and ``answer``: ``full_text`` appends it);
* `read_texts_or_items`: strings (texts) or ``{prompt, answer[, continuation]}`` (`Item`\\ s);
* `read_eval_items`: ``{prompt, answer}`` objects with both non-empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnlearnscopeError
from .records import Fact, Item, as_fact


@dataclass(frozen=True)
class Record:
    """One value read from a file and where it was: ``where`` is ``"line N"``."""

    where: str
    value: Any


def _json_list(path: Path, text: str) -> list[Record]:
    """Entries of a JSON list (``text`` starts with ``[``), each with the line it starts on."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UnlearnscopeError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from e
    decoder, out, i = json.JSONDecoder(), [], text.index("[") + 1
    for _ in data:  # the text parsed above, so every entry decodes again here: only positions are new
        while text[i] in " \t\r\n,":
            i += 1
        value, end = decoder.raw_decode(text, i)
        out.append(Record(f"line {text.count(chr(10), 0, i) + 1}", value))
        i = end
    return out


def read_records(path: str | Path, *, what: str = "records") -> list[Record]:
    """Every record of ``path`` (see the module doc); ``what`` names the file's purpose in errors.
    Raises if the file is missing or holds no record."""
    p = Path(path)
    if not p.is_file():
        raise UnlearnscopeError(f"{what} file {str(path)!r} not found: it does not exist")
    text = p.read_text()
    if p.suffix == ".txt":
        out = [Record(f"line {n}", line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    elif text.lstrip().startswith("["):
        out = _json_list(p, text)
    else:
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(Record(f"line {n}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise UnlearnscopeError(f"{p}: line {n} is not a JSON record ({e.msg}): {line[:80]!r}") from e
    if not out:
        raise UnlearnscopeError(f"{p} holds no {what}")
    return out


def read_facts(path: str | Path) -> list[Fact]:
    """Facts from a JSON / JSON Lines file of ``{prompt, answer[, subject, relation]}`` objects."""
    return [as_fact(r.value, f"{path}: {r.where}") for r in read_records(path, what="facts")]


def _prompt(path, r: Record, full_text: bool) -> str:
    v = r.value
    if isinstance(v, dict):
        if "prompt" not in v:
            raise UnlearnscopeError(f"{path}: {r.where} has no 'prompt' field")
        return v["prompt"] + (" " + str(v["answer"]) if full_text and v.get("answer") else "")
    if not isinstance(v, str):
        raise UnlearnscopeError(
            f"{path}: {r.where} must be a string or an object with 'prompt', got {type(v).__name__}"
        )
    return v


def read_prompts(path: str | Path, *, full_text: bool = False) -> list[str]:
    """Prompt texts; with ``full_text`` an object's ``answer`` is appended (``prompt + " " + answer``)."""
    return [_prompt(path, r, full_text) for r in read_records(path, what="prompts")]


def read_texts_or_items(path: str | Path) -> list[str | Item]:
    """Training data: strings stay texts; ``{prompt, answer[, continuation]}`` become `Item`\\ s
    (they also give a top-1 metric on the answer)."""
    out = []
    for r in read_records(path, what="texts"):
        v = r.value
        if isinstance(v, dict):
            if not v.get("prompt") or "answer" not in v:
                raise UnlearnscopeError(f"{path}: {r.where} needs 'prompt' and 'answer' (or give plain strings)")
            out.append(Item(v["prompt"], str(v["answer"]), continuation=v.get("continuation", "")))
        else:
            out.append(str(v))
    return out


def read_eval_items(path: str | Path) -> list[Item]:
    """Evaluation items: ``{prompt, answer}`` objects, both non-empty."""
    out = []
    for r in read_records(path, what="evaluation items"):
        v = r.value
        if not (isinstance(v, dict) and v.get("prompt") and v.get("answer")):
            raise UnlearnscopeError(f"{path}: {r.where} needs non-empty 'prompt' and 'answer' fields")
        out.append(Item(v["prompt"], str(v["answer"])))
    return out
