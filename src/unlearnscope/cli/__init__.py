"""The ``unlearnscope`` command: one module per command group, registered here.

Heavy imports happen inside commands, so ``unlearnscope --help`` is fast.  Exit codes (every
command, `common.handle_errors`): 0 success, 2 bad input, 1 other errors, 130 interrupted.
"""

from __future__ import annotations

import sys

import typer

from .common import DEFAULTS
from .lazy import LazyGroup


class Commands(LazyGroup):
    """Every command, by module; the summaries are the top-level help's one line each (a test holds
    them equal to the commands' own)."""

    lazy = {
        "inspect": ("inspection", "inspect", "Anatomy and the full hook-name table of a model."),
        "ablate": (
            "ablate",
            "ablate_app",
            "Static ablation of components (edit patches) and MoE routing interventions.",
        ),
        "unlearn": (
            "unlearn",
            "unlearn",
            "Localized unlearning; writes the change as an edit patch plus a JSON summary.",
        ),
        "organism": (
            "organism",
            "organism_app",
            "Build, list and show model organisms (synthetic worlds + trained models).",
        ),
        "localize": ("localize", "localize_app", "Locate where facts, concepts, experts' behaviours and skills live."),
        "verify": (
            "verify",
            "verify",
            "Any registered readouts and attacks on a model against ORIG and never-knew references.",
        ),
        "probe": (
            "verify",
            "probe",
            "Linear probes (transfer / refit) with controls, on the model and its references.",
        ),
        "attack": ("verify", "attack_app", "Attacks on forgotten facts, each also run on the reference model."),
        "report": ("report", "report", "Re-render report.html from report.json (atomically, both files together)."),
        "audit": (
            "audit",
            "audit",
            "Localize → intervene with each method → verify against ORIG / REF / NOISE → write report.html + "
            "report.json.",
        ),
        "metaeval": (
            "metaeval",
            "metaeval",
            "Score every readout's faithfulness (AUC, knows vs never-knew models) and robustness (quantization, "
            "relearning).",
        ),
        "target": (
            "target",
            "target",
            "Convert a benchmark's files into a target file for `unlearnscope audit --target`.",
        ),
        "replicate": (
            "replicate",
            "replicate",
            "Replicate a paper's central finding on an organism and write its card.",
        ),
        "list": (
            "catalog",
            "catalog",
            "What is registered: readouts, attacks, unlearning objectives, audit methods, benchmarks, organisms.",
        ),
    }


app = typer.Typer(
    cls=Commands,
    add_completion=False,
    no_args_is_help=True,
    help="Mechanistic and parametric analysis of unlearning in transformer LMs.",
)


@app.callback()
def main_callback(
    device: str = typer.Option(
        None, "--device", help="default device of every model a command loads (cpu, cuda, cuda:1 ...)"
    ),
    dtype: str = typer.Option(None, "--dtype", help="default dtype (float32, bfloat16, float16)"),
) -> None:
    """unlearnscope: locate knowledge, cut there, verify it is gone.

    Exit codes: 0 success, 2 bad input, 1 other errors, 130 interrupted."""
    DEFAULTS.update(device=device, dtype=dtype)


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # a `timeout` or a job scheduler stops us like Ctrl-C: temporaries removed, exit 130


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    app()


if __name__ == "__main__":
    sys.exit(main())
