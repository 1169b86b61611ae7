"""Resolve hook names, patterns and raw module paths to `HookPoint`s, with helpful errors.

Accepted forms (any mix, in a list):

* a canonical name ``"blocks.3.hook_resid_post"`` or a TransformerLens-3 alias
  (``"blocks.3.hook_out"``);
* a glob ``"blocks.*.mlp.hook_post"`` or a compiled regex (``re.compile(r"blocks\\.[0-2]\\.")``);
* a predicate ``lambda name: ...``;
* a raw module path of the native model, ``"model.layers.3.mlp"`` (its output) or
  ``"model.layers.3.mlp:in"`` (its first input).

A name or pattern that matches nothing raises `HookNameError` with the closest names.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable

from ..errors import HookNameError, OutOfRangeError
from .hook_points import ALIASES, HookPoint, raw_point, site_point

NameSpec = str | re.Pattern | Callable[[str], bool]

_ALIAS_RES = [(re.compile("^" + re.escape(a).replace(r"\{l\}", r"(\d+)") + "$"), c) for a, c in ALIASES.items()]
_LAYER_RE = re.compile(r"^blocks\.(\d+)\.")


def canonical(name: str) -> str:
    """Map a TransformerLens-3 alias to the canonical (legacy TL) spelling."""
    for rx, target in _ALIAS_RES:
        m = rx.match(name)
        if m:
            return target.replace("{l}", m.group(1)) if m.groups() else target
    return name


def resolve(
    table: dict[str, HookPoint],
    specs: NameSpec | Iterable[NameSpec] | None,
    root=None,
    layers: Iterable[int] | None = None,
    n_layers: int | None = None,
) -> list[HookPoint]:
    """Hook points matched by ``specs`` (all points when ``None``), deduplicated, in table order
    (forward order) with raw module paths last.  ``layers`` keeps only points of those blocks
    (points outside blocks, like ``hook_logits``, are kept)."""
    if specs is None:
        chosen = list(table)
        raw: list[HookPoint] = []
    else:
        if isinstance(specs, (str, re.Pattern)) or callable(specs):
            specs = [specs]
        chosen_set: set[str] = set()
        raw = []
        for spec in specs:
            if isinstance(spec, HookPoint):
                if spec.name in table and table[spec.name] == spec:
                    chosen_set.add(spec.name)
                else:
                    raw.append(spec)
                continue
            matched = _match(table, spec)
            if not matched and isinstance(spec, str) and root is not None:
                point = _raw(root, spec)
                if point is not None:
                    raw.append(point)
                    continue
            if not matched:
                raise HookNameError(_no_match_message(table, spec, n_layers))
            chosen_set.update(matched)
        chosen = [n for n in table if n in chosen_set]
    points = [table[n] for n in chosen] + raw
    if layers is not None:
        layers = set(layers)
        if n_layers is not None:
            bad = sorted(l for l in layers if not 0 <= l < n_layers)
            if bad:
                raise OutOfRangeError(
                    f"layers {bad} are out of range: the model has {n_layers} layers (0..{n_layers - 1})"
                )
        points = [p for p in points if p.layer is None or p.layer in layers]
    return points


def _match(table: dict[str, HookPoint], spec: NameSpec) -> list[str]:
    if isinstance(spec, re.Pattern):
        return [n for n in table if spec.search(n)]
    if callable(spec):
        return [n for n in table if spec(n)]
    name = canonical(spec)
    if name in table:
        return [name]
    if any(c in name for c in "*?["):
        return [n for n in table if fnmatch.fnmatchcase(n, name)]
    return []


def _raw(root, spec: str) -> HookPoint | None:
    path, phase = raw_point(spec)
    if phase not in ("in", "out"):
        return None
    try:
        root.get_submodule(path)
    except AttributeError:
        return None
    return site_point(spec, path, phase, shape="native")


def _no_match_message(table: dict[str, HookPoint], spec: NameSpec, n_layers: int | None) -> str:
    if not isinstance(spec, str):
        return f"hook pattern {spec!r} matched no hook point. Run `unlearnscope inspect MODEL` to list them."
    m = _LAYER_RE.match(spec)
    if m and n_layers is not None and int(m.group(1)) >= n_layers:
        return f"hook name {spec!r} names layer {m.group(1)}, but the model has {n_layers} layers (0..{n_layers - 1})."
    close = difflib.get_close_matches(canonical(spec), list(table), n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"hook name {spec!r} matches no hook point and no module of the model.{hint} "
        "Run `unlearnscope inspect MODEL` for the full table; raw module paths are accepted as 'path' (output) or "
        "'path:in' (input)."
    )
