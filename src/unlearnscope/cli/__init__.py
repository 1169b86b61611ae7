"""The ``unlearnscope`` command: one module per command group, registered here.

Heavy imports happen inside commands, so ``unlearnscope --help`` is fast.  Exit codes (every
command, `common.handle_errors`): 0 success, 2 bad input, 1 other errors, 130 interrupted.
"""

from __future__ import annotations

import sys

import typer

from .ablate import ablate_app
from .audit import audit
from .common import DEFAULTS
from .experts import ablate_experts, localize_experts  # noqa: F401  (registers `ablate experts`, `localize experts`)
from .inspection import inspect
from .localize import localize_app
from .metaeval import metaeval
from .organism import organism_app
from .replicate import replicate
from .report import report
from .skills import localize_skills  # noqa: F401  (registers `localize skills`)
from .target import target
from .unlearn import unlearn
from .verify import attack_app, probe

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Mechanistic and parametric analysis of unlearning in transformer LMs.")


@app.callback()
def main_callback(
    device: str = typer.Option(None, "--device", help="default device of every model a command loads (cpu, cuda, cuda:1 ...)"),
    dtype: str = typer.Option(None, "--dtype", help="default dtype (float32, bfloat16, float16)"),
) -> None:
    """unlearnscope: locate knowledge, cut there, verify it is gone.

    Exit codes: 0 success, 2 bad input, 1 other errors, 130 interrupted."""
    DEFAULTS.update(device=device, dtype=dtype)


app.command("inspect")(inspect)
app.add_typer(ablate_app, name="ablate")
app.command("unlearn")(unlearn)
app.add_typer(organism_app, name="organism")
app.add_typer(localize_app, name="localize")
app.command("probe")(probe)
app.add_typer(attack_app, name="attack")
app.command("report")(report)
app.command("audit")(audit)
app.command("metaeval")(metaeval)
app.command("target")(target)
app.command("replicate")(replicate)


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # a `timeout` or a job scheduler stops us like Ctrl-C: temporaries removed, exit 130


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    app()


if __name__ == "__main__":
    sys.exit(main())
