"""The ``unlearnscope`` command.  Heavy imports happen inside commands, so ``--help`` is fast.

Exit codes: 0 success, 2 bad input (unknown model, architecture, hook name, malformed file,
unwritable output ...), 1 other errors, 130 interrupted (outputs are atomic: nothing half-written).
"""

from __future__ import annotations

import json
import sys

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Mechanistic and parametric analysis of unlearning in transformer LMs.")


DEFAULTS: dict = {"device": None, "dtype": None}  # from `unlearnscope --device D --dtype T COMMAND`


def load_subject(model: str, device: str | None = None, dtype: str | None = None):
    """``tiny:<model_type>`` builds a seeded random tiny model; anything else goes to `load`.
    A command's own ``--device`` / ``--dtype`` win over the global ones."""
    from .model.load import load

    device, dtype = device or DEFAULTS["device"], dtype or DEFAULTS["dtype"]
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
    raise typer.Exit(2 if isinstance(err, (UnlearnscopeError, KeyError, FileNotFoundError)) else 1)


@app.callback()
def main_callback(
    device: str = typer.Option(None, "--device", help="default device of every model a command loads (cpu, cuda, cuda:1 ...)"),
    dtype: str = typer.Option(None, "--dtype", help="default dtype (float32, bfloat16, float16)"),
) -> None:
    """unlearnscope: locate knowledge, cut there, verify it is gone.

    Exit codes: 0 success, 2 bad input, 1 other errors, 130 interrupted."""
    DEFAULTS.update(device=device, dtype=dtype)


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


ablate_app = typer.Typer(help="Static ablation of components (edit patches) and MoE routing interventions.")
app.add_typer(ablate_app, name="ablate")


@ablate_app.callback(invoke_without_command=True)
def ablate(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", help="model directory, hub id, organism:NAME or tiny:<type>"),
    components: str = typer.Option(None, "--components", help="component SPEC (e.g. 'blocks.1.mlp.value:[3,7]') or a JSON file"),
    mode: str = typer.Option("zero", "--mode", help="zero | mean | noise | project"),
    out: str = typer.Option(None, "--out", help="output directory (edit patch, or an edited model with --export-model)"),
    sigma: float = typer.Option(None, help="noise std (absolute)"),
    seed: int = typer.Option(0),
    direction: str = typer.Option(None, help="project: a .pt/.safetensors file holding a [d_model] vector"),
    export_model_dir: bool = typer.Option(False, "--export-model", help="write the edited model (save_pretrained) instead of a patch"),
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
    from .ablate import ComponentSet
    from .ablate import ablate as run_ablation
    from .model.edits import export_model

    try:
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
    except Exception as err:  # noqa: BLE001
        _fail(err)
    summary = {"mode": mode, "components": cs.names, "n_params": cs.n_params, "out": str(path), "kind": "model" if export_model_dir else "patch"}
    typer.echo(json.dumps(summary) if as_json else f"{mode}-ablated {cs.n_params} parameters of {model}; wrote {summary['kind']} to {path}")


@ablate_app.command("experts")
def ablate_experts_cmd(
    model: str = typer.Option(..., "--model", help="MoE model directory, hub id, organism:moe or tiny:<moe type>"),
    experts: str = typer.Option(..., "--experts", help="LAYER:EXPERT,... e.g. 1:3,0:5 or 1:[3,4]"),
    mode: str = typer.Option("off", "--mode", help="off (pre-selection mask) | force | drop (post-selection) | gain"),
    out: str = typer.Option(..., "--out", help="directory for routing_override.json and effect.json"),
    gain: float = typer.Option(0.0, help="--mode gain: output factor of the experts"),
    renormalize: bool = typer.Option(True, help="--mode drop: rescale the remaining weights to the original sum"),
    prompts: str = typer.Option(None, "--prompts", help="prompts to measure the next-token change on (.txt/.json or organism:DOMAIN)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Switch MoE experts off / force them on / drop / scale them at inference (every token, also in
    generate()); writes the override (re-applicable with RoutingOverride.from_dict) and its measured effect."""
    from .cli_experts import ablate_experts

    ablate_experts(model, experts, mode, out, gain, renormalize, prompts, as_json)


@app.command()
def unlearn(
    model: str = typer.Option(..., "--model", help="model directory, hub id or organism:NAME"),
    forget: str = typer.Option(..., "--forget", help="forget data: .txt / .json file, or organism:forget"),
    retain: str = typer.Option(None, "--retain", help="retain data: .txt / .json file, or organism:retain"),
    method: str = typer.Option("ga", "--method", help="ga | graddiff | npo | simnpo | rmu"),
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
    from .ablate import ComponentSet
    from .ablate.data import load_data
    from .ablate.unlearn import UnlearnConfig
    from .ablate.unlearn import unlearn as run_unlearn

    try:
        subject = load_subject(model, device, dtype)
        cs = ComponentSet.parse(subject, components) if components else None
        f_data = load_data(forget, model)
        r_data = load_data(retain, model) if retain else []
        cfg = UnlearnConfig(method=method, steps=steps, lr=lr, batch_size=batch_size, seed=seed, stop_at_forget_acc=stop_at)
        result = run_unlearn(subject, f_data, r_data, components=cs, config=cfg, progress=not as_json)
        path = result.save(out)
    except Exception as err:  # noqa: BLE001
        _fail(err)
    summary = {**result.to_dict(), "patch_path": str(path)}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        last = summary["forget_metric_curve"][-1] if summary["forget_metric_curve"] else None
        typer.echo(f"{method}: {result.steps} steps on {result.n_params_trained} parameters ({result.stopped}); forget metric {last}; patch in {path}")


def _load_vector(path: str):
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        tensors = load_file(path)
        if len(tensors) != 1:
            raise ValueError(f"{path} must hold exactly one tensor, found {list(tensors)}")
        return next(iter(tensors.values()))
    return torch.load(path, weights_only=True)


organism_app = typer.Typer(no_args_is_help=True, help="Build, list and show model organisms (synthetic worlds + trained models).")
app.add_typer(organism_app, name="organism")


@organism_app.command("build")
def organism_build(
    name: str = typer.Argument(..., help="facts | facts-llama | moe"),
    size: str = typer.Option("default", help="default | small"),
    seed: int = typer.Option(0, help="seed of the world, weights and batch order"),
    force: bool = typer.Option(False, help="rebuild even if a valid cache entry exists"),
    device: str = typer.Option(None, help="cpu | cuda (default: cuda when present)"),
) -> None:
    """Build ORIG and REF (cached); prints the organism's directory as the last line."""
    from .organisms import build

    try:
        org = build(name, size, seed, force=force, device=device, log=lambda m: typer.echo(m, err=True))
    except Exception as err:  # noqa: BLE001
        _fail(err)
    bars = org.manifest["quality"]["bars_met"]
    typer.echo(f"quality bars met: {sum(bars.values())}/{len(bars)} {'' if all(bars.values()) else [k for k, v in bars.items() if not v]}", err=True)
    typer.echo(str(org.path))


@organism_app.command("list")
def organism_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Available organisms and what is in the cache."""
    from .organisms import list_organisms

    rows = list_organisms()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        state = ", ".join(f"{c['path'].rsplit('/', 1)[-1]} [{c['state']}]" for c in r["cached"]) or "not built"
        typer.echo(f"{r['name']:<12} {r['size']:<8} {r['description']}\n{'':<22}cache: {state}")


@organism_app.command("show")
def organism_show(
    name: str,
    size: str = typer.Option("default"),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json", help="print the manifest as one JSON object"),
) -> None:
    """The manifest of a built organism: recipe, measured quality, paths to ORIG and REF."""
    from .organisms import find, get_recipe

    try:
        get_recipe(name, size)
        org = find(name, size, seed)
        if org is None:
            raise FileNotFoundError(f"organism {name!r} (size {size}, seed {seed}) is not built: run `unlearnscope organism build {name} --size {size} --seed {seed}`")
    except Exception as err:  # noqa: BLE001
        _fail(err)
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


from .cli_experts import localize_app  # noqa: E402  (registers `localize experts` on it)
from .cli_skills import localize_skills  # noqa: E402, F401  (registers `localize skills`)

app.add_typer(localize_app, name="localize")

from .cli_audit import audit  # noqa: E402
from .cli_report import report  # noqa: E402
from .cli_verify import attack_app, probe  # noqa: E402

app.command("probe")(probe)
app.command("report")(report)
app.command("audit")(audit)
app.add_typer(attack_app, name="attack")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
