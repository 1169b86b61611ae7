"""Progress bars for long work: tqdm on stderr with an ETA, off unless a caller turns them on.

    with progress_enabled(True):          # the audit and the commands do, unless --quiet
        for batch in bar(batches, "attribution patching"):
            ...
        steps = bar(total=5, desc="verify")  # a bar over named steps
        steps.set_postfix_str("probes"); steps.update()

Off (the default, and in library use), every bar is a silent pass-through.  Bars never write to
stdout, so ``--json`` output stays clean; they leave no line behind when done.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys

_ON = contextvars.ContextVar("unlearnscope_progress", default=False)


@contextlib.contextmanager
def progress_enabled(on: bool = True):
    """Bars inside this block are shown (``on``) or silent."""
    token = _ON.set(bool(on))
    try:
        yield
    finally:
        _ON.reset(token)


def enabled() -> bool:
    return _ON.get()


def bar(iterable=None, desc: str = "", total: int | None = None, **kw):
    """A tqdm bar on stderr (``[elapsed<remaining]``) when progress is on, else a silent one."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        desc=desc,
        total=total,
        file=sys.stderr,
        disable=not _ON.get(),
        leave=False,
        mininterval=1.0,
        dynamic_ncols=True,
        **kw,
    )
