"""``unlearnscope inspect MODEL``: a model's anatomy and its full hook-name table."""

from __future__ import annotations

import json

import typer

from .common import handle_errors, load_subject


@handle_errors
def inspect(
    model: str = typer.Argument(
        ..., help="model directory, hub id, organism:NAME[:ref] or tiny:<model_type> (e.g. tiny:gpt2, tiny:mixtral)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option(None, help="float32, bfloat16, float16"),
) -> None:
    """Anatomy and the full hook-name table of a model."""
    subject = load_subject(model, device, dtype)
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
