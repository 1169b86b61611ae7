"""What every command shares: global defaults, model loading, the error-to-exit-code decorator,
the JSON / text emitter and the figure writer.  Imports nothing heavy at module level, so
``unlearnscope --help`` stays fast.

Exit codes: 0 success, 2 bad input (unknown model, architecture, hook name, malformed file,
unwritable output ...), 1 other errors, 130 interrupted (outputs are atomic: nothing half-written).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click
import typer

DEFAULTS: dict = {"device": None, "dtype": None}  # from `unlearnscope --device D --dtype T COMMAND`
BAD_INPUT = 2
OTHER_ERROR = 1
INTERRUPTED = 130


def exit_code(err: BaseException) -> int:
    """2 for bad input (our errors, unknown keys, missing files), 1 for anything else."""
    from ..errors import UnlearnscopeError

    return BAD_INPUT if isinstance(err, (UnlearnscopeError, KeyError, FileNotFoundError)) else OTHER_ERROR


def handle_errors(fn=None, *, interrupted: str = "interrupted"):
    """Decorate a command: print ``error: <message>`` on stderr and exit with `exit_code`; on
    Ctrl-C print ``interrupted`` and exit 130.  ``typer.Exit`` / ``typer.Abort`` and click's own
    exceptions pass through unchanged."""

    def decorate(f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            try:
                return f(*args, **kwargs)
            except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
                raise
            except KeyboardInterrupt:
                typer.echo(interrupted, err=True)
                raise typer.Exit(INTERRUPTED) from None
            except Exception as err:  # noqa: BLE001 - every error becomes a message and an exit code
                typer.echo(f"error: {err}", err=True)
                raise typer.Exit(exit_code(err)) from None

        return wrapper

    return decorate(fn) if fn is not None else decorate


def load_subject(model: str, device: str | None = None, dtype: str | None = None):
    """A model spec (``organism:NAME[:ref]``, ``tiny:TYPE``, a directory or hub id) as a `Subject`.
    A command's own ``--device`` / ``--dtype`` win over the global ones."""
    from ..sources import load

    return load(model, device=device or DEFAULTS["device"], dtype=dtype or DEFAULTS["dtype"])


def emit(payload: dict, as_json: bool) -> None:
    """One JSON object on stdout, or ``key: value`` lines (long values cut at 400 characters)."""
    if as_json:
        typer.echo(json.dumps(payload))
        return
    for key, value in payload.items():
        typer.echo(f"{key}: {value if not isinstance(value, (list, dict)) else json.dumps(value)[:400]}")


def write_figure(fig, path: Path) -> str:
    """A plotly figure as a self-contained HTML file (plotly.js inlined), written atomically."""
    from ..results import write_text_atomic

    return str(write_text_atomic(path, fig.to_html(include_plotlyjs=True)))


def bad_input(message: str) -> Exception:
    """An `UnlearnscopeError` (exit code 2) to raise from a command."""
    from ..errors import UnlearnscopeError

    return UnlearnscopeError(message)
