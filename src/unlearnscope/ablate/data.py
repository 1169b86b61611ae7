"""Forget / retain data for the CLI: files, or ``organism:forget`` / ``organism:retain``.

* ``*.txt``: one text per line (blank lines skipped).
* ``*.json``: a list of strings, or of objects with ``prompt`` and ``answer`` (items: they also
  give a top-1 forget metric).
* ``organism:forget`` / ``organism:retain`` (with ``--model organism:NAME``): the organism's own
  ground truth — facts: the forget / retain entities' trained renderings; moe: the refusal domain /
  every other domain.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UnlearnscopeError
from ..organisms.world import Item


def load_data(spec: str, model_spec: str | None = None) -> list:
    if spec.startswith("organism:"):
        which = spec.split(":", 1)[1]
        if which not in ("forget", "retain"):
            raise UnlearnscopeError(f"bad data spec {spec!r}: use organism:forget or organism:retain")
        if not (model_spec or "").startswith("organism:"):
            raise UnlearnscopeError(f"{spec} needs --model organism:NAME")
        from ..organisms import resolve_spec

        gt = json.loads((Path(resolve_spec(model_spec, progress=False)).parent / "ground_truth.json").read_text())
        items = [Item(**i) for i in gt["items"] if i["train"]]
        if gt["world"] == "facts":
            return [i for i in items if i.split == which and i.kind in ("cloze", "qa")]
        return [i for i in items if (i.domain == "refusal") == (which == "forget")]
    path = Path(spec)
    if not path.is_file():
        raise UnlearnscopeError(f"data file {spec!r} not found (give a .txt or .json file, or organism:forget / organism:retain)")
    if path.suffix == ".json":
        rows = read_json_list(path, "strings or of {prompt, answer} objects")
        return [Item(r["prompt"], r["answer"], r.get("continuation", "")) if isinstance(r, dict) else str(r) for r in rows]
    return [line for line in path.read_text().splitlines() if line.strip()]


def read_json_list(path: Path, what: str) -> list:
    """A JSON file that must hold a list (``what`` names the expected entries in the error)."""
    try:
        rows = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise UnlearnscopeError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(rows, list):
        raise UnlearnscopeError(f"{path} must hold a JSON list of {what}")
    return rows
