"""Base for public result objects: ``to_dict`` / ``save`` / ``load`` / ``plot``.

Results are dataclasses whose fields are JSON-able values or tensors; tensors are stored as
nested lists with their dtype and restored on `load`.  `save` writes atomically (temp file +
rename), so an interrupted save never leaves a half-written file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from .errors import UnlearnscopeError

_TENSOR = "__tensor__"


def json_fields(x: Any) -> dict[str, Any]:
    """A dataclass's fields by their JSON names (``field(metadata={"json": name})``), leaving out
    those marked ``omit_none`` while they are ``None``."""
    out = {}
    for f in dataclasses.fields(x):
        if not f.repr and f.name == "subject":
            continue
        v = getattr(x, f.name)
        if v is None and f.metadata.get("omit_none"):
            continue
        out[f.metadata.get("json", f.name)] = v
    return out


def to_jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return {_TENSOR: x.detach().cpu().tolist(), "dtype": str(x.dtype).removeprefix("torch.")}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {k: to_jsonable(v) for k, v in json_fields(x).items()}
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    return x


def from_jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        if _TENSOR in x:
            return torch.tensor(x[_TENSOR], dtype=getattr(torch, x["dtype"]))
        return {k: from_jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [from_jsonable(v) for v in x]
    return x


def check_writable_file(path: str | os.PathLike) -> Path:
    """Fail now, before any work, unless a file can be written at ``path`` (its directory is
    created; an existing directory there is refused)."""
    path = Path(path)
    if path.is_dir():
        raise UnlearnscopeError(f"cannot write {path}: it is a directory — give a file name")
    probe = path.with_name(f".{path.name}.write-test-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
    except OSError as err:
        raise UnlearnscopeError(f"cannot write {path}: {err.strerror or err} — choose another location") from err
    finally:
        probe.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file and a rename: readers see the old file or
    the new one, never a half-written one (parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=1))


class Record:
    """Mixin for typed result records (a verdict, a metric's summary, an RKI): ``to_dict()`` gives
    their JSON (the report's), ``from_dict`` reads it back, and ``record["key"]`` /
    ``record.get("key")`` read a field by its JSON name, as the report's JSON is read."""

    def to_dict(self) -> dict:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.metadata.get("json", f.name): f for f in dataclasses.fields(cls)}
        bad = sorted(set(data) - set(names))
        if bad:
            raise UnlearnscopeError(f"{cls.__name__}: unknown keys {bad}; known: {sorted(names)}")
        return cls(**{names[k].name: cls._field_from(names[k].name, v) for k, v in data.items()})

    @classmethod
    def _field_from(cls, name: str, value: Any) -> Any:
        """A field's value from its JSON (override to rebuild nested records)."""
        return value

    def _json_name(self, key: str) -> str:
        for f in dataclasses.fields(self):
            if f.metadata.get("json", f.name) == key:
                return f.name
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._json_name(key))

    def get(self, key: str, default: Any = None) -> Any:
        """The field named ``key`` in the JSON; ``default`` when the JSON leaves it out."""
        return json_fields(self).get(key, default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in json_fields(self)


class Result:
    """Mixin for result dataclasses.  Subclasses implement ``plot()`` (a plotly figure)."""

    kind: str = "result"

    def to_dict(self) -> dict:
        return {"kind": self.kind, **to_jsonable(self)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write JSON to ``path`` (a file, or a directory → ``<dir>/<kind>.json``)."""
        path = Path(path)
        if path.suffix != ".json":
            path = path / f"{self.kind}.json"
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike):
        path = Path(path)
        if path.is_dir():
            path = path / f"{cls.kind}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UnlearnscopeError(f"cannot read {cls.__name__} from {path}: {e}") from e
        if data.pop("kind", cls.kind) != cls.kind:
            raise UnlearnscopeError(f"{path} does not hold a {cls.kind} result")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: from_jsonable(v) for k, v in data.items() if k in names})

    def plot(self):
        raise NotImplementedError
