"""One error decorator for every command: bad input exits 2, other errors 1, Ctrl-C 130, and a
command's own ``typer.Exit`` passes through untouched."""

import pytest
from typer.testing import CliRunner

import unlearnscope.cli.common as common
from unlearnscope.cli import app

RUN = CliRunner()


@pytest.mark.parametrize("raised,code,text", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (RuntimeError("disk on fire"), 1, "error: disk on fire"),
    (FileNotFoundError("no such model"), 2, "error: no such model"),
])
def test_errors_map_to_exit_codes(monkeypatch, raised, code, text):
    def boom(*a, **k):
        raise raised

    monkeypatch.setattr(common, "load_subject", boom)
    monkeypatch.setattr("unlearnscope.cli.inspection.load_subject", boom)
    res = RUN.invoke(app, ["inspect", "tiny:gpt2"])
    assert res.exit_code == code and text in res.output


def test_bad_input_is_exit_2_with_the_message():
    res = RUN.invoke(app, ["inspect", "organism:"])
    assert res.exit_code == 2 and "error: bad organism spec" in res.output
    res = RUN.invoke(app, ["localize", "facts", "--model", "tiny:gpt2", "--facts", "x.jsonl", "--method", "teleport"])
    assert res.exit_code == 2 and "unknown method 'teleport'" in res.output


def test_a_commands_own_exit_passes_through():
    res = RUN.invoke(app, ["ablate", "--model", "tiny:gpt2"])  # the command exits 2 itself, with its own message
    assert res.exit_code == 2 and "missing --components, --out" in res.output and "error: 2" not in res.output
