"""``unlearnscope unlearn``: localized unlearning, written as an edit patch plus ``summary.json``."""

from __future__ import annotations

import json

import typer

from .common import handle_errors, load_subject


def method_help() -> str:
    from ..ablate.methods import UNLEARNING_METHODS

    return " | ".join(f"{m.name} ({m.description})" for m in UNLEARNING_METHODS)


@handle_errors
def unlearn(
    model: str = typer.Option(..., "--model", help="model directory, hub id or organism:NAME"),
    forget: str = typer.Option(..., "--forget", help="forget data: .txt / .json / .jsonl file, or organism:forget"),
    retain: str = typer.Option(None, "--retain", help="retain data: .txt / .json / .jsonl file, or organism:retain"),
    method: str = typer.Option("ga", "--method", help=method_help()),
    components: str = typer.Option(None, "--components", help="component SPEC or JSON file (default: the whole model)"),
    steps: int = typer.Option(50, "--steps"),
    lr: float = typer.Option(1e-4, "--lr"),
    batch_size: int = typer.Option(16, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    stop_at: float = typer.Option(None, "--stop-at", help="stop when forget top-1 accuracy <= this (items only)"),
    out: str = typer.Option(..., "--out", help="directory for the edit patch and summary.json"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option(None, "--dtype", help="float32, bfloat16, float16"),
) -> None:
    """Localized unlearning; writes the change as an edit patch plus a JSON summary."""
    from ..ablate import ComponentSet, UnlearnConfig
    from ..ablate import unlearn as run_unlearn
    from ..sources import load_training_data

    subject = load_subject(model, device, dtype)
    cs = ComponentSet.parse(subject, components) if components else None
    f_data = load_training_data(forget, model)
    r_data = load_training_data(retain, model) if retain else []
    cfg = UnlearnConfig(method=method, steps=steps, lr=lr, batch_size=batch_size, seed=seed, stop_at_forget_acc=stop_at)
    result = run_unlearn(subject, f_data, r_data, components=cs, config=cfg, progress=not as_json)
    path = result.save(out)
    summary = {**result.to_dict(), "patch_path": str(path)}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        last = summary["forget_metric_curve"][-1] if summary["forget_metric_curve"] else None
        typer.echo(
            f"{method}: {result.steps} steps on {result.n_params_trained} parameters ({result.stopped}); forget metric "
            f"{last}; patch in {path}"
        )
