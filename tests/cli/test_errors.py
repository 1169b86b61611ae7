"""One error decorator for every command: bad input exits 2, other errors 1, Ctrl-C 130, and a
command's own ``typer.Exit`` passes through untouched."""

import pytest
from typer.testing import CliRunner

import unlearnscope.cli.common as common
from unlearnscope.cli import app

RUN = CliRunner()


@pytest.mark.parametrize(
    "raised,code,text",
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (RuntimeError("disk on fire"), 1, "error: disk on fire"),
        (FileNotFoundError("no such model"), 2, "error: no such model"),
    ],
)
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


def test_stale_temporaries_of_dead_writers_are_cleared(tmp_path):
    import os
    import subprocess
    import sys

    from unlearnscope.model.edits import atomic_dir

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = tmp_path / f".entry.tmp-{dead.stdout.strip()}-abc"
    live = tmp_path / f".entry.tmp-{os.getppid()}-def"  # a live process's write in progress
    stale.mkdir(), live.mkdir()
    (stale / "model.safetensors").write_text("half")
    with atomic_dir(tmp_path / "entry") as tmp:
        (tmp / "x").write_text("1")
    assert not stale.exists() and live.exists() and (tmp_path / "entry" / "x").read_text() == "1"


def test_sigterm_during_a_build_exits_130_and_leaves_no_temporary(tmp_path):
    """`timeout` / a scheduler sends SIGTERM: treated like Ctrl-C, the organism cache keeps no
    half-written `.tmp-` directory."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "UNLEARNSCOPE_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    from pathlib import Path

    exe = Path(sys.executable).parent / "unlearnscope"
    p = subprocess.Popen(
        [str(exe), "organism", "build", "facts", "--size", "small", "--seed", "7"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("organisms/.*.tmp-*")):
        time.sleep(0.2)
    assert list(tmp_path.glob("organisms/.*.tmp-*")), "the build never started writing"
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert not list(tmp_path.glob("organisms/.*")), list(tmp_path.glob("organisms/*"))
