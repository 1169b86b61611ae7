"""The organism cache under ``$UNLEARNSCOPE_HOME`` (default ``~/.cache/unlearnscope``).

An entry is ``organisms/<name>-<size>-s<seed>-<key>/`` with ``orig/``, ``ref/``,
``ground_truth.json`` and, written last, ``manifest.json`` listing every file with its size and
SHA-256.  Builds happen in a hidden temp directory renamed into place at the end, so an
interrupted build leaves nothing that looks complete; an entry whose files do not match its
manifest is reported corrupt and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.json"


def home() -> Path:
    return Path(os.environ.get("UNLEARNSCOPE_HOME", "~/.cache/unlearnscope")).expanduser()


def organisms_dir(root: Path | None = None) -> Path:
    return (root or home()) / "organisms"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_table(entry: Path) -> dict[str, dict]:
    """``relative path -> {sha256, bytes}`` for every file under ``entry`` except the manifest."""
    return {
        str(p.relative_to(entry)): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(entry.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def check_entry(entry: Path) -> str | None:
    """``None`` if the entry is complete and intact, else what is wrong with it."""
    if not entry.is_dir():
        return "missing"
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return "no readable manifest.json (interrupted or partial build)"
    if not manifest.get("complete"):
        return "manifest not marked complete"
    for rel, meta in manifest.get("files", {}).items():
        p = entry / rel
        if not p.is_file():
            return f"missing file {rel}"
        if p.stat().st_size != meta["bytes"] or sha256_file(p) != meta["sha256"]:
            return f"file {rel} does not match its manifest hash"
    if not manifest.get("files"):
        return "manifest lists no files"
    return None


def read_manifest(entry: Path) -> dict:
    return json.loads((entry / MANIFEST).read_text())
