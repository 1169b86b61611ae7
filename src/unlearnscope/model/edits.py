"""Reversible, slice-exact weight edits, saved as safetensors patches.

    with subject.edit() as ed:                                  # undone on exit ...
        ed.zero(subject.anatomy.value_slice(layer=1, neurons=[17]))
        ed.noise(subject.anatomy.expert_slices(3, expert=5)[1], sigma=0.1, seed=0)
        ed.verify()                                             # nothing else changed
        ed.save("patches/ablate-17")                            # patch.safetensors + manifest.json
        ed.keep()                                               # ... unless kept

    EditPatch.load("patches/ablate-17").apply(subject)          # re-apply elsewhere (checked)

Each edit records the slice's original values in the parameter's own dtype before writing, so
``undo()`` restores the weights bit for bit (edits are undone in reverse order, so overlapping
slices are fine).  ``verify()`` re-hashes every parameter with the recorded slices restored and
compares with the hashes taken when the session opened: it proves no weight outside the
intended slices changed.  Patches are written atomically and never into a model's directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from ..errors import EditError
from .anatomy import ParamSlice

if TYPE_CHECKING:
    from .subject import Subject

PATCH_VERSION = 1


def _hash(t: torch.Tensor) -> str:
    data = t.detach().reshape(-1).contiguous().cpu()
    return hashlib.blake2b(data.view(torch.uint8).numpy().tobytes(), digest_size=16).hexdigest()


@dataclass
class EditRecord:
    slice: ParamSlice
    old: torch.Tensor  # original values of the block, original dtype, on CPU
    new: torch.Tensor  # values written
    op: str


class Edits:
    """A session of weight edits on one subject (a context manager; undone on exit unless kept)."""

    def __init__(self, subject, *, checksum: bool = True):
        self.subject = subject
        self.records: list[EditRecord] = []
        self._kept = False
        self._baseline = self._hashes() if checksum else None

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Edits:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self._kept:
            self.undo()

    def copy_baseline(self) -> Edits:
        """A new, empty session sharing this one's pre-edit hashes (for snapshots of a run)."""
        other = Edits(self.subject, checksum=False)
        other._baseline = self._baseline
        return other

    def keep(self) -> Edits:
        """Keep the edits when the ``with`` block ends."""
        self._kept = True
        return self

    # ------------------------------------------------------------------ primitive
    def _param(self, name: str) -> torch.nn.Parameter:
        try:
            return self.subject.model.get_parameter(name)
        except AttributeError as err:
            close = [n for n, _ in self.subject.model.named_parameters() if name.rsplit(".", 1)[-1] in n][:5]
            raise EditError(f"no parameter named {name!r}; e.g. {close}") from err

    def apply(self, sl: ParamSlice, fn, op: str) -> torch.Tensor:
        """Write ``fn(current block)`` into the slice; returns the new block."""
        p = self._param(sl.param)
        ix = sl.indexer(p.shape, p.device)
        with torch.no_grad():
            old = p[ix].detach().clone()
            new = fn(old).to(p.dtype)
            if new.shape != old.shape:
                new = new.expand_as(old)
            p[ix] = new
        self.records.append(EditRecord(sl, old.cpu(), new.detach().cpu().clone(), op))
        return new

    # ------------------------------------------------------------------ operations
    def set(self, sl: ParamSlice, value) -> torch.Tensor:
        return self.apply(sl, lambda x: torch.as_tensor(value, device=x.device, dtype=x.dtype).expand_as(x), "set")

    def zero(self, sl: ParamSlice) -> torch.Tensor:
        return self.apply(sl, torch.zeros_like, "zero")

    def scale(self, sl: ParamSlice, factor: float) -> torch.Tensor:
        return self.apply(sl, lambda x: x * factor, f"scale({factor})")

    def add(self, sl: ParamSlice, delta) -> torch.Tensor:
        return self.apply(sl, lambda x: x + torch.as_tensor(delta, device=x.device, dtype=x.dtype), "add")

    def noise(self, sl: ParamSlice, sigma: float, seed: int = 0) -> torch.Tensor:
        """Add Gaussian noise of absolute std ``sigma``, seeded (same draw on every device)."""
        gen = torch.Generator().manual_seed(seed)

        def fn(x):
            return x + (torch.randn(x.shape, generator=gen, dtype=torch.float32) * sigma).to(x.device, x.dtype)

        return self.apply(sl, fn, f"noise({sigma},seed={seed})")

    # ------------------------------------------------------------------ undo / verify
    def undo(self) -> None:
        """Restore every edited slice (reverse order), bit for bit."""
        with torch.no_grad():
            for rec in reversed(self.records):
                p = self._param(rec.slice.param)
                p[rec.slice.indexer(p.shape, p.device)] = rec.old.to(p.device)
        self.records.clear()

    def _hashes(self) -> dict[str, str]:
        return {n: _hash(p) for n, p in self.subject.model.named_parameters()}

    def verify(self) -> dict[str, int]:
        """Check that only the recorded slices changed since the session opened.

        Returns ``{param: number of entries edited}``; raises `EditError` naming any parameter
        that changed outside its recorded slices."""
        if self._baseline is None:
            raise EditError("this session was opened with checksum=False; open it with checksum=True to verify")
        touched: dict[str, list[EditRecord]] = {}
        for rec in self.records:
            touched.setdefault(rec.slice.param, []).append(rec)
        bad = []
        for name, p in self.subject.model.named_parameters():
            if name in touched:
                restored = p.detach().clone()
                for rec in reversed(touched[name]):
                    restored[rec.slice.indexer(p.shape, p.device)] = rec.old.to(p.device)
                h = _hash(restored)
            else:
                h = _hash(p)
            if h != self._baseline.get(name):
                bad.append(name)
        if bad:
            raise EditError(f"weights changed outside the recorded edit slices: {bad[:10]}")
        return {n: sum(r.slice.numel(self._param(n).shape) for r in rs) for n, rs in touched.items()}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``patch.safetensors`` (``{i}.old`` / ``{i}.new`` per edit) and ``manifest.json``."""
        return EditPatch(list(self.records), self.subject.fingerprint()).save(path, forbidden=self.subject.source)


@dataclass
class EditPatch:
    """A saved sequence of slice edits: re-applicable to the model it was made on."""

    records: list[EditRecord]
    fingerprint: str | None = None

    def save(self, path: str | os.PathLike, forbidden: str | None = None) -> Path:
        path = Path(path)
        if forbidden and _inside(path, Path(forbidden)):
            raise EditError(f"refusing to write a patch inside the source model directory {forbidden!r}")
        tensors, manifest = {}, []
        for i, rec in enumerate(self.records):
            tensors[f"{i}.old"] = rec.old.contiguous()
            tensors[f"{i}.new"] = rec.new.contiguous()
            manifest.append(
                {**rec.slice.to_dict(), "op": rec.op, "dtype": str(rec.old.dtype), "shape": list(rec.old.shape)}
            )
        meta = {"version": PATCH_VERSION, "model_fingerprint": self.fingerprint, "edits": manifest}
        with atomic_dir(path) as tmp:
            save_file(tensors, str(tmp / "patch.safetensors"))
            (tmp / "manifest.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> EditPatch:
        path = Path(path)
        try:
            meta = json.loads((path / "manifest.json").read_text())
            tensors = load_file(str(path / "patch.safetensors"))
            records = [
                EditRecord(ParamSlice.from_dict(m), tensors[f"{i}.old"], tensors[f"{i}.new"], m.get("op", "set"))
                for i, m in enumerate(meta["edits"])
            ]
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as err:
            raise EditError(
                f"{str(path)!r} is not a readable edit patch (manifest.json + patch.safetensors): {err}"
            ) from err
        return cls(records, meta.get("model_fingerprint"))

    def apply(self, subject, *, check: bool = True) -> Edits:
        """Apply to ``subject``; returns the open `Edits` session (so it can be undone).

        With ``check``, every slice's current values must equal the recorded originals — a patch
        made on another model is refused and nothing is left applied."""
        ed = Edits(subject)
        try:
            for rec in self.records:

                def fn(x, rec=rec):
                    if check and not torch.equal(x.cpu(), rec.old):
                        raise EditError(
                            f"patch does not match this model: {rec.slice.param} differs from the patch's recorded "
                            "original values"
                        )
                    return rec.new.to(x.device)

                ed.apply(rec.slice, fn, rec.op)
        except BaseException:
            ed.undo()
            raise
        return ed


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clear_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temp siblings ``.NAME.tmp-PID-*`` of ``path`` left by processes that died
    mid-write (a SIGKILL, a crash); live writers' temporaries are kept.  Returns what was removed."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}.tmp-*-*"):
        pid = tmp.name[len(path.name) + 6 :].split("-", 1)[0]
        if tmp.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


class atomic_dir:
    """Write a directory atomically: build it in a temp sibling ``.NAME.tmp-PID-*``, then rename
    into place.  Temporaries of dead writers are cleared on entry; an error (Ctrl-C, or SIGTERM,
    which the command line turns into the same interrupt) removes this one."""

    def __init__(self, path: Path, overwrite: bool = True):
        self.path, self.overwrite = Path(path), overwrite

    def __enter__(self) -> Path:
        if self.path.exists() and not self.overwrite:
            raise EditError(f"{str(self.path)!r} exists; choose a new directory")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        clear_stale_temporaries(self.path)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.tmp-{os.getpid()}-", dir=self.path.parent))
        umask = os.umask(0)
        os.umask(umask)
        self.tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the result is an ordinary directory
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)


def export_model(subject: Subject, out_dir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """``save_pretrained`` the (edited) model and its tokenizer into a new directory.

    Refuses to write into or inside the source directory; writes atomically."""
    out = Path(out_dir)
    if subject.source and (
        Path(subject.source).exists() and (_inside(out, Path(subject.source)) or _inside(Path(subject.source), out))
    ):
        raise EditError(
            f"refusing to export into {str(out)!r}: it overlaps the source model directory {subject.source!r}"
        )
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model: Any = subject.model
        model.save_pretrained(tmp)
        if subject.tokenizer is not None:
            subject.tokenizer.save_pretrained(tmp)
    return out
