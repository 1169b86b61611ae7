"""`ComponentSet`: a typed, exact set of parameter slices, named in canonical component names.

Component names (``l`` layer, ``j`` neuron, ``h`` head, ``e`` expert; indices may be lists
``[3,5,9]`` or inclusive ranges ``3-7``):

==================================  ==========================================================
``blocks.{l}.mlp``                  every parameter of the layer's MLP (MoE: router, experts, shared)
``blocks.{l}.attn``                 every parameter of the layer's attention
``blocks.{l}.attn.head:{h}``        head ``h``'s slice of the output projection (what it writes;
                                    Q/K/V are not included: shared under GQA, interleaved in NeoX)
``blocks.{l}.mlp.value:{j}``        value vector ``j`` (down-projection column / Conv1D row)
``blocks.{l}.mlp.neuron:{j}``       neuron ``j``: key (gate) row, up row, value vector, its bias
``blocks.{l}.moe.expert:{e}``       expert ``e``'s slices of the fused expert tensors
``blocks.{l}.moe.expert:{e}.value:{j}``  a value vector of one expert
``blocks.{l}.moe.router`` / ``router:{e}``  the router weight / its row for expert ``e``
``blocks.{l}.moe.shared``           the shared expert (Qwen2-MoE, DeepSeek)
``re:<regex>`` or a string with ``\\``  whole parameters whose names match (``model\\.layers\\.7\\.mlp``)
==================================  ==========================================================

A SPEC (CLI ``--components``) is such names separated by commas or spaces, or a path to a JSON
file written by `ComponentSet.save`.  Union, intersection and difference are exact on parameter
entries (see `boxes.py`); `n_params` counts each entry once.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import OutOfRangeError, UnlearnscopeError
from ..results import write_json_atomic
from .anatomy import ParamSlice
from .boxes import Box, compact, disjoint_union, intersect, numel, subtract, to_box

if TYPE_CHECKING:
    from .subject import Subject

_NAME = re.compile(r"^blocks\.(?P<l>\d+)\.(?P<rest>.+)$")


def split_spec(spec: str) -> list[str]:
    """Split on commas/whitespace outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in spec:
        depth += ch == "["
        depth -= ch == "]"
        if ch in ", \t\n" and depth == 0:
            if cur:
                parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + ([cur] if cur else [])


def parse_indices(text: str) -> list[int]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [int(x) for x in text[1:-1].split(",") if x.strip()]
    if re.fullmatch(r"\d+-\d+", text):
        a, b = map(int, text.split("-"))
        return list(range(a, b + 1))
    if re.fullmatch(r"\d+", text):
        return [int(text)]
    raise UnlearnscopeError(f"bad index {text!r}: use 17, 3-7 or [3,5,9]")


@dataclass
class ComponentSet:
    """Parameter boxes plus the names they came from.  Built against one subject."""

    names: list[str]
    boxes: list[Box] = field(repr=False)
    shapes: dict[str, tuple[int, ...]] = field(repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def parse(cls, subject, spec: str | list[str] | os.PathLike) -> ComponentSet:
        """From a SPEC string, a list of names, or a JSON file."""
        if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.endswith(".json") and Path(spec).is_file()):
            return cls.load(subject, spec)
        names = split_spec(spec) if isinstance(spec, str) else list(spec)
        if not names:
            raise UnlearnscopeError("empty component set: name at least one component (e.g. blocks.1.mlp)")
        slices = [sl for name in names for sl in resolve_name(subject, name)]
        return cls.from_slices(subject, slices, names)

    @classmethod
    def from_slices(cls, subject, slices: list[ParamSlice], names: list[str] | None = None) -> ComponentSet:
        shapes, boxes = {}, []
        for sl in slices:
            p = subject.model.get_parameter(sl.param)
            sl.indexer(p.shape)  # range check
            shapes[sl.param] = tuple(p.shape)
            boxes.append(to_box(sl, p.shape))
        if not boxes:
            raise UnlearnscopeError("empty component set: the names matched no parameters")
        return cls(list(names or [s.param for s in slices]), disjoint_union(boxes), shapes)

    # ------------------------------------------------------------------ algebra
    def _combine(self, other: ComponentSet, boxes: list[Box], op: str) -> ComponentSet:
        return ComponentSet(
            [f"({' '.join(self.names)}) {op} ({' '.join(other.names)})"], boxes, {**self.shapes, **other.shapes}
        )

    def __or__(self, other: ComponentSet) -> ComponentSet:
        return self._combine(other, disjoint_union(self.boxes + other.boxes), "|")

    def __and__(self, other: ComponentSet) -> ComponentSet:
        boxes = [b for a in self.boxes for o in other.boxes if (b := intersect(a, o)) is not None]
        return self._combine(other, boxes, "&")

    def __sub__(self, other: ComponentSet) -> ComponentSet:
        boxes = self.boxes
        for o in other.boxes:
            boxes = [piece for b in boxes for piece in subtract(b, o)]
        return self._combine(other, boxes, "-")

    def __len__(self) -> int:
        return len(self.boxes)

    # ------------------------------------------------------------------ views
    @property
    def n_params(self) -> int:
        """Number of parameter entries in the set (each counted once)."""
        return sum(numel(b) for b in self.boxes)

    def params(self) -> list[str]:
        return sorted({b[0] for b in self.boxes})

    def slices(self) -> list[ParamSlice]:
        return [compact(b, self.shapes[b[0]]) for b in self.boxes]

    def masks(self, subject) -> dict[str, torch.Tensor]:
        """``param -> bool mask`` (True inside the set) on the parameter's device."""
        out: dict[str, torch.Tensor] = {}
        for sl in self.slices():
            p = subject.model.get_parameter(sl.param)
            m = out.setdefault(sl.param, torch.zeros(p.shape, dtype=torch.bool, device=p.device))
            m[sl.indexer(p.shape, p.device)] = True
        return out

    def summary(self, subject) -> dict:
        total = sum(p.numel() for p in subject.model.parameters())
        return {
            "names": self.names,
            "n_params": self.n_params,
            "fraction_of_model": self.n_params / total,
            "params": self.params(),
        }

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {"names": self.names, "slices": [s.to_dict() for s in self.slices()], "n_params": self.n_params}

    def save(self, path: str | os.PathLike) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, subject, path: str | os.PathLike) -> ComponentSet:
        try:
            d = json.loads(Path(path).read_text())
            slices = [ParamSlice.from_dict(s) for s in d["slices"]]
        except (OSError, KeyError, ValueError) as err:
            raise UnlearnscopeError(f"{str(path)!r} is not a component-set JSON file: {err}") from err
        return cls.from_slices(subject, slices, d.get("names"))


# ---------------------------------------------------------------------- name resolution
def _moe_table(family):
    """The family's MoE table (only read for a layer that is sparse)."""
    if family.moe is None:
        raise OutOfRangeError("this model has no MoE blocks")
    return family.moe


def resolve_name(subject: Subject, name: str) -> list[ParamSlice]:
    """The parameter slices one component name stands for."""
    if name.startswith("re:") or "\\" in name:
        rx = re.compile(name[3:] if name.startswith("re:") else name)
        hits = [n for n, _ in subject.model.named_parameters() if rx.search(n)]
        if not hits:
            raise UnlearnscopeError(
                f"component regex {rx.pattern!r} matches no parameter name (e.g. "
                f"{next(iter(dict(subject.model.named_parameters())))})"
            )
        return [ParamSlice(n) for n in hits]
    m = _NAME.match(name)
    if not m:
        raise UnlearnscopeError(
            f"bad component name {name!r}: expected blocks.L.mlp, blocks.L.attn.head:H, blocks.L.mlp.value:J, "
            "blocks.L.moe.expert:E, ... or re:<regex>"
        )
    a = subject.anatomy
    layer = a.check_layer(int(m["l"]))
    rest, fam = m["rest"], a.family
    if rest == "mlp":
        paths = (
            [a.path(layer, _moe_table(fam).block)]
            if layer in a.moe_layers
            else [
                a.path(layer, p) for p in {fam.mlp, fam.mlp_in, fam.mlp_down} | ({fam.mlp_up} if fam.mlp_up else set())
            ]
        )
        return _params_under(subject, paths)
    if rest == "attn":
        return _params_under(subject, [a.path(layer, fam.attn)])
    kind, _, idx = rest.partition(":")
    if kind == "attn.head":
        return a.head_slices(layer, parse_indices(idx))
    if kind in ("mlp.value", "mlp.neuron"):
        if layer in a.moe_layers:
            raise OutOfRangeError(
                f"layer {layer} is a MoE layer: name a value vector of one expert, e.g. "
                f"blocks.{layer}.moe.expert:0.value:{idx}"
            )
        j = parse_indices(idx)
        return [a.value_slice(layer, j)] if kind == "mlp.value" else a.neuron_slices(layer, j)
    if kind == "moe.router":
        w = f"{a.path(layer, _moe_table(fam).router)}.weight" if layer in a.moe_layers else None
        if w is None:
            raise OutOfRangeError(f"layer {layer} is dense: it has no router")
        return [ParamSlice(w) if not idx else ParamSlice.of(w, {0: _experts(a, layer, parse_indices(idx))})]
    if rest == "moe.shared":
        if layer not in a.moe_layers or not _moe_table(fam).shared:
            raise OutOfRangeError(f"layer {layer} has no shared expert")
        return _params_under(subject, [a.path(layer, _moe_table(fam).shared)])
    em = re.fullmatch(r"moe\.expert:(?P<e>[^.]+)(?:\.value:(?P<j>.+))?", rest)
    if em:
        experts = _experts(a, layer, parse_indices(em["e"]))
        if em["j"]:
            return [a.value_slice(layer, parse_indices(em["j"]), expert=e) for e in experts]
        return [sl for e in experts for sl in a.expert_slices(layer, e)]
    raise UnlearnscopeError(f"unknown component kind in {name!r}; see `unlearnscope.model.components` for the forms")


def _experts(a, layer, experts):
    for e in experts:
        a.check_expert(layer, e)
    return experts


def _params_under(subject, paths) -> list[ParamSlice]:
    out = []
    for path in paths:
        mod = subject.model.get_submodule(path)
        out += [ParamSlice(f"{path}.{n}") for n, _ in mod.named_parameters()]
    return out
