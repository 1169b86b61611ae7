"""Cell formatting shared by the report's HTML renderers: escaped text, numbers, values with CIs."""

from __future__ import annotations

import html


def esc(x) -> str:
    return html.escape(str(x))


def num(x, nd=2) -> str:
    """``x`` to ``nd`` decimals; ``–`` for None; anything else escaped as text."""
    return "–" if x is None else f"{x:.{nd}f}" if isinstance(x, (int, float)) else esc(x)


def with_ci(r) -> str:
    """``value [lo, hi]`` of a ``{"value", "ci"}`` dict; ``–`` without a value."""
    if not r or r.get("value") is None:
        return "–"
    lo, hi = (r.get("ci") or [None, None])[:2]
    return f"{num(r['value'])} [{num(lo)}, {num(hi)}]"
