"""A command group that imports a command's module only when that command runs (or shows its
help), so ``unlearnscope --help`` imports nothing heavy while every command's choices and help
can be built from the registries (readouts, methods, benchmarks, organisms) when it is loaded.

The top-level help lists each command with its one-line summary from `COMMANDS`; the first time
a command is resolved, the plugins (`registry.load_plugins`) and its module are imported and the
command replaces its stub."""

from __future__ import annotations

import importlib

from typer import _click as click  # the click typer builds its commands with
from typer.core import TyperCommand, TyperGroup


class LazyGroup(TyperGroup):
    """``commands`` given lazily: ``lazy = {name: (module, attribute, summary)}``, the module
    relative to `unlearnscope.cli`, the attribute a command function or a `typer.Typer` group."""

    lazy: dict[str, tuple[str, str, str]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*self.lazy, *super().list_commands(ctx)]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        summary = self.lazy[cmd_name][2]
        return TyperCommand(cmd_name, help=summary, short_help=summary)  # a stub for the listing

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, cmd, rest = super().resolve_command(ctx, args)
        return name, (self.load(name) if name in self.lazy else cmd), rest

    def load(self, name: str) -> click.Command:
        """The real command ``name`` (imported on first use)."""
        if name not in self.commands:
            self.commands[name] = load_command(name, *self.lazy[name][:2])
        return self.commands[name]


def load_command(name: str, module: str, attribute: str) -> click.Command:
    """The click command of ``unlearnscope.cli.<module>.<attribute>`` (plugins imported first)."""
    import typer

    from ..registry import load_plugins

    load_plugins()
    obj = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
    if isinstance(obj, typer.Typer):
        group: click.Command = typer.main.get_group(obj)
        group.name = name
        return group
    app = typer.Typer(add_completion=False)
    app.command(name)(obj)
    return typer.main.get_command(app)
