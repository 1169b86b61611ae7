"""The organism cache under ``$UNLEARNSCOPE_HOME`` (default ``~/.cache/unlearnscope``).

An entry is ``organisms/<name>-<size>-s<seed>-<key>/`` with ``orig/``, ``ref/``,
``ground_truth.json`` and, written last, ``manifest.json`` listing every file with its size and
SHA-256.  Builds happen in a hidden temp directory renamed into place at the end, so an
interrupted build leaves nothing that looks complete; an entry whose files do not match its
manifest is reported corrupt and rebuilt, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
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


@contextlib.contextmanager
def building(entry: Path) -> Iterator[None]:
    """Hold ``entry``'s build lock (a file beside it): one process builds a cache entry while the
    others wait, then find it complete — parallel test workers, or a fleet's workers, share one
    build.  Check the entry again inside the lock.  The lock file is removed on release (a killed
    holder's lock is released by the kernel and removed by the next holder), so a cache keeps no
    stray files."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    path = entry.parent / f".{entry.name}.lock"
    try:
        import fcntl
    except ImportError:  # not POSIX: filelock's platform lock, whose file stays
        from filelock import FileLock

        with FileLock(str(path)):
            yield
        return
    fd = _lock_file(path, fcntl)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it: waiters then see a stale inode
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _lock_file(path: Path, fcntl) -> int:
    """An exclusively flock-ed descriptor of ``path`` that still names ``path`` (retry when the
    previous holder removed it between our open and our lock)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
