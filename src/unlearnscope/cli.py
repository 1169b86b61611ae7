"""The ``unlearnscope`` command.  Heavy imports happen inside commands, so ``--help`` is fast.

Exit codes: 0 success, 2 bad input (unknown model, architecture, hook name ...), 1 other errors.
"""

from __future__ import annotations

import json
import sys

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Mechanistic and parametric analysis of unlearning in transformer LMs.")


def load_subject(model: str, device: str | None = None, dtype: str | None = None):
    """``tiny:<model_type>`` builds a seeded random tiny model; anything else goes to `load`."""
    from .model.load import load

    if model.startswith("tiny:"):
        from .model.tiny import tiny_model

        m, tok = tiny_model(model.split(":", 1)[1])
        subject = load(m, tok, device=device, dtype=dtype)
        subject.source = None
        return subject
    return load(model, device=device, dtype=dtype)


def _fail(err: Exception) -> None:
    from .errors import UnlearnscopeError

    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2 if isinstance(err, (UnlearnscopeError, KeyError)) else 1)


@app.callback()
def main_callback() -> None:
    """unlearnscope: locate knowledge, cut there, verify it is gone."""


@app.command()
def inspect(
    model: str = typer.Argument(..., help="model directory, hub id, or tiny:<model_type> (e.g. tiny:gpt2, tiny:mixtral)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option(None, help="float32, bfloat16, float16"),
) -> None:
    """Anatomy and the full hook-name table of a model."""
    try:
        subject = load_subject(model, device, dtype)
    except Exception as err:  # noqa: BLE001 - reported with an exit code
        _fail(err)
    info = subject.describe()
    if as_json:
        info["hook_points"] = [p.to_dict() for p in subject.hook_table.values()]
        typer.echo(json.dumps(info))
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        if key != "hook_names":
            typer.echo(f"{key:<{width}}  {value}")
    typer.echo(f"\n{len(subject.hook_table)} hook points (canonical name, native module, in/out, shape):")
    nw = max(len(n) for n in subject.hook_table)
    mw = max(len(p.module_path) for p in subject.hook_table.values())
    for p in subject.hook_table.values():
        typer.echo(f"  {p.name:<{nw}}  {p.module_path:<{mw}}  {p.phase:<3}  [{p.shape}]")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
