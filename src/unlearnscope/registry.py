"""Registries: the named parts the workbench is built from, one module each.

Readouts and attacks (`evaluate.readouts`, `evaluate.attacks`), unlearning objectives
(`ablate.methods`), audit methods (`audit.methods`), benchmark converters (`data.benchmarks`) and
organisms (`organisms`) are each a `Registry` of typed entries.  The verification, the audit, the
CLI's choices and help, the report and the docs' tables read the registries, so adding one of
them is one file that registers it (see ``docs/extending.md``):

    from unlearnscope.evaluate import READOUTS
    READOUTS.names()                       # registration order
    READOUTS["logit_lens"].kind            # "intrinsic"
    READOUTS.resolve("lens")               # "logit_lens" (an alias kept for old configs)

Plugins outside the package register their entries when imported; the ``unlearnscope`` command
imports every module or file named in ``$UNLEARNSCOPE_PLUGINS`` (separated by ``os.pathsep``) and
every ``unlearnscope.plugins`` entry point before it builds its help (`load_plugins`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from .errors import UnlearnscopeError

NAME = re.compile(r"^[a-z0-9][a-z0-9_+:.-]*$")
PLUGINS_ENV = "UNLEARNSCOPE_PLUGINS"
ENTRY_POINT_GROUP = "unlearnscope.plugins"


class Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Named)


class Registry(Generic[E]):
    """Entries by name, in registration order, with aliases for names kept from older versions.

    ``what`` names the kind of entry in messages ("readout", "unlearning method", ...)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}
        self._origin: dict[str, str] = {}

    def register(
        self, entry: E, *, aliases: tuple[str, ...] = (), replace: bool = False, origin: str | None = None
    ) -> E:
        """Add ``entry`` under ``entry.name`` (and its ``aliases``); a name taken by another
        module's entry is an error unless ``replace`` (a plugin that overrides a built-in says so).
        ``origin``: the registering module (default: the caller's), named in such errors; a
        module that registers the same name again (a reload) replaces its own entry."""
        name = entry.name
        origin = origin or sys._getframe(1).f_globals.get("__name__", "?")
        for n in (name, *aliases):
            if not isinstance(n, str) or not NAME.match(n):
                raise UnlearnscopeError(
                    f"{self.what} name {n!r}: use lower-case letters, digits and _ + : . - (no spaces or commas)"
                )
            owner = self._origin.get(self._aliases.get(n, n))
            if owner is not None and owner != origin and not replace:
                raise UnlearnscopeError(
                    f"{self.what} {n!r} is already registered (by {owner}); "
                    "choose another name, or pass replace=True to override it"
                )
        self._entries[name] = entry
        self._origin[name] = origin
        for a in aliases:
            self._aliases[a] = name
        return entry

    def unregister(self, name: str) -> E:
        """Remove an entry and its aliases (returns it)."""
        canonical = self.resolve(name)
        self._aliases = {a: n for a, n in self._aliases.items() if n != canonical}
        self._origin.pop(canonical, None)
        return self._entries.pop(canonical)

    def resolve(self, name: str) -> str:
        """The registered name ``name`` stands for (itself, or the entry an alias points to)."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise UnlearnscopeError(f"unknown {self.what} {name!r}; choose from {', '.join(self.names())}")

    def __getitem__(self, name: str) -> E:
        return self._entries[self.resolve(name)]

    def get(self, name: str) -> E | None:
        return self[name] if name in self else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._entries or name in self._aliases)

    def __iter__(self) -> Iterator[E]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self, where: Callable[[E], bool] | None = None) -> tuple[str, ...]:
        """Registered names (registration order), those whose entry passes ``where`` if given."""
        return tuple(n for n, e in self._entries.items() if where is None or where(e))

    def entries(self, where: Callable[[E], bool] | None = None) -> list[E]:
        return [e for e in self._entries.values() if where is None or where(e)]

    def aliases(self) -> dict[str, str]:
        """``{old name: registered name}``."""
        return dict(self._aliases)

    def origin(self, name: str) -> str:
        """The module that registered ``name``."""
        return self._origin[self.resolve(name)]

    def check(self, names, *, where: Callable[[E], bool] | None = None, role: str | None = None) -> tuple[str, ...]:
        """``names`` resolved to registered names (aliases followed, order kept, duplicates
        dropped); unknown names, or names whose entry fails ``where``, are one error naming them
        all and what to choose from."""
        out: list[str] = []
        bad = []
        for n in names:
            if n not in self or (where is not None and not where(self[n])):
                bad.append(n)
            elif self.resolve(n) not in out:
                out.append(self.resolve(n))
        if bad:
            what = role or f"{self.what}s"
            raise UnlearnscopeError(f"unknown {what} {bad}; choose from {', '.join(self.names(where))}")
        return tuple(out)


_LOADED: dict[str, object] = {}


def load_plugins(spec: str | None = None) -> list[str]:
    """Import the plugin modules or files in ``spec`` (default ``$UNLEARNSCOPE_PLUGINS``; entries
    separated by ``os.pathsep``) and the ``unlearnscope.plugins`` entry points, once each; returns
    what was loaded.  A plugin registers its readouts, attacks or methods when imported."""
    spec = os.environ.get(PLUGINS_ENV, "") if spec is None else spec
    loaded = []
    for item in [s.strip() for s in spec.split(os.pathsep) if s.strip()]:
        if item not in _LOADED:
            _LOADED[item] = _import_plugin(item)
        loaded.append(item)
    try:
        from importlib.metadata import entry_points

        eps = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # noqa: BLE001 - broken metadata of another package must not stop the command
        eps = []
    for ep in eps:
        key = f"entry point {ep.name}"
        if key not in _LOADED:
            try:
                _LOADED[key] = ep.load()
            except Exception as err:
                raise UnlearnscopeError(
                    f"plugin {key} ({ep.value}) failed to import: {type(err).__name__}: {err}"
                ) from err
        loaded.append(key)
    return loaded


def _import_plugin(item: str):
    looks_like_file = item.endswith(".py") or os.sep in item or "/" in item
    try:
        if not looks_like_file:
            return importlib.import_module(item)
        path = Path(item).expanduser()
        if not path.is_file():
            raise UnlearnscopeError(
                f"plugin {item}: no such file (${PLUGINS_ENV} names modules or .py files, separated by {os.pathsep!r})"
            )
        name = f"unlearnscope_plugin_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise UnlearnscopeError(f"plugin {item}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    except UnlearnscopeError:
        raise
    except Exception as err:
        raise UnlearnscopeError(f"plugin {item} failed to import: {type(err).__name__}: {err}") from err
