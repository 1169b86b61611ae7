"""Exact set algebra on parameter *boxes*: outer-product slices of one parameter (`ParamSlice`
resolved against the parameter's shape).

A box fixes, per dim, a sorted tuple of indices.  Intersections of boxes are boxes; a difference
of boxes is a union of at most ``ndim`` disjoint boxes, so unions, intersections and differences
of component sets stay exact (no double counting, no lost entries) without per-entry masks.
"""

from __future__ import annotations

from .anatomy import ParamSlice

Box = tuple[str, tuple[tuple[int, ...], ...]]  # (param name, per-dim sorted indices)


def to_box(sl: ParamSlice, shape) -> Box:
    dims = dict(sl.index)
    return sl.param, tuple(
        tuple(sorted({i % n for i in dims[d]})) if d in dims else tuple(range(n)) for d, n in enumerate(shape)
    )


def compact(box: Box, shape) -> ParamSlice:
    param, dims = box
    return ParamSlice(param, tuple((d, idx) for d, idx in enumerate(dims) if len(idx) != shape[d]))


def numel(box: Box) -> int:
    n = 1
    for idx in box[1]:
        n *= len(idx)
    return n


def intersect(a: Box, b: Box) -> Box | None:
    if a[0] != b[0]:
        return None
    dims = tuple(tuple(sorted(set(x) & set(y))) for x, y in zip(a[1], b[1], strict=True))
    return None if any(not d for d in dims) else (a[0], dims)


def subtract(a: Box, b: Box) -> list[Box]:
    """``a - b`` as disjoint boxes."""
    inter = intersect(a, b)
    if inter is None:
        return [a]
    out, kept = [], list(a[1])
    for d, (ad, bd) in enumerate(zip(a[1], inter[1], strict=True)):
        rest = tuple(i for i in ad if i not in set(bd))
        if rest:
            out.append((a[0], tuple(kept[:d]) + (rest,) + tuple(a[1][d + 1 :])))
        kept[d] = bd
    return out


def disjoint_union(boxes: list[Box]) -> list[Box]:
    """The same entries as ``boxes``, as pairwise disjoint boxes."""
    out: list[Box] = []
    for box in boxes:
        pieces = [box]
        for prev in out:
            pieces = [p for piece in pieces for p in subtract(piece, prev)]
        out.extend(pieces)
    return out
