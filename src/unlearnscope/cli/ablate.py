"""``unlearnscope ablate``: static ablation of a component set, as an edit patch or an edited model.
``ablate experts`` (MoE routing) is registered on the same group by `experts`."""

from __future__ import annotations

import json

import typer

from .common import bad_input, handle_errors, load_subject
from .experts import ablate_experts

ablate_app = typer.Typer(help="Static ablation of components (edit patches) and MoE routing interventions.")


@ablate_app.callback(invoke_without_command=True)
@handle_errors
def ablate(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", help="model directory, hub id, organism:NAME or tiny:<type>"),
    components: str = typer.Option(
        None, "--components", help="component SPEC (e.g. 'blocks.1.mlp.value:[3,7]') or a JSON file"
    ),
    mode: str = typer.Option("zero", "--mode", help="zero | mean | noise | project"),
    out: str = typer.Option(
        None, "--out", help="output directory (edit patch, or an edited model with --export-model)"
    ),
    sigma: float = typer.Option(None, help="noise std (absolute)"),
    seed: int = typer.Option(0),
    direction: str = typer.Option(None, help="project: a .pt/.safetensors file holding one vector of size d_model"),
    export_model_dir: bool = typer.Option(
        False, "--export-model", help="write the edited model (save_pretrained) instead of a patch"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option(None, "--dtype", help="float32, bfloat16, float16"),
) -> None:
    """Static ablation of a component set, written as an edit patch (default) or an edited model.
    ``ablate experts ...`` switches MoE experts off / on instead (see its --help)."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [f"--{n}" for n, v in (("model", model), ("components", components), ("out", out)) if v is None]
    if missing:
        typer.echo(f"error: missing {', '.join(missing)} (or use: unlearnscope ablate experts --help)", err=True)
        raise typer.Exit(2)
    from ..ablate import ComponentSet
    from ..ablate import ablate as run_ablation
    from ..model.edits import export_model

    subject = load_subject(model, device, dtype)
    cs = ComponentSet.parse(subject, components)
    vec = _load_vector(direction) if direction else None
    ed = run_ablation(subject, cs, mode, sigma=sigma, seed=seed, direction=vec)
    try:
        ed.verify()
        path = export_model(subject, out) if export_model_dir else ed.save(out)
        if not export_model_dir:
            cs.save(path / "components.json")
    finally:
        ed.undo()
    summary = {
        "mode": mode,
        "components": cs.names,
        "n_params": cs.n_params,
        "out": str(path),
        "kind": "model" if export_model_dir else "patch",
    }
    typer.echo(
        json.dumps(summary)
        if as_json
        else f"{mode}-ablated {cs.n_params} parameters of {model}; wrote {summary['kind']} to {path}"
    )


def _load_vector(path: str):
    """A ``[d_model]`` direction from a ``.safetensors`` file (exactly one tensor) or a ``.pt`` file."""
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        tensors = load_file(path)
        if len(tensors) != 1:
            raise bad_input(f"{path} must hold exactly one tensor, found {list(tensors)}")
        return next(iter(tensors.values()))
    return torch.load(path, weights_only=True)


ablate_app.command("experts")(ablate_experts)
