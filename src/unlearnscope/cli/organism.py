"""``unlearnscope organism build|list|show``: model organisms (synthetic worlds + trained models)."""

from __future__ import annotations

import json

import typer

from .common import handle_errors


def names_help() -> str:
    from ..organisms import ORGANISMS

    return " | ".join(ORGANISMS.names())


organism_app = typer.Typer(
    no_args_is_help=True, help="Build, list and show model organisms (synthetic worlds + trained models)."
)


@organism_app.command("build")
@handle_errors
def organism_build(
    name: str = typer.Argument(..., help=names_help()),
    size: str = typer.Option("default", help="default | small"),
    seed: int = typer.Option(0, help="seed of the world, weights and batch order"),
    force: bool = typer.Option(False, help="rebuild even if a valid cache entry exists"),
    device: str = typer.Option(None, help="cpu | cuda (default: cuda when present)"),
) -> None:
    """Build ORIG and REF (cached); prints the organism's directory as the last line."""
    from ..organisms import build

    org = build(name, size, seed, force=force, device=device, log=lambda m: typer.echo(m, err=True))
    bars = org.manifest["quality"]["bars_met"]
    typer.echo(
        f"quality bars met: {sum(bars.values())}/{len(bars)} "
        f"{'' if all(bars.values()) else [k for k, v in bars.items() if not v]}",
        err=True,
    )
    typer.echo(str(org.path))


@organism_app.command("list")
@handle_errors
def organism_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Available organisms and what is in the cache."""
    from ..organisms import list_organisms

    rows = list_organisms()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        state = ", ".join(f"{c['path'].rsplit('/', 1)[-1]} [{c['state']}]" for c in r["cached"]) or "not built"
        typer.echo(f"{r['name']:<12} {r['size']:<8} {r['description']}\n{'':<22}cache: {state}")


@organism_app.command("show")
@handle_errors
def organism_show(
    name: str,
    size: str = typer.Option("default"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json", help="print the manifest as one JSON object"),
) -> None:
    """The manifest of a built organism: recipe, measured quality, paths to ORIG and REF."""
    from ..organisms import find, get_recipe

    get_recipe(name, size)
    org = find(name, size, seed)
    if org is None:
        raise FileNotFoundError(
            f"organism {name!r} (size {size}, seed {seed}) is not built: run `unlearnscope organism build "
            f"{name} --size "
            f"{size} --seed {seed}`"
        )
    info = org.describe()
    if as_json:
        typer.echo(json.dumps(info))
        return
    q = info["quality"]
    typer.echo(f"{name} ({size}, seed {seed}) at {info['path']}")
    for v in ("orig", "ref"):
        typer.echo(f"  {v.upper()}: {info['paths'][v]}  ({info['train_seconds'][v]} s)")
        typer.echo("    " + json.dumps(q[v]))
    typer.echo(f"  bars met: {q['bars_met']}")
