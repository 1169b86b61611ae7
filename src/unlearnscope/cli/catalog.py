"""``unlearnscope list [readouts|attacks|objectives|methods|benchmarks|organisms]``: what is registered
(the built-in parts and every plugin loaded from ``$UNLEARNSCOPE_PLUGINS``), as a table, markdown
(the docs' tables are this output: a test holds them equal) or JSON.

    unlearnscope list                       # every registry
    unlearnscope list methods --json
    unlearnscope list readouts --markdown   # the table in docs/verify.md
"""

from __future__ import annotations

import json

import typer

from .common import handle_errors

REGISTRIES = ("readouts", "attacks", "objectives", "methods", "benchmarks", "organisms")


def _readouts(attacks: bool) -> list[dict]:
    from ..evaluate.registry import builtin

    return [
        {
            "name": r.name,
            "kind": r.kind,
            "metrics": r.metric_names,
            "requires": ", ".join(r.requires) or "–",
            "settings": r.config.__name__ if r.config else "–",
            "default": "always" if r.always else "yes" if r.default else "no",
            "description": r.description,
        }
        for r in builtin()
        if r.is_attack == attacks
    ]


def _objectives() -> list[dict]:
    from ..ablate.methods import UNLEARNING_METHODS

    return [
        {
            "name": m.name,
            "description": m.description,
            "source": m.source,
            "retain weight": f"{m.retain_weight:g}",
            "beta": "–" if m.beta is None else f"{m.beta:g}",
        }
        for m in UNLEARNING_METHODS
    ]


def _methods() -> list[dict]:
    from ..audit.methods import AUDIT_METHODS

    aliases: dict[str, list[str]] = {}
    for old, new in AUDIT_METHODS.aliases().items():
        aliases.setdefault(new, []).append(old)
    return [
        {
            "name": m.name,
            "targets": ", ".join(m.targets),
            "requires": ", ".join(r for r in m.requires if r != "lm_head") or "–",
            "intervention": m.intervention,
            "aliases": ", ".join(aliases.get(m.name, [])) or "–",
            "description": m.description,
        }
        for m in AUDIT_METHODS
    ]


def _benchmarks() -> list[dict]:
    from ..data.benchmarks import BENCHMARKS

    return [
        {
            "name": b.name,
            "options": ", ".join(f"--{o}" for o in b.options) or "–",
            "source": b.source,
            "description": b.description,
        }
        for b in BENCHMARKS
    ]


def _organisms() -> list[dict]:
    from ..organisms import ORGANISMS

    return [
        {
            "name": o.name,
            "sizes": ", ".join(o.recipes),
            "audit target": o.audit or "–",
            "audit methods": ", ".join(o.audit_methods) or "–",
            "description": o.description,
        }
        for o in ORGANISMS
    ]


ROWS = {
    "readouts": lambda: _readouts(False),
    "attacks": lambda: _readouts(True),
    "objectives": _objectives,
    "methods": _methods,
    "benchmarks": _benchmarks,
    "organisms": _organisms,
}


def rows(registry: str) -> list[dict]:
    """One dict per registered entry of ``registry`` (its name first), registration order."""
    if registry not in ROWS:
        from ..errors import UnlearnscopeError

        raise UnlearnscopeError(f"unknown registry {registry!r}; choose from {', '.join(REGISTRIES)}")
    return ROWS[registry]()


def markdown(registry: str) -> str:
    """The registry as a markdown table (names in backticks)."""
    table = rows(registry)
    head = list(table[0]) if table else ["name"]
    cell = lambda k, v: f"`{v}`" if k == "name" else str(v).replace("|", "\\\\|")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(k, r[k]) for k in head) + " |" for r in table]
    return "\n".join(lines)


@handle_errors
def catalog(
    registry: str = typer.Argument(None, help=" | ".join(REGISTRIES) + " (default: every one)"),
    as_markdown: bool = typer.Option(False, "--markdown", help="a markdown table (as in the docs)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What is registered: readouts, attacks, unlearning objectives, audit methods, benchmarks, organisms."""
    names = [registry] if registry else list(REGISTRIES)
    if as_json:
        typer.echo(json.dumps({n: rows(n) for n in names}))
        return
    for n in names:
        if len(names) > 1:
            typer.echo(f"\n## {n}\n")
        if as_markdown:
            typer.echo(markdown(n))
        else:
            for r in rows(n):
                rest = "  ".join(f"{k}: {v}" for k, v in r.items() if k not in ("name", "description"))
                typer.echo(f"{r['name']:<20} {rest}\n{'':<20} {r['description']}")
